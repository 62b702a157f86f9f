// Rate limits (docs/language.md "Rate limits"; label `live`) on a private veth pair: frames of
// the live-frames generator reach the limit through the real receive path (two sending threads:
// the veth's NAPI runs on both CPUs, so buckets are updated concurrently). What passes is an
// exact count over a known number of frames, never a rate over a time window:
//   - a frozen clock (weir_clock): no token refills, so of N frames exactly `burst` pass per key;
//     moving the clock on by k refill intervals lets exactly k more pass per key;
//   - the real clock at one token a minute: exactly the burst passes, plus at most one token per
//     minute the run lasted (it lasts seconds).
// The admitted rate under a 10x flood is a figure, printed by bench/limit_precision.
#include <doctest/doctest.h>

#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "compiled_policy.hpp"
#include "limits.hpp"
#include "loaded_policy.hpp"
#include "test_frames.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "weir_abi.h"

using namespace weir;
using namespace weir::traffic;
using weir::test::TestNet;
using Bytes = std::vector<std::uint8_t>;

namespace {

struct Attached {
    int ifindex;
    explicit Attached(int ifi, int prog) : ifindex(ifi) {
        int err = bpf_xdp_attach(ifindex, prog, XDP_FLAGS_DRV_MODE, nullptr);
        REQUIRE_MESSAGE(err == 0, "attach: " << err);
    }
    ~Attached() { bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr); }
};

// A policy whose one rule drops UDP to port 9 over its limit (default pass), attached to the
// host end of `net`, and the generator that floods it from the namespace.
class LimitedLink {
public:
    LimitedLink(const TestNet& net, const std::string& policy)
        : net_(net), c_(test::compile_policy(policy)), lp_(test::load_policy(c_)),
          at_(net.host_ifindex(), lp_->program_fd()) {
        auto gen = TrafficGen::create();
        REQUIRE_MESSAGE(gen, gen.error().message);
        gen_.emplace(std::move(*gen));
        REQUIRE(lp_->reset_counters());
    }

    // Empties the buckets and sets the clock the limit sees (0: the real one).
    void reset_limits(std::uint64_t frozen_ns) const { REQUIRE(lp_->reset_limits(frozen_ns)); }
    void set_clock(std::uint64_t ns) const {
        REQUIRE(bpf::update(lp_->map_fd(WEIR_MAP_CLOCK), 0u, ns));
    }

    // Sends `per_frame` of each frame; returns once the program decided every frame sent so far
    // (passed + dropped == sent; a 60 s deadline only bounds a failure), with the totals.
    struct Totals {
        std::uint64_t passed = 0, dropped = 0;
    };
    Totals send(const std::vector<Bytes>& frames, std::uint64_t per_frame) {
        FloodOptions o;
        o.netns = net_.netns();
        o.ifname = net_.peer_if();
        for (const auto& f : frames) o.frames.push_back({f, 1});
        o.packets = per_frame * frames.size();
        o.threads = 2;
        o.kernel_batch = 32;  // two senders: batches far below a veth ring's 256 frames
        auto r = gen_->flood(o);
        REQUIRE_MESSAGE(r, r.error().message);
        REQUIRE(r->packets == o.packets);
        sent_ += r->packets;
        Totals t;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        for (;;) {
            t = totals();
            if (t.passed + t.dropped >= sent_ || std::chrono::steady_clock::now() > deadline) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        REQUIRE_MESSAGE(t.passed + t.dropped == sent_,
                        "frames sent " << sent_ << ", decided " << t.passed + t.dropped);
        return t;
    }

private:
    Totals totals() const {
        auto pass = lp_->verdict_counter(WEIR_ACT_PASS);
        auto drop = lp_->verdict_counter(WEIR_ACT_DROP);
        REQUIRE(pass);
        REQUIRE(drop);
        return {pass->packets, drop->packets};
    }

    const TestNet& net_;
    test::CompiledPolicy c_;
    std::unique_ptr<LoadedPolicy> lp_;
    Attached at_;
    std::optional<TrafficGen> gen_;
    std::uint64_t sent_ = 0;
};

Bytes udp9(const TestNet& net, std::uint32_t src) {
    return Frame().eth(net.peer_mac(), net.host_mac()).ipv4(src, net.host_ip4()).udp(40000, 9).bytes();
}

constexpr std::uint64_t kT0 = WEIR_LIMIT_TEST_CLOCK_NS;

}  // namespace

