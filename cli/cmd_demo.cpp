// weir demo: the live demo (docs/demo.md). Builds a private test network (lab/testnet.hpp:
// a namespace and a veth pair, 198.18.0.0/15 and 2001:2::/48 only), attaches a policy to the
// root-side veth end, floods it with mixed traffic from the namespace (lab/trafficgen.hpp:
// BPF_PROG_TEST_RUN live frames), hot-swaps to a stricter policy mid-flood, prints the per-rule
// counters every second, then checks that every packet sent got exactly one verdict, and removes
// everything it made - also on Ctrl-C (SIGINT), SIGTERM and errors.
//
// Loading, swapping, counters and unloading go through the embedding API (include/weir/weir.hpp);
// the table lists the running policy's rules in counter-slot order.
#include <net/if.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "commands.hpp"
#include "demo_traffic.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"

namespace weir::cli {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

volatile sig_atomic_t g_signal = 0;
extern "C" void on_signal(int sig) { g_signal = sig; }

void set_signals(void (*handler)(int)) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a sleep returns early
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_signal != 0; }

// Sleeps until `t`, returning early (false) on a signal.
bool sleep_until(Clock::time_point t) {
    while (Clock::now() < t) {
        if (interrupted()) return false;
        std::this_thread::sleep_for(std::min<Clock::duration>(t - Clock::now(), 50ms));
    }
    return !interrupted();
}

