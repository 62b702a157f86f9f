// The per-packet cost of shadow mode (docs/performance.md, "Shadow mode"): for policies of N
// rules, ns/packet with BPF_PROG_TEST_RUN's repeat, side by side in one run:
//   alone     the enforcing policy's program (the planner's choice)
//   shadow    the same policy with a candidate of N rules beside it (weir_match_shadow)
// for a packet no rule matches (every rule of both policies is evaluated: the candidate is
// straight-line code) and for one the first rule decides in both.
//
//   shadow_bench [--rules 10,100,1000] [--repeat R]
//
// ns/packet is the best of 5 runs of R repetitions (default 200000). Needs root (exit 77 without).
#include <net/if.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "bpf.hpp"
#include "codegen.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "test_frames.hpp"

using namespace weir;

namespace {

// N rules on distinct TCP ports from `base` (the candidate uses another base: different rules).
std::string policy_text(const char* name, int n, int base) {
    std::ostringstream s;
    s << "policy " << name << " default pass {\n";
    for (int i = 0; i < n; ++i) s << "    r" << i << ": drop if tcp.dport == " << base + i << "\n";
    s << "}\n";
    return s.str();
}

double best_ns(int prog, const std::vector<unsigned char>& frame, std::uint32_t repeat) {
    double best = 0;
    for (int t = 0; t < 5; ++t) {
        auto r = bpf::test_run(prog, frame, repeat);
        if (!r) {
            std::fprintf(stderr, "test run: %s\n", r.error().message.c_str());
            std::exit(2);
        }
        if (t == 0 || r->duration_ns < best) best = r->duration_ns;
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<int> sizes{10, 100, 1000};
    std::uint32_t repeat = 200000;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        if (k == "--repeat") repeat = static_cast<std::uint32_t>(std::max(1, std::atoi(argv[i + 1])));
        else if (k == "--rules") {
            sizes.clear();
            std::stringstream ss(argv[i + 1]);
            for (std::string x; std::getline(ss, x, ',');) sizes.push_back(std::atoi(x.c_str()));
        }
    }
    if (auto st = bpf::probe_xdp_support(); !st) {
        std::fprintf(stderr, "shadow_bench: %s\n", st.error().message.c_str());
        return 77;
    }
    CodegenOptions cg;
    cg.isolate = false;
    CheckOptions check;
    check.lint = false;
    std::printf("| rules | miss: alone | miss: shadow | hit: alone | hit: shadow | instructions alone / shadow |\n");
    std::printf("| --: | --: | --: | --: | --: | --: |\n");
    for (int n : sizes) {
        auto enf = compile_source("enf.weir", policy_text("enf", n, 1000), check);
        auto cand = compile_source("cand.weir", policy_text("cand", n, 1000 + n / 2), check);
        if (!enf->ok() || !cand->ok()) return 2;
        Plan plan = plan_policy(enf->program, 0);
        PlanOptions lin;
        lin.mode = PlanOptions::Mode::Linear;
        Plan cplan = plan_policy(cand->program, 0, lin);
        for (PlannedRule& pr : cplan.rules) pr.slot = plan.slot_count() + static_cast<std::uint32_t>(pr.rule);
        CodegenResult alone = codegen(plan, enf->sources, EmitKind::Obj, cg);
        CodegenResult both = codegen_shadow(plan, enf->sources, {cplan, cand->sources}, EmitKind::Obj, cg);
        if (!alone.ok() || !both.ok()) {
            std::fprintf(stderr, "codegen: %s%s\n", alone.error.c_str(), both.error.c_str());
            return 2;
        }
        KernelLoadOptions lo;
        lo.rule_slots = plan.slot_count() + cplan.slot_count();
        Diagnostics d1, d2;
        auto a = LoadedPolicy::load(plan, enf->sources, alone.bytes, d1, lo);
        auto b = LoadedPolicy::load(plan, enf->sources, both.bytes, d2, lo);
        if (!a || !b) {
            std::fprintf(stderr, "load failed\n%s%s", render_text(enf->sources, d1).c_str(),
                         render_text(enf->sources, d2).c_str());
            return 2;
        }
        auto frame = [](std::uint16_t port) {
            return Frame().eth().ipv4(ip4(198, 18, 0, 2), ip4(198, 18, 0, 1)).tcp(40000, port, 0x02).pad_to(60).bytes();
        };
        const auto miss = frame(80), hit = frame(static_cast<std::uint16_t>(1000 + n / 2));  // drop in both
        std::printf("| %d | %.1f | %.1f | %.1f | %.1f | %u / %u |\n", n, best_ns(a->program_fd(), miss, repeat),
                    best_ns(b->program_fd(), miss, repeat), best_ns(a->program_fd(), hit, repeat),
                    best_ns(b->program_fd(), hit, repeat), a->stats().xlated_insns, b->stats().xlated_insns);
    }
    return 0;
}
