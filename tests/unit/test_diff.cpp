// The policy diff engine (compiler/diff/): equivalent rewrites give no difference, real changes
// give one witness per (old rule, new rule) pair that the interpreter confirms on both sides,
// and what cannot be decided exactly is "may differ".
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "diff_check.hpp"

using namespace weir;
using weir::test::run_diff;
using weir::test::witness_problem;

namespace {

std::string pol(const std::string& rules, const std::string& def = "pass", const std::string& pre = "") {
    return pre + "policy p default " + def + " {\n" + rules + "}\n";
}

void expect_equivalent(const std::string& a, const std::string& b) {
    auto r = run_diff(a, b);
    REQUIRE_MESSAGE(r.res.error.empty(), r.res.error);
    CHECK(r.res.complete);
    for (const auto& c : r.res.changes) MESSAGE("change: " << c.before.rule << " -> " << c.after.rule << " " << c.witness.text);
    for (const auto& m : r.res.may_differ) MESSAGE("may differ: " << m.reason);
    CHECK(r.res.equivalent);
    CHECK(r.res.changes_total == 0);
    CHECK(r.res.counters.empty());
}

test::DiffRun expect_differ(const std::string& a, const std::string& b, std::size_t pairs) {
    auto r = run_diff(a, b);
    REQUIRE_MESSAGE(r.res.error.empty(), r.res.error);
    CHECK(r.res.complete);
    CHECK_FALSE(r.res.equivalent);
    for (const auto& c : r.res.changes) MESSAGE(c.before.rule << " -> " << c.after.rule << ": " << c.witness.text);
    for (const auto& m : r.res.may_differ) MESSAGE("may differ: " << m.reason);
    CHECK(r.res.changes_total == pairs);
    CHECK(r.res.may_differ.empty());
    CHECK(witness_problem(r) == "");
    return r;
}

}  // namespace

TEST_CASE("diff: identical and empty policies are equivalent") {
    expect_equivalent(pol(""), pol(""));
    expect_equivalent(pol("a: drop if tcp.dport == 22\n"), pol("a: drop if tcp.dport == 22\n"));
}

TEST_CASE("diff: a named set and its inline elements are equivalent") {
    expect_equivalent(pol("a: drop if ip.src in @bad\n", "pass", "set bad : ip = { 192.0.2.0/24, 2001:db8::/32 }\n"),
                      pol("a: drop if ip.src in { 192.0.2.0/24, 2001:db8::/32 }\n"));
}

TEST_CASE("diff: equivalent rewrites: disjoint swap, split, rename, shadowed rule") {
    expect_equivalent(pol("a: drop if tcp.dport == 22\nb: pass if tcp.dport == 80\n", "drop"),
                      pol("b: pass if tcp.dport == 80\na: drop if tcp.dport == 22\n", "drop"));
    expect_equivalent(pol("a: drop if tcp.dport in { 22, 23 }\n"),
                      pol("a1: drop if tcp.dport == 22\na2: drop if tcp.dport == 23\n"));
    expect_equivalent(pol("a: drop if udp.dport == 53\n"), pol("renamed: drop if udp.dport == 53\n"));
    expect_equivalent(pol("a: drop if ip.dst == 10.0.0.0/8\n"),
                      pol("a: drop if ip.dst == 10.0.0.0/8\nshadow: pass if ip.dst == 10.1.0.0/16\n"));
}

TEST_CASE("diff: aliases and impossible conditions give no false difference") {
    expect_equivalent(pol("a: drop if l4.dport == 80\n"), pol("a: drop if tcp.dport == 80 or udp.dport == 80\n"));
    expect_equivalent(pol(""), pol("never: drop if ip.proto == 17 and tcp.dport == 80\n"));
    expect_equivalent(pol("a: drop if ip.proto == 6\n"), pol("a: drop if ip.proto == 6\n"));
    expect_equivalent(pol("t: drop if tcp.sport >= 0\n"), pol("t: drop if tcp.dport <= 65535\n"));
}

TEST_CASE("diff: not in with one and with both families") {
    expect_equivalent(pol("a: drop if ip.src not in { 192.0.2.0/24 }\n"),
                      pol("a: drop if ip4.src not in { 192.0.2.0/24 }\n"));
    auto r = expect_differ(pol("a: drop if ip.src not in { 192.0.2.0/24 }\n"),
                           pol("a: drop if ip.src not in { 192.0.2.0/24, 2001:db8::/32 }\n"), 1);
    CHECK(r.res.changes.at(0).witness.spec.family == Family::V6);
}

