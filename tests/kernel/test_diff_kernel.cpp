// Every witness `weir diff` prints (compiler/diff/), run through the kernel programs of both
// policies with BPF_PROG_TEST_RUN: each gets the claimed deciding rule and action on both sides,
// as it does in the interpreter (tests/unit/test_diff*.cpp). Needs root (exit 77 without).
#include <doctest/doctest.h>

#include <net/if.h>

#include "actions.hpp"
#include "codegen.hpp"
#include "diff_check.hpp"
#include "loaded_policy.hpp"
#include "plan.hpp"
#include "policy_gen.hpp"

using namespace weir;
using namespace weir::test;

namespace {

constexpr std::uint32_t kNoSuchIfindex = 0x7ffffff0;  // what "weirnx0" resolves to: no interface

std::unique_ptr<LoadedPolicy> load(const Compilation& c) {
    Plan plan = plan_policy(c.program, 0);
    CodegenOptions cg;
    const std::uint32_t lo = if_nametoindex("lo");
    cg.ifindex_of = [lo](const std::string& name) -> std::optional<std::uint32_t> {
        if (name == "lo") return lo;
        return kNoSuchIfindex;
    };
    CodegenResult obj = codegen(plan, c.sources, EmitKind::Obj, cg);
    REQUIRE_MESSAGE(obj.ok(), obj.error);
    Diagnostics diags;
    auto lp = LoadedPolicy::load(plan, c.sources, obj.bytes, diags);
    REQUIRE_MESSAGE(lp, render_text(c.sources, diags));
    return lp;
}

// Runs each witness on both programs; returns how many ran: frames the kernel can take, arriving
// on lo. A witness without an interface runs only when neither policy reads pkt.iface (a test run
// without an ingress interface runs on the loopback device).
unsigned check_in_kernel(const DiffRun& r, bool reads_iface) {
    auto ka = load(*r.a), kb = load(*r.b);
    unsigned ran = 0;
    for (const auto& c : r.res.changes) {
        const auto frame = frame_of(c.witness.spec);
        const std::string& iface = c.witness.spec.iface;
        if (frame.size() < 14 || frame.size() > 3000 || !(iface == "lo" || (iface.empty() && !reads_iface))) continue;
        const std::uint32_t ifindex = if_nametoindex("lo");
        CAPTURE(c.witness.text);
        auto ga = ka->run(frame, ifindex), gb = kb->run(frame, ifindex);
        REQUIRE(ga);
        REQUIRE(gb);
        CHECK(ga->rule == c.before.rule);
        CHECK(ga->action == action_of_verdict(c.before.verdict));
        CHECK(gb->rule == c.after.rule);
        CHECK(gb->action == action_of_verdict(c.after.verdict));
        ++ran;
    }
    return ran;
}

std::string pol(const std::string& rules, const std::string& def = "pass") {
    return "policy p default " + def + " {\n" + rules + "}\n";
}

}  // namespace

TEST_CASE("diff witnesses decide as claimed in the kernel: hand-written pairs") {
    const std::pair<std::string, std::string> pairs[] = {
        {pol("a: drop if tcp.dport == 1000-2000\n"), pol("a: drop if tcp.dport == 1000-1999\n")},
        {pol("a: drop if ip6.dst == 2001:db8::/32\n"), pol("a: drop if ip6.dst == 2001:db8::/33\n")},
        {pol("a: drop if tcp.flags.syn and not tcp.flags.ack\n"), pol("a: drop if tcp.flags.syn\n")},
        {pol("a: drop if vlan.id == 10\n"), pol("a: drop if vlan.id == 10 or not vlan.id >= 0\n")},
        {pol(""), pol("arp: drop if eth.type == 0x0806\n")},
        {pol("a: drop if ip.src not in { 192.0.2.0/24 }\n"), pol("a: drop if ip.src not in { 192.0.2.0/24, 2001:db8::/32 }\n")},
        {pol("a: drop if tcp.dport == 22\nb: pass if ip.proto == udp\n", "drop"),
         pol("a: drop if tcp.dport == 23\nb: tx if ip.proto == udp\n", "drop")},
    };
    unsigned ran = 0;
    for (const auto& [a, b] : pairs) {
        auto r = run_diff(a, b);
        REQUIRE(r.res.error.empty());
        ran += check_in_kernel(r, false);
    }
    CHECK(ran >= 7);
}

TEST_CASE("diff witnesses decide as claimed in the kernel: random policy pairs") {
    unsigned ran = 0;
    for (std::uint64_t seed = 1; seed <= 30; ++seed) {
        CAPTURE(seed);
        GenOptions go;
        go.max_rules = 12;
        const std::string a = generate_policy(seed, go).text, b = generate_policy(seed + 100000, go).text;
        auto r = run_diff(a, b);
        REQUIRE(r.res.error.empty());
        ran += check_in_kernel(r, a.find("pkt.iface") != std::string::npos || b.find("pkt.iface") != std::string::npos);
    }
    MESSAGE(ran << " witnesses run in the kernel");
    CHECK(ran > 0);
}
