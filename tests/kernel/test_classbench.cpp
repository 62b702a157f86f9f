// ClassBench sets (../shared/classbench/, README.md there): each set converted to a weir policy
// (bench/classbench.hpp: filter i -> rule `r<i>: drop if ...`, default pass), compiled with the
// default planner, loaded into the kernel, and every header of the set's trace (or, for a set
// without one, a header inside each filter) run through BPF_PROG_TEST_RUN and the reference
// interpreter: both must be decided by the first matching filter of a linear scan. The
// interpreter runs first, so a set the kernel side cannot compile still checks the conversion.
//
// One test case per set, so that a failure names the set; the 1k sets run in every run, the
// larger ones are discovered separately under the `slow` label (tests/kernel/CMakeLists.txt).
// The folder: $WEIR_CLASSBENCH_DIR, else ../shared/classbench next to the source tree, else
// /work/shared/classbench; without it (or without a set's file) the case skips.
//
// WEIR_CLASSBENCH_PLAN=linear forces straight-line code (`weir compile --plan linear`) instead of
// the default planner, to tell a classifier fault from one elsewhere.
//
// Codegen runs in a forked child (classbench::run_in_child): an LLVM fatal error on one set is
// that set's failure, not the end of the run.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "classbench.hpp"
#include "codegen.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "loaded_policy.hpp"
#include "parse.h"
#include "plan.hpp"
#include "test_runner.hpp"
#include "weir_abi.h"

using namespace weir;
namespace cb = weir::classbench;

namespace {

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

constexpr const char* kKnownSets[] = {"acl1_1k",  "fw1_1k",   "ipc1_1k",  "acl1_10k",
                                      "fw1_10k",  "ipc1_10k", "acl1_44k", "fw1_51k"};

std::string classbench_dir() { return cb::find_dir(WEIR_CLASSBENCH_DEFAULT_DIR); }

std::string rule_desc(std::span<const cb::Rule> rules, int i) {
    if (i < 0) return "default (no filter)";
    if (i >= int(rules.size())) return "#" + std::to_string(i) + " (no such filter)";
    const cb::Rule& r = rules[std::size_t(i)];
    return cb::weir_rule_name(r, std::size_t(i)) + " [" + cb::rule_line(r) + "]";
}

void check_set(const cb::SetFiles& set) {
    const auto start = Clock::now();
    cb::Workload work = cb::load_workload(set);
    REQUIRE_MESSAGE(work.ok(), set.name << ": " << work.error);
    const std::vector<cb::Rule>& rules = work.rules;
    REQUIRE_MESSAGE(!rules.empty(), set.name << ": no filters in " << set.rules);
    const std::vector<cb::Header>& headers = work.headers;
    const std::string from = work.from_trace ? "trace " + set.trace
                                             : "headers derived from the filters (the set has no trace)";
    REQUIRE(!headers.empty());

    // Compile: check (no lint: the warnings do not matter here), plan, codegen in a child.
    CheckOptions copts;
    copts.lint = false;
    copts.keep_ast = false;
    auto c = compile_source(set.name + ".weir", cb::policy_text(rules, "classbench"), copts);
    REQUIRE_MESSAGE(c->ok(), set.name << ": the converted policy does not check:\n"
                                      << render_text(c->sources, c->diags));
    const Policy& pol = c->program.policies.at(0);
    REQUIRE(pol.rules.size() == rules.size());

    // The interpreter first: it says whether the conversion holds even when the kernel side
    // cannot compile the set.
    std::vector<int> want(headers.size());
    std::vector<std::vector<std::uint8_t>> frames(headers.size());
    std::size_t kernel_bad = 0, interp_bad = 0, by_rule = 0, reported = 0;
    auto report = [&](std::size_t i, const std::string& got) {
        if (reported++ >= 5) return;
        const cb::Header& h = headers[i];
        std::ostringstream m;
        m << set.name << ": header #" << i;
        if (h.line) m << " (" << (set.trace.empty() ? set.rules : set.trace) << ":" << h.line << ")";
        m << " " << cb::header_text(h) << "\n  linear scan: " << rule_desc(rules, want[i]) << "\n  " << got;
        FAIL_CHECK(m.str());
    };
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < headers.size(); ++i) {
        want[i] = cb::first_match(rules, headers[i]);
        by_rule += want[i] >= 0;
        frames[i] = cb::frame(headers[i]);
        weir_pkt pkt{};
        weir_parse(frames[i].data(), frames[i].data() + frames[i].size(), &pkt);
        Decision d = evaluate(c->program, pol, pkt, frames[i], "lo");
        if (d.rule != want[i]) {
            ++interp_bad;
            report(i, "interpreter: " + rule_desc(rules, d.rule));
        }
    }
    const double interp_s = secs(t0);
    INFO(set.name << ": interpreter: " << headers.size() << " headers, " << interp_bad << " decided otherwise than the "
                  << "linear scan");
    CHECK_MESSAGE(interp_bad == 0, set.name << ": " << interp_bad << " of " << headers.size()
                                            << " headers decided by another rule in the interpreter");

