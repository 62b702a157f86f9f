// classbench_bench: the ClassBench figures, side by side per set (../shared/classbench/):
//   check ms     `weir check FILE` (the CLI as a subprocess, lint included): fork to exit
//   load ms      `weir load FILE --dev lo --dry-run`: fork to exit (compile, verify, self-test;
//                the dry run stops before attaching)
//   RSS MiB      that load process's peak resident set (wait4's ru_maxrss)
//   empty / first 10 / full ns   BPF_PROG_TEST_RUN ns/packet over the set's own trace (headers
//                derived from the filters, one inside each, for a set without a trace): the
//                kernel's mean over --repeat runs of each header, averaged over the headers
//                (--max-headers of them, evenly spread over the trace: a test run with repeat
//                > 1 costs milliseconds of wall time, as the kernel switches the XDP dispatcher
//                in and out around it; --max-headers 0 --repeat 1 runs every header once), for
//                an empty XDP program (XDP_PASS), the policy of the set's first 10 filters and
//                the whole set. Each policy is compiled and loaded in a forked child, so a set
//                that aborts in LLVM is reported and the run goes on; verdicts are checked
//                against the linear scan (the `wrong` column).
//   ratio        full / first 10
// and then every issue-11 target per set, met or missed with its figure.
//
// Usage: classbench_bench [--dir DIR] [--sets a,b,...] [--weir PATH] [--dev IFACE] [--repeat R]
//          [--max-headers N] [--budget SECONDS] [--markdown]
// Needs root (loads BPF programs); exit 77 without, or without the sets. Prints figures and
// asserts nothing about time; exits 1 if a measured verdict differs from the linear scan (a set
// that does not compile is a printed failure, not an exit status).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <linux/bpf.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bpf.hpp"
#include "bpf_env.hpp"
#include "classbench.hpp"
#include "codegen.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "machine.hpp"
#include "plan.hpp"

using namespace weir;
namespace cb = weir::classbench;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
    std::string dir;
    std::vector<std::string> sets;
    std::string weir = WEIR_CLI_PATH;
    std::string dev = "lo";
    std::uint32_t repeat = 100;
    std::size_t max_headers = 2000;  // 0: every header
    double budget = 600;
    bool markdown = false;
};

const char* kUsage =
    "usage: classbench_bench [--dir DIR] [--sets a,b,...] [--weir PATH] [--dev IFACE] [--repeat R]\n"
    "                        [--max-headers N] [--budget SECONDS] [--markdown]\n";

std::string one_line(std::string s, std::size_t max = 200) {
    for (char& c : s)
        if (c == '\n' || c == '\t') c = ' ';
    if (s.size() > max) s = s.substr(0, max - 3) + "...";
    return s;
}

std::string fmt(double v, const char* f = "%.1f") {
    if (v < 0) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

// --- the CLI as a subprocess ---------------------------------------------------------------------

struct Proc {
    int status = -1;        // exit status, or -signal
    double ms = 0;          // fork to exit
    double rss_mib = 0;     // ru_maxrss
    std::string last_error; // the last line of its output that says error (or the last line)
};

Proc run_cli(const std::vector<std::string>& argv, double budget_s) {
    Proc p;
    char outpath[] = "/tmp/weir-classbench-bench-out-XXXXXX";
    int outfd = ::mkstemp(outpath);
    if (outfd < 0) {
        p.last_error = "mkstemp failed";
        return p;
    }
    ::unlink(outpath);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::fflush(stdout);
    auto t0 = Clock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(outfd, 1);
        ::dup2(outfd, 2);
        ::execv(args[0], args.data());
        std::_Exit(127);
    }
    int status = 0;
    rusage ru{};
    bool killed = false;
    if (pid > 0) {
        // Polled, so that a run over the budget is killed (and reported) rather than waited for.
        for (;;) {
            pid_t r = ::wait4(pid, &status, WNOHANG, &ru);
            if (r == pid || (r < 0 && errno != EINTR)) break;
            if (!killed && std::chrono::duration<double>(Clock::now() - t0).count() > budget_s) {
                ::kill(pid, SIGKILL);
                killed = true;
            }
            ::usleep(500);
        }
    }
    p.ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    p.rss_mib = double(ru.ru_maxrss) / 1024.0;
    p.status = pid < 0 ? -1000 : WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    std::string out, line, last, err;
    ::lseek(outfd, 0, SEEK_SET);
    char chunk[4096];
    ssize_t got;
    while ((got = ::read(outfd, chunk, sizeof chunk)) > 0) out.append(chunk, std::size_t(got));
    ::close(outfd);
    std::istringstream in(out);
    while (std::getline(in, line)) {
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        last = line;
        if (line.find("error") != std::string::npos && err.empty()) err = line;
    }
    p.last_error = err.empty() ? last : err;
    if (killed) p.last_error = "over the time budget (" + fmt(budget_s, "%.0f") + " s): killed";
    return p;
}

