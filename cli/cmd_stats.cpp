// weir stats [--dev IFACE] [--json] [--watch SECONDS]
//
// Counters of the attached policies (weir::api::counters_all): per rule packets and bytes in policy
// order, the default, per verdict totals, malformed packets and errors. --watch N redraws every
// N seconds with pps/bps over the interval until SIGINT/SIGTERM (hidden --count K: stop after K
// rounds), holding the kernel's BPF run-time statistics on meanwhile, so that each round also
// shows the program's ns/packet. --json: an array of one object per interface; with --watch, one line per round.
// Exit: 0 ok, 2 environment (no such interface, no weir policy there, not privileged).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <optional>
#include <thread>

#include "commands.hpp"

namespace weir::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

// The earlier reading of the same interface, or null.
const api::Counters* find(const std::vector<api::Counters>* before, const std::string& ifname) {
    if (!before) return nullptr;
    for (const auto& c : *before)
        if (c.ifname == ifname) return &c;
    return nullptr;
}

std::string json_array(const std::vector<api::Counters>& now, const std::vector<api::Counters>* before,
                       int indent) {
    std::string out = "[";
    for (std::size_t i = 0; i < now.size(); ++i) {
        if (i) out += indent >= 0 ? ",\n" : ",";
        out += api::counters_json(now[i], find(before, now[i].ifname), indent);
    }
    return out + "]";
}

}  // namespace

int cmd_stats(const StatsArgs& a) {
    // Held for the whole watch, from before its first reading: the program's run time is
    // measured only while the statistics are on.
    std::optional<api::RunTimeStatistics> run_time;
    if (a.watch > 0) {
        run_time.emplace();
        if (!run_time->on()) std::cerr << "weir stats: no per-packet run time: " << run_time->error << "\n";
    }
    auto first = api::counters_all(a.dev);
    if (!first) {
        std::cerr << "weir stats: " << first.error.message << "\n";
        return kExitUsage;
    }
    std::vector<api::Counters> prev = std::move(first.value);
    if (a.watch <= 0) {
        if (a.json) std::cout << json_array(prev, nullptr, 2) << "\n";
        else std::cout << api::counters_table(prev);
        return kExitOk;
    }

    struct sigaction sa{};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    const bool tty = isatty(STDOUT_FILENO) && !a.json;
    const auto period = std::chrono::duration<double>(a.watch);
    auto next = std::chrono::steady_clock::now();
    for (unsigned round = 1; !g_stop; ++round) {
        next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
        while (!g_stop && std::chrono::steady_clock::now() < next)
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
                next - std::chrono::steady_clock::now(), std::chrono::milliseconds(50)));
        if (g_stop) break;
        auto read = api::counters_all(a.dev);
        if (!read) {
            std::cerr << "weir stats: " << read.error.message << "\n";
            return kExitUsage;
        }
        std::vector<api::Counters>& now = read.value;
        if (a.json) {
            std::cout << "{\"round\":" << round << ",\"interfaces\":" << json_array(now, &prev, -1) << "}\n";
        } else {
            if (tty) std::cout << "\033[H\033[2J";
            else if (round > 1) std::cout << "\n";
            std::cout << api::counters_table(now, &prev);
        }
        std::cout << std::flush;
        prev = std::move(now);
        if (a.count > 0 && round >= a.count) break;
    }
    return kExitOk;
}

}  // namespace weir::cli