    // The kernel: plan, codegen in a child, load, run.
    PlanOptions popts;
    if (const char* m = std::getenv("WEIR_CLASSBENCH_PLAN"); m && std::string_view(m) == "linear")
        popts.mode = PlanOptions::Mode::Linear;
    Plan plan = plan_policy(c->program, 0, popts);
    const double check_plan_s = secs(start) - interp_s;
    t0 = Clock::now();
    cb::ChildResult obj = cb::run_in_child(
        [&](std::string& error) {
            CodegenResult r = codegen(plan, c->sources, EmitKind::Obj, CodegenOptions{});
            if (!r.ok()) error = r.error;
            return std::move(r.bytes);
        },
        1200);
    REQUIRE_MESSAGE(obj.error.empty(), set.name << " (" << rules.size() << " rules): codegen failed after "
                                                << obj.seconds << " s: " << obj.error);
    const double codegen_s = secs(t0);
    t0 = Clock::now();
    Diagnostics diags;
    auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
    REQUIRE_MESSAGE(lp, set.name << " (" << rules.size() << " rules): the kernel refused the program:\n"
                                 << render_text(c->sources, diags));
    const double load_s = secs(t0);

    t0 = Clock::now();
    for (std::size_t i = 0; i < headers.size(); ++i) {
        auto run = lp->run(frames[i]);
        if (!run) FAIL(set.name << ": BPF_PROG_TEST_RUN failed: " << run.error().message);
        const std::uint32_t want_action = want[i] < 0 ? WEIR_ACT_PASS : WEIR_ACT_DROP;
        if (run->rule != want[i] || run->action != want_action) {
            ++kernel_bad;
            report(i, "kernel:      " + rule_desc(rules, run->rule) + ", action " + std::to_string(run->action) +
                          (run->malformed ? " (malformed)" : ""));
        }
    }
    const double run_s = secs(t0);
    MESSAGE(set.name << ": " << rules.size() << " rules, " << headers.size() << " headers (" << from << "), "
                     << by_rule << " decided by a filter; mismatches: kernel " << kernel_bad << ", interpreter "
                     << interp_bad << "; plan " << std::string(plan.strategy == Strategy::Classifier ? "classifier" : "linear")
                     << " (" << plan.groups.size() << " groups); check+plan " << check_plan_s << " s, interpreter "
                     << interp_s << " s, codegen " << codegen_s << " s, load " << load_s << " s, kernel runs " << run_s
                     << " s");
    CHECK_MESSAGE(kernel_bad == 0, set.name << ": " << kernel_bad << " of " << headers.size()
                                            << " headers decided by another rule in the kernel");
}

void check_named(const std::string& name) {
    std::string dir = classbench_dir();
    if (dir.empty())
        WEIR_SKIP("no ClassBench folder (WEIR_CLASSBENCH_DIR, " WEIR_CLASSBENCH_DEFAULT_DIR
                  ", /work/shared/classbench)");
    for (const cb::SetFiles& s : cb::find_sets(dir))
        if (s.name == name) {
            check_set(s);
            return;
        }
    WEIR_SKIP("no set " + name + " in " + dir);
}

}  // namespace

