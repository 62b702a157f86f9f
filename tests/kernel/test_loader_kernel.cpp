// LoadedPolicy (runtime/kernel/loaded_policy.hpp) on real policies: compiled by codegen, loaded into
// the kernel, set tables and redirect targets filled, packets run with BPF_PROG_TEST_RUN,
// counters read back, and a rule the verifier rejects reported at that rule's line.
#include <doctest/doctest.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "codegen.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "plan.hpp"
#include "test_frames.hpp"
#include "weir_abi.h"

using namespace weir;

namespace {

constexpr const char* kPolicy = R"(set nets : ip4 = { 192.0.2.0/24, 198.51.100.7 }
set ports : port = { 22, 8000-8099 }
set v6nets : ip6 = { 2001:db8::/32 }

policy t default pass {
    count-all: count
    from-nets: drop if ip.src in @nets and tcp.dport in @ports
    loopback:  redirect "lo" if udp.dport == 53
    elsewhere: redirect "nope0" if udp.dport == 54
    v6:        tx if ip6.src in @v6nets
    payload:   drop if payload[0:3] == "GET"
}
)";

struct Compiled {
    std::unique_ptr<Compilation> c;
    Plan plan;
    std::vector<std::uint8_t> elf;
};

Compiled compile(const std::string& text, const std::string& unverifiable_rule = {}) {
    Compiled out;
    out.c = compile_source("test.weir", text, CheckOptions{});
    REQUIRE_MESSAGE(out.c->ok(), render_text(out.c->sources, out.c->diags));
    out.plan = plan_policy(out.c->program, 0);
    CodegenOptions opts;
    opts.unverifiable_rule = unverifiable_rule;
    CodegenResult r = codegen(out.plan, out.c->sources, EmitKind::Obj, opts);
    REQUIRE_MESSAGE(r.ok(), r.error);
    out.elf = std::move(r.bytes);
    return out;
}

std::unique_ptr<LoadedPolicy> load(const Compiled& c, Diagnostics& diags, bool placeholders) {
    KernelLoadOptions lo;
    lo.placeholder_redirects = placeholders;
    return LoadedPolicy::load(c.plan, c.c->sources, c.elf, diags, lo);
}

int rule_index(const Compiled& c, const std::string& name) {
    int i = c.c->program.policies[0].rule_index(name);
    REQUIRE(i >= 0);
    return i;
}

std::vector<std::uint8_t> tcp_from(const char* src, std::uint16_t dport) {
    return Frame().eth().ipv4(*ip4_from_text(src), ip4(192, 0, 2, 200)).tcp(40000, dport, kTcpSyn).bytes();
}
std::vector<std::uint8_t> udp_to(std::uint16_t dport) {
    return Frame().eth().ipv4(ip4(203, 0, 113, 9), ip4(192, 0, 2, 200)).udp(40000, dport).bytes();
}

PolicyRun run(const LoadedPolicy& lp, const std::vector<std::uint8_t>& frame) {
    auto r = lp.run(frame);
    REQUIRE_MESSAGE(r, r.error().message);
    return *r;
}

bpf::Counter rule_counter(const LoadedPolicy& lp, int rule) {
    auto c = lp.rule_counter(std::size_t(rule));
    REQUIRE_MESSAGE(c, c.error().message);
    return *c;
}

bool in_table(const LoadedPolicy& lp, TableKind kind, std::uint32_t set, u128 value) {
    auto r = set_member(set_maps(kind, [&](const char* n) { return lp.map_fd(n); }), kind, set, value);
    REQUIRE_MESSAGE(r, r.error().message);
    return *r;
}

}  // namespace

TEST_CASE("set_table_key: the weir_abi.h key layout") {
    auto k = set_table_key(TableKind::V4, 7, {0xc0000200u, 24});
    REQUIRE(k.size() == sizeof(weir_key_v4));
    weir_key_v4 v4;
    std::memcpy(&v4, k.data(), sizeof v4);
    CHECK(v4.prefixlen == WEIR_SET_ID_BITS + 24);
    CHECK(v4.set == 7);
    CHECK(v4.value[0] == 192);
    CHECK(v4.value[1] == 0);
    CHECK(v4.value[2] == 2);
    CHECK(v4.value[3] == 0);

    // Bits beyond the prefix are cleared; padding is zero.
    k = set_table_key(TableKind::Port, 1, {0x1f45, 10});  // 8005 within 8000-8063
    weir_key_port port;
    REQUIRE(k.size() == sizeof port);
    std::memcpy(&port, k.data(), sizeof port);
    CHECK(port.prefixlen == WEIR_SET_ID_BITS + 10);
    CHECK(port.value[0] == 0x1f);
    CHECK(port.value[1] == 0x40);
    CHECK(port.pad[0] == 0);
    CHECK(port.pad[1] == 0);

    k = set_table_key(TableKind::V6, 2, {u128{0x20010db8} << 96, 32});
    REQUIRE(k.size() == sizeof(weir_key_v6));
    CHECK(k[8] == 0x20);
    CHECK(k[9] == 0x01);
    CHECK(k[10] == 0x0d);
    CHECK(k[11] == 0xb8);
    CHECK(k[12] == 0);
}

