// libFuzzer target: what comes after checking, on every input that checks cleanly (inputs as
// fuzz_check takes them: main.weir, inc.weir, set.txt). Each policy is planned three ways
// (auto, linear, classifier forced onto every run of 2+ boxable rules) and printed; the forced
// plan's decisions (classifier trees walked by cls_classify, the rest by the interpreter, as the
// generated code does) must equal the interpreter's on the sample frames and on every test
// packet of the file; and the forced plan goes through codegen (LLVM, BPF object in memory).
// Running the object needs the kernel (tests/unit/test_codegen.cpp does that), so it is only
// built here. Inputs with more than kMaxRules rules are skipped to keep each run short.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "checked_dump.hpp"
#include "codegen.hpp"
#include "frames.hpp"
#include "fuzz_common.hpp"
#include "fuzz_mutator.hpp"
#include "interp.hpp"
#include "parse.h"
#include "plan.hpp"
#include "plan_dump.hpp"
#include "plan_walk.hpp"

namespace {

using namespace weir;
constexpr const char* kTarget = "fuzz_plan";
constexpr std::size_t kMaxRules = 64;

const std::vector<std::vector<std::uint8_t>>& sample_frames() {
    static const auto frames = [] {
        std::vector<std::vector<std::uint8_t>> v;
        for (const auto& f : test::sample_frames()) v.push_back(f.bytes);
        return v;
    }();
    return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    CheckOptions opts = fuzz::scratch_options();
    opts.lint = false;
    auto c = fuzz::compile_input(data, size, opts);
    if (!c->ok()) return 0;
    const Program& prog = c->program;
    std::size_t rules = 0;
    for (const auto& p : prog.policies) rules += p.rules.size();
    if (rules > kMaxRules) return 0;

    // Frames: the samples, and every test packet of the file.
    std::vector<std::vector<std::uint8_t>> frames = sample_frames();
    for (const auto& t : prog.tests)
        for (const auto& probe : t.probes) {
            ProbeRun run = run_probe(prog, prog.policies.at(t.policy), probe);
            if (run.error.empty()) frames.push_back(run.frame);
        }

    for (int i = 0; i < static_cast<int>(prog.policies.size()); ++i) {
        const Policy& pol = prog.policies[i];
        PlanOptions linear;
        linear.mode = PlanOptions::Mode::Linear;
        PlanOptions forced;
        forced.classifier.min_rules = 2;
        (void)dump_plan(plan_policy(prog, i));
        (void)dump_plan(plan_policy(prog, i, linear));
        Plan plan = plan_policy(prog, i, forced);
        (void)dump_plan(plan);

        for (const auto& f : frames) {
            weir_pkt pkt{};
            weir_parse(f.data(), f.data() + f.size(), &pkt);
            int want = evaluate(prog, pol, pkt, f, "lo").rule;
            int got = test::plan_decides(plan, prog, pkt, f);
            if (want != got)
                fuzz::fail(kTarget, "the classifier plan decides differently from the interpreter",
                           "interpreter: rule " + std::to_string(want) + "\n" + dump_plan(plan),
                           "plan: rule " + std::to_string(got));
        }

        CodegenOptions co;
        co.isolate = false;  // a crash in LLVM should stop the fuzzer where it happens, with its stack
        co.ifindex_of = [](const std::string&) -> std::optional<std::uint32_t> { return 1; };
        CodegenResult r = codegen(plan, c->sources, EmitKind::Obj, co);
        if (!r.ok()) fuzz::fail(kTarget, "codegen failed on a checked policy", r.error, dump_plan(plan));
    }
    return 0;
}