// The names end in ":" so that CMake's discovery can select by size (TEST_SPEC).
#define WEIR_CLASSBENCH_CASE(set) \
    TEST_CASE("classbench " #set ": kernel and interpreter decide every header by the first matching filter") { \
        check_named(#set);                                                                                      \
    }
WEIR_CLASSBENCH_CASE(acl1_1k)
WEIR_CLASSBENCH_CASE(fw1_1k)
WEIR_CLASSBENCH_CASE(ipc1_1k)
WEIR_CLASSBENCH_CASE(acl1_10k)
WEIR_CLASSBENCH_CASE(fw1_10k)
WEIR_CLASSBENCH_CASE(ipc1_10k)
WEIR_CLASSBENCH_CASE(acl1_44k)
WEIR_CLASSBENCH_CASE(fw1_51k)

// Sets added to the folder later than this file: each checked the same way.
TEST_CASE("classbench other sets: every further set in the folder is decided by its first matching filter") {
    std::string dir = classbench_dir();
    if (dir.empty()) WEIR_SKIP("no ClassBench folder");
    std::set<std::string> known(std::begin(kKnownSets), std::end(kKnownSets));
    std::size_t n = 0;
    for (const cb::SetFiles& s : cb::find_sets(dir)) {
        if (known.count(s.name)) continue;
        ++n;
        SUBCASE(s.name.c_str()) { check_set(s); }
    }
    MESSAGE(n << " further sets in " << dir);
}

// The limits of one BPF program: ClassBench-shaped sets the checker accepts compile with the
// planner (and verify). Forced into straight-line code (`--plan linear`), a 10k set is split
// into BPF functions that fit (codegen_rules.cpp), verifies and decides like the linear scan; a
// 100k set compiles or gets the located error of the program's total budget; never an LLVM
// abort, a signal or a limit of the compile worker.
namespace {

// `must_fit`: the planner's program must compile (10k rules); else it may instead get the
// located error (100k rules of wide, overlapping fw filters split into many groups).
// `linear`: also force straight-line code, which must then compile or get the located error.
void check_limits(std::size_t n, bool must_fit, bool linear, bool planner = true) {
    for (cb::Family fam : cb::kFamilies) {
        const std::string name = std::string(cb::family_name(fam)) + "_" + std::to_string(n);
        std::vector<cb::Rule> rules = cb::generate_rules(fam, n, 11);
        CheckOptions copts;
        copts.lint = false;
        auto c = compile_source(name + ".weir", cb::policy_text(rules, "classbench"), copts);
        if (!must_fit && !c->ok()) {
            // Past ~55,000 rules their names no longer fit weir's pinned metadata: the checker
            // says so at the policy (compiler/plan/capacity.hpp), before any code is generated.
            const std::string text = render_text(c->sources, c->diags);
            REQUIRE(c->diags.list().size() == 1);
            CHECK_MESSAGE(c->diags.list()[0].code == "policy-too-large", name << ": " << text);
            CHECK_MESSAGE(text.find(name + ".weir:") != std::string::npos, name << ": " << text);
            continue;
        }
        REQUIRE_MESSAGE(c->ok(), name << ": " << render_text(c->sources, c->diags));
        std::vector<PlanOptions::Mode> modes;
        if (planner) modes.push_back(PlanOptions::Mode::Auto);
        if (linear) modes.push_back(PlanOptions::Mode::Linear);
        for (auto mode : modes) {
            PlanOptions po;
            po.mode = mode;
            Plan plan = plan_policy(c->program, 0, po);
            CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, CodegenOptions{});
            const char* how = mode == PlanOptions::Mode::Auto ? "planner" : "straight-line";
            CHECK_MESSAGE((obj.failure == CodegenFailure::None || obj.failure == CodegenFailure::Error),
                          name << " (" << how << "): " << obj.error);
            if (!must_fit && !obj.ok()) {
                // One BPF program cannot hold that many rules as code: the error says where.
                CHECK_MESSAGE(obj.error.find("too large for one BPF program") != std::string::npos,
                              name << ": " << obj.error);
                CHECK_MESSAGE(obj.error.find(name + ".weir:") != std::string::npos, name << ": " << obj.error);
                // Straight-line code is split into functions: only the whole program's limit stops it.
                if (mode == PlanOptions::Mode::Linear)
                    CHECK_MESSAGE(obj.error.find("1,000,000 instructions") != std::string::npos, name << ": " << obj.error);
                continue;
            }
            REQUIRE_MESSAGE(obj.ok(), name << " (" << how << "): " << obj.error);
            if (!must_fit) continue;
            Diagnostics diags;
            auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
            CHECK_MESSAGE(lp, name << " (" << how << "): " << render_text(c->sources, diags));
        }
    }
}

}  // namespace

