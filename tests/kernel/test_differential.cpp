// Differential test: random policies (tests/support/policy_gen.*), compiled through the whole
// pipeline (text -> check -> plan -> codegen -> kernel verifier) and run with BPF_PROG_TEST_RUN
// on packets aimed at them, must decide every packet exactly as the reference interpreter
// (compiler/interp.hpp) decides it on the same frame: the same XDP action AND the same deciding
// rule, the same malformed flag, and, after each policy's packets, the same per-rule, per-verdict
// and default/malformed counters.
//
// Environment (all optional):
//   WEIR_DIFF_SEED=N      the first policy's seed (policy i uses N + i); default: fixed
//   WEIR_DIFF_POLICIES=N  how many policies (default 100)
//   WEIR_DIFF_PACKETS=N   packets per policy (default 10000)
// A mismatch prints the seed, the policy text and the packet as hex: rerun it alone with
// WEIR_DIFF_SEED=<seed> WEIR_DIFF_POLICIES=1.
#include <doctest/doctest.h>
#include <net/if.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <map>
#include <sstream>
#include <string>

#include "codegen.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "loaded_policy.hpp"
#include "parse.h"
#include "plan.hpp"
#include "policy_gen.hpp"
#include "ruleset_gen.hpp"
#include "weir_abi.h"

using namespace weir;
using namespace weir::test;

namespace {

constexpr std::uint64_t kDefaultSeed = 0x5eed0003;  // issue 3
constexpr std::uint32_t kNoSuchIfindex = 0x7ffffff0;  // what "weirnx0" resolves to: no interface

std::uint64_t env_or(const char* name, std::uint64_t def) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 0) : def;
}

std::uint32_t xdp_action(Verdict v) {
    switch (v) {
        case Verdict::Pass: return WEIR_ACT_PASS;
        case Verdict::Drop: return WEIR_ACT_DROP;
        case Verdict::Tx: return WEIR_ACT_TX;
        case Verdict::Redirect: return WEIR_ACT_REDIRECT;
    }
    return WEIR_ACT_ABORTED;
}

std::string action_name(std::uint32_t a) {
    switch (a) {
        case WEIR_ACT_ABORTED: return "aborted";
        case WEIR_ACT_DROP: return "drop";
        case WEIR_ACT_PASS: return "pass";
        case WEIR_ACT_TX: return "tx";
        case WEIR_ACT_REDIRECT: return "redirect";
    }
    return "?";
}

std::string rule_name(const Policy& pol, int rule) {
    return rule < 0 ? std::string("default")
                    : rule < static_cast<int>(pol.rules.size()) ? pol.rules[static_cast<std::size_t>(rule)].name
                                                                 : "#" + std::to_string(rule);
}

