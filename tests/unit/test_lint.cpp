// Lint: shadowed and unreachable rules, contradictions, empty and unused sets; and the
// implication engine under it (condition_sets.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "condition_sets.hpp"
#include "lint.hpp"

using namespace weir;

namespace {

// ---- hand-built programs --------------------------------------------------------------------
// Every node gets a distinct range in file 0, so tests can say which node a diagnostic points at.

std::uint32_t g_next = 0;
SourceRange fresh() {
    g_next += 10;
    return SourceRange{0, g_next, g_next + 5};
}

Element num(u128 lo, u128 hi) {
    Element e;
    e.lo = lo;
    e.hi = hi;
    e.range = fresh();
    return e;
}
Element num(u128 v) {
    return num(v, v);
}

Element v4(unsigned a, unsigned b, unsigned c, unsigned d, int prefix = 32) {
    Element e;
    e.family = Family::V4;
    u128 addr = (u128{a} << 24) | (u128{b} << 16) | (u128{c} << 8) | u128{d};
    u128 host = prefix == 0 ? u128{0xffffffffu} : (u128{1} << (32 - prefix)) - 1;
    e.lo = addr & ~host & 0xffffffffu;
    e.hi = e.lo | host;
    e.prefix = prefix;
    e.range = fresh();
    return e;
}

// `top` is the first 64 bits of the address.
Element v6(std::uint64_t top, int prefix) {
    Element e;
    e.family = Family::V6;
    u128 addr = u128{top} << 64;
    u128 host = prefix == 0 ? ~u128{0} : (u128{1} << (128 - prefix)) - 1;
    e.lo = addr & ~host;
    e.hi = e.lo | host;
    e.prefix = prefix;
    e.range = fresh();
    return e;
}

Expr cmp(FieldId f, Cmp op, Element v) {
    Expr e;
    e.kind = Expr::Kind::Compare;
    e.field = f;
    e.op = op;
    e.value = v;
    e.range = fresh();
    return e;
}
Expr eq(FieldId f, Element v) {
    return cmp(f, Cmp::Eq, v);
}
Expr eq(FieldId f, u128 v) {
    return cmp(f, Cmp::Eq, num(v));
}

Expr in(FieldId f, std::vector<Element> elems, bool negated = false) {
    Expr e;
    e.kind = Expr::Kind::In;
    e.field = f;
    e.elems = std::move(elems);
    e.negated = negated;
    e.range = fresh();
    return e;
}

Expr in_set(FieldId f, int set, bool negated = false) {
    Expr e;
    e.kind = Expr::Kind::In;
    e.field = f;
    e.set = set;
    e.negated = negated;
    e.range = fresh();
    return e;
}

Expr flag(FieldId f) {
    Expr e;
    e.kind = Expr::Kind::Test;
    e.field = f;
    e.range = fresh();
    return e;
}

Expr payload(std::uint16_t off, std::string bytes, Cmp op = Cmp::Eq) {
    Expr e;
    e.kind = Expr::Kind::Payload;
    e.op = op;
    e.offset = off;
    e.bytes.assign(bytes.begin(), bytes.end());
    e.range = fresh();
    return e;
}

Expr nest(Expr::Kind k, std::vector<Expr> kids) {
    Expr e;
    e.kind = k;
    e.kids = std::move(kids);
    e.range = fresh();
    return e;
}
Expr all(std::vector<Expr> kids) {
    return nest(Expr::Kind::And, std::move(kids));
}
Expr any(std::vector<Expr> kids) {
    return nest(Expr::Kind::Or, std::move(kids));
}
Expr no(Expr kid) {
    return nest(Expr::Kind::Not, {std::move(kid)});
}

using AK = Action::Kind;
using F = FieldId;

Rule rule(std::string name, AK kind, std::optional<Expr> cond = std::nullopt) {
    Rule r;
    r.name = std::move(name);
    r.action.kind = kind;
    r.action.range = fresh();
    r.name_range = fresh();
    if (cond) {
        r.cond = std::move(*cond);
        r.has_cond = true;
    }
    r.range = SourceRange{0, r.name_range.begin, r.name_range.end + 100};
    return r;
}

Program one_policy(std::vector<Rule> rules, std::vector<SetDef> sets = {}) {
    Program p;
    p.sets = std::move(sets);
    Policy pol;
    pol.name = "p";
    pol.rules = std::move(rules);
    pol.range = fresh();
    pol.name_range = fresh();
    for (int i = 0; i < static_cast<int>(p.sets.size()); ++i) pol.sets.push_back(i);
    p.policies.push_back(std::move(pol));
    return p;
}

SetDef set_def(std::string name, SetType type, std::vector<Element> elems) {
    SetDef s;
    s.name = std::move(name);
    s.type = type;
    s.elems = std::move(elems);
    s.range = fresh();
    s.name_range = fresh();
    return s;
}

Diagnostics run(const Program& p) {
    Diagnostics d;
    lint(p, d);
    return d;
}

std::vector<std::string> codes(const Diagnostics& d) {
    std::vector<std::string> out;
    for (const auto& x : d.list()) out.push_back(x.code);
    return out;
}

using Codes = std::vector<std::string>;

const Rule& rule_of(const Program& p, std::size_t i) {
    return p.policies[0].rules[i];
}

}  // namespace

// ---- the engine -----------------------------------------------------------------------------

TEST_CASE("intervals: normalize, intersect, complement at the edges of u128") {
    using logic::Intervals;
    const u128 max = ~u128{0};
    Intervals v{{10, 20}, {21, 30}, {5, 7}, {40, 35}, {max - 1, max}, {max, max}};
    logic::normalize(v);
    CHECK(v == Intervals{{5, 7}, {10, 30}, {max - 1, max}});
    CHECK(logic::complement(v, max) == Intervals{{0, 4}, {8, 9}, {31, max - 2}});
    CHECK(logic::complement({}, 65535) == Intervals{{0, 65535}});
    CHECK(logic::complement({{0, 65535}}, 65535).empty());
    CHECK(logic::intersect({{0, 10}, {20, 30}}, {{5, 25}}) == Intervals{{5, 10}, {20, 25}});
}