// --- ns/packet -----------------------------------------------------------------------------------

struct Speed {
    double ns = -1;        // mean over headers of the kernel's mean per run
    std::size_t wrong = 0; // verdicts other than the linear scan's
    std::string error;
    double compile_ms = -1, load_ms = -1;
};

// Mean ns/packet of `prog` over `frames`; counts verdicts that differ from `want` (XDP actions;
// empty: not checked).
std::optional<double> mean_ns(int prog, const std::vector<std::vector<std::uint8_t>>& frames,
                              const std::vector<std::uint32_t>& want, std::uint32_t repeat, std::size_t& wrong) {
    double sum = 0;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        auto r = bpf::test_run(prog, frames[i], repeat);
        if (!r) return std::nullopt;
        sum += r->duration_ns;
        if (!want.empty() && r->retval != want[i]) ++wrong;
    }
    return frames.empty() ? 0 : sum / double(frames.size());
}

// The policy of `rules`, compiled and loaded in a forked child, run over `frames`.
Speed measure_policy(std::span<const cb::Rule> rules, const std::vector<cb::Header>& headers,
                     const std::vector<std::vector<std::uint8_t>>& frames, const Args& args) {
    std::vector<std::uint32_t> want;
    for (const cb::Header& h : headers) want.push_back(cb::first_match(rules, h) < 0 ? XDP_PASS : XDP_DROP);
    cb::ChildResult res = cb::run_in_child(
        [&](std::string& error) -> std::vector<std::uint8_t> {
            auto t0 = Clock::now();
            CheckOptions copts;
            copts.lint = false;
            copts.keep_ast = false;
            auto c = compile_source("classbench.weir", cb::policy_text(rules), copts);
            if (!c->ok()) {
                error = "does not check: " + one_line(render_text(c->sources, c->diags));
                return {};
            }
            Plan plan = plan_policy(c->program, 0);
            CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, CodegenOptions{});
            if (!obj.ok()) {
                error = "codegen: " + obj.error;
                return {};
            }
            double compile_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            t0 = Clock::now();
            Diagnostics diags;
            auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
            if (!lp) {
                std::string why = render_text(c->sources, diags), line, pick;
                std::istringstream in(why);
                while (std::getline(in, line))
                    if (line.find("error") != std::string::npos || line.find("cannot") != std::string::npos)
                        pick = line.substr(std::min(line.size(), line.find_first_not_of(' ')));
                error = "load: " + (pick.empty() ? one_line(why) : pick);
                return {};
            }
            double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
            std::size_t wrong = 0;
            auto ns = mean_ns(lp->program_fd(), frames, want, args.repeat, wrong);
            if (!ns) {
                error = "BPF_PROG_TEST_RUN failed";
                return {};
            }
            std::string out = fmt(*ns, "%.3f") + " " + std::to_string(wrong) + " " + fmt(compile_ms, "%.1f") + " " +
                              fmt(load_ms, "%.1f");
            return {out.begin(), out.end()};
        },
        args.budget);
    Speed s;
    if (!res.error.empty()) {
        s.error = res.error;
        return s;
    }
    std::istringstream in(std::string(res.bytes.begin(), res.bytes.end()));
    in >> s.ns >> s.wrong >> s.compile_ms >> s.load_ms;
    return s;
}

