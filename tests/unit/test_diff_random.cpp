// The diff engine against the interpreter on random policy pairs (tests/support/policy_gen.*):
// a generated policy and a mutation of it (rules renamed, disjoint rules swapped, shadowed copies
// added: equivalent; actions changed, rules removed, the default flipped: not), and independent
// pairs. "equivalent" => random packets get the same verdict and counted rules from both; every
// reported witness gives the claimed decisions. WEIR_DIFF_SEEDS sets the number of seeds.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <sstream>

#include "diff_check.hpp"
#include "policy_gen.hpp"

using namespace weir;
using namespace weir::test;

namespace {

struct Parts {
    std::vector<std::string> head, tail;  // lines before and after the policy's rules
    std::string policy_line;               // "policy fuzz default drop {"
    std::vector<std::string> rules;        // each rule's lines, joined
};

Parts split(const std::string& text) {
    Parts p;
    std::istringstream in(text);
    std::string line;
    int where = 0;  // 0: head, 1: rules, 2: tail
    while (std::getline(in, line)) {
        if (where == 0 && line.rfind("policy ", 0) == 0) {
            p.policy_line = line;
            where = 1;
        } else if (where == 1 && line == "}") {
            where = 2;
        } else if (where == 1) {
            if (line.rfind("    #", 0) == 0) continue;
            if (line.size() > 4 && line.rfind("    ", 0) == 0 && line[4] != ' ' && line.find(':') != std::string::npos)
                p.rules.push_back(line);
            else if (!p.rules.empty())
                p.rules.back() += "\n" + line;
        } else {
            (where == 0 ? p.head : p.tail).push_back(line);
        }
    }
    return p;
}

std::string join(const Parts& p) {
    std::string out;
    for (const auto& l : p.head) out += l + "\n";
    out += p.policy_line + "\n";
    for (const auto& r : p.rules) out += r + "\n";
    out += "}\n";
    for (const auto& l : p.tail) out += l + "\n";
    return out;
}

std::string rule_name(const std::string& r) {
    return r.substr(4, r.find(':') - 4);
}
std::string with_name(const std::string& r, const std::string& name) {
    return "    " + name + r.substr(r.find(':'));
}
std::string action_of(const std::string& r) {
    std::string rest = r.substr(r.find(':') + 2);
    return rest.substr(0, rest.find(' '));
}
// The rule with another action (its condition, from ` if `, kept).
std::string with_action(const std::string& r, const std::string& act) {
    auto at = r.find(" if ");
    return "    " + rule_name(r) + ": " + act + (at == std::string::npos ? "" : r.substr(at));
}

// One mutation; `equivalent` is cleared when it may change what the policy decides.
void mutate(Parts& p, std::mt19937_64& rng, bool& equivalent, int serial) {
    auto below = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    if (p.rules.empty()) return;
    std::size_t i = below(p.rules.size());
    switch (below(6)) {
        case 0:  // rename a terminal rule
            if (action_of(p.rules[i]) != "count" && action_of(p.rules[i]) != "log")
                p.rules[i] = with_name(p.rules[i], "renamed-" + std::to_string(serial));
            break;
        case 1:  // a shadowed copy with another action right after a terminal rule without `over`
            if (action_of(p.rules[i]) != "count" && action_of(p.rules[i]) != "log" &&
                p.rules[i].find(" over ") == std::string::npos)
                p.rules.insert(p.rules.begin() + static_cast<long>(i) + 1,
                               with_action(with_name(p.rules[i], "copy-" + std::to_string(serial)),
                                           action_of(p.rules[i]) == "drop" ? "pass" : "drop"));
            break;
        case 2:  // swap with the next rule (equivalent only when disjoint: the diff must find out)
            if (i + 1 < p.rules.size()) {
                std::swap(p.rules[i], p.rules[i + 1]);
                equivalent = false;
            }
            break;
        case 3:  // change the action
            {
                p.rules[i] = with_action(p.rules[i], action_of(p.rules[i]) == "drop" ? "pass" : "drop");
                equivalent = false;
            }
            break;
        case 4:  // remove a rule
            p.rules.erase(p.rules.begin() + static_cast<long>(i));
            equivalent = false;
            break;
        default: {  // flip the default
            auto at = p.policy_line.find("default ");
            std::string& pl = p.policy_line;
            std::string v = pl.substr(at + 8, pl.find(' ', at + 8) - at - 8);
            pl.replace(at + 8, v.size(), v == "drop" ? "pass" : "drop");
            equivalent = false;
        }
    }
}

unsigned seeds() {
    if (const char* s = std::getenv("WEIR_DIFF_SEEDS")) return static_cast<unsigned>(std::strtoul(s, nullptr, 10));
    return 200;
}

bool same(const Program& pa, const Decision& a, const Program& pb, const Decision& b, bool counters) {
    if (a.verdict != b.verdict) return false;
    auto ifname = [](const Program& p, const Decision& d) {
        return d.rule < 0 ? std::string() : p.policies[0].rules[static_cast<std::size_t>(d.rule)].action.ifname;
    };
    if (ifname(pa, a) != ifname(pb, b)) return false;
    auto names = [](const Program& p, const Decision& d) {
        std::vector<std::string> n;
        for (int i : d.counted) n.push_back(p.policies[0].rules[static_cast<std::size_t>(i)].name);
        std::sort(n.begin(), n.end());
        n.erase(std::unique(n.begin(), n.end()), n.end());
        return n;
    };
    return !counters || names(pa, a) == names(pb, b);
}

// Random packets aimed at the palette, with each interface name the generator uses.
// Counted rules are compared too when the diff reports no counter change.
std::string disagreement(const DiffRun& r, const Palette& pal, std::uint64_t seed, unsigned packets) {
    const bool counters = r.res.counters.empty();
    PacketGen gen(pal, seed);
    static const std::string kIfaces[] = {"lo", "weirnx0", "eth0"};
    for (unsigned k = 0; k < packets; ++k) {
        GeneratedPacket p = gen.next();
        const std::string& iface = kIfaces[k % 3];
        Decision a = decide(r.a->program, p.bytes, iface), b = decide(r.b->program, p.bytes, iface);
        if (!same(r.a->program, a, r.b->program, b, counters))
            return "packet " + p.kind + " " + to_hex(p.bytes) + " iface " + iface + ": old rule " + std::to_string(a.rule) +
                   ", new rule " + std::to_string(b.rule);
    }
    return {};
}

// "" when the whole-space walk (no focus) finds the same as the focused one `r`; else what differs.
std::string focus_problem(const DiffRun& r, diff::DiffLimits lim) {
    lim.focus = false;
    auto w = diff::diff({&r.a->program, 0, "old.weir"}, {&r.b->program, 0, "new.weir"}, lim);
    if (!w.complete) return {};
    if (w.equivalent != r.res.equivalent || w.changes_total != r.res.changes_total)
        return "unfocused: " + std::to_string(w.changes_total) + " pairs, focused " + std::to_string(r.res.changes_total);
    if (std::abs(w.changed_log2_headers - r.res.changed_log2_headers) > 1e-6) return "volumes differ";
    auto names = [](const diff::DiffResult& x) {
        std::vector<std::string> n;
        for (const auto& c : x.counters) n.push_back(c.rule);
        for (const auto& m : x.may_differ) n.push_back("may " + m.reason);
        return n;
    };
    if (names(w) != names(r.res)) return "counters or may-differ differ";
    return {};
}

}  // namespace