TEST_CASE("engine: tcp.dport is l4.dport under TCP, not X holds when the header is missing") {
    Program prog;
    logic::Space space(prog);
    Expr l4 = eq(F::L4Dport, 22), tcp = eq(F::TcpDport, 22), udp = eq(F::UdpDport, 22);
    Expr not_tcp = no(eq(F::TcpDport, 22));
    auto box = [&](const Expr& e) { return space.dnf(e).value().at(0).box; };
    long budget = 10000;
    auto covered = [&](const Expr& a, std::vector<const Expr*> bs) {
        std::vector<logic::Box> boxes;
        for (auto* b : bs) boxes.push_back(box(*b));
        std::vector<const logic::Box*> ptrs;
        for (auto& b : boxes) ptrs.push_back(&b);
        return logic::covered(box(a), ptrs, budget);
    };
    CHECK(covered(tcp, {&l4}));
    CHECK_FALSE(covered(l4, {&tcp}));
    CHECK(covered(l4, {&tcp, &udp}));
    CHECK(covered(udp, {&not_tcp}));
    CHECK_FALSE(covered(not_tcp, {&udp}));
    CHECK(logic::is_empty(logic::intersect(box(tcp), box(udp))));
    CHECK_FALSE(logic::is_empty(logic::intersect(box(not_tcp), box(udp))));
}

TEST_CASE("engine: a DNF over the cap is refused, not truncated") {
    Program prog;
    logic::Space space(prog);
    std::vector<Expr> ors;
    for (int i = 0; i < 7; ++i)
        ors.push_back(any({cmp(F::PktLen, Cmp::Ge, num(i)), cmp(F::VlanId, Cmp::Ge, num(i))}));
    CHECK_FALSE(space.dnf(all(ors)).has_value());  // 128 conjunctions
    ors.pop_back();
    CHECK(space.dnf(all(ors)).value().size() == 64);
}

// ---- shadowed-rule --------------------------------------------------------------------------

TEST_CASE("shadowed-rule: a port set shadows a narrower rule with another verdict") {
    Program p = one_policy({
        rule("web", AK::Pass, in(F::TcpDport, {num(80), num(443), num(8000, 8099)})),
        rule("web-alt", AK::Drop, all({eq(F::TcpDport, 8080), eq(F::IpSrc, v4(203, 0, 113, 0, 24))})),
    });
    auto d = run(p);
    REQUIRE(d.list().size() == 1);
    const auto& w = d.list()[0];
    CHECK(w.code == "shadowed-rule");
    CHECK(w.severity == Severity::Warning);
    CHECK(w.range == rule_of(p, 1).name_range);
    CHECK(w.message == "rule 'web-alt' can never match: rule 'web' matches every packet it would");
    REQUIRE(w.notes.size() == 1);
    CHECK(w.notes[0].range == rule_of(p, 0).name_range);
    CHECK(w.notes[0].message == "'web' matches first here");
}

TEST_CASE("shadowed-rule: a narrower earlier rule does not shadow a broader later one") {
    auto d = run(one_policy({
        rule("narrow", AK::Drop, all({eq(F::TcpDport, 22), eq(F::IpSrc, v4(10, 0, 0, 0, 8))})),
        rule("broad", AK::Pass, eq(F::TcpDport, 22)),
    }));
    CHECK(d.list().empty());
}

TEST_CASE("shadowed-rule: tcp.dport does not cover l4.dport, l4.dport covers tcp.dport") {
    CHECK(run(one_policy({
                  rule("tcp", AK::Drop, eq(F::TcpDport, 22)),
                  rule("l4", AK::Pass, eq(F::L4Dport, 22)),
              }))
              .list()
              .empty());
    CHECK(codes(run(one_policy({
              rule("l4", AK::Drop, eq(F::L4Dport, 22)),
              rule("tcp", AK::Pass, eq(F::TcpDport, 22)),
          }))) == Codes{"shadowed-rule"});
    // TCP and UDP together cover l4.dport: two rules shadow it together.
    Program p = one_policy({
        rule("t", AK::Drop, eq(F::TcpDport, 22)),
        rule("u", AK::Drop, eq(F::UdpDport, 22)),
        rule("l4", AK::Pass, eq(F::L4Dport, 22)),
    });
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"shadowed-rule"});
    CHECK(d.list()[0].message ==
          "rule 'l4' can never match: rules 't' and 'u' together match every packet it would");
    REQUIRE(d.list()[0].notes.size() == 2);
    CHECK(d.list()[0].notes[0].range == rule_of(p, 0).name_range);
    CHECK(d.list()[0].notes[1].range == rule_of(p, 1).name_range);
}

TEST_CASE("shadowed-rule: missing headers: != needs the header, not == does not") {
    // tcp.dport != 22 is false for UDP: it does not shadow a UDP rule.
    CHECK(run(one_policy({
                  rule("e", AK::Drop, cmp(F::TcpDport, Cmp::Ne, num(22))),
                  rule("dns", AK::Pass, eq(F::UdpDport, 53)),
              }))
              .list()
              .empty());
    // not tcp.dport == 22 is true for UDP: it does.
    CHECK(codes(run(one_policy({
              rule("e", AK::Drop, no(eq(F::TcpDport, 22))),
              rule("dns", AK::Pass, eq(F::UdpDport, 53)),
          }))) == Codes{"shadowed-rule"});
    CHECK(run(one_policy({
                  rule("e", AK::Drop, cmp(F::TcpDport, Cmp::Ne, num(22))),
                  rule("r", AK::Pass, no(eq(F::TcpDport, 22))),
              }))
              .list()
              .empty());
    CHECK(codes(run(one_policy({
              rule("e", AK::Drop, no(eq(F::TcpDport, 22))),
              rule("r", AK::Pass, cmp(F::TcpDport, Cmp::Ne, num(22))),
          }))) == Codes{"shadowed-rule"});
    // not in: exact for ports.
    CHECK(codes(run(one_policy({
              rule("e", AK::Drop, in(F::TcpDport, {num(22), num(23)}, true)),
              rule("r", AK::Pass, eq(F::TcpDport, 80)),
          }))) == Codes{"shadowed-rule"});
}