struct Totals {
    std::uint64_t policies = 0, packets = 0, mismatches = 0, by_rule = 0, malformed = 0;
    std::uint64_t groups = 0, trees = 0, grouped_rules = 0, by_group = 0;  // classifier plans
    std::map<std::uint32_t, std::uint64_t> actions;
    double compile_s = 0, load_s = 0, run_s = 0, interp_s = 0;
};

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// One compiled policy: load it, run every frame `next` gives through kernel and interpreter,
// compare decisions and, at the end, counters.
void run_and_compare(const Compilation& comp, const Plan& plan, std::uint32_t lo_ifindex,
                     const std::function<std::optional<GeneratedPacket>()>& next,
                     const std::function<std::string()>& header, Totals& t) {
    const Compilation* c = &comp;
    const Policy& pol = c->program.policies.at(0);
    auto t0 = Clock::now();
    CodegenOptions cg;
    cg.ifindex_of = [&](const std::string& name) -> std::optional<std::uint32_t> {
        if (name == "lo") return lo_ifindex;
        if (name == "weirnx0") return kNoSuchIfindex;
        return std::nullopt;
    };
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, cg);
    REQUIRE_MESSAGE(obj.ok(), header() << "codegen: " << obj.error);
    auto t1 = Clock::now();
    Diagnostics diags;
    auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
    REQUIRE_MESSAGE(lp, header() << render_text(c->sources, diags));
    auto t2 = Clock::now();
    t.compile_s += secs(t0, t1);
    t.load_s += secs(t1, t2);
    for (const auto& g : plan.groups) {
        ++t.groups;
        t.trees += g.trees.size();
        t.grouped_rules += g.count;
    }

    // What the counters must say afterwards, from the interpreter's decisions.
    std::vector<bpf::Counter> rule_counts(pol.rules.size());
    std::map<std::uint32_t, bpf::Counter> verdicts;
    bpf::Counter by_default, malformed;

    unsigned reported = 0;
    double run_s = 0, interp_s = 0;
    for (std::uint64_t i = 0;; ++i) {
        std::optional<GeneratedPacket> gp = next();
        if (!gp) break;
        const GeneratedPacket& p = *gp;
        auto a = Clock::now();
        weir_pkt pkt{};
        weir_parse(p.bytes.data(), p.bytes.data() + p.bytes.size(), &pkt);
        Decision want = evaluate(c->program, pol, pkt, p.bytes, "lo");
        auto b = Clock::now();
        auto got = lp->run(p.bytes, lo_ifindex);
        auto e = Clock::now();
        interp_s += secs(a, b);
        run_s += secs(b, e);
        REQUIRE_MESSAGE(got, header() << "test run: " << got.error().message);

        const std::uint64_t len = p.bytes.size();
        std::uint32_t want_action = xdp_action(want.verdict);
        for (int r : want.counted) rule_counts[static_cast<std::size_t>(r)].packets++, rule_counts[static_cast<std::size_t>(r)].bytes += len;
        if (want.rule >= 0) {
            rule_counts[static_cast<std::size_t>(want.rule)].packets++;
            rule_counts[static_cast<std::size_t>(want.rule)].bytes += len;
            ++t.by_rule;
            if (plan.rules[static_cast<std::size_t>(want.rule)].group >= 0) ++t.by_group;
        } else {
            by_default.packets++, by_default.bytes += len;
        }
        if (pkt.malformed) malformed.packets++, malformed.bytes += len, ++t.malformed;
        verdicts[want_action].packets++, verdicts[want_action].bytes += len;
        t.actions[got->action]++;
        ++t.packets;

        if (got->action != want_action || got->rule != want.rule || got->malformed != (pkt.malformed != 0)) {
            ++t.mismatches;
            if (reported++ < 3) {
                FAIL_CHECK(header() << "packet #" << i << " (" << p.kind << "), " << p.bytes.size()
                                    << " bytes:\n  packet hex \"" << to_hex(p.bytes) << "\"\n  kernel: "
                                    << action_name(got->action) << " by " << rule_name(pol, got->rule)
                                    << std::string(got->malformed ? " (malformed)" : "") << "\n  interpreter: "
                                    << action_name(want_action) << " by " << rule_name(pol, want.rule)
                                    << std::string(pkt.malformed ? " (malformed)" : ""));
            }
        }
    }
    t.run_s += run_s;
    t.interp_s += interp_s;
    ++t.policies;

    // Counters: every matching count rule and the deciding rule, per packet.
    for (std::size_t r = 0; r < pol.rules.size(); ++r) {
        auto got = lp->rule_counter(r);
        REQUIRE(got);
        CHECK_MESSAGE(*got == rule_counts[r], header() << "rule " << pol.rules[r].name << ": kernel "
                                                      << got->packets << " packets, interpreter "
                                                      << rule_counts[r].packets);
    }
    for (auto [action, want] : verdicts) {
        auto got = lp->verdict_counter(action);
        REQUIRE(got);
        CHECK_MESSAGE(*got == want, header() << "verdict " << action_name(action));
    }
    auto def = lp->stat_counter(WEIR_STAT_DEFAULT);
    auto mal = lp->stat_counter(WEIR_STAT_MALFORMED);
    auto err = lp->stat_counter(WEIR_STAT_ERROR);
    REQUIRE((def && mal && err));
    CHECK_MESSAGE(*def == by_default, header() << "default counter");
    CHECK_MESSAGE(*mal == malformed, header() << "malformed counter");
    CHECK_MESSAGE(err->packets == 0, header() << "error counter");
}

// One random policy: generate, compile, plan with `popts`, run `packets` packets.
void run_policy(std::uint64_t seed, std::uint64_t packets, std::uint32_t lo_ifindex, const PlanOptions& popts,
                Totals& t) {
    GenOptions gopts;
    gopts.iface_names = {"lo", "weirnx0"};
    gopts.redirect_iface = "lo";
    GeneratedPolicy g = generate_policy(seed, gopts);
    auto header = [&] {
        return "seed " + std::to_string(seed) + " (rerun: WEIR_DIFF_SEED=" + std::to_string(seed) +
               " WEIR_DIFF_POLICIES=1)\n--- policy ---\n" + g.text + "--------------\n";
    };
    auto t0 = Clock::now();
    CheckOptions copts;
    copts.lint = false;  // warnings do not matter here; test_policy_gen runs the linter
    auto c = compile_source("/tmp/weir-differential/generated.weir", g.text, copts);
    REQUIRE_MESSAGE(c->ok(), header() << render_text(c->sources, c->diags));
    Plan plan = plan_policy(c->program, 0, popts);
    t.compile_s += secs(t0, Clock::now());
    PacketGen gen(g.palette, seed * 0x9e3779b97f4a7c15ull + 1);
    std::uint64_t sent = 0;
    run_and_compare(*c, plan, lo_ifindex,
                    [&]() -> std::optional<GeneratedPacket> {
                        if (sent++ == packets) return std::nullopt;
                        return gen.next();
                    },
                    header, t);
}