// An XDP program that returns XDP_PASS: the floor of BPF_PROG_TEST_RUN's cost.
int load_empty_xdp() {
    const bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = XDP_PASS},
        {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
    };
    return bpf_prog_load(BPF_PROG_TYPE_XDP, "weir_empty", "GPL", insns, 2, nullptr);
}

// --- one set --------------------------------------------------------------------------------------

struct SetRow {
    std::string name;
    std::size_t rules = 0, headers = 0, all_headers = 0;
    bool trace = false;
    std::string error;  // the set could not be read
    Proc check, load;
    double empty_ns = -1;
    Speed first10, full;
};

enum class SizeClass { K1, K10, Big };
SizeClass size_class(std::size_t rules) {
    return rules <= 3000 ? SizeClass::K1 : rules <= 20000 ? SizeClass::K10 : SizeClass::Big;
}

SetRow run_set(const cb::SetFiles& set, const Args& args, const std::string& tmpdir, int empty_prog) {
    SetRow row;
    row.name = set.name;
    cb::Workload work = cb::load_workload(set);
    if (!work.ok()) {
        row.error = one_line(work.error);
        return row;
    }
    const std::vector<cb::Rule>& rules = work.rules;
    row.rules = rules.size();
    std::vector<cb::Header> headers = std::move(work.headers);
    row.trace = work.from_trace;
    row.all_headers = headers.size();
    if (args.max_headers && headers.size() > args.max_headers) {  // evenly spread
        std::vector<cb::Header> some;
        for (std::size_t i = 0; i < args.max_headers; ++i) some.push_back(headers[i * headers.size() / args.max_headers]);
        headers = std::move(some);
    }
    row.headers = headers.size();
    std::vector<std::vector<std::uint8_t>> frames;
    for (const cb::Header& h : headers) frames.push_back(cb::frame(h));

    std::string file = tmpdir + "/" + set.name + ".weir";
    {
        std::ofstream out(file);
        out << cb::policy_text(rules, "classbench");
    }
    std::printf("  %s: %zu rules, %zu headers; weir check ...", set.name.c_str(), row.rules, row.headers);
    std::fflush(stdout);
    row.check = run_cli({args.weir, "check", file}, args.budget);
    std::printf(" load --dry-run ...");
    std::fflush(stdout);
    row.load = run_cli({args.weir, "load", file, "--dev", args.dev, "--dry-run"}, args.budget);

    std::printf(" empty ...");
    std::fflush(stdout);
    std::size_t ignored = 0;
    if (auto ns = mean_ns(empty_prog, frames, {}, args.repeat, ignored)) row.empty_ns = *ns;
    std::printf(" first 10 ...");
    std::fflush(stdout);
    row.first10 = measure_policy(std::span(rules).first(std::min<std::size_t>(10, rules.size())), headers, frames, args);
    std::printf(" full ...");
    std::fflush(stdout);
    row.full = measure_policy(rules, headers, frames, args);
    std::printf(" done\n");
    return row;
}

std::string target(const char* what, double v, double limit, const char* unit) {
    char buf[160];
    if (v < 0) std::snprintf(buf, sizeof buf, "%s <= %g %s: no figure (failed)", what, limit, unit);
    else std::snprintf(buf, sizeof buf, "%s %.4g %s <= %g %s: %s", what, v, unit, limit, unit, v <= limit ? "met" : "MISSED");
    return buf;
}

