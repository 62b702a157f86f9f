// Rate limits (`over`, compiler/check/limits.*, compiler/check/sema_limit.cpp): parsing, checking (units,
// defaults, placement: last in its conjunction), `weir fmt` round trip, the canonical dump, and
// the interpreter's bucket semantics (burst then over, short-circuit, keys, bytes, refill).
#include <thread>
#include <doctest/doctest.h>

#include "checked_dump.hpp"
#include "driver.hpp"
#include "fmt.hpp"
#include "interp.hpp"
#include "limits.hpp"
#include "parse.h"
#include "test_frames.hpp"

using namespace weir;

namespace {

std::unique_ptr<Compilation> check(const std::string& text) {
    CheckOptions o;
    o.keep_ast = true;
    o.load.use_default_rules = false;
    auto c = compile_source("t.weir", text, o);
    REQUIRE_MESSAGE(c->ok(), render_text(c->sources, c->diags));
    return c;
}

const LimitSpec& limit_of(const Compilation& c, int rule) {
    const Expr& e = c.program.policies.at(0).rules.at(rule).cond;
    const Expr& l = e.kind == Expr::Kind::And ? e.kids.back() : e;
    REQUIRE(l.kind == Expr::Kind::Limit);
    return *l.limit;
}

weir_pkt parsed(const std::vector<std::uint8_t>& f) {
    weir_pkt p{};
    weir_parse(f.data(), f.data() + f.size(), &p);
    return p;
}

std::vector<std::uint8_t> tcp4(std::uint32_t src, std::uint16_t dport) {
    return Frame().eth().ipv4(src, ip4(198, 18, 0, 2)).tcp(40000, dport, kTcpSyn).bytes();
}

}  // namespace

TEST_CASE("over: rates, units, defaults and key") {
    auto c = check(R"(policy p default pass {
    a: drop if tcp.dport == 443 and over 2000/s burst 4000 per ip.src
    b: drop if over 120/m
    c: drop if udp.dport == 9 and over 10mbytes/s burst 64kbytes per (ip.src, udp.sport) size 1024
    d: drop if over 1500bytes/s
}
)");
    const LimitSpec& a = limit_of(*c, 0);
    CHECK_FALSE(a.bytes);
    CHECK(a.amount == 2000);
    CHECK(a.period_s == 1);
    CHECK(a.burst == 4000);
    CHECK(a.key == std::vector<FieldId>{FieldId::IpSrc});
    CHECK(a.size == kDefaultLimitSize);
    CHECK(a.interval == (1000000000ull << WEIR_LIMIT_FP_SHIFT) / 2000);
    CHECK(a.tau == 4000 * a.interval);
    CHECK(a.id == limit_id("a", {FieldId::IpSrc}));
    const LimitSpec& b = limit_of(*c, 1);
    CHECK(b.period_s == 60);
    CHECK(b.burst == 2);  // one second of 120/m
    CHECK(b.size == 1);
    CHECK(b.key.empty());
    const LimitSpec& l = limit_of(*c, 2);
    CHECK(l.bytes);
    CHECK(l.amount == 10'000'000);
    CHECK(l.burst == 64'000);
    CHECK(l.key == std::vector<FieldId>{FieldId::IpSrc, FieldId::UdpSport});
    CHECK(l.size == 1024);
    CHECK(limit_of(*c, 3).burst == 1500);
    CHECK(limit_entries(c->program.policies[0]) == kDefaultLimitSize + 1 + 1024 + 1);
    // Ids: rule name and key only.
    CHECK(limit_id("a", {FieldId::IpSrc}) != limit_id("b", {FieldId::IpSrc}));
    CHECK(limit_id("a", {FieldId::IpSrc}) != limit_id("a", {FieldId::IpDst}));
}

TEST_CASE("over: moved last in its conjunction, dump and fmt round trip") {
    const std::string src = R"(policy p default pass {
    a: drop if over 3/s burst 3 per ip.src and tcp.dport == 443
}
)";
    auto c = check(src);
    const Expr& e = c->program.policies[0].rules[0].cond;
    REQUIRE(e.kind == Expr::Kind::And);
    CHECK(e.kids.front().kind == Expr::Kind::Compare);
    CHECK(e.kids.back().kind == Expr::Kind::Limit);
    std::string d = dump(c->program);
    CHECK(d.find("a: drop if tcp.dport == 443 and over 3/s burst 3 per ip.src size 65536") != std::string::npos);

    std::string f = format(c->sources, c->files.back());
    CHECK(f.find("over 3/s burst 3 per ip.src and tcp.dport == 443") != std::string::npos);
    auto c2 = check(f);
    CHECK(format(c2->sources, c2->files.back()) == f);  // idempotent
    CHECK(dump(c2->program) == d);                      // fmt -> check: the same program

    auto t = check("policy p default pass {\n    a: drop if over 10kbytes/s burst 2kbytes per (ip.src, tcp.dport) size 7\n}\n");
    std::string ft = format(t->sources, t->files.back());
    CHECK(ft.find("over 10kbytes/s burst 2kbytes per (ip.src, tcp.dport) size 7") != std::string::npos);
    CHECK(dump(check(ft)->program) == dump(t->program));
}