TEST_CASE("shadowed-rule: runt frames carry no Ethernet header") {
    // `not eth.type == 0x0800` is true for a frame shorter than 14 bytes, `eth.type != 0x0800` false.
    CHECK(run(one_policy({
                  rule("e", AK::Drop, cmp(F::EthType, Cmp::Ne, num(0x0800))),
                  rule("r", AK::Pass, no(eq(F::EthType, 0x0800))),
              }))
              .list()
              .empty());
    CHECK(codes(run(one_policy({
              rule("e", AK::Drop, no(eq(F::EthType, 0x0800))),
              rule("r", AK::Pass, cmp(F::EthType, Cmp::Ne, num(0x0800))),
          }))) == Codes{"shadowed-rule"});
}

TEST_CASE("shadowed-rule: count rules") {
    // A count rule before does not shadow: it does not decide.
    CHECK(run(one_policy({
                  rule("c", AK::Count, eq(F::TcpDport, 22)),
                  rule("ssh", AK::Drop, eq(F::TcpDport, 22)),
              }))
              .list()
              .empty());
    // A count rule after a terminal rule that takes all its packets never counts.
    auto d = run(one_policy({
        rule("ssh", AK::Drop, eq(F::TcpDport, 22)),
        rule("c", AK::Count, all({eq(F::TcpDport, 22), flag(F::TcpFlagSyn)})),
    }));
    REQUIRE(codes(d) == Codes{"shadowed-rule"});
    CHECK(d.list()[0].message == "rule 'c' can never count: rule 'ssh' decides every packet it would count");
}

TEST_CASE("shadowed-rule: CIDRs are intervals, families are kept apart") {
    CHECK(codes(run(one_policy({
              rule("wide", AK::Drop, eq(F::IpSrc, v4(10, 0, 0, 0, 8))),
              rule("narrow", AK::Pass, eq(F::IpSrc, v4(10, 1, 0, 0, 16))),
          }))) == Codes{"shadowed-rule"});
    CHECK(run(one_policy({
                  rule("narrow", AK::Pass, eq(F::IpSrc, v4(10, 1, 0, 0, 16))),
                  rule("wide", AK::Drop, eq(F::IpSrc, v4(10, 0, 0, 0, 8))),
              }))
              .list()
              .empty());
    // ip.src with an IPv4 literal is ip4.src.
    CHECK(codes(run(one_policy({
              rule("a", AK::Drop, eq(F::Ip4Src, v4(10, 0, 0, 0, 8))),
              rule("b", AK::Pass, eq(F::IpSrc, v4(10, 1, 2, 3))),
          }))) == Codes{"shadowed-rule"});

    std::vector<SetDef> sets{set_def("six", SetType::Ip, {v6(0x20010db800000000, 32)}),
                             set_def("mixed", SetType::Ip, {v4(10, 0, 0, 0, 8), v6(0x20010db800000000, 32)})};
    // An IPv6-only set says nothing about ip4.src.
    CHECK(run(one_policy({rule("e", AK::Drop, in_set(F::IpSrc, 0)),
                          rule("r", AK::Pass, eq(F::Ip4Src, v4(10, 0, 0, 1)))},
                         sets))
              .list()
              .empty());
    CHECK(codes(run(one_policy({rule("e", AK::Drop, in_set(F::IpSrc, 1)),
                                rule("r4", AK::Pass, eq(F::Ip4Src, v4(10, 9, 0, 1)))},
                               sets))) == Codes{"shadowed-rule"});
    CHECK(codes(run(one_policy({rule("e", AK::Drop, in_set(F::IpSrc, 1)),
                                rule("r6", AK::Pass, eq(F::Ip6Src, v6(0x20010db8000a0000, 64)))},
                               sets))) == Codes{"shadowed-rule"});
    // `ip.src not in` a one-family set is not pinned down for the other family: no claim.
    CHECK(run(one_policy({rule("e", AK::Drop, in_set(F::IpSrc, 0, true)),
                          rule("r", AK::Pass, eq(F::Ip4Src, v4(10, 0, 0, 1)))},
                         sets))
              .list()
              .empty());
}

TEST_CASE("shadowed-rule: or on either side") {
    // Or in the earlier rule.
    Program p = one_policy({
        rule("mgmt", AK::Drop, any({eq(F::TcpDport, 22), eq(F::TcpDport, 23)})),
        rule("ssh", AK::Pass, all({eq(F::TcpDport, 22), eq(F::IpSrc, v4(198, 51, 100, 0, 24))})),
    });
    CHECK(codes(run(p)) == Codes{"shadowed-rule"});
    // Or in the later rule: each alternative is taken by a different earlier rule.
    Program q = one_policy({
        rule("ssh", AK::Drop, eq(F::TcpDport, 22)),
        rule("http", AK::Pass, eq(F::TcpDport, 80)),
        rule("dns", AK::Pass, eq(F::UdpDport, 53)),
        rule("both", AK::Pass, any({eq(F::TcpDport, 22), eq(F::TcpDport, 80)})),
    });
    auto d = run(q);
    REQUIRE(codes(d) == Codes{"shadowed-rule"});
    CHECK(d.list()[0].message ==
          "rule 'both' can never match: rules 'ssh' and 'http' together match every packet it would");
    // One alternative left over: no warning.
    CHECK(run(one_policy({
                  rule("ssh", AK::Drop, eq(F::TcpDport, 22)),
                  rule("both", AK::Pass, any({eq(F::TcpDport, 22), eq(F::TcpDport, 80)})),
              }))
              .list()
              .empty());
}

TEST_CASE("shadowed-rule: payload atoms compare by what they test") {
    CHECK(codes(run(one_policy({
              rule("get", AK::Drop, payload(0, "GET")),
              rule("web-get", AK::Pass, all({eq(F::TcpDport, 80), payload(0, "GET")})),
          }))) == Codes{"shadowed-rule"});
    CHECK(run(one_policy({
                  rule("get", AK::Drop, payload(0, "GET")),
                  rule("post", AK::Pass, all({eq(F::TcpDport, 80), payload(0, "POST")})),
              }))
              .list()
              .empty());
    // payload != is not `not payload ==` (false for short payloads): no claim either way.
    CHECK(run(one_policy({
                  rule("a", AK::Drop, payload(0, "GET", Cmp::Ne)),
                  rule("b", AK::Pass, no(payload(0, "GET"))),
              }))
              .list()
              .empty());
}

