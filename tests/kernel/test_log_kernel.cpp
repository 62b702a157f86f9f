// `log` rules on the kernel program (bpf-templates/xdp.c weir_log / weir_log_flush): packets run
// with BPF_PROG_TEST_RUN, records read back from the weir_log_ring ring buffer and decoded with
// runtime/attach/events.hpp. The test thread is pinned to one CPU so that the per-CPU sample counters
// make the sampled count exact.
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <sched.h>

#include <memory>
#include <string>
#include <vector>

#include "codegen.hpp"
#include "driver.hpp"
#include "events.hpp"
#include "loaded_policy.hpp"
#include "plan.hpp"
#include "test_frames.hpp"
#include "weir_abi.h"

using namespace weir;

namespace {

struct Loaded {
    std::unique_ptr<Compilation> c;
    Plan plan;
    std::unique_ptr<LoadedPolicy> lp;
    int rule(const std::string& name) const { return c->program.policies[0].rule_index(name); }
};

Loaded load(const std::string& text, std::uint32_t ring_bytes = 0) {
    Loaded out;
    out.c = compile_source("log.weir", text, CheckOptions{});
    REQUIRE_MESSAGE(out.c->ok(), render_text(out.c->sources, out.c->diags));
    out.plan = plan_policy(out.c->program, 0);
    CodegenResult r = codegen(out.plan, out.c->sources, EmitKind::Obj, {});
    REQUIRE_MESSAGE(r.ok(), r.error);
    Diagnostics diags;
    KernelLoadOptions lo;
    lo.log_ring_bytes = ring_bytes;
    out.lp = LoadedPolicy::load(out.plan, out.c->sources, r.bytes, diags, lo);
    REQUIRE_MESSAGE(out.lp, render_text(out.c->sources, diags));
    return out;
}

void pin_to_one_cpu() {
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    int first = 0;
    while (!CPU_ISSET(first, &set)) ++first;
    CPU_ZERO(&set);
    CPU_SET(first, &set);
    REQUIRE(sched_setaffinity(0, sizeof set, &set) == 0);
}

// Everything in the ring now, decoded (names unresolved: slots).
std::vector<events::Record> drain(const LoadedPolicy& lp) {
    std::vector<events::Record> out;
    auto cb = [](void* ctx, void* data, std::size_t size) {
        events::Record r;
        REQUIRE(events::decode(data, size, r));
        static_cast<std::vector<events::Record>*>(ctx)->push_back(std::move(r));
        return 0;
    };
    ring_buffer* rb = ring_buffer__new(lp.map_fd(WEIR_MAP_LOG), cb, &out, nullptr);
    REQUIRE(rb);
    REQUIRE(ring_buffer__consume(rb) >= 0);
    ring_buffer__free(rb);
    return out;
}

std::vector<std::uint8_t> web_frame(std::size_t payload) {
    std::vector<std::uint8_t> body(payload, 0xab);
    return Frame().eth().ipv4(ip4(198, 18, 0, 1), ip4(198, 18, 0, 2)).tcp(40000, 80, kTcpSyn).payload(body).bytes();
}

std::uint64_t stat(const LoadedPolicy& lp, std::uint32_t slot) {
    auto c = lp.stat_counter(slot);
    REQUIRE(c);
    return c->packets;
}

}  // namespace

TEST_CASE("log records: the sampled count, the final verdict, the snapped bytes") {
    pin_to_one_cpu();
    Loaded l = load(R"(policy p default pass {
    every: log if tcp.dport == 80
    third: log sample 1/3 snap 64 if tcp.dport == 80
    other: log if tcp.dport == 22
    web:   drop if tcp.dport == 80
})");
    const std::vector<std::uint8_t> frame = web_frame(200);  // 254 bytes
    const int k = 10;
    for (int i = 0; i < k; ++i) {
        auto r = l.lp->run(frame);
        REQUIRE_MESSAGE(r, r.error().message);
        CHECK(r->action == WEIR_ACT_DROP);  // log changes no verdict
        CHECK(r->rule == l.rule("web"));
    }
    std::vector<events::Record> recs = drain(*l.lp);
    int every = 0, third = 0;
    for (const auto& r : recs) {
        CHECK(r.action == WEIR_ACT_DROP);
        CHECK(r.decided_slot == l.lp->slot_of(static_cast<std::size_t>(l.rule("web"))));
        CHECK(r.len == frame.size());
        CHECK(std::equal(r.data.begin(), r.data.end(), frame.begin()));
        if (r.slot == l.lp->slot_of(static_cast<std::size_t>(l.rule("every")))) {
            ++every;
            CHECK(r.data.size() == kLogSnapDefault);
        } else if (r.slot == l.lp->slot_of(static_cast<std::size_t>(l.rule("third")))) {
            ++third;
            CHECK(r.data.size() == 64);
        } else {
            FAIL("a record of rule slot " << r.slot);
        }
    }
    CHECK(every == k);
    CHECK(third == k / 3);  // every 3rd match on this CPU
    CHECK(stat(*l.lp, WEIR_STAT_RING_DROPS) == 0);
    // A log rule counts every match, sampled or not, like a count rule.
    auto c = l.lp->rule_counter(static_cast<std::size_t>(l.rule("third")));
    REQUIRE(c);
    CHECK(c->packets == static_cast<std::uint64_t>(k));
    CHECK(c->bytes == static_cast<std::uint64_t>(k) * frame.size());

    // A frame shorter than the snap is captured whole; the default decides with its verdict.
    auto small = Frame().eth().ipv4(ip4(198, 18, 0, 1), ip4(198, 18, 0, 2)).tcp(40000, 22, kTcpSyn).bytes();
    REQUIRE(l.lp->run(small));
    recs = drain(*l.lp);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].data.size() == small.size());
    CHECK(recs[0].decided_slot == WEIR_RULE_DEFAULT);
    CHECK(recs[0].action == WEIR_ACT_PASS);
}

TEST_CASE("a full ring never blocks: lost records are counted") {
    pin_to_one_cpu();
    Loaded l = load("policy p default pass {\n    all: log\n}\n", 4096);  // one page: 13 records
    const int k = 40;
    const auto frame = web_frame(10);
    for (int i = 0; i < k; ++i) REQUIRE(l.lp->run(frame));
    auto recs = drain(*l.lp);
    const std::uint64_t lost = stat(*l.lp, WEIR_STAT_RING_DROPS);
    CHECK(recs.size() > 0);
    CHECK(lost > 0);
    CHECK(recs.size() + lost == static_cast<std::uint64_t>(k));  // received == sampled - drops
    // Drained: there is room again.
    REQUIRE(l.lp->run(frame));
    CHECK(drain(*l.lp).size() == 1);
}

TEST_CASE("more log rules on one packet than a packet can queue: the rest are counted as lost") {
    pin_to_one_cpu();
    std::string text = "policy p default drop {\n";
    for (int i = 0; i < WEIR_LOG_PER_PACKET + 2; ++i) text += "    l" + std::to_string(i) + ": log\n";
    Loaded l = load(text + "}\n");
    REQUIRE(l.lp->run(web_frame(0)));
    auto recs = drain(*l.lp);
    REQUIRE(recs.size() == WEIR_LOG_PER_PACKET);
    for (std::size_t i = 0; i < recs.size(); ++i) CHECK(recs[i].slot == l.lp->slot_of(i));  // rule order
    CHECK(stat(*l.lp, WEIR_STAT_RING_DROPS) == 2);
}