void print(const std::vector<SetRow>& rows, bool markdown) {
    if (markdown) {
        std::printf("\n| set | rules | headers measured / all | check ms | load ms | RSS MiB | empty ns | first 10 ns | full ns | full / first 10 |\n");
        std::printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    } else {
        std::printf("\n%-10s %6s %13s %9s %9s %7s %8s %10s %9s %7s\n", "set", "rules", "headers", "check ms", "load ms",
                    "RSS MiB", "empty ns", "first10 ns", "full ns", "ratio");
    }
    for (const SetRow& r : rows) {
        auto ok = [](const Proc& p) { return p.status == 0; };
        std::string hdr = std::to_string(r.headers) + "/" + std::to_string(r.all_headers) + (r.trace ? "" : "*");
        double ratio = r.full.ns > 0 && r.first10.ns > 0 ? r.full.ns / r.first10.ns : -1;
        std::string check = ok(r.check) ? fmt(r.check.ms, "%.0f") : "fail";
        std::string load = ok(r.load) ? fmt(r.load.ms, "%.0f") : "fail";
        std::string f10 = r.first10.error.empty() ? fmt(r.first10.ns) : "fail";
        std::string full = r.full.error.empty() ? fmt(r.full.ns) : "fail";
        if (markdown)
            std::printf("| %s | %zu | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name.c_str(), r.rules, hdr.c_str(),
                        check.c_str(), load.c_str(), fmt(r.load.rss_mib, "%.0f").c_str(), fmt(r.empty_ns).c_str(),
                        f10.c_str(), full.c_str(), fmt(ratio, "%.2f").c_str());
        else
            std::printf("%-10s %6zu %13s %9s %9s %7s %8s %10s %9s %7s\n", r.name.c_str(), r.rules, hdr.c_str(), check.c_str(),
                        load.c_str(), fmt(r.load.rss_mib, "%.0f").c_str(), fmt(r.empty_ns).c_str(), f10.c_str(),
                        full.c_str(), fmt(ratio, "%.2f").c_str());
    }
    std::printf("%sheaders: measured / in the trace; * derived from the filters (one inside each): the set has no "
                "trace\n", markdown ? "\n" : "");

    std::printf("%sfailures and verdict checks:\n", markdown ? "\n" : "\n");
    for (const SetRow& r : rows) {
        auto line = [&](const char* what, const std::string& s) {
            std::printf("%s- %s %s: %s\n", markdown ? "" : "  ", r.name.c_str(), what, one_line(s, 300).c_str());
        };
        if (!r.error.empty()) line("", r.error);
        if (r.check.status != 0) line("weir check", "exit " + std::to_string(r.check.status) + ": " + r.check.last_error);
        if (r.load.status != 0) line("weir load --dry-run", "exit " + std::to_string(r.load.status) + ": " + r.load.last_error);
        if (!r.first10.error.empty()) line("first 10", r.first10.error);
        if (!r.full.error.empty()) line("full set", r.full.error);
        if (r.first10.wrong || r.full.wrong)
            line("WRONG VERDICTS", std::to_string(r.first10.wrong) + " (first 10), " + std::to_string(r.full.wrong) +
                                       " (full) headers differ from the linear scan");
        if (r.full.error.empty() && r.error.empty())
            line("full set in process", "compile (check without lint, plan, codegen) " + fmt(r.full.compile_ms, "%.0f") +
                                            " ms, load+verify " + fmt(r.full.load_ms, "%.0f") + " ms; verdicts of " +
                                            std::to_string(r.headers) + " headers: " + std::to_string(r.full.wrong) +
                                            " wrong");
    }

    std::printf("%sissue 11 targets (load = `weir load --dry-run`, process start to exit, lint included):\n",
                markdown ? "\n" : "\n");
    for (const SetRow& r : rows) {
        if (!r.error.empty()) continue;
        SizeClass k = size_class(r.rules);
        std::vector<std::string> t;
        double load = r.load.status == 0 ? r.load.ms : -1;
        double ratio = r.full.ns > 0 && r.first10.ns > 0 ? r.full.ns / r.first10.ns : -1;
        if (k == SizeClass::K1) t.push_back(target("load", load, 100, "ms"));
        if (k == SizeClass::K10) t.push_back(target("load", load, 300, "ms"));
        if (k == SizeClass::Big) t.push_back(target("load", load, 1500, "ms"));
        t.push_back(target("RSS", r.load.rss_mib > 0 ? r.load.rss_mib : -1, 200, "MiB") +
                    (r.load.status == 0 ? "" : " (peak until the load failed)"));
        if (k == SizeClass::K10) t.push_back(target("check", r.check.status == 0 ? r.check.ms : -1, 500, "ms"));
        if (k == SizeClass::K10) t.push_back(target("ns ratio", ratio, 1.5, "x"));
        if (k == SizeClass::Big) t.push_back(target("ns ratio", ratio, 2, "x"));
        std::printf("%s%-9s", markdown ? "- " : "  ", (r.name + ":").c_str());
        for (std::size_t i = 0; i < t.size(); ++i) std::printf("%s%s", i ? "; " : " ", t[i].c_str());
        std::printf("\n");
    }
}