TEST_CASE("over on live traffic, frozen clock: exactly the burst passes, then one per interval") {
    TestNet net;
    // 20,000/s: a token every 50 us (exact in the bucket's fixed point).
    LimitedLink link(net, R"(policy p default pass {
    flood: drop if udp.dport == 9 and over 20000/s burst 2000
}
)");
    link.reset_limits(kT0);
    const std::vector<Bytes> frames = {udp9(net, net.peer_ip4())};
    auto t = link.send(frames, 50'000);
    CHECK(t.passed == 2'000);
    CHECK(t.dropped == 48'000);

    // 10 intervals later: 10 tokens; more frames at the same instant find the bucket empty.
    link.set_clock(kT0 + 10 * 50'000);
    t = link.send(frames, 5'000);
    CHECK(t.passed == 2'010);
    t = link.send(frames, 5'000);
    CHECK(t.passed == 2'010);

    // A whole second later the bucket is full again (the burst), not fuller.
    link.set_clock(kT0 + 2'000'000'000);
    t = link.send(frames, 5'000);
    CHECK(t.passed == 4'010);
    CHECK(t.dropped == 48'000 + 4'990 + 5'000 + 3'000);
}

TEST_CASE("over per ip.src on live traffic, frozen clock: 64 sources, each its own burst") {
    TestNet net;
    constexpr int kSources = 64;
    // 250/s: a token every 4 ms.
    LimitedLink link(net, R"(policy p default pass {
    flood: drop if udp.dport == 9 and over 250/s burst 25 per ip.src size 1024
}
)");
    link.reset_limits(kT0);
    std::vector<Bytes> frames;
    for (int i = 0; i < kSources; ++i) frames.push_back(udp9(net, ip4(198, 19, 1, std::uint8_t(i + 1))));
    auto t = link.send(frames, 200);
    CHECK(t.passed == kSources * 25);  // one shared bucket would pass 25, lost updates more
    CHECK(t.dropped == kSources * 175);

    link.set_clock(kT0 + 10 * 4'000'000);  // 40 ms: 10 tokens per source
    t = link.send(frames, 50);
    CHECK(t.passed == kSources * (25 + 10));

    // Only the first 32 sources now: the others' buckets are not touched.
    link.set_clock(kT0 + 20 * 4'000'000);  // 10 more tokens for every source
    t = link.send(std::vector<Bytes>(frames.begin(), frames.begin() + 32), 50);
    CHECK(t.passed == kSources * 35 + 32 * 10);
    t = link.send(std::vector<Bytes>(frames.begin() + 32, frames.end()), 50);
    CHECK(t.passed == kSources * 35 + kSources * 10);
}

TEST_CASE("over on live traffic, real clock: 1/m passes the burst and at most a token a minute") {
    TestNet net;
    LimitedLink link(net, R"(policy p default pass {
    flood: drop if udp.dport == 9 and over 1/m burst 500
}
)");
    const auto start = std::chrono::steady_clock::now();
    link.reset_limits(0);
    const std::vector<Bytes> frames = {udp9(net, net.peer_ip4())};
    auto t = link.send(frames, 20'000);
    // The run's length bounds the refills: the first comes a minute after the first frame, the
    // next a minute later, and so on. It bounds a count; nothing here depends on a speed.
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto refills = std::uint64_t(std::floor(seconds / 60));
    MESSAGE("1/m burst 500: " << t.passed << " of 20000 passed in " << seconds << " s");
    CHECK(t.passed >= 500);
    CHECK(t.passed <= 500 + refills);
}