TEST_CASE("over in the interpreter: burst, then over, no token when the rest fails, keys") {
    auto c = check(R"(policy p default pass {
    a: drop if tcp.dport == 443 and over 2/s burst 2 per ip.src
}
)");
    const Program& prog = c->program;
    const Policy& pol = prog.policies[0];
    LimitState st;
    auto run = [&](std::uint32_t src, std::uint16_t dport) {
        auto f = tcp4(src, dport);
        return evaluate(prog, pol, parsed(f), f, "", &st).rule;
    };
    const std::uint32_t x = ip4(198, 18, 0, 1), y = ip4(198, 18, 0, 9);
    CHECK(run(x, 80) == -1);
    CHECK(run(x, 80) == -1);
    CHECK(run(x, 80) == -1);   // never took a token
    CHECK(run(x, 443) == -1);
    CHECK(run(x, 443) == -1);
    CHECK(run(x, 443) == 0);   // burst of 2 used up
    CHECK(run(y, 443) == -1);  // its own bucket
    // Half a second later: one token (2/s).
    st.now_ns += 500'000'000;
    CHECK(run(x, 443) == -1);
    CHECK(run(x, 443) == 0);
    // Without state every bucket is full.
    auto f = tcp4(x, 443);
    CHECK(evaluate(prog, pol, parsed(f), f, "").rule == -1);
}

TEST_CASE("over in the interpreter: the table holds the sizes and evicts the least recently used key") {
    auto c = check(R"(policy p default pass {
    g: drop if udp.dport == 9 and over 1/s burst 1
    a: drop if tcp.dport == 443 and over 1/s burst 1 per ip.src size 2
}
)");
    const Program& prog = c->program;
    const Policy& pol = prog.policies[0];
    // By default the table has the kernel's capacity: the sizes (2 + the global limit's one
    // bucket) plus the per-CPU slack, so a few keys over the sizes are not forgotten.
    LimitState machine;
    auto first = tcp4(ip4(198, 18, 0, 1), 443);
    evaluate(prog, pol, parsed(first), first, "", &machine);
    CHECK(machine.capacity == limit_table_capacity(pol, std::thread::hardware_concurrency()));
    CHECK(limit_table_capacity(pol, 2) == 3 + 2 * kLimitSlackPerCpu);
    // The rule itself, on a table of exactly the sizes.
    LimitState st;
    st.capacity = 3;
    auto run = [&](std::uint32_t src) {
        auto f = tcp4(src, 443);
        return evaluate(prog, pol, parsed(f), f, "", &st).rule;
    };
    const std::uint32_t x = ip4(198, 18, 0, 1), y = ip4(198, 18, 0, 2), z = ip4(198, 18, 0, 3);
    CHECK(run(x) == -1);
    CHECK(st.capacity == 3);
    CHECK(run(y) == -1);
    CHECK(run(x) == 1);        // over: reading x's bucket makes x the most recently used
    auto u = Frame().eth().ipv4(x, y).udp(1, 9).bytes();
    CHECK(evaluate(prog, pol, parsed(u), u, "", &st).rule == -1);  // the global bucket: 3 keys, full
    CHECK(st.size() == 3);
    CHECK(st.evictions() == 0);
    CHECK(run(z) == -1);       // a new key in a full table evicts y, the least recently used
    CHECK(st.size() == 3);
    CHECK(st.evictions() == 1);
    CHECK(run(x) == 1);        // x was kept: still over
    CHECK(run(y) == -1);       // y was forgotten: back with a full bucket (evicting the global one)
    CHECK(st.evictions() == 2);
    CHECK(evaluate(prog, pol, parsed(u), u, "", &st).rule == -1);  // so the global bucket is full again (evicts z)
    CHECK(st.evictions() == 3);
    CHECK(run(x) == 1);        // x, used all along, was never evicted
    // The same packets without a capacity (as before eviction existed): nothing is forgotten.
    LimitState all;
    all.capacity = 1u << 20;
    for (std::uint32_t src : {x, y, x, z}) {
        auto f = tcp4(src, 443);
        evaluate(prog, pol, parsed(f), f, "", &all);
    }
    auto f = tcp4(y, 443);
    CHECK(evaluate(prog, pol, parsed(f), f, "", &all).rule == 1);
}

TEST_CASE("over in the interpreter: IPv6 keys, missing key headers, byte costs") {
    auto c = check(R"(policy p default pass {
    u: drop if udp.dport == 53 and over 1/s burst 1 per (ip.src, udp.sport)
    b: drop if tcp.dport == 9 and over 1000bytes/s burst 1000bytes
}
)");
    const Program& prog = c->program;
    const Policy& pol = prog.policies[0];
    LimitState st;
    auto rule = [&](const std::vector<std::uint8_t>& f) { return evaluate(prog, pol, parsed(f), f, "", &st).rule; };
    u128 a6 = *ip6_from_text("2001:2::1"), b6 = *ip6_from_text("2001:2::2");
    auto u6 = [&](std::uint16_t sport) { return Frame().eth().ipv6(a6, b6).udp(sport, 53).bytes(); };
    CHECK(rule(u6(5000)) == -1);
    CHECK(rule(u6(5000)) == 0);
    CHECK(rule(u6(5001)) == -1);  // another key
    // IPv4 source whose value equals the low bits of an IPv6 one: a different key (tag).
    auto u4 = Frame().eth().ipv4(static_cast<std::uint32_t>(a6), ip4(198, 18, 0, 2)).udp(5000, 53).bytes();
    CHECK(rule(u4) == -1);
    // Bytes: a 600-byte frame, then another one exceeds the 1000-byte burst; a small one fits.
    auto big = Frame().eth().ipv4(ip4(198, 18, 0, 1), ip4(198, 18, 0, 2)).tcp(1, 9, kTcpAck).pad_to(600).bytes();
    auto small = Frame().eth().ipv4(ip4(198, 18, 0, 1), ip4(198, 18, 0, 2)).tcp(1, 9, kTcpAck).pad_to(300).bytes();
    CHECK(rule(big) == -1);
    CHECK(rule(big) == 1);
    CHECK(rule(small) == -1);
    CHECK(rule(small) == 1);
}
