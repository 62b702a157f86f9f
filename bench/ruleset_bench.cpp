// The ruleset-size benchmark: generated policies of 10 .. 100,000 rules in three shapes
// (tests/support/ruleset_gen.hpp: a = source blocklist, b = services, c = mixed 5-tuple),
// compiled with the planner (PlanOptions::Mode::Auto) and with a forced linear plan.
//
// Test-run table, per shape, size and plan - each compile in its own forked child, so that its
// peak RSS is its own (wait4's ru_maxrss) and a run over the time budget can be killed:
//   check / plan / codegen / compile   ms of compile_source (no lint), plan_policy, codegen
//   load+vrfy                          ms of LoadedPolicy::load (maps, set tables, verifier)
//   xlated / verified                  program instructions after the verifier, and processed
//   RSS                                the child's peak resident set (generation, compile, load)
//   hit / miss ns                      BPF_PROG_TEST_RUN ns/packet (the kernel's mean over the
//                                      repetitions, best of 3 runs), averaged over frames aimed
//                                      at rules spread evenly over the list / over frames that
//                                      match no rule; the verdicts are checked against the rules
// Live table (--live, root): a private veth pair (lab/testnet.hpp), the generated frames
// flooded by the XDP live-frames generator into the root-side end, and the rate at which that
// device processes them (its rx_packets over the flood's wall time) with, in turn: an empty
// XDP_DROP program (the ceiling), weir's program, the nftables linear chain and the nftables set
// form (netdev ingress hook; GRO on so the device takes XDP_TX frames without XDP). The live
// rule sets drop every packet they decide and default to drop (RulesetOptions::all_drop) so
// that no frame continues into the network stack: the rate is the classify-and-drop rate. The
// generator and the device's receive processing share a CPU (the generator's transmit runs the
// receiver's NAPI poll), so the rate is that of the pair: the ceiling row shows what the setup
// gives with no work on the device. The variants take turns, round after round, and each keeps
// its best round (the machine is shared; a burst of load elsewhere hits one round, not a row).
// weir's program is compiled and loaded in a forked child too and handed over by fd.
// Swap table (--swap, root): replacing a 10k-rule policy by another must change no per-packet
// figure. Per shape, two policies of --swap-rules rules (a: seed S, the test-run
// table's policy; b: seed S+1) go through attach::load on a veth device, as `weir load` does:
// attach a, hot swap to b, back to a, to b again; after each step the program running on the
// device (its pin) goes through BPF_PROG_TEST_RUN with the same frames: a's and b's traffic
// (hit: aimed at a rule of that policy; miss: matching no rule of either), measured as in the
// test-run table (ns_per_packet) and checked against the running policy's first match.
//
// Usage: ruleset_bench [--sizes 10,100,...] [--shapes a,b,c] [--quick] [--linear-max N]
//          [--budget SECONDS] [--repeat R] [--frames F] [--seed S] [--markdown] [--no-testrun]
//          [--live] [--live-sizes LIST] [--live-shapes LIST] [--live-seconds S] [--live-rounds N]
//          [--swap] [--swap-rules N] [--swap-shapes LIST]
// Needs root (loads programs); exit status 77 when it cannot load BPF. Prints figures; asserts
// nothing about time.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "attach.hpp"
#include "bpf.hpp"
#include "drain.hpp"
#include "machine.hpp"
#include "bpf_env.hpp"
#include "codegen.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "pins.hpp"
#include "plan.hpp"
#include "ruleset_gen.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "weir_abi.h"

using namespace weir;
using namespace weir::test;
using Clock = std::chrono::steady_clock;
using Mode = PlanOptions::Mode;