TEST_CASE("shadowed-rule: messages carry line numbers when a SourceManager is given") {
    SourceManager sm;
    FileId f = sm.add("p.weir", "policy p default pass {\n  web: pass if tcp.dport == 80\n  web2: drop\n}\n");
    Program p =
        one_policy({rule("web", AK::Pass, eq(F::TcpDport, 80)), rule("web2", AK::Drop, eq(F::TcpDport, 80))});
    auto& rules = p.policies[0].rules;
    rules[0].name_range = SourceRange{f, 26, 29};
    rules[1].name_range = SourceRange{f, 56, 60};
    Diagnostics d;
    lint(p, sm, d);
    REQUIRE(d.list().size() == 1);
    CHECK(d.list()[0].message ==
          "rule 'web2' can never match: rule 'web' (line 2) matches every packet it would");
}

// ---- unreachable-rule -----------------------------------------------------------------------

TEST_CASE("unreachable-rule: one warning after an unconditional rule, no shadowing on top") {
    Program p = one_policy({
        rule("ssh", AK::Pass, eq(F::TcpDport, 22)),
        rule("rest", AK::Drop),
        rule("web", AK::Pass, eq(F::TcpDport, 443)),
        rule("dns", AK::Pass, eq(F::UdpDport, 53)),
    });
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"unreachable-rule"});
    const auto& w = d.list()[0];
    CHECK(w.range == rule_of(p, 2).name_range);
    CHECK(w.message == "rule 'web' and the rule after it can never match: rule 'rest' decides every packet");
    REQUIRE(w.notes.size() == 1);
    CHECK(w.notes[0].range == rule_of(p, 1).name_range);
    CHECK(w.notes[0].message == "every packet is decided here");
}

TEST_CASE("unreachable-rule: a condition that is always true, and the non-cases") {
    Program p = one_policy({
        rule("all", AK::Drop, any({eq(F::TcpDport, 22), no(eq(F::TcpDport, 22))})),
        rule("late", AK::Pass, eq(F::TcpDport, 443)),
    });
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"unreachable-rule"});
    CHECK(d.list()[0].message == "rule 'late' can never match: rule 'all' decides every packet");
    CHECK(d.list()[0].notes.at(0).message == "its condition is always true: every packet is decided here");
    // != does not complement == (both need the header).
    CHECK(run(one_policy({
                  rule("almost", AK::Drop, any({eq(F::TcpDport, 22), cmp(F::TcpDport, Cmp::Ne, num(22))})),
                  rule("late", AK::Pass, eq(F::UdpDport, 53)),
              }))
              .list()
              .empty());
    // An unconditional count rule decides nothing; an unconditional last rule hides nothing.
    CHECK(
        run(one_policy({rule("c", AK::Count), rule("a", AK::Pass, eq(F::TcpDport, 1)), rule("z", AK::Drop)}))
            .list()
            .empty());
}

// ---- contradiction --------------------------------------------------------------------------

TEST_CASE("contradiction: values on one field") {
    Program p = one_policy({
        rule("odd", AK::Drop, all({eq(F::TcpDport, 22), eq(F::TcpDport, 80)})),
        rule("sizes", AK::Drop, all({cmp(F::PktLen, Cmp::Lt, num(100)), cmp(F::PktLen, Cmp::Gt, num(200))})),
    });
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"contradiction", "contradiction"});
    const auto& w = d.list()[0];
    const Expr& cond = rule_of(p, 0).cond;
    CHECK(w.range == cond.kids[1].range);
    CHECK(w.message == "rule 'odd' can never match: the two conditions on tcp.dport exclude each other");
    REQUIRE(w.notes.size() == 1);
    CHECK(w.notes[0].range == cond.kids[0].range);
    CHECK(d.list()[1].message ==
          "rule 'sizes' can never match: the two conditions on pkt.len exclude each other");
}

TEST_CASE("contradiction: headers that exclude each other") {
    Program p = one_policy({
        rule("both", AK::Drop, all({eq(F::TcpDport, 53), eq(F::UdpSport, 53)})),
        rule("fams", AK::Drop,
             all({eq(F::IpSrc, v4(192, 0, 2, 1)), eq(F::IpDst, v6(0x20010db800000000, 128))})),
        rule("icmps", AK::Drop, all({eq(F::IcmpType, 8), eq(F::Icmp6Type, 128)})),
        rule("v46", AK::Drop, all({eq(F::Ip4Dst, v4(192, 0, 2, 1)), eq(F::Ip6Flowlabel, 5)})),
    });
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"contradiction", "contradiction", "contradiction", "contradiction"});
    CHECK(d.list()[0].message ==
          "rule 'both' can never match: no packet has both a TCP header (tcp.dport) and a UDP header "
          "(udp.sport)");
    CHECK(d.list()[0].range == rule_of(p, 0).cond.kids[1].range);
    CHECK(d.list()[0].notes.at(0).message == "tcp.dport needs a TCP header here");
    CHECK(d.list()[0].notes.at(0).range == rule_of(p, 0).cond.kids[0].range);
    CHECK(d.list()[1].message ==
          "rule 'fams' can never match: no packet has both an IPv4 header (ip.src) and an IPv6 header "
          "(ip.dst)");
    CHECK(d.list()[2].message ==
          "rule 'icmps' can never match: no packet has both an ICMP header (icmp.type) and an ICMPv6 header "
          "(icmp6.type)");
}

