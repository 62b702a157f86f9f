// Rate-limit precision on a private veth pair: the rate-paced live-frames generator
// (lab/trafficgen.hpp) offers ~10.5x a limit for a few seconds to a policy whose one rule
// drops what is over it; the admitted rate is (passed - the burst) / seconds of flood, compared
// with the configured rate. Two limits: a global one (20,000/s burst 2,000) and one per ip.src
// with 64 sources (300/s burst 30 each). Also printed: the rate the generator reached against
// the one it was asked for (its pacing). A benchmark: it prints figures and fails on none (the
// exact behaviour of limits is tested in tests/kernel/test_limits_live.cpp and
// test_limits_kernel.cpp).
//
//   limit_precision [--seconds S] [--runs R]
// Needs root. Exit status 77 when it cannot run (like the kernel tests).
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bpf_env.hpp"
#include "codegen.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "plan.hpp"
#include "test_frames.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "weir_abi.h"

using namespace weir;
using namespace weir::traffic;
using Bytes = std::vector<std::uint8_t>;

namespace {

struct Case {
    const char* name;
    std::string policy;
    double configured;   // admitted packets per second the policy allows (all keys)
    double burst_total;  // packets the full buckets admit at once (all keys)
    unsigned sources;    // distinct ip.src values, frames of equal weight
    // Repetitions per generator call: a round of calls (each frame once) must take less time
    // than a key's burst lasts at its rate, so each key sees ~10x its limit on the bucket's
    // time scale rather than one long burst per round.
    std::uint32_t per_call;
};

struct Loaded {
    std::unique_ptr<Compilation> c;
    Plan plan;
    std::unique_ptr<LoadedPolicy> lp;
};
// Compiles and loads `text` into `out`; false after printing why not.
bool load(const std::string& text, Loaded& out) {
    out.c = compile_source("limit.weir", text, CheckOptions{});
    if (!out.c->ok()) {
        std::fprintf(stderr, "limit_precision: %s", render_text(out.c->sources, out.c->diags).c_str());
        return false;
    }
    out.plan = plan_policy(out.c->program, 0);
    CodegenResult r = codegen(out.plan, out.c->sources, EmitKind::Obj, CodegenOptions{});
    if (!r.ok()) {
        std::fprintf(stderr, "limit_precision: %s\n", r.error.c_str());
        return false;
    }
    Diagnostics diags;
    out.lp = LoadedPolicy::load(out.plan, out.c->sources, r.bytes, diags, {});
    if (!out.lp) std::fprintf(stderr, "limit_precision: %s", render_text(out.c->sources, diags).c_str());
    return out.lp != nullptr;
}

int measure(const TrafficGen& gen, const Case& k, double seconds) {
    test::TestNet net;
    Loaded l;
    if (!load(k.policy, l)) return 1;
    if (!l.lp->reset_limits(0) || !l.lp->reset_counters()) {  // the real clock
        std::fprintf(stderr, "limit_precision: cannot reset the policy's maps\n");
        return 1;
    }
    if (int err = bpf_xdp_attach(net.host_ifindex(), l.lp->program_fd(), XDP_FLAGS_DRV_MODE, nullptr); err) {
        std::fprintf(stderr, "limit_precision: attach: %d\n", err);
        return 1;
    }
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    for (unsigned i = 0; i < k.sources; ++i)
        o.frames.push_back({Frame()
                                .eth(net.peer_mac(), net.host_mac())
                                .ipv4(k.sources == 1 ? net.peer_ip4() : ip4(198, 19, 1, std::uint8_t(i + 1)),
                                      net.host_ip4())
                                .udp(40000, 9)
                                .bytes(),
                            1});
    const double offered_target = 10.5 * k.configured;
    o.rate_pps = offered_target;
    o.duration = std::chrono::duration<double>(seconds);
    o.per_call = k.per_call;
    auto r = gen.flood(o);
    // Until every frame sent is decided (or 10 s: then the figures say what was missing).
    std::uint64_t passed = 0, dropped = 0;
    for (int i = 0; i < 1000; ++i) {
        auto p = l.lp->verdict_counter(WEIR_ACT_PASS), d = l.lp->verdict_counter(WEIR_ACT_DROP);
        if (p && d) passed = p->packets, dropped = d->packets;
        if (!r || passed + dropped >= r->packets) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    bpf_xdp_detach(net.host_ifindex(), XDP_FLAGS_DRV_MODE, nullptr);
    if (!r) {
        std::fprintf(stderr, "limit_precision: %s\n", r.error().message.c_str());
        return 1;
    }
    const double offered = double(r->packets) / r->seconds;
    const double admitted = (double(passed) - k.burst_total) / r->seconds;
    std::printf("%-24s configured %8.0f pps  offered %8.0f pps (%.1fx; asked %.0f, %+.2f%%) for %.2f s  "
                "passed %llu  dropped %llu  undecided %lld  admitted %8.0f pps (%+.2f%%)\n",
                k.name, k.configured, offered, offered / k.configured, offered_target,
                100.0 * (offered / offered_target - 1), r->seconds, static_cast<unsigned long long>(passed),
                static_cast<unsigned long long>(dropped), static_cast<long long>(r->packets - passed - dropped),
                admitted, 100.0 * (admitted / k.configured - 1));
    std::fflush(stdout);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    double seconds = 6;
    int runs = 1;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--seconds" && i + 1 < argc) seconds = std::atof(argv[++i]);
        else if (a == "--runs" && i + 1 < argc) runs = std::atoi(argv[++i]);
        else seconds = 0;
    }
    if (seconds <= 0 || runs <= 0) {
        std::fprintf(stderr, "usage: limit_precision [--seconds S] [--runs R]\n");
        return 2;
    }
    if (std::string why = test::bpf_unavailable_reason(); !why.empty()) {
        std::printf("SKIP: limit_precision needs BPF: %s\n", why.c_str());
        return 77;
    }
    auto gen = TrafficGen::create();
    if (!gen) {
        std::fprintf(stderr, "limit_precision: %s\n%s\n", gen.error().message.c_str(), gen.error().log.c_str());
        return 1;
    }
    const std::vector<Case> cases = {
        {"global", "policy p default pass {\n    flood: drop if udp.dport == 9 and over 20000/s burst 2000\n}\n",
         20000, 2000, 1, 4096},  // a round: ~20 ms; the burst: 100 ms
        {"per-source (64 sources)",
         "policy p default pass {\n    flood: drop if udp.dport == 9 and over 300/s burst 30 per ip.src size 1024\n}\n",
         300.0 * 64, 30.0 * 64, 64, 128},  // a round: 64 x 128 frames, ~40 ms; a key's burst: 100 ms
    };
    try {
        for (int run = 0; run < runs; ++run)
            for (const Case& k : cases)
                if (int rc = measure(*gen, k, seconds)) return rc;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "limit_precision: %s\n", e.what());
        return 1;
    }
    return 0;
}