namespace {

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::vector<std::size_t> parse_sizes(std::string_view s) {
    std::vector<std::size_t> out;
    std::string item;
    std::istringstream in{std::string(s)};
    while (std::getline(in, item, ','))
        if (!item.empty()) out.push_back(std::stoul(item));
    return out;
}

std::vector<RulesetShape> parse_shapes(std::string_view s) {
    std::vector<RulesetShape> out;
    std::string item;
    std::istringstream in{std::string(s)};
    while (std::getline(in, item, ',')) {
        auto shape = ruleset_shape_from_name(item);
        if (!shape) throw std::invalid_argument("unknown shape '" + item + "' (a, b, c)");
        out.push_back(*shape);
    }
    return out;
}

struct Args {
    std::vector<std::size_t> sizes = {10, 100, 1000, 10000, 100000};
    std::vector<RulesetShape> shapes = {kRulesetShapes[0], kRulesetShapes[1], kRulesetShapes[2]};
    std::size_t linear_max = 10000;
    double budget = 60;
    std::uint32_t repeat = 200000;
    std::size_t frames = 16;
    std::uint64_t seed = 1;
    bool markdown = false, testrun = true, live = false;
    std::vector<std::size_t> live_sizes = {100, 10000};
    std::vector<RulesetShape> live_shapes = {kRulesetShapes[0], kRulesetShapes[1], kRulesetShapes[2]};
    double live_seconds = 2;
    int live_rounds = 3;
    bool swap = false;
    std::size_t swap_rules = 10000;
    std::vector<RulesetShape> swap_shapes = {kRulesetShapes[0], kRulesetShapes[1], kRulesetShapes[2]};
};

const char* kUsage =
    "usage: ruleset_bench [--sizes 10,100,1000,10000,100000] [--shapes a,b,c] [--quick]\n"
    "         [--linear-max N] [--budget SECONDS] [--repeat R] [--frames F] [--seed S] [--markdown]\n"
    "         [--no-testrun] [--live] [--live-sizes LIST] [--live-shapes LIST] [--live-seconds S]\n"
    "         [--live-rounds N] [--swap] [--swap-rules N] [--swap-shapes LIST]\n";

bool parse_args(int argc, char** argv, Args& a) {
    for (int i = 1; i < argc; ++i) {
        std::string_view k = argv[i];
        if (k == "--quick") {
            a.sizes = {10, 100, 1000};
            a.live_sizes = {100};
            a.repeat = 50000;
            a.live_seconds = 1;
            a.live_rounds = 2;
            a.swap_rules = 1000;
            continue;
        }
        if (k == "--markdown") { a.markdown = true; continue; }
        if (k == "--live") { a.live = true; continue; }
        if (k == "--no-testrun") { a.testrun = false; continue; }
        if (k == "--swap") { a.swap = true; continue; }
        if (i + 1 >= argc) return false;
        std::string_view v = argv[++i];
        if (k == "--sizes") a.sizes = parse_sizes(v);
        else if (k == "--shapes") a.shapes = parse_shapes(v);
        else if (k == "--linear-max") a.linear_max = std::stoul(std::string(v));
        else if (k == "--budget") a.budget = std::stod(std::string(v));
        else if (k == "--repeat") a.repeat = std::uint32_t(std::stoul(std::string(v)));
        else if (k == "--frames") a.frames = std::max<std::size_t>(2, std::stoul(std::string(v)));
        else if (k == "--seed") a.seed = std::stoull(std::string(v));
        else if (k == "--live-sizes") a.live_sizes = parse_sizes(v);
        else if (k == "--live-shapes") a.live_shapes = parse_shapes(v);
        else if (k == "--live-seconds") a.live_seconds = std::stod(std::string(v));
        else if (k == "--live-rounds") a.live_rounds = std::max(1, std::stoi(std::string(v)));
        else if (k == "--swap-rules") a.swap_rules = std::stoul(std::string(v));
        else if (k == "--swap-shapes") a.swap_shapes = parse_shapes(v);
        else return false;
    }
    return a.budget > 0 && a.live_seconds > 0 && a.repeat > 0;
}


std::string one_line(std::string s, std::size_t max = 110) {
    for (char& c : s)
        if (c == '\n' || c == '\t') c = ' ';
    if (s.size() > max) s = s.substr(0, max - 3) + "...";
    return s;
}

const char* mode_name(Mode m) { return m == Mode::Auto ? "planner" : "linear"; }

// ---------------------------------------------------------------------------------------------
// Test-run rows: one forked child per (shape, size, plan).

struct Row {
    RulesetShape shape{};
    std::size_t rules = 0;
    Mode mode = Mode::Auto;
    std::map<std::string, std::string> kv;  // what the child reported
    double rss_mib = 0;                     // wait4's ru_maxrss
    std::string failure;                    // empty: the child finished
    bool skipped = false;
    bool copied = false;  // the planner's plan was linear: its row's figures

    double num(const std::string& k, double dflt = -1) const {
        auto it = kv.find(k);
        return it == kv.end() ? dflt : std::atof(it->second.c_str());
    }
    std::string str(const std::string& k) const {
        auto it = kv.find(k);
        return it == kv.end() ? "" : it->second;
    }
};

void report(int fd, const std::string& key, const std::string& value) {
    std::string line = key + " " + one_line(value, 400) + "\n";
    std::size_t off = 0;
    while (off < line.size()) {
        ssize_t n = ::write(fd, line.data() + off, line.size() - off);
        if (n <= 0) return;
        off += std::size_t(n);
    }
}
void report(int fd, const std::string& key, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    report(fd, key, std::string(buf));
}

// ns/packet of one frame: the kernel's mean over `repeat` runs, best of 3. The repetitions are
// chosen so that one run takes about 20 ms (at most max_repeat).
std::optional<double> ns_per_packet(int prog, const std::vector<std::uint8_t>& frame, std::uint32_t max_repeat,
                                    std::uint32_t& retval) {
    auto probe = bpf::test_run(prog, frame, 16);
    if (!probe) return std::nullopt;
    retval = probe->retval;
    double est = std::max<double>(1, probe->duration_ns);
    auto repeat = static_cast<std::uint32_t>(std::clamp(20e6 / est, 32.0, double(max_repeat)));
    double best = 0;
    for (int t = 0; t < 3; ++t) {
        auto r = bpf::test_run(prog, frame, repeat);
        if (!r) return std::nullopt;
        if (t == 0 || r->duration_ns < best) best = r->duration_ns;
    }
    return best;
}

// The child: generate, compile, load, run; every figure is reported as soon as it is known.
[[noreturn]] void child_main(int fd, const Args& args, RulesetShape shape, std::size_t n, Mode mode) {
    RulesetOptions ro;
    ro.shape = shape;
    ro.rules = n;
    ro.seed = args.seed;
    Ruleset rs = generate_ruleset(ro);
    std::string text = weir_policy_text(rs);

    CheckOptions copts;
    copts.lint = false;  // lint is `weir check`'s stage (bounded: see docs/performance.md)
    copts.keep_ast = false;  // as `weir load` compiles
    auto t0 = Clock::now();
    auto c = compile_source("ruleset.weir", std::move(text), copts);
    report(fd, "check", ms_since(t0));
    if (!c->ok()) {
        report(fd, "error", "does not check: " + render_text(c->sources, c->diags));
        std::_Exit(1);
    }
    PlanOptions po;
    po.mode = mode;
    t0 = Clock::now();
    Plan plan = plan_policy(c->program, 0, po);
    report(fd, "plan", ms_since(t0));
    report(fd, "strategy", plan.strategy == Strategy::Classifier ? "classifier" : "linear");
    t0 = Clock::now();
    // In process: this child is already the isolation (time budget, its own wait4), and its
    // rss_compile_kib must count LLVM's memory, which a compile worker's would not.
    CodegenOptions cg;
    cg.isolate = false;
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, cg);
    report(fd, "codegen", ms_since(t0));
    if (!obj.ok()) {
        report(fd, "error", "codegen: " + obj.error);
        std::_Exit(1);
    }
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    report(fd, "rss_compile_kib", double(ru.ru_maxrss));