TEST_CASE("load: program, maps, statistics, set tables and redirect targets") {
    Compiled c = compile(kPolicy);
    Diagnostics diags;
    auto lp = load(c, diags, true);
    REQUIRE_MESSAGE(lp, render_text(c.c->sources, diags));
    CHECK(lp->program_fd() >= 0);
    CHECK(lp->rule_count() == 6);
    for (const char* m : {WEIR_MAP_RULES, WEIR_MAP_VERDICTS, WEIR_MAP_STATS, WEIR_MAP_REDIRECT,
                          WEIR_MAP_LAST, WEIR_MAP_SET_V4, WEIR_MAP_SET_V6, WEIR_MAP_SET_PORT, WEIR_MAP_SETH_V4,
                          WEIR_MAP_SETH_V6, WEIR_MAP_SETD_V4, WEIR_MAP_SETD_V6})
        CHECK_MESSAGE(lp->map_fd(m) >= 0, m);
    CHECK(lp->map_fd("no_such_map") == -1);
    CHECK(lp->stats().xlated_insns > 10);
    CHECK(lp->stats().verified_insns > 0);
    CHECK(lp->stats().load_time.count() > 0);

    // The set tables hold every prefix of every set, under the set's id.
    const SetTable* nets = c.plan.table_for(c.c->program.find_set("nets"), TableKind::V4);
    const SetTable* ports = c.plan.table_for(c.c->program.find_set("ports"), TableKind::Port);
    const SetTable* v6 = c.plan.table_for(c.c->program.find_set("v6nets"), TableKind::V6);
    REQUIRE(nets);
    REQUIRE(ports);
    REQUIRE(v6);
    CHECK(in_table(*lp, TableKind::V4, nets->id, ip4(192, 0, 2, 77)));
    CHECK(in_table(*lp, TableKind::V4, nets->id, ip4(198, 51, 100, 7)));
    CHECK_FALSE(in_table(*lp, TableKind::V4, nets->id, ip4(198, 51, 100, 8)));
    CHECK_FALSE(in_table(*lp, TableKind::V4, nets->id + 1, ip4(192, 0, 2, 77)));
    CHECK(in_table(*lp, TableKind::Port, ports->id, 22));
    CHECK(in_table(*lp, TableKind::Port, ports->id, 8000));
    CHECK(in_table(*lp, TableKind::Port, ports->id, 8099));
    CHECK_FALSE(in_table(*lp, TableKind::Port, ports->id, 8100));
    CHECK_FALSE(in_table(*lp, TableKind::Port, ports->id, 23));
    CHECK(in_table(*lp, TableKind::V6, v6->id, *ip6_from_text("2001:db8:1::5")));
    CHECK_FALSE(in_table(*lp, TableKind::V6, v6->id, *ip6_from_text("2001:db9::5")));

    // ... and the program finds them.
    CHECK(run(*lp, tcp_from("192.0.2.77", 8050)).rule == rule_index(c, "from-nets"));
    CHECK(run(*lp, tcp_from("192.0.2.77", 8050)).action == WEIR_ACT_DROP);
    CHECK(run(*lp, tcp_from("192.0.2.77", 8100)).rule == -1);
    CHECK(run(*lp, tcp_from("198.51.100.8", 22)).rule == -1);
    auto v6frame = Frame().eth().ipv6(*ip6_from_text("2001:db8::9"), *ip6_from_text("2001:db8::1")).udp(1, 2).bytes();
    CHECK(run(*lp, v6frame).action == WEIR_ACT_TX);

    // Redirect targets: "lo" resolved, "nope0" replaced by the loopback with a note.
    int redirect_fd = lp->map_fd(WEIR_MAP_REDIRECT);
    auto lo_target = bpf::lookup<std::uint32_t>(redirect_fd, std::uint32_t(rule_index(c, "loopback")));
    REQUIRE(lo_target);
    CHECK(*lo_target == if_nametoindex("lo"));
    PolicyRun r = run(*lp, udp_to(53));
    CHECK(r.rule == rule_index(c, "loopback"));
    CHECK(r.action == WEIR_ACT_REDIRECT);
    CHECK(run(*lp, udp_to(54)).action == WEIR_ACT_REDIRECT);
    REQUIRE(diags.list().size() == 1);
    CHECK(diags.list()[0].severity == Severity::Note);
    CHECK(diags.list()[0].code == "redirect-placeholder");
    CHECK(diags.errors() == 0);
}

