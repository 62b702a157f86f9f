// diff_bench: `weir diff` engine times (compiler/diff/) on ClassBench 10k sets (../shared/classbench/):
// per set, the set against a 1%-edited copy of itself and against an independent generated set of
// the same family, with every rule `drop` (as classbench::policy_text writes them) and with every
// fourth rule `pass` (so that order decides verdicts). Prints wall and CPU ms, nodes and what was
// found (CPU time: other processes on the machine inflate the wall time).
//
// usage: diff_bench [--dir DIR] [--budget-ms N] [--only "SET PAIR" substring] [--no-focus]
// (--no-focus: DiffLimits::focus off, the whole header space walked)
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "classbench.hpp"
#include "diff.hpp"
#include "driver.hpp"

namespace cb = weir::classbench;

namespace {

// Every fourth rule (by its name, r<line>) passes: "    rN: drop" -> "    rN: pass", so a rule keeps
// its verdict when others are removed.
std::string mixed(std::string text) {
    std::size_t at = 0;
    while ((at = text.find(": drop", at)) != std::string::npos) {
        const std::size_t name = text.rfind(" r", at) + 2;
        if (std::strtoul(text.c_str() + name, nullptr, 10) % 4 == 0) text.replace(at, 6, ": pass");
        at += 6;
    }
    return text;
}

// Every fourth rule by position: after a removed rule, the later rules' verdicts shift, so most of
// the policy's verdicts change (a hard case, not a 1% edit).
std::string mixed_by_position(std::string text) {
    std::size_t at = 0, n = 0;
    while ((at = text.find(": drop", at)) != std::string::npos) {
        if (n++ % 4 == 0) text.replace(at, 6, ": pass");
        at += 6;
    }
    return text;
}

// 1% of the rules edited: a port range moved, a prefix shortened, or the rule removed.
std::vector<cb::Rule> edited(std::vector<cb::Rule> rules, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const std::size_t edits = std::max<std::size_t>(1, rules.size() / 100);
    for (std::size_t k = 0; k < edits && !rules.empty(); ++k) {
        std::size_t i = rng() % rules.size();
        cb::Rule& r = rules[i];
        switch (rng() % 3) {
            case 0:
                r.dport.lo = static_cast<std::uint16_t>(rng() % 1024);
                r.dport.hi = static_cast<std::uint16_t>(r.dport.lo + rng() % 1024);
                break;
            case 1:
                if (r.src.len > 0) {
                    r.src.len = static_cast<std::uint8_t>(r.src.len - 1);
                    r.src.addr &= r.src.mask();
                }
                break;
            default: rules.erase(rules.begin() + static_cast<long>(i));
        }
    }
    return rules;
}

std::unique_ptr<weir::Compilation> compile(const std::string& text) {
    weir::CheckOptions opts;
    opts.lint = false;
    auto c = weir::compile_source("bench.weir", text, opts);
    if (!c->ok()) {
        std::fprintf(stderr, "diff_bench: a generated policy does not check\n");
        std::exit(2);
    }
    return c;
}

std::string g_only;  // --only: run the cases whose "set pair" contains it
bool g_focus = true;  // --no-focus clears it

void run(const char* set, const char* pair, const std::string& a, const std::string& b, long budget_ms) {
    if (!g_only.empty() && (std::string(set) + " " + pair).find(g_only) == std::string::npos) return;
    auto ca = compile(a), cbp = compile(b);
    weir::diff::DiffLimits lim;
    lim.budget = std::chrono::milliseconds(budget_ms);
    lim.focus = g_focus;
    const std::clock_t c0 = std::clock();
    auto r = weir::diff::diff({&ca->program, 0, "old"}, {&cbp->program, 0, "new"}, lim);
    const double cpu_ms = 1000.0 * static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
    std::printf("%-10s %-22s %10.1f ms (cpu %8.1f)  %10llu nodes  complete %d  equivalent %d  changes %zu  counters %zu  may %zu\n", set,
                pair, std::chrono::duration<double, std::milli>(r.elapsed).count(), cpu_ms,
                static_cast<unsigned long long>(r.nodes), r.complete, r.equivalent, r.changes_total, r.counters.size(),
                r.may_differ.size());
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    long budget_ms = 60000;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!std::strcmp(argv[i], "--budget-ms") && i + 1 < argc) budget_ms = std::atol(argv[++i]);
        else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) g_only = argv[++i];
        else if (!std::strcmp(argv[i], "--no-focus")) g_focus = false;
        else {
            std::fprintf(stderr, "usage: diff_bench [--dir DIR] [--budget-ms N] [--only TEXT] [--no-focus]\n");
            return 2;
        }
    }
    dir = cb::find_dir(dir.empty() ? WEIR_CLASSBENCH_DEFAULT_DIR : dir);
    if (dir.empty()) {
        std::printf("SKIP: no ClassBench folder\n");
        return 77;
    }
    const std::pair<const char*, cb::Family> sets[] = {
        {"acl1_10k", cb::Family::Acl}, {"fw1_10k", cb::Family::Fw}, {"ipc1_10k", cb::Family::Ipc}};
    for (const auto& [name, family] : sets) {
        auto rules = cb::load_rules(dir + "/" + name);
        if (!rules.ok()) {
            std::fprintf(stderr, "%s", rules.error_text().c_str());
            return 2;
        }
        const std::string base = cb::policy_text(rules.items);
        const std::string edit = cb::policy_text(edited(rules.items, 1));
        const std::string other = cb::policy_text(cb::generate_rules(family, rules.items.size(), 7));
        run(name, "1% edit, all drop", base, edit, budget_ms);
        run(name, "1% edit, mixed", mixed(base), mixed(edit), budget_ms);
        run(name, "1% edit, shifted", mixed_by_position(base), mixed_by_position(edit), budget_ms);
        run(name, "independent, all drop", base, other, budget_ms);
        run(name, "independent, mixed", mixed(base), mixed(other), budget_ms);
    }
    return 0;
}