    Diagnostics diags;
    t0 = Clock::now();
    auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
    double load_ms = ms_since(t0);
    if (!lp) {
        std::string why = render_text(c->sources, diags);
        report(fd, "error", "load failed (" + std::to_string(long(load_ms)) + " ms): " + why);
        std::_Exit(1);
    }
    report(fd, "load", load_ms);
    report(fd, "xlated", lp->stats().xlated_insns);
    report(fd, "verified", lp->stats().verified_insns);
    report(fd, "jited", lp->stats().jited_bytes);

    TrafficOptions to;
    to.frames = args.frames;
    to.miss_share = 0.125;
    to.seed = args.seed;
    double hit_sum = 0, miss_sum = 0;
    unsigned hits = 0, misses = 0, wrong = 0;
    for (const GenFrame& f : generate_traffic(rs, to)) {
        std::uint32_t retval = 0;
        auto ns = ns_per_packet(lp->program_fd(), f.bytes, args.repeat, retval);
        if (!ns) {
            report(fd, "error", "BPF_PROG_TEST_RUN failed");
            std::_Exit(1);
        }
        int rule = first_match(rs, f.key);
        Verdict want = rule < 0 ? rs.default_action : rs.rules[rule].action;
        wrong += retval != (want == Verdict::Drop ? 1u : 2u);  // XDP_DROP, XDP_PASS
        (f.target < 0 ? miss_sum : hit_sum) += *ns;
        ++(f.target < 0 ? misses : hits);
    }
    report(fd, "hit_ns", hits ? hit_sum / hits : -1);
    report(fd, "miss_ns", misses ? miss_sum / misses : -1);
    report(fd, "wrong", wrong);
    report(fd, "done", "1");
    std::_Exit(0);
}

Row run_row(const Args& args, RulesetShape shape, std::size_t n, Mode mode) {
    Row row;
    row.shape = shape, row.rules = n, row.mode = mode;
    int p[2];
    if (::pipe(p) != 0) throw std::runtime_error("pipe failed");
    // The child's stderr (LLVM's fatal errors, for one) goes to a file the parent reads.
    char errpath[] = "/tmp/weir-ruleset-bench-XXXXXX";
    int errfd = ::mkstemp(errpath);
    if (errfd < 0) throw std::runtime_error("mkstemp failed");
    ::unlink(errpath);
    std::fflush(stdout);
    std::fflush(stderr);
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::close(p[0]);
        ::dup2(errfd, 2);
        child_main(p[1], args, shape, n, mode);
    }
    ::close(p[1]);
    std::string buf;
    auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.budget));
    const bool timed_out = bench::drain_until(p[0], deadline, buf);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    rusage ru{};
    ::wait4(pid, &status, 0, &ru);
    ::close(p[0]);
    row.rss_mib = double(ru.ru_maxrss) / 1024.0;
    std::istringstream in(buf);
    std::string line;
    while (std::getline(in, line)) {
        auto sp = line.find(' ');
        if (sp != std::string::npos) row.kv[line.substr(0, sp)] = line.substr(sp + 1);
    }
    // The last non-empty line the child wrote to stderr.
    std::string err, last;
    char chunk[4096];
    ssize_t got;
    ::lseek(errfd, 0, SEEK_SET);
    while ((got = ::read(errfd, chunk, sizeof chunk)) > 0) err.append(chunk, std::size_t(got));
    ::close(errfd);
    std::istringstream errs(err);
    while (std::getline(errs, line))
        if (line.find_first_not_of(" \t") != std::string::npos) last = line;
    if (timed_out) row.failure = "over the time budget (" + std::to_string(int(args.budget)) + " s), killed";
    else if (!row.str("error").empty()) row.failure = row.str("error");
    else if (WIFSIGNALED(status)) row.failure = "child died of signal " + std::to_string(WTERMSIG(status));
    else if (row.str("done").empty()) row.failure = "child stopped early (exit " + std::to_string(WEXITSTATUS(status)) + ")";
    if (!row.failure.empty() && !last.empty() && row.str("error").empty())
        row.failure += " after " + (row.kv.count("codegen") ? std::string("codegen") : row.kv.count("plan") ? "plan" : "check") +
                       "; stderr: " + last;
    return row;
}

double baseline_rss_mib() {
    pid_t pid = ::fork();
    if (pid == 0) std::_Exit(0);
    int status = 0;
    rusage ru{};
    ::wait4(pid, &status, 0, &ru);
    return double(ru.ru_maxrss) / 1024.0;
}