TEST_CASE("load: a redirect to an interface this host lacks is an error at the rule") {
    Compiled c = compile(kPolicy);
    Diagnostics diags;
    auto lp = load(c, diags, false);
    CHECK_FALSE(lp);
    REQUIRE(diags.errors() == 1);
    const Diagnostic& d = diags.list()[0];
    CHECK(d.code == "redirect-unknown-interface");
    CHECK(d.message == "rule 'elsewhere' redirects to interface 'nope0', which does not exist on this host");
    CHECK(c.c->sources.text(d.range) == "redirect \"nope0\"");
    CHECK(c.c->sources.line_col(d.range.file, d.range.begin).line == 9);
}

TEST_CASE("counters: N runs count N packets of the frame's length") {
    Compiled c = compile(kPolicy);
    Diagnostics diags;
    auto lp = load(c, diags, true);
    REQUIRE(lp);
    auto ssh = tcp_from("192.0.2.1", 22);
    auto other = tcp_from("203.0.113.1", 80);
    constexpr int kRuns = 7;
    for (int i = 0; i < kRuns; ++i) CHECK(run(*lp, ssh).rule == rule_index(c, "from-nets"));
    for (int i = 0; i < 3; ++i) CHECK(run(*lp, other).rule == -1);

    CHECK(rule_counter(*lp, rule_index(c, "from-nets")) == bpf::Counter{kRuns, kRuns * ssh.size()});
    // The count rule saw every packet; untouched rules nothing.
    CHECK(rule_counter(*lp, rule_index(c, "count-all")) ==
          bpf::Counter{kRuns + 3, kRuns * ssh.size() + 3 * other.size()});
    CHECK(rule_counter(*lp, rule_index(c, "payload")) == bpf::Counter{});
    auto drops = lp->verdict_counter(WEIR_ACT_DROP);
    REQUIRE(drops);
    CHECK(drops->packets == kRuns);
    auto passes = lp->verdict_counter(WEIR_ACT_PASS);
    REQUIRE(passes);
    CHECK(passes->packets == 3);
    auto defaults = lp->stat_counter(WEIR_STAT_DEFAULT);
    REQUIRE(defaults);
    CHECK(*defaults == bpf::Counter{3, 3 * other.size()});
    CHECK_FALSE(lp->rule_counter(6));  // out of range

    REQUIRE(lp->reset_counters());
    CHECK(rule_counter(*lp, rule_index(c, "from-nets")) == bpf::Counter{});
    CHECK(lp->verdict_counter(WEIR_ACT_DROP)->packets == 0);
    CHECK(lp->stat_counter(WEIR_STAT_DEFAULT)->packets == 0);

    // Malformed frames are counted as such.
    auto truncated = ssh;
    truncated.resize(14 + 10);
    run(*lp, truncated);
    CHECK(lp->stat_counter(WEIR_STAT_MALFORMED)->packets == 1);
}

TEST_CASE("verifier rejection: the error names the rule and its line") {
    for (const char* rule : {"from-nets", "payload", "count-all"}) {
        CAPTURE(rule);
        Compiled c = compile(kPolicy, rule);
        Diagnostics diags;
        auto lp = load(c, diags, true);
        CHECK_FALSE(lp);
        REQUIRE(diags.errors() == 1);
        const Diagnostic* d = nullptr;
        for (const auto& x : diags.list())
            if (x.severity == Severity::Error) d = &x;
        REQUIRE(d);
        CHECK(d->code == "verifier-rejected");
        const Rule& r = c.c->program.policies[0].rules[rule_index(c, rule)];
        CHECK(d->range == r.range);
        CHECK(d->message.find("the kernel verifier rejected rule '" + std::string(rule) + "': ") == 0);
        CHECK(d->message.find("invalid access to packet") != std::string::npos);
        unsigned line = c.c->sources.line_col(r.range.file, r.range.begin).line;
        REQUIRE(!d->notes.empty());
        const std::string& tail = d->notes.back().message;
        CHECK(tail.find("verifier log (last ") == 0);
        CHECK(tail.find("@ test.weir:" + std::to_string(line)) != std::string::npos);
    }
}