std::string grouped(std::uint64_t n) {
    std::string s = std::to_string(n);
    for (int i = int(s.size()) - 3; i > 0; i -= 3) s.insert(std::size_t(i), ",");
    return s;
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string ms(std::chrono::nanoseconds t) { return fixed(double(t.count()) / 1e6, 1) + " ms"; }

std::string pad(std::string s, std::size_t w, bool right = false) {
    if (s.size() >= w) return s;
    return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}

// --- the traffic --------------------------------------------------------------------------------

// --- the counters -------------------------------------------------------------------------------

struct Snapshot {
    std::string policy;
    std::vector<std::pair<std::string, std::uint32_t>> rules;  // name, slot; in slot order
    std::map<std::string, std::uint64_t> packets;             // rule name (and "(default)")
    std::map<std::string, std::string> actions;               // rule name (and "(default)")
    std::map<std::string, std::uint64_t> verdicts;            // "pass", "drop", ...
    std::uint64_t verdict_sum() const {
        std::uint64_t s = 0;
        for (const auto& [v, n] : verdicts) s += n;
        return s;
    }
};

api::Result<Snapshot> snapshot(const std::string& ifname) {
    api::Result<Snapshot> out;
    auto c = api::Attachment(ifname).counters();
    if (!c) {
        out.error = c.error;
        return out;
    }
    Snapshot& s = out.value;
    s.policy = c->policy;
    for (const auto& r : c->rules) {
        s.rules.emplace_back(r.name, r.slot);
        s.packets[r.name] = r.counter.packets;
        s.actions[r.name] = r.action;
    }
    std::sort(s.rules.begin(), s.rules.end(), [](auto& a, auto& b) { return a.second < b.second; });
    s.packets["(default)"] = c->default_decisions.packets;
    s.actions["(default)"] = c->default_verdict;
    for (const auto& [v, n] : c->verdicts) s.verdicts[v] = n.packets;
    return out;
}

std::uint64_t rx_packets(const std::string& ifname) {
    std::ifstream f("/sys/class/net/" + ifname + "/statistics/rx_packets");
    std::uint64_t n = 0;
    f >> n;
    return n;
}

// --- the demo -----------------------------------------------------------------------------------

class Demo {
public:
    explicit Demo(const DemoArgs& a) : a_(a), tty_(::isatty(STDOUT_FILENO)) {}
    int run();

private:
    int fail(const std::string& what) {
        std::cout.flush();
        std::cerr << "weir demo: " << what << "\n";
        return kExitUsage;
    }
    bool load(const std::string& file, bool swap);
    std::optional<int> setup();  // a value: stop with that exit code
    std::optional<int> flood(double seconds, double swap_at);
    int report(const Snapshot& base, std::uint64_t rx0);
    void draw(const Snapshot& s, double t, double dt);
    void start_flood();
    void stop_flood();
    void remove_stale_pins();

    const DemoArgs& a_;
    const bool tty_;
    std::optional<test::TestNet> net_;
    bool attached_ = false;
    std::optional<traffic::TrafficGen> gen_;
    std::vector<test::TrafficKind> kinds_;
    std::thread flood_;
    std::atomic<bool> flood_stop_{false};
    std::atomic<std::uint64_t> sent_{0};
    std::vector<std::uint64_t> sent_per_kind_;
    std::string flood_error_;  // written before flood_failed_ is set
    std::atomic<bool> flood_failed_{false};
    double flood_seconds_ = 0;
    std::size_t drawn_ = 0;  // lines of the last table (tty: redrawn in place)
    Snapshot prev_;
    std::uint64_t base_verdicts_ = 0;
    std::map<std::string, std::uint64_t> max_seen_;

public:
    ~Demo();
};

// Pins under the demo's interface names whose interface is gone (a demo killed with SIGKILL).
void Demo::remove_stale_pins() {
    for (const auto& ifname : api::interfaces().value) {
        if (ifname.rfind("wt", 0) != 0 || if_nametoindex(ifname.c_str()) != 0) continue;
        unsigned pid = 0, n = 0;
        char h = 0;
        if (std::sscanf(ifname.c_str(), "wt%u.%u%c", &pid, &n, &h) != 3 || h != 'h') continue;
        if (::kill(pid_t(pid), 0) == 0) continue;
        (void)api::Attachment(ifname).unload();
    }
}

bool Demo::load(const std::string& file, bool swap) {
    api::AttachOptions o;
    o.mode = api::Mode::Native;
    o.on_step = [](const api::Step& s) {
        std::cout << "    " << pad(s.name, 10) << pad(ms(s.time), 10, true)
                  << (s.detail.empty() ? "" : "   " + s.detail) << "\n"
                  << std::flush;
    };
    auto t0 = Clock::now();
    api::LoadReport r = api::attach_file(net_->host_if(), file, {}, o);
    auto total = Clock::now() - t0;
    print_load_diagnostics(r);
    if (!r.ok()) {
        std::cerr << "weir demo: " << r.error.message << "\n";
        return false;
    }
    attached_ = true;
    std::chrono::nanoseconds link{};
    for (const auto& s : r.steps)
        if (s.name == "swap" || s.name == "attach") link = s.time;
    if (swap)
        std::cout << "  swapped " << r.replaced << " -> " << r.policy << " in " << ms(total)
                  << " (link update " << ms(link) << "; no packet saw no program)\n";
    else
        std::cout << "  attached " << r.policy << " to " << net_->host_if() << " (" << r.mode
                  << " XDP) in " << ms(total) << "\n";
    std::cout.flush();
    return true;
}

void Demo::start_flood() {
    traffic::FloodOptions o;
    o.netns_fd = net_->netns_fd();
    o.ifname = net_->peer_if();
    for (const auto& k : kinds_) o.frames.push_back({k.bytes, k.weight});
    o.per_call = 1u << 14;
    o.duration = 250ms;  // per round: a signal stops the flood within a round
    if (a_.rate_pps > 0) o.rate_pps = a_.rate_pps;
    sent_per_kind_.assign(kinds_.size(), 0);
    flood_ = std::thread([this, o] {
        while (!flood_stop_.load()) {
            auto r = gen_->flood(o);
            if (!r) {
                flood_error_ = r.error().message;
                flood_failed_ = true;
                return;
            }
            for (std::size_t i = 0; i < r->per_frame.size(); ++i) sent_per_kind_[i] += r->per_frame[i];
            flood_seconds_ += r->seconds;
            sent_ += r->packets;
        }
    });
}

void Demo::stop_flood() {
    flood_stop_ = true;
    if (flood_.joinable()) flood_.join();
}

Demo::~Demo() {
    // Cleanup: a second Ctrl-C must not interrupt it (nor kill the `ip` commands it runs).
    set_signals(SIG_IGN);
    stop_flood();
    std::vector<std::string> done;
    if (attached_ && net_) {
        if (api::Error e = api::Attachment(net_->host_if()).unload())
            std::cerr << "weir demo: unload " << net_->host_if() << ": " << e.message << "\n";
        else
            done.push_back("unloaded the policy (link and pins)");
    }
    gen_.reset();
    if (net_) {
        std::string ns = net_->netns(), host = net_->host_if();
        net_.reset();  // deletes the namespace, and with it the veth pair
        done.push_back("deleted namespace " + ns + " and veth " + host);
    }
    if (!done.empty()) {
        std::cout << "cleanup: ";
        for (std::size_t i = 0; i < done.size(); ++i) std::cout << (i ? ", " : "") << done[i];
        std::cout << "\n" << std::flush;
    }
}

void Demo::draw(const Snapshot& s, double t, double dt) {
    std::ostringstream out;
    if (tty_ && drawn_ > 0) out << "\033[" << drawn_ << "A\033[J";
    std::size_t lines = 0;
    // Live totals from weir's own verdict counters (the generator's count lags by a round).
    const std::uint64_t decided = s.verdict_sum() - base_verdicts_;
    const std::uint64_t prev_decided = prev_.verdict_sum() - base_verdicts_;
    out << "  t=" << fixed(t, 0) << "s  " << s.policy << "  " << grouped(decided) << " packets, "
        << fixed(dt > 0 ? double(decided - prev_decided) / dt / 1e6 : 0, 2) << " Mpps\n";
    ++lines;
    out << "    " << pad("rule", 12) << pad("action", 8) << pad("packets", 16, true) << pad("pps", 14, true)
        << "\n";
    ++lines;
    auto row = [&](const std::string& name) {
        std::uint64_t now = s.packets.at(name);
        std::uint64_t before = prev_.packets.count(name) ? prev_.packets.at(name) : 0;
        if (before > now) before = 0;  // a new rule in a reused slot
        double pps = dt > 0 ? double(now - before) / dt : 0;
        out << "    " << pad(name, 12) << pad(s.actions.at(name), 8) << pad(grouped(now), 16, true)
            << pad(grouped(std::uint64_t(std::llround(pps))), 14, true) << "\n";
        ++lines;
    };
    for (const auto& [name, slot] : s.rules) row(name);
    row("(default)");  // the policy default decided
    drawn_ = tty_ ? lines : 0;
    std::cout << out.str() << std::flush;
}

// The test network, the first policy and the traffic generator, described as they come up.
std::optional<int> Demo::setup() {
    test::TestNet::remove_stale();
    remove_stale_pins();

    std::cout << "setup\n";
    try {
        net_.emplace();
    } catch (const std::exception& e) {
        if (interrupted()) return 130;  // Ctrl-C reached the `ip` commands too
        return fail(std::string("cannot create the test network: ") + e.what());
    }
    std::cout << "  namespace " << net_->netns() << ": veth " << net_->peer_if() << " (the Internet: "
              << "traffic generator)\n"
              << "  root namespace: veth " << net_->host_if() << " (the API host: weir attached here)\n";
    if (interrupted()) return 130;
    std::cout << "  load " << a_.policy << " onto " << net_->host_if() << ":\n" << std::flush;
    if (!load(a_.policy, false)) return interrupted() ? 130 : kExitFindings;
    auto gen = traffic::TrafficGen::create();
    if (!gen) return fail("cannot load the traffic generator: " + gen.error().message);
    gen_.emplace(std::move(*gen));
    kinds_ = test::demo_traffic(*net_);
    std::cout << "  traffic (share of packets):\n";
    std::uint32_t total_weight = 0;
    for (const auto& k : kinds_) total_weight += k.weight;
    for (const auto& k : kinds_)
        std::cout << "    " << pad(k.name, 11) << pad(std::to_string(k.weight * 100 / total_weight) + "%", 5, true)
                  << "  " << k.what << "\n";
    if (interrupted()) return 130;
    return std::nullopt;
}

// The flood, one table a second, with the hot swap at `swap_at`.
std::optional<int> Demo::flood(double seconds, double swap_at) {
    std::cout << "\nflood (BPF_PROG_TEST_RUN live frames into " << net_->host_if() << ")\n" << std::flush;
    const auto start = Clock::now();
    start_flood();
    bool swapped = false;
    auto last = start;
    for (int tick = 1; double(tick) <= std::ceil(seconds); ++tick) {
        auto at = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                              std::min<double>(tick, seconds)));
        if (!swapped && swap_at < double(tick) && swap_at < seconds) {
            if (!sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(swap_at))))
                break;
            drawn_ = 0;
            std::cout << "  t=" << fixed(swap_at, 1) << "s  hot swap to " << a_.strict << ", under load:\n"
                      << std::flush;
            if (!load(a_.strict, true)) {
                stop_flood();
                return interrupted() ? 130 : kExitFindings;
            }
            swapped = true;
        }
        if (!sleep_until(at)) break;
        if (flood_failed_) break;
        auto s = snapshot(net_->host_if());
        if (!s) return fail("read counters: " + s.error.message);
        auto now = Clock::now();
        draw(*s, std::chrono::duration<double>(now - start).count(), std::chrono::duration<double>(now - last).count());
        prev_ = std::move(*s);
        last = now;
    }
    stop_flood();
    if (interrupted()) {
        std::cout << "\ninterrupted (signal " << int(g_signal) << ")\n";
        return 130;
    }
    if (flood_failed_) return fail("traffic generator: " + flood_error_);
    return std::nullopt;
}