std::string fmt(double v, const char* f = "%.1f") {
    if (v < 0) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

void print_testrun(const std::vector<Row>& rows, bool markdown) {
    const char* cols[] = {"shape", "rules", "plan", "check", "plan", "codegen", "compile", "load+vrfy",
                          "xlated", "verified", "RSS", "hit", "miss"};
    const char* units[] = {"", "", "", "ms", "ms", "ms", "ms", "ms", "insns", "insns", "MiB", "ns/pkt", "ns/pkt"};
    const int width[] = {11, 7, 20, 8, 8, 8, 8, 9, 8, 9, 6, 8, 8};
    if (markdown) {
        std::printf("| shape | rules | plan | check ms | plan ms | codegen ms | compile ms | load+verify ms | xlated insns | verified insns | RSS MiB | hit ns/pkt | miss ns/pkt | note |\n");
        std::printf("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
    } else {
        for (int i = 0; i < 13; ++i) std::printf(i < 3 ? "%-*s " : "%*s ", width[i], cols[i]);
        std::printf("\n");
        for (int i = 0; i < 13; ++i) std::printf(i < 3 ? "%-*s " : "%*s ", width[i], units[i]);
        std::printf("\n");
    }
    for (const Row& r : rows) {
        std::string shape = std::string(ruleset_shape_letter(r.shape)) + " " + ruleset_shape_name(r.shape);
        std::string plan = mode_name(r.mode);
        if (r.copied) plan = "linear (as above)";
        else if (!r.str("strategy").empty()) plan += " (" + r.str("strategy") + ")";
        double compile = r.num("codegen") >= 0 ? r.num("check") + r.num("plan") + r.num("codegen") : -1;
        std::vector<std::string> cells = {
            shape, std::to_string(r.rules), plan, fmt(r.num("check")), fmt(r.num("plan"), "%.2f"),
            fmt(r.num("codegen")), fmt(compile), fmt(r.num("load")), fmt(r.num("xlated"), "%.0f"),
            fmt(r.num("verified"), "%.0f"), r.skipped ? "-" : fmt(r.rss_mib, "%.0f"), fmt(r.num("hit_ns"), "%.0f"),
            fmt(r.num("miss_ns"), "%.0f")};
        std::string note;
        if (r.copied) note = "the planner's plan (row above)";
        else if (r.skipped) note = r.failure;
        else if (!r.failure.empty()) note = r.failure;
        else if (r.num("wrong") > 0) note = "WRONG VERDICTS: " + r.str("wrong") + " frames";
        if (markdown) {
            std::printf("|");
            for (auto& c : cells) std::printf(" %s |", c.c_str());
            std::printf(" %s |\n", one_line(note, 140).c_str());
        } else {
            for (int i = 0; i < 13; ++i) std::printf(i < 3 ? "%-*s " : "%*s ", width[i], cells[i].c_str());
            std::printf("\n");
            if (!note.empty()) std::printf("%-11s   %s\n", "", one_line(note, 140).c_str());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Live rates.

std::uint64_t rx_packets(const std::string& ifname) {
    std::ifstream in("/sys/class/net/" + ifname + "/statistics/rx_packets");
    std::uint64_t v = 0;
    in >> v;
    return v;
}

std::string run_command(const std::string& cmd, int& rc) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    if (!p) {
        rc = -1;
        return "popen failed";
    }
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    rc = ::pclose(p);
    return out;
}

// A private nftables table, loaded from text and deleted on destruction.
class NftTable {
public:
    NftTable(std::string name, const std::string& text) : name_(std::move(name)) {
        char path[] = "/tmp/weir-bench-nft-XXXXXX";
        int fd = ::mkstemp(path);
        if (fd < 0) throw std::runtime_error("mkstemp failed");
        ::close(fd);
        std::ofstream(path) << text;
        int rc = 0;
        auto t0 = Clock::now();
        std::string out = run_command(std::string("nft -f ") + path, rc);
        load_ms_ = ms_since(t0);
        std::remove(path);
        loaded_ = rc == 0;
        if (!loaded_) error_ = one_line(out, 200);
    }
    ~NftTable() {
        int rc = 0;
        run_command("nft delete table netdev " + name_, rc);
    }
    bool loaded() const { return loaded_; }
    const std::string& error() const { return error_; }
    double load_ms() const { return load_ms_; }

private:
    std::string name_, error_;
    bool loaded_ = false;
    double load_ms_ = 0;
};

struct LiveResult {
    std::string what;
    double sent_mpps = -1, rate_mpps = -1, load_ms = -1;
    std::string note;
};

struct Flood {
    double seconds = 0;
    std::uint64_t sent = 0, received = 0;
};

// Frames take turns in calls of 4,096 repetitions, so that a flood of a few seconds goes
// through all of them several times (larger calls are ~10% faster but would reach only the
// first frames).
constexpr std::uint32_t kLivePerCall = 4096;
constexpr std::size_t kLiveFrames = 256;

Flood flood(const traffic::TrafficGen& gen, const TestNet& net, const std::vector<GenFrame>& frames, double seconds) {
    traffic::FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    for (const GenFrame& f : frames) o.frames.push_back({f.bytes, 1});
    o.duration = std::chrono::duration<double>(seconds);
    o.per_call = kLivePerCall;
    std::uint64_t before = rx_packets(net.host_if());
    auto r = gen.flood(o);
    if (!r) throw std::runtime_error("flood: " + r.error().message);
    usleep(100000);  // what is still queued drains
    Flood f;
    f.seconds = r->seconds;
    f.sent = r->packets;
    f.received = rx_packets(net.host_if()) - before;
    return f;
}

// weir's program for the live runs, compiled and loaded in a forked child (a compile that
// aborts or runs past the budget must not take the benchmark with it); the child passes the
// program's fd and its weir_verdicts map's fd over a socket (SCM_RIGHTS). The program keeps its
// maps alive after the child exits.
struct LiveProgram {
    int prog = -1, verdicts = -1;
    std::string strategy, error;
    double compile_load_ms = -1;
    ~LiveProgram() {
        if (prog >= 0) ::close(prog);
        if (verdicts >= 0) ::close(verdicts);
    }
};

void send_fds(int sock, const std::string& msg, const std::vector<int>& fds) {
    msghdr mh{};
    iovec iov{const_cast<char*>(msg.data()), msg.size()};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    std::vector<char> ctl(CMSG_SPACE(sizeof(int) * fds.size()));
    if (!fds.empty()) {
        mh.msg_control = ctl.data();
        mh.msg_controllen = ctl.size();
        cmsghdr* c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    (void)::sendmsg(sock, &mh, 0);
}

void compile_live_program(const Ruleset& rs, double budget, LiveProgram& out) {
    int sv[2];
    // SEQPACKET: one message, and end-of-file when the child dies without sending it.
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) throw std::runtime_error("socketpair failed");
    std::fflush(stdout);
    std::fflush(stderr);
    auto t0 = Clock::now();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::close(sv[0]);
        int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0) ::dup2(devnull, 2);
        auto fail = [&](const std::string& why) {
            send_fds(sv[1], "error " + why, {});
            std::_Exit(1);
        };
        CheckOptions copts;
        copts.lint = false;
        copts.keep_ast = false;
        auto c = compile_source("live.weir", weir_policy_text(rs), copts);
        if (!c->ok()) fail("does not check");
        Plan plan = plan_policy(c->program, 0, {});
        std::string strategy = plan.strategy == Strategy::Classifier ? "classifier" : "linear";
        CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, {});
        if (!obj.ok()) fail(strategy + ": codegen: " + one_line(obj.error));
        Diagnostics diags;
        auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
        if (!lp) fail(strategy + ": load failed: " + one_line(render_text(c->sources, diags)));
        send_fds(sv[1], "ok " + strategy, {lp->program_fd(), lp->map_fd(WEIR_MAP_VERDICTS)});
        std::_Exit(0);
    }
    ::close(sv[1]);
    pollfd pf{sv[0], POLLIN, 0};
    int ready = ::poll(&pf, 1, int(budget * 1000));
    if (ready > 0) {
        char buf[512];
        msghdr mh{};
        iovec iov{buf, sizeof buf - 1};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * 2)];
        mh.msg_control = ctl;
        mh.msg_controllen = sizeof ctl;
        ssize_t n = ::recvmsg(sv[0], &mh, 0);
        std::string msg = n > 0 ? std::string(buf, std::size_t(n)) : "error the compiling child died";
        for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                int fds[2] = {-1, -1};
                std::memcpy(fds, CMSG_DATA(c), std::min<std::size_t>(sizeof fds, c->cmsg_len - CMSG_LEN(0)));
                out.prog = fds[0], out.verdicts = fds[1];
            }
        if (msg.starts_with("ok ")) out.strategy = msg.substr(3);
        else out.error = msg.substr(std::min<std::size_t>(msg.size(), 6));
    } else {
        ::kill(pid, SIGKILL);
        out.error = "compile + load over the time budget (" + std::to_string(int(budget)) + " s), killed";
    }
    out.compile_load_ms = ms_since(t0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(sv[0]);
    if (out.error == "the compiling child died" && WIFSIGNALED(status))
        out.error += " of signal " + std::to_string(WTERMSIG(status)) + " (the test-run table's row says why)";
}