void report(const Totals& t, double total) {
    std::ostringstream acts;
    for (auto [a, n] : t.actions) acts << " " << action_name(a) << " " << n;
    MESSAGE("differential: " << t.policies << " policies, " << t.packets << " packets, " << t.mismatches
            << " mismatches; decided by a rule " << (t.packets ? 100.0 * t.by_rule / t.packets : 0)
            << "% (by a classifier tree " << (t.packets ? 100.0 * t.by_group / t.packets : 0) << "%), malformed "
            << (t.packets ? 100.0 * t.malformed / t.packets : 0) << "%; actions:" << acts.str() << "; " << t.groups
            << " classifier groups, " << t.trees << " trees, " << t.grouped_rules << " rules in them");
    MESSAGE("time: " << total << " s total; check+plan+codegen " << t.compile_s << " s, load+verify " << t.load_s
            << " s, kernel runs " << t.run_s << " s (" << (t.packets ? 1e6 * t.run_s / t.packets : 0)
            << " us/packet incl. 3 syscalls), interpreter " << t.interp_s << " s");
}

void run_random(const PlanOptions& popts, std::uint64_t default_seed, std::uint64_t default_policies, Totals& t) {
    const std::uint64_t first = env_or("WEIR_DIFF_SEED", default_seed);
    const std::uint64_t policies = env_or("WEIR_DIFF_POLICIES", default_policies);
    const std::uint64_t packets = env_or("WEIR_DIFF_PACKETS", 10000);
    const std::uint32_t lo = if_nametoindex("lo");
    REQUIRE(lo != 0);
    auto start = Clock::now();
    for (std::uint64_t i = 0; i < policies; ++i) {
        CAPTURE(first + i);
        run_policy(first + i, packets, lo, popts, t);
    }
    CHECK(t.mismatches == 0);
    CHECK(t.policies == policies);
    report(t, secs(start, Clock::now()));
}

}  // namespace

TEST_CASE("random policies decide like the reference interpreter in the kernel") {
    Totals t;
    run_random(PlanOptions{}, kDefaultSeed, 100, t);
}

// Every run of two or more consecutive boxable rules becomes a classifier group, so the trees
// meet every field, operator and value form the generator writes (the default planner leaves
// runs shorter than 16 rules linear).
TEST_CASE("random policies with the classifier forced on decide like the interpreter in the kernel") {
    PlanOptions popts;
    popts.classifier.min_rules = 2;
    Totals t;
    run_random(popts, kDefaultSeed + 1000000, 60, t);
    CHECK(t.groups > 60);
    CHECK(t.by_group > t.packets / 20);
}

// Large generated rule sets of the three benchmark shapes (tests/support/ruleset_gen.hpp), planned
// by the default planner: every plan shape the classifier makes at size.
TEST_CASE("large rule sets: classifier plans decide like the interpreter in the kernel") {
    const std::uint32_t lo = if_nametoindex("lo");
    REQUIRE(lo != 0);
    Totals t;
    auto start = Clock::now();
    for (RulesetShape shape : kRulesetShapes) {
        for (std::size_t rules : {100, 1000, 20000}) {
            RulesetOptions ro;
            ro.shape = shape;
            ro.rules = rules;
            ro.seed = 7 + rules;
            Ruleset rs = generate_ruleset(ro);
            std::string text = weir_policy_text(rs);
            auto header = [&] {
                return std::string("ruleset ") + ruleset_shape_name(shape) + " of " + std::to_string(rules) +
                       " rules (seed " + std::to_string(ro.seed) + ")\n";
            };
            auto t0 = Clock::now();
            CheckOptions copts;
            copts.lint = false;
            auto c = compile_source("/tmp/weir-differential/ruleset.weir", text, copts);
            REQUIRE_MESSAGE(c->ok(), header() << render_text(c->sources, c->diags));
            Plan plan = plan_policy(c->program, 0);
            t.compile_s += secs(t0, Clock::now());
            CHECK_MESSAGE(plan.strategy == Strategy::Classifier, header());
            TrafficOptions to;
            to.frames = 6000;
            to.seed = rules;
            std::vector<GenFrame> frames = generate_traffic(rs, to);
            std::size_t k = 0;
            run_and_compare(*c, plan, lo,
                            [&]() -> std::optional<GeneratedPacket> {
                                if (k == frames.size()) return std::nullopt;
                                GeneratedPacket p;
                                p.bytes = frames[k].bytes;
                                p.kind = "aimed at rule " + std::to_string(frames[k].target);
                                ++k;
                                return p;
                            },
                            header, t);
        }
    }
    CHECK(t.mismatches == 0);
    CHECK(t.by_group > t.packets / 2);
    report(t, secs(start, Clock::now()));
}