// Totals and the checks that every packet sent was counted once, across the swap.
int Demo::report(const Snapshot& base_snap, std::uint64_t rx0) {
    const Snapshot* base = &base_snap;
    // The flood returned once the frames were handed over; let the receiver finish its queue.
    Snapshot end;
    for (int i = 0; i < 40; ++i) {
        auto s = snapshot(net_->host_if());
        if (!s) return fail("read counters: " + s.error.message);
        bool settled = s->verdict_sum() - base->verdict_sum() >= sent_.load() ||
                       (i > 0 && s->verdict_sum() == end.verdict_sum());
        end = std::move(*s);
        if (settled) break;
        std::this_thread::sleep_for(25ms);
    }
    const std::uint64_t sent = sent_.load();
    const std::uint64_t rx = rx_packets(net_->host_if()) - rx0;
    auto delta = [&](const std::string& rule) {
        std::uint64_t b = base->packets.count(rule) ? base->packets.at(rule) : 0;
        return end.packets.count(rule) ? end.packets.at(rule) - b : 0;
    };
    auto verdict = [&](const std::string& v) { return end.verdicts.at(v) - base->verdicts.at(v); };
    const std::uint64_t counted = end.verdict_sum() - base->verdict_sum();

    std::cout << "\ntotals (" << fixed(flood_seconds_, 1) << " s of flood, "
              << fixed(flood_seconds_ > 0 ? double(sent) / flood_seconds_ / 1e6 : 0, 2) << " Mpps)\n";
    std::cout << "  sent by kind:";
    for (std::size_t i = 0; i < kinds_.size(); ++i)
        std::cout << (i % 4 == 0 ? "\n    " : "   ") << kinds_[i].name << " " << grouped(sent_per_kind_[i]);
    std::cout << "\n  verdicts: pass " << grouped(verdict("pass")) << ", drop " << grouped(verdict("drop"))
              << ", other " << grouped(counted - verdict("pass") - verdict("drop")) << "\n";

    auto kind_sent = [&](const std::string& name) {
        for (std::size_t i = 0; i < kinds_.size(); ++i)
            if (kinds_[i].name == name) return sent_per_kind_[i];
        return std::uint64_t(0);
    };
    int failed = 0;
    auto check = [&](const std::string& what, std::uint64_t left, std::uint64_t right) {
        bool ok = left == right;
        failed += !ok;
        std::cout << "  check: " << what << ": " << grouped(left) << (ok ? " == " : " != ") << grouped(right)
                  << (ok ? "  OK" : "  FAILED") << "\n";
    };
    check("sent == counted (sum of verdict counters)", sent, counted);
    check("sent == received by " + net_->host_if() + " (rx_packets)", sent, rx);
    check("blocked sources == rule 'blocked' (both policies)", kind_sent("blocked"), delta("blocked"));
    check("SYNs sent == rule 'new-conns' (counted across the swap)",
          kind_sent("client-syn") + kind_sent("syn-flood"), delta("new-conns"));
    std::cout << (failed ? "weir demo: FAILED\n" : "weir demo: all checks passed\n") << std::flush;
    return failed ? kExitFindings : kExitOk;
}