std::uint64_t drops_counted(int verdicts_fd) {
    auto v = bpf::lookup_percpu<weir_counter>(verdicts_fd, WEIR_ACT_DROP);
    std::uint64_t sum = 0;
    if (v)
        for (const auto& c : *v) sum += c.packets;
    return sum;
}

// One thing measured on the device: set up, flooded, torn down - once per round.
struct Variant {
    LiveResult result;  // the best round
    std::function<std::string()> setup;  // an error, or empty
    std::function<void()> teardown;
    std::function<std::string(const Flood&)> note;  // after a flood, before teardown
    bool failed = false;
};

struct LiveBlock {
    RulesetShape shape{};
    std::size_t rules = 0;
    std::vector<LiveResult> results;
};

LiveBlock run_live(const Args& args, const traffic::TrafficGen& gen, RulesetShape shape, std::size_t n) {
    LiveBlock block;
    block.shape = shape, block.rules = n;

    RulesetOptions ro;
    ro.shape = shape;
    ro.rules = n;
    ro.seed = args.seed;
    ro.space = Space::Bench;
    ro.all_drop = true;
    Ruleset rs = generate_ruleset(ro);
    LiveProgram weir_prog;
    compile_live_program(rs, args.budget, weir_prog);

    TestNetOptions no;
    no.host_gro = true;  // the nftables runs have no XDP program on the device
    TestNet net(no);
    TrafficOptions to;
    to.frames = kLiveFrames;
    to.miss_share = 0.1;
    to.seed = args.seed;
    to.eth_src = net.peer_mac();
    to.eth_dst = net.host_mac();
    to.default_dst = net.host_ip4();
    auto frames = generate_traffic(rs, to);

    std::vector<Variant> vs(4);
    // 1. The ceiling: an empty XDP program that drops (and counts).
    std::optional<traffic::TrafficSink> sink;
    std::uint64_t sink_before = 0;
    vs[0].result.what = "empty XDP program (XDP_DROP)";
    vs[0].setup = [&]() -> std::string {
        auto s = traffic::TrafficSink::attach(net.host_ifindex(), traffic::SinkAction::drop);
        if (!s) return s.error().message;
        sink.emplace(std::move(*s));
        return {};
    };
    vs[0].note = [&](const Flood& f) {
        auto got = sink->total();
        return got ? "the program counted " + fmt(double(got->packets - sink_before) / f.seconds / 1e6, "%.2f") + " Mpps"
                   : std::string();
    };
    vs[0].teardown = [&] { sink.reset(); };

    // 2. weir's program (the planner's choice), native XDP.
    std::uint64_t drops_before = 0;
    vs[1].result.what = "weir (" + (weir_prog.strategy.empty() ? std::string("planner") : "planner: " + weir_prog.strategy) + ")";
    vs[1].result.load_ms = weir_prog.compile_load_ms;
    vs[1].setup = [&]() -> std::string {
        if (!weir_prog.error.empty()) return weir_prog.error;
        if (int e = bpf_xdp_attach(net.host_ifindex(), weir_prog.prog, XDP_FLAGS_DRV_MODE, nullptr); e < 0)
            return "attach failed: " + std::string(std::strerror(-e));
        drops_before = drops_counted(weir_prog.verdicts);
        return {};
    };
    vs[1].note = [&](const Flood& f) {
        return "the program dropped " + fmt(double(drops_counted(weir_prog.verdicts) - drops_before) / f.seconds / 1e6, "%.2f") +
               " Mpps";
    };
    vs[1].teardown = [&] { bpf_xdp_detach(net.host_ifindex(), XDP_FLAGS_DRV_MODE, nullptr); };

    // 3 and 4. nftables, linear and set form, on the same device.
    NftOptions nopts;
    nopts.table = "weir_bench_" + std::to_string(::getpid());
    nopts.device = net.host_if();
    std::string nft_text[2] = {nft_linear(rs, nopts), {}};
    NftSetForm set = nft_set_form(rs, nopts);
    nft_text[1] = set.text;
    std::optional<NftTable> table;
    for (int form = 0; form < 2; ++form) {
        Variant& v = vs[2 + form];
        v.result.what = form == 0 ? "nftables linear chain" : "nftables set (" + set.key + ")";
        if (form == 1) {
            v.result.note = std::to_string(set.elements) + " elements";
            if (set.left_out) v.result.note += ", " + std::to_string(set.left_out) + " overlapping rules left out";
        }
        v.setup = [&, form]() -> std::string {
            table.emplace(nopts.table, nft_text[form]);
            if (!table->loaded()) return "nft refused it: " + table->error();
            double& lm = vs[2 + form].result.load_ms;
            lm = lm < 0 ? table->load_ms() : std::min(lm, table->load_ms());
            return {};
        };
        v.note = [&, form](const Flood&) { return vs[2 + form].result.note; };
        v.teardown = [&] { table.reset(); };
    }

    for (int round = 0; round < args.live_rounds; ++round)
        for (Variant& v : vs) {
            if (v.failed) continue;
            if (std::string err = v.setup(); !err.empty()) {
                v.failed = true;
                v.result.note = err;
                v.teardown();
                continue;
            }
            Flood f;
            try {
                f = flood(gen, net, frames, args.live_seconds);
            } catch (...) {
                v.teardown();
                throw;
            }
            std::string note = v.note(f);
            v.teardown();
            double rate = double(f.received) / f.seconds / 1e6;
            if (rate > v.result.rate_mpps) {
                v.result.rate_mpps = rate;
                v.result.sent_mpps = double(f.sent) / f.seconds / 1e6;
                v.result.note = note;
            }
        }
    for (Variant& v : vs) block.results.push_back(v.result);
    return block;
}

