// What the kernel's BPF run-time statistics cost per packet (docs/performance.md, "Run-time
// statistics"): ns/packet of one program with BPF_PROG_TEST_RUN's repeat, statistics off and on
// (BPF_ENABLE_STATS held by this process), alternating, side by side in one run. The kernel adds
// the same accounting around every program run, test runs and live packets alike.
//
//   stats_cost_bench [--rules 10,1000] [--repeat R] [--rounds K]
//
// ns/packet is the best of K (default 5) runs of R repetitions (default 200000) in each state.
// Needs root (exit 77 without). Another process holding the statistics on makes "off" read as on:
// the bench says so.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
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

std::string policy_text(int n) {
    std::ostringstream s;
    s << "policy cost default pass {\n";
    for (int i = 0; i < n; ++i) s << "    r" << i << ": drop if tcp.dport == " << 1000 + i << "\n";
    s << "}\n";
    return s.str();
}

double ns(int prog, const std::vector<unsigned char>& frame, std::uint32_t repeat) {
    auto r = bpf::test_run(prog, frame, repeat);
    if (!r) {
        std::fprintf(stderr, "test run: %s\n", r.error().message.c_str());
        std::exit(2);
    }
    return r->duration_ns;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<int> sizes{10, 1000};
    std::uint32_t repeat = 200000;
    int rounds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        if (k == "--repeat") repeat = static_cast<std::uint32_t>(std::max(1, std::atoi(argv[i + 1])));
        else if (k == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
        else if (k == "--rules") {
            sizes.clear();
            std::stringstream ss(argv[i + 1]);
            for (std::string x; std::getline(ss, x, ',');) sizes.push_back(std::atoi(x.c_str()));
        }
    }
    if (auto st = bpf::probe_xdp_support(); !st) {
        std::fprintf(stderr, "stats_cost_bench: %s\n", st.error().message.c_str());
        return 77;
    }
    if (bpf::run_time_stats_on())
        std::printf("note: the statistics are on by sysctl: \"off\" is on too\n");
    CodegenOptions cg;
    cg.isolate = false;
    CheckOptions check;
    check.lint = false;
    std::printf("| rules | plan | off ns/packet | on ns/packet | on - off |\n| --: | --- | --: | --: | --: |\n");
    for (int n : sizes) {
        auto c = compile_source("cost.weir", policy_text(n), check);
        if (!c->ok()) return 2;
        Plan plan = plan_policy(c->program, 0);
        CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, cg);
        if (!obj.ok()) {
            std::fprintf(stderr, "codegen: %s\n", obj.error.c_str());
            return 2;
        }
        Diagnostics d;
        auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, d, {});
        if (!lp) {
            std::fprintf(stderr, "load failed\n%s", render_text(c->sources, d).c_str());
            return 2;
        }
        const auto miss = Frame().eth().ipv4(ip4(198, 18, 0, 2), ip4(198, 18, 0, 1)).tcp(40000, 80, 0x02)
                              .pad_to(60).bytes();
        double off = 0, on = 0;
        for (int r = 0; r < rounds; ++r) {
            double x = ns(lp->program_fd(), miss, repeat);
            off = r == 0 ? x : std::min(off, x);
            auto held = bpf::RunTimeStats::enable();
            if (!held) {
                std::fprintf(stderr, "stats_cost_bench: %s\n", held.error().message.c_str());
                return 2;
            }
            double y = ns(lp->program_fd(), miss, repeat);
            on = r == 0 ? y : std::min(on, y);
        }
        std::printf("| %d | %s | %.1f | %.1f | %.1f |\n", n, plan.cls.nodes.size() > 1 ? "classifier" : "linear", off,
                    on, on - off);
    }
    return 0;
}