int Demo::run() {
    if (::geteuid() != 0) return fail("needs root (it creates a network namespace and attaches XDP programs)");
    g_signal = 0;
    set_signals(on_signal);
    const double seconds = a_.seconds;
    const double swap_at = a_.swap_at >= 0 ? a_.swap_at : seconds / 2;

    std::cout << "weir demo: " << a_.policy << ", then " << a_.strict << " at " << fixed(swap_at, 1)
              << " s, " << fixed(seconds, 0) << " s of traffic\n\n";
    if (auto stop = setup()) return *stop;
    auto base = snapshot(net_->host_if());
    if (!base) return fail("read counters: " + base.error.message);
    prev_ = *base;
    base_verdicts_ = base->verdict_sum();
    const std::uint64_t rx0 = rx_packets(net_->host_if());

    if (auto stop = flood(seconds, swap_at)) return *stop;
    return report(*base, rx0);
}



}  // namespace

int cmd_demo(const DemoArgs& a) {
    // A swap at or after the end would never happen, and the strict policy's checks with it.
    if (a.swap_at >= a.seconds) {
        std::cerr << "weir demo: --swap-at " << a.swap_at << " is not before the end of the traffic (--seconds "
                  << a.seconds << ")\n";
        return kExitUsage;
    }
    // Unreadable policy files are a usage problem (exit 2), found before any setup.
    for (const std::string* f : {&a.policy, &a.strict})
        if (!std::ifstream(*f)) {
            std::cerr << "weir demo: cannot read '" << *f << "': " << std::strerror(errno) << "\n";
            return kExitUsage;
        }
    int rc;
    {
        Demo d(a);
        rc = d.run();
    }  // cleanup runs here, before the exit status
    return rc;
}

}  // namespace weir::cli