TEST_CASE("contradiction: empty inline set, and what is not a contradiction") {
    Program p = one_policy({rule("none", AK::Drop, in(F::TcpDport, {}))});
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"contradiction"});
    CHECK(d.list()[0].message == "rule 'none' can never match: 'tcp.dport in {}' tests an empty set");

    std::vector<Expr> fine{
        all({eq(F::TcpDport, 22), no(eq(F::UdpDport, 53))}),
        all({no(eq(F::TcpDport, 22)), eq(F::UdpDport, 53)}),
        all({eq(F::IpSrc, v4(10, 0, 0, 0, 8)), eq(F::IpSrc, v4(10, 1, 0, 0, 16))}),
        all({eq(F::IcmpType, 8), eq(F::Ip6Src, v6(0x20010db800000000, 32))}),  // not claimed
        in(F::TcpDport, {}, true),                                             // TCP packets
        all({eq(F::TcpDport, 22), eq(F::L4Dport, 22)}),
        all({cmp(F::PktLen, Cmp::Ge, num(100)), cmp(F::PktLen, Cmp::Le, num(100))}),
    };
    for (auto& e : fine) {
        auto d2 = run(one_policy({rule("ok", AK::Drop, std::move(e))}));
        CHECK(d2.list().empty());
    }
}

TEST_CASE("contradiction: every alternative of an or, and a rule that is not also shadowed") {
    Program p = one_policy({
        rule("ssh", AK::Drop, eq(F::TcpDport, 22)),
        rule("x", AK::Pass, all({eq(F::TcpDport, 22), any({eq(F::UdpDport, 1), eq(F::TcpDport, 2)})})),
    });
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"contradiction"});
    CHECK(d.list()[0].message ==
          "rule 'x' can never match: every alternative of its condition is contradictory");
    CHECK(d.list()[0].range == rule_of(p, 1).cond.range);
    CHECK(d.list()[0].notes.size() == 2);
}

// ---- empty-set / unused-set -----------------------------------------------------------------

TEST_CASE("empty-set: at the declaration, with a note at a use") {
    Program p =
        one_policy({rule("never", AK::Drop, in_set(F::IpSrc, 0))}, {set_def("nothing", SetType::Ip, {})});
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"empty-set"});  // no contradiction on top
    CHECK(d.list()[0].range == p.sets[0].name_range);
    CHECK(d.list()[0].message == "set 'nothing' is empty: 'in @nothing' never matches");
    REQUIRE(d.list()[0].notes.size() == 1);
    CHECK(d.list()[0].notes[0].range == rule_of(p, 0).cond.range);
    CHECK(d.list()[0].notes[0].message == "used here: never matches");

    Program q =
        one_policy({rule("r", AK::Drop, in_set(F::TcpDport, 0))}, {set_def("ports", SetType::Port, {})});
    q.sets[0].from_file = true;
    q.sets[0].file = "/etc/weir/ports.txt";
    auto dq = run(q);
    REQUIRE(codes(dq) == Codes{"empty-set"});
    CHECK(dq.list()[0].message ==
          "set 'ports' is empty: file \"/etc/weir/ports.txt\" has no elements, so 'in @ports' never matches");
}

TEST_CASE("unused-set: only in files that declare a policy") {
    Program p =
        one_policy({rule("r", AK::Drop, eq(F::TcpDport, 1))},
                   {set_def("spare", SetType::Port, {num(1)}), set_def("lib", SetType::Port, {num(2)})});
    p.policies[0].sets.clear();
    p.sets[1].range.file = 1;  // declared in an included set library
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"unused-set"});
    CHECK(d.list()[0].range == p.sets[0].name_range);
    CHECK(d.list()[0].message == "set 'spare' is not used by any policy");
}

TEST_CASE("too large to reason about: no warning, no crash") {
    std::vector<Expr> ors;
    for (int i = 0; i < 8; ++i)
        ors.push_back(any({cmp(F::PktLen, Cmp::Ge, num(i)), cmp(F::VlanId, Cmp::Ge, num(i))}));
    Program p = one_policy({rule("big", AK::Drop, all(ors)), rule("big2", AK::Drop, all(ors))});
    CHECK(run(p).list().empty());
}

// ---- text -> parse -> check -> lint -----------------------------------------------------------

#include "parser.hpp"
#include "sema.hpp"

namespace {

struct Linted {
    SourceManager sm;
    Diagnostics diags;
    std::string text;  // render_text of the warnings
    const Diagnostic& at(std::size_t i) const { return diags.list().at(i); }
    std::string_view range_text(std::size_t i) const { return sm.text(at(i).range); }
    std::string_view note_text(std::size_t i, std::size_t n = 0) const {
        return sm.text(at(i).notes.at(n).range);
    }
};

Linted lint_text(const std::string& src) {
    Linted out;
    FileId id = out.sm.add("t.weir", src);
    Diagnostics front;
    auto file = parse(out.sm, id, front);
    REQUIRE_MESSAGE(file.has_value(), render_text(out.sm, front));
    std::vector<ast::File> files;
    files.push_back(std::move(*file));
    Program prog = check(out.sm, files, front);
    REQUIRE_MESSAGE(!front.has_errors(), render_text(out.sm, front));
    lint(prog, out.sm, out.diags);
    out.text = render_text(out.sm, out.diags);
    return out;
}

Codes codes(const Linted& l) {
    return codes(l.diags);
}

}  // namespace

TEST_CASE("text: shadowed rule, rendered") {
    auto l = lint_text(R"(policy p default pass {
    web:     pass if tcp.dport in { 80, 443, 8000-8099 }
    web-alt: drop if tcp.dport == 8080 and ip.src == 203.0.113.0/24
}
)");
    REQUIRE(codes(l) == Codes{"shadowed-rule"});
    CHECK(l.text ==
          "t.weir:3:5: warning: rule 'web-alt' can never match: rule 'web' (line 2) matches every packet it "
          "would\n"
          "        web-alt: drop if tcp.dport == 8080 and ip.src == 203.0.113.0/24\n"
          "        ^~~~~~~\n"
          "t.weir:2:5: note: 'web' matches first here\n"
          "        web:     pass if tcp.dport in { 80, 443, 8000-8099 }\n"
          "        ^~~\n");
}