TEST_CASE("random pairs: equivalent means the interpreter agrees, every witness is real") {
    const unsigned n = seeds();
    unsigned equivalent = 0, differ = 0, may = 0, incomplete = 0, packets_checked = 0;
    const unsigned first = std::getenv("WEIR_DIFF_FIRST") ? static_cast<unsigned>(std::atoi(std::getenv("WEIR_DIFF_FIRST"))) : 1;
    for (std::uint64_t seed = first; seed <= n; ++seed) {
        CAPTURE(seed);
        GenOptions go;
        go.max_rules = 12;
        GeneratedPolicy g = generate_policy(seed, go);
        std::mt19937_64 rng(seed * 7919);
        Parts p = split(g.text);
        bool eq = true;
        std::string new_text;
        if (seed % 10 == 0) {
            new_text = generate_policy(seed + 100000, go).text;
            eq = false;
        } else {
            for (int m = 0, count = 1 + static_cast<int>(rng() % 3); m < count; ++m) mutate(p, rng, eq, m);
            new_text = join(p);
        }
        diff::DiffLimits lim;
        lim.budget = std::chrono::milliseconds(5000);
        DiffRun r = run_diff(g.text, new_text, lim);
        REQUIRE_MESSAGE(r.res.error.empty(), r.res.error << "\n" << new_text);
        if (!r.res.complete) {
            MESSAGE("incomplete: seed " << seed << ", " << r.res.nodes << " nodes");
            ++incomplete;
            continue;
        }
        CHECK_MESSAGE(witness_problem(r) == "", g.text << "\n---\n" << new_text);
        CHECK_MESSAGE(focus_problem(r, lim) == "", g.text << "\n---\n" << new_text);
        // The refined model is exact: a difference it finds always has a frame that shows it.
        for (const auto& m : r.res.may_differ) {
            std::string rules;
            for (const auto& x : m.rules) rules += " " + x.name;
            CHECK_MESSAGE(m.reason != "witness not confirmed", rules << "\n" << g.text << "\n---\n" << new_text);
        }
        if (eq) CHECK_MESSAGE(r.res.changes_total == 0, g.text << "\n---\n" << new_text);
        if (r.res.equivalent) {
            ++equivalent;
            const unsigned packets = seed <= 20 ? 100000 : 5000;
            packets_checked += packets;
            CHECK_MESSAGE(disagreement(r, g.palette, seed, packets) == "", g.text << "\n---\n" << new_text);
        } else if (r.res.changes_total > 0) {
            ++differ;
        } else {
            ++may;
        }
    }
    MESSAGE("equivalent " << equivalent << ", differ " << differ << ", may differ only " << may << ", incomplete "
                          << incomplete << ", packets " << packets_checked);
    CHECK(incomplete * 10 <= n);
}