TEST_CASE("diff: ranges and prefixes, IPv4 and IPv6") {
    expect_differ(pol("a: drop if tcp.dport == 1000-2000\n"), pol("a: drop if tcp.dport == 1000-1999\n"), 1);
    auto r = expect_differ(pol("a: drop if ip6.dst == 2001:db8::/32\n"), pol("a: drop if ip6.dst == 2001:db8::/33\n"), 1);
    CHECK(r.res.changes.at(0).log2_headers > 90);
    expect_equivalent(pol("a: drop if ip6.dst == 2001:db8::/32\n"),
                      pol("a: drop if ip6.dst == 2001:db8::/33\nb: drop if ip6.dst == 2001:db8:8000::/33\n"));
}

TEST_CASE("diff: TCP flags, VLAN, EtherType") {
    expect_differ(pol("a: drop if tcp.flags.syn and not tcp.flags.ack\n"), pol("a: drop if tcp.flags.syn\n"), 1);
    expect_differ(pol("a: drop if vlan.id == 10\n"), pol("a: drop if vlan.id == 10 or not vlan.id >= 0\n"), 1);
    expect_differ(pol(""), pol("arp: drop if eth.type == 0x0806\n"), 1);
}

TEST_CASE("diff: verdicts, redirect targets and the default") {
    expect_differ(pol("r: redirect \"a\" if tcp.dport == 1\n"), pol("r: redirect \"b\" if tcp.dport == 1\n"), 1);
    expect_equivalent(pol("r: redirect \"a\" if tcp.dport == 1\n"), pol("r: redirect \"a\" if tcp.dport == 1\n"));
    auto r = expect_differ(pol("a: drop if tcp.dport == 22\n", "pass"), pol("a: drop if tcp.dport == 22\n", "drop"), 1);
    CHECK(r.res.changes.at(0).before.rule == -1);
    CHECK(r.res.changes.at(0).after.rule == -1);
    expect_differ(pol("a: drop if tcp.dport == 22\nb: pass if ip.proto == udp\n", "pass"),
                  pol("a: drop if tcp.dport == 23\nb: pass if ip.proto == udp\n", "pass"), 2);
    // Drop by a rule or by the default is the same verdict: no difference.
    expect_equivalent(pol("a: drop if tcp.dport == 22\n", "drop"), pol("a: drop if tcp.dport == 23\n", "drop"));
}

TEST_CASE("diff: count and log changes are counters, not verdicts") {
    auto r = run_diff(pol("c: count if tcp.dport == 80\n"), pol("c: count if tcp.dport == 81\n"));
    CHECK(r.res.complete);
    CHECK(r.res.changes_total == 0);
    REQUIRE(r.res.counters.size() == 1);
    CHECK(r.res.counters[0].rule == "c");
    CHECK(test::witness_problem(r) == "");
    auto l = run_diff(pol("l: log if ip.proto == udp\n"), pol(""));
    REQUIRE(l.res.counters.size() == 1);
    CHECK(l.res.counters[0].counted_before);
    CHECK_FALSE(l.res.counters[0].counted_after);
}

TEST_CASE("diff: a changed rate limit is may-differ, an unchanged one is not") {
    auto r = run_diff(pol("f: drop if tcp.dport == 443 and over 100/s\n"), pol("f: drop if tcp.dport == 443 and over 200/s\n"));
    CHECK(r.res.complete);
    CHECK_FALSE(r.res.equivalent);
    REQUIRE(r.res.may_differ.size() == 1);
    CHECK(r.res.may_differ[0].reason == "rate limit");
    expect_equivalent(pol("f: drop if tcp.dport == 443 and over 100/s\n"), pol("f: drop if tcp.dport == 443 and over 100/s\n"));
}

TEST_CASE("diff: payload matches: confirmed or may-differ") {
    auto r = run_diff(pol("p: drop if tcp.dport == 22 and payload[0:4] == \"SSH-\"\n"), pol(""));
    CHECK(r.res.complete);
    CHECK_FALSE(r.res.equivalent);
    CHECK(r.res.may_differ.size() + r.res.changes.size() >= 1);
    CHECK(test::witness_problem(r) == "");
    expect_equivalent(pol("p: drop if payload[0:2] == 0x0001\n"), pol("p: drop if payload[0:2] == 0x0001\n"));
}

TEST_CASE("diff: a blown budget is incomplete, never equivalent") {
    diff::DiffLimits lim;
    lim.max_nodes = 1;
    auto r = run_diff(pol("a: drop if tcp.dport == 22\n"), pol("a: drop if tcp.dport == 23\n"), lim);
    CHECK_FALSE(r.res.complete);
    CHECK_FALSE(r.res.equivalent);
}

TEST_CASE("diff: bad input is an error") {
    auto c = test::compile_text("a.weir", pol(""));
    auto r = diff::diff({&c->program, 3, "a"}, {&c->program, 0, "a"});
    CHECK_FALSE(r.error.empty());
}