TEST_CASE("text: CIDR sets and wider prefixes") {
    auto l = lint_text(R"(set blocked : ip4 = { 203.0.113.0/24 }
policy p default pass {
    block:  drop if ip.src in @blocked
    narrow: drop if ip.src == 203.0.113.128/25 and tcp.dport == 22
    wider:  pass if ip.src == 203.0.0.0/16
}
)");
    REQUIRE(codes(l) == Codes{"shadowed-rule"});
    CHECK(l.range_text(0) == "narrow");
    CHECK(l.note_text(0) == "block");
}

TEST_CASE("text: or in the earlier rule, or in the later one") {
    auto l = lint_text(R"(policy p default pass {
    mgmt: drop if tcp.dport == 22 or tcp.dport == 23
    ssh:  pass if tcp.dport == 22 and ip.src == 198.51.100.0/24
    dns:  pass if udp.dport == 53
    both: drop if tcp.dport == 23 or udp.dport == 53
    any:  drop if l4.dport == 53
}
)");
    REQUIRE(codes(l) == Codes{"shadowed-rule", "shadowed-rule"});
    CHECK(l.range_text(0) == "ssh");
    CHECK(l.range_text(1) == "both");
    CHECK(l.at(1).message ==
          "rule 'both' can never match: rules 'mgmt' (line 2) and 'dns' (line 4) together match every packet "
          "it would");
}

TEST_CASE("text: non-cases stay quiet") {
    auto l = lint_text(R"(set six : ip6 = { 2001:db8::/32 }
policy a default pass {
    narrow: drop if tcp.dport == 22 and ip.src == 10.0.0.0/8
    broad:  pass if tcp.dport == 22
}
policy b default pass {
    tcp22:  drop if tcp.dport == 22
    l4:     pass if l4.dport == 22
}
policy c default pass {
    ne:     drop if tcp.dport != 80
    udp:    pass if udp.dport == 80
    nottcp: pass if not tcp.dport == 80
}
policy d default pass {
    c:      count if udp.dport == 9
    u9:     drop if udp.dport == 9
}
policy e default pass {
    v6:     drop if ip.src in @six
    v4:     pass if ip4.src == 10.1.2.3
}
policy f default pass {
    narrow: pass if ip.src == 10.1.0.0/16
    wide:   drop if ip.src == 10.0.0.0/8
}
)");
    CHECK_MESSAGE(l.diags.list().empty(), l.text);
}

TEST_CASE("text: not covers a missing header") {
    auto l = lint_text(R"(policy p default pass {
    nonssh: drop if not tcp.dport == 22
    dns:    pass if udp.dport == 53
    ssh:    pass if tcp.dport == 22
}
)");
    REQUIRE(codes(l) == Codes{"shadowed-rule"});
    CHECK(l.range_text(0) == "dns");
}

TEST_CASE("text: unreachable rules") {
    auto l = lint_text(R"(policy p default pass {
    ssh:   pass if tcp.dport == 22
    rest:  drop
    web:   pass if tcp.dport == 443
    dns:   pass if udp.dport == 53
}
)");
    REQUIRE(codes(l) == Codes{"unreachable-rule"});
    CHECK(l.range_text(0) == "web");
    CHECK(l.note_text(0) == "rest");
    CHECK(l.at(0).message ==
          "rule 'web' and the rule after it can never match: rule 'rest' (line 3) decides every packet");
}

TEST_CASE("text: contradictions") {
    auto l = lint_text(R"(policy p default pass {
    odd:   drop if tcp.dport == 22 and tcp.dport == 80
    sizes: drop if pkt.len < 100 and pkt.len > 200
    both:  drop if tcp.dport == 53 and udp.sport == 53
    fams:  drop if ip.src == 192.0.2.1 and ip.dst == 2001:db8::1
    empty: drop if tcp.dport in {}
    ok:    drop if tcp.dport == 22 and not udp.dport == 53
}
)");
    REQUIRE(codes(l) ==
            Codes{"contradiction", "contradiction", "contradiction", "contradiction", "contradiction"});
    CHECK(l.range_text(0) == "tcp.dport == 80");
    CHECK(l.note_text(0) == "tcp.dport == 22");
    CHECK(l.range_text(1) == "pkt.len > 200");
    CHECK(l.range_text(2) == "udp.sport == 53");
    CHECK(l.at(2).message ==
          "rule 'both' can never match: no packet has both a TCP header (tcp.dport) and a UDP header "
          "(udp.sport)");
    CHECK(l.range_text(3) == "ip.dst == 2001:db8::1");
    CHECK(l.at(3).message ==
          "rule 'fams' can never match: no packet has both an IPv4 header (ip4.src) and an IPv6 header "
          "(ip6.dst)");
    CHECK(l.at(4).message == "rule 'empty' can never match: 'tcp.dport in {}' tests an empty set");
}

TEST_CASE("text: empty and unused sets") {
    auto l = lint_text(R"(set nothing : ip = { }
set spare : port = { 1 }
policy p default pass {
    never: drop if ip.src in @nothing
}
)");
    REQUIRE(codes(l) == Codes{"empty-set", "unused-set"});
    CHECK(l.range_text(0) == "nothing");
    CHECK(l.note_text(0) == "ip.src in @nothing");
    CHECK(l.range_text(1) == "spare");
}

TEST_CASE("a policy of 1500 rules is linted (and the last duplicate found)") {
    std::vector<Rule> rules;
    for (unsigned i = 0; i < 1500; ++i)
        rules.push_back(rule("r" + std::to_string(i), i % 2 ? AK::Pass : AK::Drop,
                             all({eq(F::IpSrc, v4(10, i / 256, i % 256, 0, 24)),
                                  any({eq(F::TcpDport, 1000 + i % 7), eq(F::UdpDport, 53)})})));
    rules.push_back(rule("dup", AK::Drop, all({eq(F::IpSrc, v4(10, 0, 3, 7)), eq(F::TcpDport, 1003)})));
    auto d = run(one_policy(std::move(rules)));
    REQUIRE(codes(d) == Codes{"shadowed-rule"});
    CHECK(d.list()[0].message == "rule 'dup' can never match: rule 'r3' matches every packet it would");
}