TEST_CASE("limits 10k: ClassBench-shaped sets compile and verify with the planner") {
    check_limits(10000, true, false);
}

// 10,000 straight-line rules are ~10 BPF functions: the program compiles, verifies, and decides
// a trace of the set (generated: the set has no file) by the first matching filter. One family
// only, to keep the case short (the compile dominates: ~35 s of CPU per family).
TEST_CASE("limits straight-line 10k: the code is split into BPF functions and decides like the linear scan") {
    const std::string name = "acl_10000_linear";
    std::vector<cb::Rule> rules = cb::generate_rules(cb::Family::Acl, 10000, 11);
    std::vector<cb::Header> headers = cb::generate_headers(rules, 3000, 12);
    CheckOptions copts;
    copts.lint = false;
    copts.keep_ast = false;
    auto c = compile_source(name + ".weir", cb::policy_text(rules, "classbench"), copts);
    REQUIRE_MESSAGE(c->ok(), name << ": " << render_text(c->sources, c->diags));
    PlanOptions po;
    po.mode = PlanOptions::Mode::Linear;
    Plan plan = plan_policy(c->program, 0, po);
    REQUIRE(plan.groups.empty());
    auto t0 = Clock::now();
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, CodegenOptions{});
    REQUIRE_MESSAGE(obj.ok(), name << ": " << obj.error);
    const double codegen_s = secs(t0);
    // The pieces are static functions of the object: their names are in its string table.
    const std::string elf(obj.bytes.begin(), obj.bytes.end());
    CHECK(elf.find(std::string("weir_match_2") + '\0') != std::string::npos);
    t0 = Clock::now();
    Diagnostics diags;
    auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
    REQUIRE_MESSAGE(lp, name << ": the kernel refused the program:\n" << render_text(c->sources, diags));
    const double load_s = secs(t0);
    std::size_t bad = 0, by_rule = 0;
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const int want = cb::first_match(rules, headers[i]);
        by_rule += want >= 0;
        auto run = lp->run(cb::frame(headers[i]));
        REQUIRE_MESSAGE(run, name << ": BPF_PROG_TEST_RUN failed: " << run.error().message);
        const std::uint32_t want_action = want < 0 ? WEIR_ACT_PASS : WEIR_ACT_DROP;
        if (run->rule != want || run->action != want_action) {
            if (++bad <= 5)
                FAIL_CHECK(name << ": header #" << i << " " << cb::header_text(headers[i]) << "\n  linear scan: "
                                << rule_desc(rules, want) << "\n  kernel:      " << rule_desc(rules, run->rule)
                                << ", action " << run->action);
        }
    }
    MESSAGE(name << ": " << headers.size() << " headers, " << by_rule << " decided by a filter, " << bad
                 << " mismatches; codegen " << codegen_s << " s, load " << load_s << " s, "
                 << lp->stats().verified_insns << " instructions verified");
    CHECK(by_rule > headers.size() / 2);
    CHECK(bad == 0);
}

TEST_CASE("limits 100k: ClassBench-shaped sets compile or get a located error, never an abort") {
    check_limits(100000, false, true);
    // Under the metadata limit, straight-line code past the verifier's program size gets the
    // located error of the total code budget.
    check_limits(40000, false, true, /*planner=*/false);
}