TEST_CASE("diff: a moved rule changes what an unconditional count rule counts") {
    auto r = run_diff(pol("r1: count\nr2: pass if icmp.code == 116\n", "drop"),
                      pol("r2: pass if icmp.code == 116\nr1: count\n", "drop"));
    CHECK(r.res.changes_total == 0);
    REQUIRE(r.res.counters.size() == 1);
    CHECK(r.res.counters[0].rule == "r1");
    CHECK(test::witness_problem(r) == "");
}

namespace {

// The focused walk (DiffLimits::focus) against the whole-space walk: the same pairs, volumes,
// counters and may-differ regions. Returns the two runs' node counts.
std::pair<std::uint64_t, std::uint64_t> same_as_unfocused(const std::string& a, const std::string& b) {
    diff::DiffLimits on, off;
    on.max_witnesses = off.max_witnesses = 1000;
    off.focus = false;
    auto x = run_diff(a, b, on), y = run_diff(a, b, off);
    REQUIRE_MESSAGE(x.res.error.empty(), x.res.error);
    CHECK(x.res.complete);
    CHECK(y.res.complete);
    CHECK(x.res.equivalent == y.res.equivalent);
    CHECK(x.res.changes_total == y.res.changes_total);
    auto pairs = [](const diff::DiffResult& r) {
        std::vector<std::tuple<int, int, long long>> p;
        for (const auto& c : r.changes) p.push_back({c.before.rule, c.after.rule, std::llround(c.log2_headers * 1e6)});
        std::sort(p.begin(), p.end());
        return p;
    };
    CHECK(pairs(x.res) == pairs(y.res));
    CHECK(std::abs(x.res.changed_log2_headers - y.res.changed_log2_headers) < 1e-6);
    auto counters = [](const diff::DiffResult& r) {
        std::vector<std::string> n;
        for (const auto& c : r.counters) n.push_back(c.rule + (c.counted_before ? "+" : "-") + (c.counted_after ? "+" : "-"));
        return n;
    };
    CHECK(counters(x.res) == counters(y.res));
    auto may = [](const diff::DiffResult& r) {
        std::vector<std::string> n;
        for (const auto& m : r.may_differ) {
            std::string s = m.reason;
            for (const auto& rr : m.rules) s += " " + rr.name;
            n.push_back(s);
        }
        return n;
    };
    CHECK(may(x.res) == may(y.res));
    CHECK(witness_problem(x) == "");
    return {x.res.nodes, y.res.nodes};
}

// Many narrow rules under a broad one: only the edited rules' boxes need walking.
std::string many(const std::string& edits) {
    std::string r;
    for (int i = 0; i < 40; ++i) {
        const std::string v = i % 3 == 0 ? "pass" : "drop";
        r += "r" + std::to_string(i) + ": " + v + " if ip4.src == 10." + std::to_string(i) + ".0.0/16 and tcp.dport == " +
             std::to_string(1000 + 7 * i) + "-" + std::to_string(1010 + 7 * i) + "\n";
    }
    return pol(r + edits + "wide: pass if ip4.dst == 192.0.2.0/24\nall: drop if ip.proto == tcp\n");
}

}  // namespace

TEST_CASE("diff: the focused walk finds what the whole walk finds, in fewer nodes") {
    const std::string base = "e1: drop if ip4.src == 10.3.0.0/16\ne2: pass if tcp.dport == 1000-1100\nc: count if tcp.dport == 1050\n";
    // e1 widened (overlapping e2's box), e2 moved, a rule removed, the counter moved.
    const std::string edit = "e1: drop if ip4.src == 10.2.0.0/15\ne2: pass if tcp.dport == 1040-1200\nc: count if tcp.dport == 1060\n";
    auto [on, off] = same_as_unfocused(many(base), many(edit));
    CHECK(on < off);
    same_as_unfocused(many(base), many("e2: pass if tcp.dport == 1000-1100\nc: count if tcp.dport == 1050\n"));
    // Equivalent rewrites inside the edited boxes: split, reordered disjoint rules.
    same_as_unfocused(many(base), many("e1a: drop if ip4.src == 10.3.0.0/17\ne1b: drop if ip4.src == 10.3.128.0/17\n"
                                       "e2: pass if tcp.dport == 1000-1100\nc: count if tcp.dport == 1050\n"));
    expect_equivalent(many("x: drop if tcp.dport == 1\ny: pass if tcp.dport == 2\n"),
                      many("y: pass if tcp.dport == 2\nx: drop if tcp.dport == 1\n"));
    same_as_unfocused(many("p: drop if tcp.dport == 1003 and payload[0:1] == 0x01\n"), many(""));
    same_as_unfocused(many("f: drop if tcp.dport == 1003 and over 10/s\n"), many("f: drop if tcp.dport == 1003 and over 20/s\n"));
    // The defaults differ: the whole space, focused or not.
    same_as_unfocused(many(base), pol("a: drop if tcp.dport == 22\n", "drop"));
}