void print_live(const std::vector<LiveBlock>& blocks, bool markdown) {
    if (markdown) {
        std::printf("| shape | rules | what | load ms | sent Mpps | processed Mpps | %% of empty XDP | note |\n");
        std::printf("|---|--:|---|--:|--:|--:|--:|---|\n");
    } else {
        std::printf("%-12s %7s %-60s %8s %9s %10s %8s  %s\n", "shape", "rules", "what", "load ms", "sent Mpps",
                    "rate Mpps", "of empty", "note");
    }
    for (const LiveBlock& b : blocks) {
        double ceiling = b.results.empty() ? -1 : b.results[0].rate_mpps;
        std::string shape = std::string(ruleset_shape_letter(b.shape)) + " " + ruleset_shape_name(b.shape);
        for (const LiveResult& r : b.results) {
            std::string pct = ceiling > 0 && r.rate_mpps >= 0 ? fmt(100.0 * r.rate_mpps / ceiling, "%.1f%%") : "-";
            if (markdown)
                std::printf("| %s | %zu | %s | %s | %s | %s | %s | %s |\n", shape.c_str(), b.rules, r.what.c_str(),
                            fmt(r.load_ms, "%.0f").c_str(), fmt(r.sent_mpps, "%.2f").c_str(),
                            fmt(r.rate_mpps, r.rate_mpps < 0.1 ? "%.4f" : "%.2f").c_str(), pct.c_str(), r.note.c_str());
            else
                std::printf("%-12s %7zu %-60s %8s %9s %10s %8s  %s\n", shape.c_str(), b.rules, r.what.c_str(),
                            fmt(r.load_ms, "%.0f").c_str(), fmt(r.sent_mpps, "%.2f").c_str(),
                            fmt(r.rate_mpps, r.rate_mpps < 0.1 ? "%.4f" : "%.2f").c_str(), pct.c_str(),
                            r.note.c_str());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Replacing a policy: attach::load on a veth device, the running program test-run after each step.

struct SwapStep {
    std::string what;     // "attach a", "hot swap to b", ...
    int running = 0;      // 0: a, 1: b
    double load_ms = -1;  // attach::load, every step (compile with lint, verify, prepare, swap, ...)
    double link_ms = -1;  // the link update (or the first attach)
    std::string verify;   // the verify step's detail: instructions, verifier time
    double ns[2][2] = {{-1, -1}, {-1, -1}};  // [frames of a / of b][hit / miss]
    unsigned wrong = 0;   // frames whose verdict is not the running policy's
    std::string error;
};

struct SwapBlock {
    RulesetShape shape{};
    std::size_t rules = 0;
    std::vector<SwapStep> steps;
};

// Pins and locks of this run only ($WEIR_PIN_ROOT, $WEIR_RUN_DIR), the interface's policy
// unloaded and both removed at the end; the previous environment restored.
class PrivatePins {
public:
    explicit PrivatePins(std::string ifname) : ifname_(std::move(ifname)) {
        char tmpl[] = "/tmp/weir-ruleset-bench-run-XXXXXX";
        if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        run_dir_ = tmpl;
        pin_root_ = "/sys/fs/bpf/weir-ruleset-bench-" + std::to_string(::getpid());
        for (const char* name : {"WEIR_PIN_ROOT", "WEIR_RUN_DIR"})
            if (const char* v = std::getenv(name)) saved_[name] = v;
        ::setenv("WEIR_PIN_ROOT", pin_root_.c_str(), 1);
        ::setenv("WEIR_RUN_DIR", run_dir_.c_str(), 1);
    }
    ~PrivatePins() {
        (void)attach::unload(ifname_);
        std::error_code ec;
        std::filesystem::remove(pin_root_, ec);  // empty after unload
        std::filesystem::remove_all(run_dir_, ec);
        for (const char* name : {"WEIR_PIN_ROOT", "WEIR_RUN_DIR"}) {
            auto it = saved_.find(name);
            if (it == saved_.end()) ::unsetenv(name);
            else ::setenv(name, it->second.c_str(), 1);
        }
    }
    PrivatePins(const PrivatePins&) = delete;
    PrivatePins& operator=(const PrivatePins&) = delete;
    const std::string& run_dir() const { return run_dir_; }

private:
    std::string ifname_, run_dir_, pin_root_;
    std::map<std::string, std::string> saved_;
};

SwapBlock run_swap(const Args& args, RulesetShape shape) {
    SwapBlock block;
    block.shape = shape, block.rules = args.swap_rules;
    Ruleset rs[2];
    std::string text[2];
    std::vector<GenFrame> frames[2];
    for (int p = 0; p < 2; ++p) {
        RulesetOptions ro;
        ro.shape = shape;
        ro.rules = args.swap_rules;
        ro.seed = args.seed + std::uint64_t(p);  // a: the test-run table's policy of this size
        ro.policy_name = p == 0 ? "a" : "b";
        rs[p] = generate_ruleset(ro);
        text[p] = weir_policy_text(rs[p]);
        TrafficOptions to;
        to.frames = args.frames;
        to.miss_share = 0.125;
        to.seed = args.seed;
        frames[p] = generate_traffic(rs[p], to);
    }

    TestNet net;
    PrivatePins pins_of_run(net.host_if());
    const std::pair<int, const char*> sequence[] = {
        {0, "attach a"}, {1, "hot swap a -> b"}, {0, "hot swap b -> a"}, {1, "hot swap a -> b"}};
    for (const auto& [p, what] : sequence) {
        SwapStep step;
        step.what = what, step.running = p;
        attach::LoadOptions o;
        o.file = pins_of_run.run_dir() + (p == 0 ? "/a.weir" : "/b.weir");  // names it; not read
        o.source_text = text[p];
        o.ifname = net.host_if();
        o.mode = attach::Mode::Native;
        auto t0 = Clock::now();
        attach::LoadOutcome r = attach::load(o);
        step.load_ms = ms_since(t0);
        for (const attach::Step& s : r.steps) {
            if (s.name == "swap" || s.name == "attach") step.link_ms = double(s.time.count()) / 1e6;
            if (s.name == "verify") step.verify = s.detail;
        }
        if (!r.ok()) {
            step.error = one_line(r.message, 200);
            block.steps.push_back(std::move(step));
            break;
        }
        auto pinned = pins::open_pinned(net.host_if());
        if (!pinned || !pinned->prog) {
            step.error = "the running program's pin cannot be opened";
            block.steps.push_back(std::move(step));
            break;
        }
        for (int fp = 0; fp < 2; ++fp) {
            double sum[2] = {0, 0};
            unsigned count[2] = {0, 0};
            for (const GenFrame& f : frames[fp]) {
                std::uint32_t retval = 0;
                auto ns = ns_per_packet(pinned->prog.get(), f.bytes, args.repeat, retval);
                if (!ns) {
                    step.error = "BPF_PROG_TEST_RUN failed";
                    break;
                }
                int rule = first_match(rs[p], f.key);
                Verdict want = rule < 0 ? rs[p].default_action : rs[p].rules[rule].action;
                step.wrong += retval != (want == Verdict::Drop ? 1u : 2u);  // XDP_DROP, XDP_PASS
                const int m = f.target < 0 ? 1 : 0;
                sum[m] += *ns;
                ++count[m];
            }
            for (int m = 0; m < 2; ++m)
                if (count[m]) step.ns[fp][m] = sum[m] / count[m];
        }
        block.steps.push_back(std::move(step));
    }
    return block;
}

void print_swap(const std::vector<SwapBlock>& blocks, bool markdown) {
    if (markdown) {
        std::printf("| shape | rules | step | running | load ms | link ms | verify step | a's frames hit ns/pkt | a's "
                    "frames miss ns/pkt | b's frames hit ns/pkt | b's frames miss ns/pkt | note |\n");
        std::printf("|---|--:|---|---|--:|--:|---|--:|--:|--:|--:|---|\n");
    } else {
        std::printf("%-12s %6s %-16s %-7s %8s %7s %8s %8s %8s %8s  %s\n", "shape", "rules", "step", "running",
                    "load ms", "link ms", "a hit", "a miss", "b hit", "b miss", "verify / note");
    }
    for (const SwapBlock& b : blocks) {
        std::string shape = std::string(ruleset_shape_letter(b.shape)) + " " + ruleset_shape_name(b.shape);
        for (const SwapStep& s : b.steps) {
            std::string note = !s.error.empty() ? s.error
                               : s.wrong        ? "WRONG VERDICTS: " + std::to_string(s.wrong) + " frames"
                                                : std::string();
            std::string ns[4];
            for (int i = 0; i < 4; ++i) ns[i] = fmt(s.ns[i / 2][i % 2], "%.0f");
            const char* running = s.running == 0 ? "a" : "b";
            if (markdown)
                std::printf("| %s | %zu | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", shape.c_str(), b.rules,
                            s.what.c_str(), running, fmt(s.load_ms, "%.0f").c_str(), fmt(s.link_ms, "%.1f").c_str(),
                            s.verify.c_str(), ns[0].c_str(), ns[1].c_str(), ns[2].c_str(), ns[3].c_str(),
                            note.c_str());
            else
                std::printf("%-12s %6zu %-16s %-7s %8s %7s %8s %8s %8s %8s  %s%s%s\n", shape.c_str(), b.rules,
                            s.what.c_str(), running, fmt(s.load_ms, "%.0f").c_str(), fmt(s.link_ms, "%.1f").c_str(),
                            ns[0].c_str(), ns[1].c_str(), ns[2].c_str(), ns[3].c_str(), s.verify.c_str(),
                            note.empty() ? "" : "; ", note.c_str());
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    try {
        if (!parse_args(argc, argv, args)) {
            std::fputs(kUsage, stderr);
            return 2;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ruleset_bench: %s\n%s", e.what(), kUsage);
        return 2;
    }
    if (std::string why = test::bpf_unavailable_reason(); !why.empty()) {
        std::printf("SKIP: ruleset_bench needs BPF: %s\n", why.c_str());
        return 77;
    }
    utsname u{};
    uname(&u);
    std::printf("machine: %ld CPUs (nproc), %s, Linux %s; load average %s\n", sysconf(_SC_NPROCESSORS_ONLN),
                bench::first_line_of("/proc/cpuinfo", "model name").c_str(), u.release,
                bench::first_line_of("/proc/loadavg", "").c_str());
    int rc = 0;

    if (args.testrun) {
        std::printf("\n== BPF_PROG_TEST_RUN: compile, load, size, RSS and ns/packet (seed %llu) ==\n",
                    static_cast<unsigned long long>(args.seed));
        std::printf("compile = check (no lint) + plan + codegen, in a forked child per row; RSS = the child's "
                    "peak (a child that only forks and exits: %.0f MiB);\nns/pkt: best of 3 test runs of up to %u "
                    "repetitions, mean over %zu frames (1/8 built to match no rule: miss); budget %.0f s per "
                    "row, linear plans up to %zu rules\n\n",
                    baseline_rss_mib(), args.repeat, args.frames, args.budget, args.linear_max);
        std::fflush(stdout);
        std::vector<Row> rows;
        for (RulesetShape shape : args.shapes) {
            bool stop[2] = {false, false};  // per mode: a smaller size failed or ran out of time
            for (std::size_t n : args.sizes)
                for (Mode mode : {Mode::Auto, Mode::Linear}) {
                    int m = mode == Mode::Auto ? 0 : 1;
                    Row row;
                    row.shape = shape, row.rules = n, row.mode = mode;
                    if (mode == Mode::Linear && n > args.linear_max) {
                        row.skipped = true;
                        row.failure = "not run: above --linear-max " + std::to_string(args.linear_max);
                    } else if (stop[m]) {
                        row.skipped = true;
                        row.failure = "not run: a smaller size failed or ran out of time";
                    } else if (mode == Mode::Linear && !rows.empty() && rows.back().rules == n &&
                               rows.back().mode == Mode::Auto && rows.back().str("strategy") == "linear") {
                        // The planner chose the linear plan itself: the same work again would
                        // give the same figures.
                        row = rows.back();
                        row.mode = Mode::Linear;
                        row.copied = true;
                        if (!row.failure.empty()) stop[m] = true;
                    } else {
                        row = run_row(args, shape, n, mode);
                        if (!row.failure.empty()) stop[m] = true;
                    }
                    if (!row.skipped && row.num("wrong") > 0) rc = 1;
                    std::fprintf(stderr, "  %s %zu %s: %s\n", ruleset_shape_name(shape), n, mode_name(mode),
                                 row.failure.empty() ? "ok" : one_line(row.failure, 100).c_str());
                    rows.push_back(std::move(row));
                }
        }
        print_testrun(rows, args.markdown);
    }

    if (args.live) {
        std::printf("\n== live: processed rate on a veth device, best of %d rounds of %.1f s floods (the variants "
                    "take turns) of %zu frames (60-byte TCP/UDP, 1/10 matching no rule), %u per call; rule sets in "
                    "198.18.0.0/15, every verdict drop; load ms = weir's compile + load, nft -f ==\n\n",
                    args.live_rounds, args.live_seconds, kLiveFrames, kLivePerCall);
        std::fflush(stdout);
        auto gen = traffic::TrafficGen::create();
        if (!gen) {
            std::fprintf(stderr, "ruleset_bench: %s\n", gen.error().message.c_str());
            return 1;
        }
        int nrc = 0;
        run_command("nft --version", nrc);
        if (nrc != 0) std::printf("nft is not installed: the nftables rows are missing\n");
        std::vector<LiveBlock> blocks;
        try {
            for (RulesetShape shape : args.live_shapes)
                for (std::size_t n : args.live_sizes) {
                    std::fprintf(stderr, "  live %s %zu\n", ruleset_shape_name(shape), n);
                    blocks.push_back(run_live(args, *gen, shape, n));
                }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ruleset_bench: live: %s\n", e.what());
            rc = 1;
        }
        print_live(blocks, args.markdown);
    }

    if (args.swap) {
        std::printf("\n== replacing a policy: attach::load on a veth device (as `weir load`, lint included), the "
                    "running program's ns/packet after each step (BPF_PROG_TEST_RUN as above, %zu frames of each "
                    "policy's traffic, 1/8 matching no rule); a: seed %llu, b: seed %llu ==\n\n",
                    args.frames, static_cast<unsigned long long>(args.seed),
                    static_cast<unsigned long long>(args.seed + 1));
        std::fflush(stdout);
        std::vector<SwapBlock> blocks;
        try {
            for (RulesetShape shape : args.swap_shapes) {
                std::fprintf(stderr, "  swap %s %zu\n", ruleset_shape_name(shape), args.swap_rules);
                blocks.push_back(run_swap(args, shape));
                for (const SwapStep& s : blocks.back().steps)
                    if (s.wrong || !s.error.empty()) rc = 1;
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ruleset_bench: swap: %s\n", e.what());
            rc = 1;
        }
        print_swap(blocks, args.markdown);
    }
    return rc;
}
