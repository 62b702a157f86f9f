// Compile and run cost of the example policies: for each policy of each examples/*.weir file,
// the time to check (parse, load includes and set files, check, lint), plan, generate the BPF
// object (LLVM) and load it (maps, kernel verifier); the program's size after the verifier
// (xlated instructions) and the instructions the verifier processed; and the run time per
// packet measured with BPF_PROG_TEST_RUN's repeat, for several kinds of packets.
//
//   compile_bench [--examples DIR] [--iterations N] [--repeat R]
//
// Times are medians over N iterations (default 7); ns/packet is the best of 3 test runs of R
// repetitions (default 200000). Needs root for loading; exit status 77 when it cannot load BPF.
// A `redirect` to an interface this host does not have is pointed at lo, and a `pkt.iface`
// name that does not exist compares with an ifindex no interface has (neither changes the
// program's size or cost).
#include <net/if.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "bpf.hpp"
#include "bpf_env.hpp"
#include "codegen.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "machine.hpp"
#include "plan.hpp"
#include "test_frames.hpp"

using namespace weir;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

struct PacketKind {
    const char* name;
    std::vector<std::uint8_t> bytes;
};

std::vector<PacketKind> packet_kinds() {
    const std::uint32_t a = ip4(203, 0, 113, 9), b = ip4(192, 0, 2, 10);
    const u128 a6 = *ip6_from_text("2001:db8:beef::9"), b6 = *ip6_from_text("2001:db8::10");
    return {
        {"tcp4-syn", Frame().eth().ipv4(a, b).tcp(40000, 443, kTcpSyn).bytes()},
        {"udp6-dns", Frame().eth().ipv6(a6, b6).udp(40000, 53).payload(std::string(32, 'q')).bytes()},
        {"icmp4", Frame().eth().ipv4(a, b).icmp(8).payload("ping").bytes()},
        {"vlan-tcp6", Frame().eth().vlan(42).ipv6(a6, b6).tcp(40000, 22, kTcpAck).bytes()},
        {"arp", Frame().eth().ethertype(0x0806).payload(std::string(28, '\0')).bytes()},
    };
}


struct Row {
    std::string name;
    double check = 0, plan = 0, codegen = 0, load = 0;
    std::uint32_t rules = 0, xlated = 0, verified = 0, jited = 0;
    std::vector<double> ns;  // per packet kind
    std::string error;
};

}  // namespace