// ---- soundness against the reference interpreter ----------------------------------------------
// Random policies over a pool of atoms, random packets (within the header combinations parse.h
// can produce): a rule lint calls shadowed, unreachable or contradictory never decides or counts.

#include <random>

#include "interp.hpp"

namespace {

struct RandomPolicies {
    std::mt19937 rng{12345};
    std::vector<SetDef> sets{
        set_def("mixed", SetType::Ip, {v4(10, 0, 0, 0, 8), v6(0x20010db800000000, 32)}),
        set_def("four", SetType::Ip, {v4(192, 0, 2, 0, 24)}),
        set_def("ports", SetType::Port, {num(20, 25), num(53)}),
    };

    unsigned pick(unsigned n) { return std::uniform_int_distribution<unsigned>(0, n - 1)(rng); }

    Expr atom() {
        switch (pick(31)) {
            case 0: return eq(F::TcpDport, 22);
            case 1: return eq(F::TcpDport, 80);
            case 2: return cmp(F::TcpDport, Cmp::Ne, num(22));
            case 3: return in(F::TcpDport, {num(20, 25)});
            case 4: return in(F::TcpDport, {num(22), num(80)}, true);
            case 5: return eq(F::UdpDport, 53);
            case 6: return cmp(F::UdpDport, Cmp::Ne, num(53));
            case 7: return eq(F::L4Dport, 22);
            case 8: return in_set(F::L4Dport, 2);
            case 9: return cmp(F::L4Sport, Cmp::Lt, num(1024));
            case 10: return eq(F::IpSrc, v4(10, 0, 0, 0, 8));
            case 11: return eq(F::Ip4Src, v4(10, 1, 0, 0, 16));
            case 12: return eq(F::Ip6Src, v6(0x20010db800000000, 32));
            case 13: return cmp(F::IpSrc, Cmp::Ne, v6(0x20010db800010000, 48));
            case 14: return in_set(F::IpSrc, 0);
            case 15: return in_set(F::IpSrc, 0, true);
            case 16: return in_set(F::IpSrc, 1, true);
            case 17: return flag(F::TcpFlagSyn);
            case 18: return flag(F::IpFrag);
            case 19: return eq(F::VlanId, 10);
            case 20: return eq(F::IcmpType, 8);
            case 21: return eq(F::Icmp6Type, 128);
            case 22: return cmp(F::PktLen, Cmp::Lt, num(100));
            case 23: return cmp(F::PktLen, Cmp::Ge, num(100));
            case 24: return eq(F::EthType, 0x0800);
            case 25: return eq(F::IpProto, 6);
            case 26: return in(F::UdpDport, {});
            case 27: return in(F::IpSrc, {}, true);
            case 28: return eq(F::IpVersion, 4);
            case 29: return cmp(F::EthType, Cmp::Ne, num(0x0800));
            default: return cmp(F::TcpDport, Cmp::Gt, num(1000));
        }
    }

    Expr expr(int depth) {
        unsigned k = depth <= 0 ? 0 : pick(6);
        if (k <= 2) return atom();
        if (k == 3) return no(expr(depth - 1));
        std::vector<Expr> kids;
        for (unsigned i = 0, n = 2 + pick(2); i < n; ++i) kids.push_back(expr(depth - 1));
        return k == 4 ? all(std::move(kids)) : any(std::move(kids));
    }

    Program policy() {
        std::vector<Rule> rules;
        for (unsigned i = 0, n = 3 + pick(6); i < n; ++i) {
            AK kind = std::array{AK::Pass, AK::Drop, AK::Count}[pick(3)];
            if (pick(12) == 0)
                rules.push_back(rule("r" + std::to_string(i), kind));
            else
                rules.push_back(rule("r" + std::to_string(i), kind, expr(2)));
        }
        return one_policy(std::move(rules), sets);
    }

    weir_pkt packet() {
        weir_pkt p{};
        p.len = std::array{60u, 99u, 100u, 1500u}[pick(4)];
        if (pick(10) == 0) return p;  // runt: pkt.* only
        p.present = WEIR_H_ETH;
        p.eth_type = std::array<std::uint16_t, 3>{0x0800, 0x86dd, 0x0806}[pick(3)];
        if (pick(3) == 0) {
            p.present |= WEIR_H_VLAN;
            p.vlan_id = std::array<std::uint16_t, 2>{10, 11}[pick(2)];
        }
        unsigned net = pick(3);
        if (net == 0) return p;
        p.present |= net == 1 ? WEIR_H_IP4 : WEIR_H_IP6;
        p.ip_version = std::array<std::uint8_t, 2>{4, 6}[pick(2)];
        p.ip_proto = std::array<std::uint8_t, 3>{6, 17, 1}[pick(3)];
        p.ip_frag = static_cast<std::uint8_t>(pick(2));
        p.ip4_src = std::array<std::uint32_t, 5>{0x0a000001, 0x0a010203, 0x0b000000, 0xc0000201, 0}[pick(5)];
        p.ip6_src_hi = std::array<std::uint64_t, 4>{0x20010db800000000, 0x20010db800010000, 0x20010db900000000,
                                                    0}[pick(4)];
        p.ip6_src_lo = pick(2);
        unsigned l4 = pick(5);
        static constexpr std::uint32_t kL4[] = {0, WEIR_H_TCP, WEIR_H_UDP, WEIR_H_ICMP, WEIR_H_ICMP6};
        p.present |= kL4[l4];
        p.sport = std::array<std::uint16_t, 3>{80, 1023, 40000}[pick(3)];
        p.dport = std::array<std::uint16_t, 7>{22, 23, 53, 80, 1001, 0, 65535}[pick(7)];
        p.tcp_flags = static_cast<std::uint8_t>(pick(2) ? 0x02 : 0x10);
        p.icmp_type = std::array<std::uint8_t, 3>{8, 128, 0}[pick(3)];
        return p;
    }
};

}  // namespace

