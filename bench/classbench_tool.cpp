// classbench: ClassBench sets (../shared/classbench/README.md) for weir.
//   classbench policy RULES [--name N] [--first K]   the weir policy of a filter set (stdout);
//                                                    --first K: only its first K filters
//   classbench pcap TRACE -o FILE                    a pcap of one frame per trace header
//   classbench pcap --rules RULES -o FILE            ... of headers derived from the filters
//                                                    (one inside each, for sets without a trace)
//   classbench generate acl|fw|ipc N [--seed S]      a random ClassBench-shaped filter set
// Exit status: 0 ok, 1 bad input (file:line:col errors on stderr), 2 bad usage or I/O.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "classbench.hpp"

using namespace weir::classbench;

namespace {

int usage() {
    std::fprintf(stderr,
                 "usage: classbench policy RULES [--name N] [--first K]\n"
                 "       classbench pcap TRACE -o FILE\n"
                 "       classbench pcap --rules RULES -o FILE\n"
                 "       classbench generate acl|fw|ipc N [--seed S]\n");
    return 2;
}

bool number(std::string_view s, unsigned long long& out) {
    if (s.empty()) return false;
    char* end = nullptr;
    std::string t(s);
    errno = 0;
    out = std::strtoull(t.c_str(), &end, 0);
    return errno == 0 && end && *end == '\0' && t[0] != '-';
}

template <class T>
int report(const Parsed<T>& p) {
    std::fputs(p.error_text().c_str(), stderr);
    bool io = !p.errors.empty() && p.errors[0].line == 0;
    return io ? 2 : 1;
}

int cmd_policy(const std::vector<std::string_view>& a) {
    std::string file, name = "classbench";
    unsigned long long first = 0;
    bool have_first = false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] == "--name" && i + 1 < a.size()) name = a[++i];
        else if (a[i] == "--first" && i + 1 < a.size()) {
            if (!number(a[++i], first)) return usage();
            have_first = true;
        } else if (file.empty() && !a[i].starts_with("--")) file = a[i];
        else return usage();
    }
    if (file.empty()) return usage();
    auto p = load_rules(file);
    if (!p.ok()) return report(p);
    std::span<const Rule> rules = p.items;
    if (have_first && first < rules.size()) rules = rules.first(first);
    std::cout << policy_text(rules, name);
    return std::cout ? 0 : 2;
}

int cmd_pcap(const std::vector<std::string_view>& a) {
    std::string trace, rules, out;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] == "--rules" && i + 1 < a.size()) rules = a[++i];
        else if (a[i] == "-o" && i + 1 < a.size()) out = a[++i];
        else if (trace.empty() && !a[i].starts_with("-")) trace = a[i];
        else return usage();
    }
    if (out.empty() || trace.empty() == rules.empty()) return usage();
    std::vector<Header> headers;
    if (!trace.empty()) {
        auto p = load_trace(trace);
        if (!p.ok()) return report(p);
        headers = std::move(p.items);
    } else {
        auto p = load_rules(rules);
        if (!p.ok()) return report(p);
        headers = headers_from_rules(p.items);
    }
    std::vector<std::vector<std::uint8_t>> frames;
    frames.reserve(headers.size());
    for (const Header& h : headers) frames.push_back(frame(h));
    std::string err;
    if (!write_pcap(out, frames, err)) {
        std::fprintf(stderr, "classbench: %s\n", err.c_str());
        return 2;
    }
    std::fprintf(stderr, "classbench: %zu frames -> %s\n", frames.size(), out.c_str());
    return 0;
}

int cmd_generate(const std::vector<std::string_view>& a) {
    if (a.size() < 2) return usage();
    auto fam = family_from_name(a[0]);
    unsigned long long n = 0, seed = 1;
    if (!fam || !number(a[1], n)) return usage();
    for (std::size_t i = 2; i < a.size(); ++i) {
        if (a[i] == "--seed" && i + 1 < a.size()) {
            if (!number(a[++i], seed)) return usage();
        } else return usage();
    }
    std::cout << rules_text(generate_rules(*fam, n, seed));
    return std::cout ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    std::string_view cmd = argv[1];
    std::vector<std::string_view> rest(argv + 2, argv + argc);
    if (cmd == "policy") return cmd_policy(rest);
    if (cmd == "pcap") return cmd_pcap(rest);
    if (cmd == "generate") return cmd_generate(rest);
    return usage();
}