std::optional<Args> parse_args(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string k = argv[i];
        auto val = [&]() -> std::optional<std::string> {
            if (i + 1 >= argc) return std::nullopt;
            return std::string(argv[++i]);
        };
        std::optional<std::string> v;
        if (k == "--markdown") {
            a.markdown = true;
            continue;
        }
        if (!(v = val())) return std::nullopt;
        char* end = nullptr;
        if (k == "--dir") a.dir = *v;
        else if (k == "--weir") a.weir = *v;
        else if (k == "--dev") a.dev = *v;
        else if (k == "--sets") {
            std::stringstream ss(*v);
            std::string s;
            while (std::getline(ss, s, ','))
                if (!s.empty()) a.sets.push_back(s);
        } else if (k == "--repeat") a.repeat = std::uint32_t(std::strtoul(v->c_str(), &end, 10));
        else if (k == "--max-headers") a.max_headers = std::strtoul(v->c_str(), &end, 10);
        else if (k == "--budget") a.budget = std::strtod(v->c_str(), &end);
        else return std::nullopt;
        if (end && *end) return std::nullopt;
    }
    if (a.repeat == 0 || a.budget <= 0) return std::nullopt;
    return a;
}

}  // namespace

int main(int argc, char** argv) {
    auto args = parse_args(argc, argv);
    if (!args) {
        std::fputs(kUsage, stderr);
        return 2;
    }
    if (std::string why = test::bpf_unavailable_reason(); !why.empty()) {
        std::printf("SKIP: classbench_bench needs BPF: %s\n", why.c_str());
        return 77;
    }
    std::string dir = args->dir.empty() ? cb::find_dir(WEIR_CLASSBENCH_DEFAULT_DIR) : args->dir;
    if (dir.empty() || !std::filesystem::is_directory(dir)) {
        std::printf("SKIP: no ClassBench folder (--dir, WEIR_CLASSBENCH_DIR, %s)\n", WEIR_CLASSBENCH_DEFAULT_DIR);
        return 77;
    }
    if (::access(args->weir.c_str(), X_OK) != 0) {
        std::fprintf(stderr, "classbench_bench: no weir binary at %s (--weir PATH)\n", args->weir.c_str());
        return 2;
    }
    std::vector<cb::SetFiles> sets;
    for (const cb::SetFiles& s : cb::find_sets(dir)) {
        bool want = args->sets.empty();
        for (const auto& n : args->sets) want |= n == s.name;
        if (want) sets.push_back(s);
    }
    if (sets.empty()) {
        std::fprintf(stderr, "classbench_bench: no set selected in %s\n", dir.c_str());
        return 2;
    }
    int empty = load_empty_xdp();
    if (empty < 0) {
        std::fprintf(stderr, "classbench_bench: cannot load the empty XDP program: %s\n", std::strerror(errno));
        return 1;
    }
    char tmpl[] = "/tmp/weir-classbench-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) {
        std::fprintf(stderr, "classbench_bench: mkdtemp: %s\n", std::strerror(errno));
        return 1;
    }
    const std::string tmpdir = tmpl;

    utsname u{};
    uname(&u);
    std::printf("classbench_bench: %s; weir %s; repeat %u per header%s\n", dir.c_str(), args->weir.c_str(),
                args->repeat, args->max_headers ? (", at most " + std::to_string(args->max_headers) + " headers a set").c_str() : "");
    std::printf("machine: %ld CPUs (nproc), %s, Linux %s; load average %s\n", sysconf(_SC_NPROCESSORS_ONLN),
                bench::first_line_of("/proc/cpuinfo", "model name").c_str(), u.release,
                bench::first_line_of("/proc/loadavg", "").c_str());
    std::vector<SetRow> rows;
    for (const cb::SetFiles& s : sets) rows.push_back(run_set(s, *args, tmpdir, empty));
    ::close(empty);
    print(rows, args->markdown);
    std::error_code ec;
    std::filesystem::remove_all(tmpdir, ec);
    for (const SetRow& r : rows)
        if (r.first10.wrong || r.full.wrong) return 1;  // a verdict other than the linear scan's
    return 0;
}