int main(int argc, char** argv) {
    std::string dir = std::string(WEIR_SOURCE_DIR) + "/examples";
    int iterations = 7;
    std::uint32_t repeat = 200000;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string_view k = argv[i];
        if (k == "--examples") dir = argv[i + 1];
        else if (k == "--iterations") iterations = std::max(1, std::atoi(argv[i + 1]));
        else if (k == "--repeat") repeat = static_cast<std::uint32_t>(std::max(1, std::atoi(argv[i + 1])));
        else {
            std::fprintf(stderr, "usage: compile_bench [--examples DIR] [--iterations N] [--repeat R]\n");
            return 2;
        }
    }
    if (std::string why = test::bpf_unavailable_reason(); !why.empty()) {
        std::printf("SKIP: compile_bench needs BPF: %s\n", why.c_str());
        return 77;
    }

    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".weir") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    const auto kinds = packet_kinds();
    const std::uint32_t lo = if_nametoindex("lo");

    CodegenOptions cg;
    cg.ifindex_of = [](const std::string& name) -> std::optional<std::uint32_t> {
        unsigned i = if_nametoindex(name.c_str());
        return i ? i : 0x7ffffff0u;
    };
    KernelLoadOptions lopts;
    lopts.placeholder_redirects = true;

    std::vector<Row> rows;
    for (const std::string& file : files) {
        CheckOptions copts;
        std::vector<double> check_ms;
        std::unique_ptr<Compilation> c;
        for (int it = 0; it < iterations; ++it) {
            auto t0 = Clock::now();
            c = compile_file(file, copts);
            check_ms.push_back(ms(Clock::now() - t0));
        }
        std::string base = fs::path(file).stem().string();
        if (!c->ok()) {
            Row row;
            row.name = base;
            row.error = "does not check:\n" + render_text(c->sources, c->diags);
            rows.push_back(std::move(row));
            continue;
        }
        for (std::size_t p = 0; p < c->program.policies.size(); ++p) {
            Row row;
            const Policy& pol = c->program.policies[p];
            row.name = c->program.policies.size() == 1 && pol.name == base ? base : base + ":" + pol.name;
            row.check = median(check_ms);
            row.rules = static_cast<std::uint32_t>(pol.rules.size());
            std::vector<double> plan_ms, cg_ms, load_ms;
            std::unique_ptr<LoadedPolicy> lp;
            for (int it = 0; it < iterations && row.error.empty(); ++it) {
                auto t0 = Clock::now();
                Plan plan = plan_policy(c->program, static_cast<int>(p));
                auto t1 = Clock::now();
                CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, cg);
                auto t2 = Clock::now();
                if (!obj.ok()) {
                    row.error = "codegen: " + obj.error;
                    break;
                }
                Diagnostics diags;
                lp.reset();  // the previous iteration's program goes first
                lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags, lopts);
                auto t3 = Clock::now();
                if (!lp) {
                    row.error = render_text(c->sources, diags);
                    break;
                }
                plan_ms.push_back(ms(t1 - t0));
                cg_ms.push_back(ms(t2 - t1));
                load_ms.push_back(ms(t3 - t2));
            }
            if (row.error.empty()) {
                row.plan = median(plan_ms), row.codegen = median(cg_ms), row.load = median(load_ms);
                row.xlated = lp->stats().xlated_insns;
                row.verified = lp->stats().verified_insns;
                row.jited = lp->stats().jited_bytes;
                for (const PacketKind& k : kinds) {
                    double best = 0;
                    for (int t = 0; t < 3; ++t) {
                        auto r = bpf::test_run_on(lp->program_fd(), k.bytes, lo, repeat);
                        if (!r) {
                            row.error = r.error().message;
                            break;
                        }
                        if (t == 0 || r->duration_ns < best) best = r->duration_ns;
                    }
                    row.ns.push_back(best);
                }
            }
            rows.push_back(std::move(row));
        }
    }

    utsname u{};
    uname(&u);
    std::printf("machine: %ld CPUs (nproc), %s, Linux %s\n", sysconf(_SC_NPROCESSORS_ONLN),
                bench::first_line_of("/proc/cpuinfo", "model name").c_str(), u.release);
    std::printf("load average at the end: %s", bench::first_line_of("/proc/loadavg", "").c_str());
    std::printf("\ntimes: median of %d iterations; ns/packet: best of 3 BPF_PROG_TEST_RUN x %u repetitions\n\n",
                iterations, repeat);
    std::printf("%-22s %5s %8s %8s %10s %10s %11s %7s %8s %6s", "policy", "rules", "check", "plan",
                "codegen", "load+vrfy", "compile+vf", "xlated", "verified", "jited");
    for (const auto& k : kinds) std::printf(" %9s", k.name);
    std::printf("\n%-22s %5s %8s %8s %10s %10s %11s %7s %8s %6s", "", "", "ms", "ms", "ms", "ms", "ms", "insns",
                "insns", "bytes");
    for (std::size_t i = 0; i < kinds.size(); ++i) std::printf(" %9s", "ns/pkt");
    std::printf("\n");
    int worst = 0;
    double max_total = 0;
    for (const Row& r : rows) {
        if (!r.error.empty()) {
            std::printf("%-22s error: %s\n", r.name.c_str(), r.error.c_str());
            worst = 1;
            continue;
        }
        double total = r.check + r.plan + r.codegen + r.load;
        max_total = std::max(max_total, total);
        std::printf("%-22s %5u %8.2f %8.3f %10.2f %10.2f %11.2f %7u %8u %6u", r.name.c_str(), r.rules, r.check,
                    r.plan, r.codegen, r.load, total, r.xlated, r.verified, r.jited);
        for (double ns : r.ns) std::printf(" %9.0f", ns);
        std::printf("\n");
    }
    std::printf("\nslowest compile+verify: %.2f ms (goal: <= 100 ms per example)\n", max_total);
    return worst;
}
