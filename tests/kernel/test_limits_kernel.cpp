// Rate limits (`over`, docs/language.md "Rate limits") in the kernel program:
//   - BPF_PROG_TEST_RUN at a frozen clock: the burst passes, then the limit drops; keys are
//     separate buckets; reset_limits() refills; state follows rule name + key across a reload
//     that reuses weir_limits (what a hot swap does), and not when the rule is renamed;
//   - no lost updates: two threads hammer one bucket, exactly `burst` packets are admitted;
// Precision on a live veth pair: test_limits_live.cpp.
#include <doctest/doctest.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "codegen.hpp"
#include "compiled_policy.hpp"
#include "driver.hpp"
#include "limits.hpp"
#include "loaded_policy.hpp"
#include "plan.hpp"
#include "test_frames.hpp"
#include "weir_abi.h"

using namespace weir;

namespace {

std::vector<std::uint8_t> tcp(std::uint32_t src, std::uint16_t dport) {
    return Frame().eth().ipv4(src, ip4(198, 18, 0, 2)).tcp(40000, dport, kTcpSyn).bytes();
}

int rule_of(const LoadedPolicy& lp, const std::vector<std::uint8_t>& frame) {
    auto r = lp.run(frame);
    REQUIRE_MESSAGE(r, r.error().message);
    return r->action == WEIR_ACT_DROP ? r->rule : -1;
}

constexpr const char* kPolicy = R"(policy p default pass {
    api: drop if tcp.dport == 443 and over 100/s burst 3 per ip.src
}
)";

}  // namespace

TEST_CASE("over: the burst passes, then the limit drops, one bucket per key") {
    test::CompiledPolicy c = test::compile_policy(kPolicy);
    auto lp = test::load_policy(c);
    REQUIRE(lp->reset_limits(WEIR_LIMIT_TEST_CLOCK_NS));
    const std::uint32_t a = ip4(198, 18, 0, 10), b = ip4(198, 18, 0, 11);
    for (int i = 0; i < 3; ++i) CHECK(rule_of(*lp, tcp(a, 443)) == -1);
    CHECK(rule_of(*lp, tcp(a, 443)) == 0);
    CHECK(rule_of(*lp, tcp(a, 443)) == 0);
    CHECK(rule_of(*lp, tcp(a, 80)) == -1);   // the rest of the rule does not hold: no token taken
    CHECK(rule_of(*lp, tcp(b, 443)) == -1);  // another key: a full bucket
    REQUIRE(lp->reset_limits(WEIR_LIMIT_TEST_CLOCK_NS));
    CHECK(rule_of(*lp, tcp(a, 443)) == -1);  // refilled
    // 100/s: one token every 10 ms. Advance the frozen clock by 25 ms: two tokens.
    for (int i = 0; i < 2; ++i) CHECK(rule_of(*lp, tcp(a, 443)) == -1);
    CHECK(rule_of(*lp, tcp(a, 443)) == 0);
    auto clock = lp->map_fd(WEIR_MAP_CLOCK);
    REQUIRE(clock >= 0);
    REQUIRE(bpf::update(clock, 0u, std::uint64_t{WEIR_LIMIT_TEST_CLOCK_NS + 25'000'000}));
    CHECK(rule_of(*lp, tcp(a, 443)) == -1);
    CHECK(rule_of(*lp, tcp(a, 443)) == -1);
    CHECK(rule_of(*lp, tcp(a, 443)) == 0);
}

TEST_CASE("over: state follows rule name and key across a reload sharing weir_limits") {
    test::CompiledPolicy c = test::compile_policy(kPolicy);
    auto old = test::load_policy(c);
    REQUIRE(old->reset_limits(WEIR_LIMIT_TEST_CLOCK_NS));
    const std::uint32_t a = ip4(198, 18, 0, 10);
    for (int i = 0; i < 3; ++i) CHECK(rule_of(*old, tcp(a, 443)) == -1);
    int limits = old->map_fd(WEIR_MAP_LIMITS);
    REQUIRE(limits >= 0);

    // Another policy, the same rule name and key (a new rule in front, another rate): kept.
    test::CompiledPolicy kept = test::compile_policy(R"(policy q default pass {
    ssh: pass if tcp.dport == 22
    api: drop if tcp.dport == 443 and over 200/s burst 3 per ip.src
}
)");
    auto next = test::load_policy(kept, {{WEIR_MAP_LIMITS, limits}});
    REQUIRE(bpf::update(next->map_fd(WEIR_MAP_CLOCK), 0u, std::uint64_t{WEIR_LIMIT_TEST_CLOCK_NS}));
    CHECK(rule_of(*next, tcp(a, 443)) == 1);  // the bucket emptied by the old program

    // The rule renamed: a new limit, a full bucket.
    test::CompiledPolicy renamed = test::compile_policy(R"(policy q default pass {
    web: drop if tcp.dport == 443 and over 100/s burst 3 per ip.src
}
)");
    auto other = test::load_policy(renamed, {{WEIR_MAP_LIMITS, limits}});
    REQUIRE(bpf::update(other->map_fd(WEIR_MAP_CLOCK), 0u, std::uint64_t{WEIR_LIMIT_TEST_CLOCK_NS}));
    CHECK(rule_of(*other, tcp(a, 443)) == -1);
}

TEST_CASE("over: no lost updates - two threads on one bucket admit exactly the burst") {
    // A frozen clock: nothing refills, so exactly `burst` packets may pass whatever the
    // interleaving; a racy read-modify-write would admit more.
    test::CompiledPolicy c = test::compile_policy(R"(policy p default pass {
    flood: drop if udp.dport == 9 and over 1000/s burst 200000
}
)");
    auto lp = test::load_policy(c);
    REQUIRE(lp->reset_limits(WEIR_LIMIT_TEST_CLOCK_NS));
    REQUIRE(lp->reset_counters());
    auto frame = Frame().eth().ipv4(ip4(198, 18, 0, 1), ip4(198, 18, 0, 2)).udp(1, 9).bytes();
    constexpr std::uint32_t kRepeat = 200'000;
    auto hammer = [&] {
        auto r = bpf::test_run(lp->program_fd(), frame, kRepeat);
        REQUIRE_MESSAGE(r, r.error().message);
    };
    std::thread t1(hammer), t2(hammer);
    t1.join();
    t2.join();
    auto pass = lp->verdict_counter(WEIR_ACT_PASS);
    auto drop = lp->verdict_counter(WEIR_ACT_DROP);
    REQUIRE(pass);
    REQUIRE(drop);
    std::printf("two threads x %u packets, burst 200000: passed %llu, dropped %llu\n", kRepeat,
                static_cast<unsigned long long>(pass->packets), static_cast<unsigned long long>(drop->packets));
    CHECK(pass->packets == 200'000);
    CHECK(drop->packets == 2ull * kRepeat - 200'000);
}

