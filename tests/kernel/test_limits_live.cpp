// Rate-limit precision (docs/language.md "Rate limits"; label `live`): a private veth pair
// flooded at >= 10x the limit for >= 5 s by the rate-paced live-frames generator; the admitted
// rate (passed packets minus the burst allowance, per second of flood) must be within +-10% of
// the configured rate, for a global limit and for a per-source limit with 64 sources. Figures
// are printed; the test fails with them.
#include <doctest/doctest.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "codegen.hpp"
#include "driver.hpp"
#include "limits.hpp"
#include "loaded_policy.hpp"
#include "compiled_policy.hpp"
#include "packet.hpp"
#include "plan.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "weir_abi.h"

using namespace weir;
using namespace weir::traffic;
using weir::test::TestNet;

namespace {

struct Attached {
    int ifindex;
    explicit Attached(int ifi, int prog) : ifindex(ifi) {
        int err = bpf_xdp_attach(ifindex, prog, XDP_FLAGS_DRV_MODE, nullptr);
        REQUIRE_MESSAGE(err == 0, "attach: " << err);
    }
    ~Attached() { bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr); }
};

struct Precision {
    double configured = 0;  // admitted packets per second the policy allows
    double offered = 0;     // pps measured by the generator
    double admitted = 0;    // (passed - burst allowance) / seconds
    double seconds = 0;
    std::uint64_t passed = 0, dropped = 0;
};

// Floods `frames` (equal weights) at `offered_pps` for `seconds` into a policy whose one rule
// drops what is over the limit, and measures what it admits (default pass).
Precision measure(const std::string& policy, const std::vector<std::vector<std::uint8_t>>& frame_list,
                  const TestNet& net, double offered_pps, double seconds, double configured, double burst_total,
                  std::uint32_t per_call) {
    test::CompiledPolicy c = test::compile_policy(policy);
    auto lp = test::load_policy(c);
    REQUIRE(lp->reset_limits(0));  // the real clock
    REQUIRE(lp->reset_counters());
    Attached at(net.host_ifindex(), lp->program_fd());
    auto gen = TrafficGen::create();
    REQUIRE_MESSAGE(gen, gen.error().message);
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    for (const auto& f : frame_list) o.frames.push_back({f, 1});
    o.duration = std::chrono::duration<double>(seconds);
    o.rate_pps = offered_pps;
    // Chunks small enough that a round of calls (each frame once) takes less time than a key's
    // burst lasts at its rate: each key then sees >= 10x its limit on the bucket's time scale,
    // not one long burst per round.
    o.per_call = per_call;
    auto r = gen->flood(o);
    REQUIRE_MESSAGE(r, r.error().message);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the receiver drain
    auto pass = lp->verdict_counter(WEIR_ACT_PASS);
    auto drop = lp->verdict_counter(WEIR_ACT_DROP);
    REQUIRE(pass);
    REQUIRE(drop);
    Precision p;
    p.configured = configured;
    p.seconds = r->seconds;
    p.offered = double(r->packets) / r->seconds;
    p.passed = pass->packets;
    p.dropped = drop->packets;
    p.admitted = (double(p.passed) - burst_total) / r->seconds;
    return p;
}

void report(const char* what, const Precision& p) {
    std::printf("%s: configured %.0f pps, offered %.0f pps (%.1fx) for %.2f s, passed %llu, dropped %llu, "
                "admitted %.0f pps (%+.2f%%)\n",
                what, p.configured, p.offered, p.offered / p.configured, p.seconds,
                static_cast<unsigned long long>(p.passed), static_cast<unsigned long long>(p.dropped), p.admitted,
                100.0 * (p.admitted / p.configured - 1));
    CHECK_MESSAGE(p.offered >= 10 * p.configured, what << ": offered load below 10x the limit");
    CHECK_MESSAGE(p.seconds >= 5.0, what << ": flood shorter than 5 s");
    CHECK_MESSAGE(p.admitted >= 0.9 * p.configured, what << ": admitted rate more than 10% below the limit");
    CHECK_MESSAGE(p.admitted <= 1.1 * p.configured, what << ": admitted rate more than 10% above the limit");
}

}  // namespace

TEST_CASE("over precision: a global limit at 20k pps under a 10x flood (live)") {
    TestNet net;
    const double rate = 20000, burst = 2000;
    auto frame = Frame().eth(net.peer_mac(), net.host_mac()).ipv4(net.peer_ip4(), net.host_ip4()).udp(40000, 9).bytes();
    Precision p = measure(R"(policy p default pass {
    flood: drop if udp.dport == 9 and over 20000/s burst 2000
}
)", {frame}, net, 10.5 * rate, 6.0, rate, burst, 4096);  // a round: ~20 ms; burst: 100 ms
    report("global", p);
}

TEST_CASE("over precision: per ip.src, 64 sources each flooding 10x its limit (live)") {
    TestNet net;
    const int sources = 64;
    const double per_source = 300, burst = 30;
    std::vector<std::vector<std::uint8_t>> frames;
    for (int i = 0; i < sources; ++i)
        frames.push_back(Frame()
                             .eth(net.peer_mac(), net.host_mac())
                             .ipv4(ip4(198, 19, 1, static_cast<std::uint8_t>(i + 1)), net.host_ip4())
                             .udp(40000, 9)
                             .bytes());
    Precision p = measure(R"(policy p default pass {
    flood: drop if udp.dport == 9 and over 300/s burst 30 per ip.src size 1024
}
)", frames, net, 10.5 * per_source * sources, 6.0, per_source * sources, burst * sources,
                          128);  // a round: 64 x 128 frames, ~40 ms; a key's burst: 100 ms
    report("per-source (64 sources)", p);
}