TEST_CASE("soundness: flagged rules never decide or count in the interpreter") {
    RandomPolicies gen;
    int flagged = 0;
    for (int round = 0; round < 400; ++round) {
        Program prog = gen.policy();
        Diagnostics d;
        lint(prog, d);
        const Policy& pol = prog.policies[0];
        std::vector<bool> dead(pol.rules.size(), false);
        for (const auto& w : d.list()) {
            for (std::size_t i = 0; i < pol.rules.size(); ++i) {
                const Rule& r = pol.rules[i];
                if (w.code == "unreachable-rule" && w.range == r.name_range)
                    for (std::size_t j = i; j < pol.rules.size(); ++j) dead[j] = true;
                if (w.code == "shadowed-rule" && w.range == r.name_range) dead[i] = true;
            }
        }
        // Contradictions: the rule whose condition range encloses the warning (ranges are fresh
        // and increasing, so the condition's atoms lie between the rule's previous name range
        // and its own).
        for (const auto& w : d.list()) {
            if (w.code != "contradiction") continue;
            for (std::size_t i = 0; i < pol.rules.size(); ++i) {
                std::uint32_t lo = i == 0 ? 0 : pol.rules[i - 1].name_range.end;
                if (w.range.begin >= lo && w.range.begin <= pol.rules[i].name_range.begin) dead[i] = true;
            }
        }
        flagged += static_cast<int>(std::count(dead.begin(), dead.end(), true));
        for (int n = 0; n < 400; ++n) {
            weir_pkt pkt = gen.packet();
            Decision dec = evaluate(prog, pol, pkt, {}, "eth0");
            if (dec.rule >= 0) {
                std::string said;
                for (const auto& w : d.list()) said += w.message + "\n";
                INFO(said);
                CHECK_MESSAGE(!dead[static_cast<std::size_t>(dec.rule)],
                              "rule r", dec.rule, " decided although lint said it never matches");
            }
            for (int c : dec.counted)
                CHECK_MESSAGE(!dead[static_cast<std::size_t>(c)], "rule r", c,
                              " counted although lint said it never matches");
        }
    }
    CHECK(flagged > 100);  // the test must exercise the claims
    MESSAGE("rules flagged: ", flagged);
}

// ---- large policies: the candidate index, exact one-box covers, the case-split budget ---------

TEST_CASE("engine: within() and the masked disjoint() agree with covered() and disjoint()") {
    Program prog = one_policy({});
    logic::Space space(prog);
    std::vector<Expr> conds = {
        eq(F::TcpDport, 22),
        eq(F::L4Dport, 22),
        cmp(F::L4Dport, Cmp::Ge, num(1024)),
        all({eq(F::Ip4Src, v4(192, 0, 2, 0, 24)), eq(F::TcpDport, 22)}),
        eq(F::Ip4Src, v4(192, 0, 2, 7)),
        eq(F::IpSrc, v4(192, 0, 2, 0, 24)),
        no(eq(F::TcpDport, 22)),
        flag(F::TcpFlagSyn),
        all({flag(F::TcpFlagSyn), payload(0, "GET")}),
        all({no(payload(0, "GET")), eq(F::TcpDport, 80)}),
        eq(F::VlanId, 7),
        in(F::L4Dport, {num(1, 10), num(20, 30)}),
    };
    std::vector<logic::Box> boxes;
    for (const auto& c : conds) {
        auto dnf = space.dnf(c);
        REQUIRE(dnf);
        REQUIRE(dnf->size() == 1);
        boxes.push_back((*dnf)[0].box);
    }
    boxes.push_back(logic::Box{});  // every packet
    for (const auto& a : boxes)
        for (const auto& b : boxes) {
            const logic::Box* bs[] = {&b};
            long budget = 1'000'000;
            CHECK(logic::within(a, logic::state_mask(a), b) == logic::covered(a, bs, budget));
            CHECK(logic::disjoint(a, logic::state_mask(a), b, logic::state_mask(b)) == logic::disjoint(a, b));
        }
}

TEST_CASE("shadowed-rule: found through the candidate index in a policy of 300 rules") {
    std::vector<Rule> rules;
    for (unsigned i = 0; i < 300; ++i)
        rules.push_back(rule("r" + std::to_string(i), AK::Drop,
                             all({eq(F::Ip4Src, v4(10, i / 256, i % 256, 0, 24)), eq(F::TcpDport, 1000 + i)})));
    // Narrower than r5 (a host of its /24), and the same as r7 with the port written as a range.
    rules.push_back(rule("host", AK::Pass, all({eq(F::Ip4Src, v4(10, 0, 5, 9)), eq(F::TcpDport, 1005)})));
    rules.push_back(rule("range", AK::Pass,
                         all({eq(F::Ip4Src, v4(10, 0, 7, 0, 24)), cmp(F::TcpDport, Cmp::Eq, num(1007, 1007))})));
    rules.push_back(rule("free", AK::Pass, eq(F::TcpDport, 1009)));  // any source: not shadowed
    Program p = one_policy(std::move(rules));
    auto d = run(p);
    REQUIRE(codes(d) == Codes{"shadowed-rule", "shadowed-rule"});
    CHECK(d.list()[0].message == "rule 'host' can never match: rule 'r5' matches every packet it would");
    CHECK(d.list()[1].message == "rule 'range' can never match: rule 'r7' matches every packet it would");
}

TEST_CASE("lint-budget: questions left undecided for lack of case splits are counted in a note") {
    auto policy = [] {
        return one_policy({
            rule("t", AK::Drop, eq(F::TcpDport, 22)),
            rule("u", AK::Drop, eq(F::UdpDport, 22)),
            rule("l4", AK::Pass, eq(F::L4Dport, 22)),
        });
    };
    Diagnostics full;
    lint(policy(), full);
    CHECK(codes(full) == Codes{"shadowed-rule"});
    // One case split for the policy: "do t and u together cover l4?" cannot be answered.
    Diagnostics starved;
    Program p = policy();
    lint(p, starved, kLintComparisons, 1);
    REQUIRE(codes(starved) == Codes{"lint-budget"});
    const Diagnostic& n = starved.list()[0];
    CHECK(n.severity == Severity::Note);
    CHECK(n.range == p.policies[0].name_range);
    CHECK(n.message.find("undecided") != std::string::npos);
    CHECK(n.message.find("may be shadowed without a warning") != std::string::npos);
}
