// weir stats [--dev IFACE] [--json] [--watch SECONDS]
//
// Counters of the attached policies (runtime/stats.hpp): per rule packets and bytes in policy
// order, the default, per verdict totals, malformed packets and errors. --watch N redraws every
// N seconds with pps/bps over the interval until SIGINT/SIGTERM (hidden --count K: stop after K
// rounds). --json: an array of one object per interface; with --watch, one line per round.
// Exit: 0 ok, 2 environment (no such interface, no weir policy there, not privileged).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "commands.hpp"
#include "stats.hpp"

namespace weir::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

std::string json_array(const std::vector<stats::Snapshot>& now, const std::vector<stats::Snapshot>* before,
                       int indent) {
    std::string out = "[";
    for (std::size_t i = 0; i < now.size(); ++i) {
        if (i) out += indent >= 0 ? ",\n" : ",";
        out += stats::to_json(now[i], stats::find(before, now[i].ifname), indent);
    }
    return out + "]";
}

}  // namespace

int cmd_stats(const StatsArgs& a) {
    std::vector<stats::Snapshot> prev;
    if (attach::Failure f = stats::read(prev, a.dev)) {
        std::cerr << "weir stats: " << f.message << "\n";
        return kExitUsage;
    }
    if (a.watch <= 0) {
        if (a.json) std::cout << json_array(prev, nullptr, 2) << "\n";
        else std::cout << stats::format_table(prev);
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
        std::vector<stats::Snapshot> now;
        if (attach::Failure f = stats::read(now, a.dev)) {
            std::cerr << "weir stats: " << f.message << "\n";
            return kExitUsage;
        }
        if (a.json) {
            std::cout << "{\"round\":" << round << ",\"interfaces\":" << json_array(now, &prev, -1) << "}\n";
        } else {
            if (tty) std::cout << "\033[H\033[2J";
            else if (round > 1) std::cout << "\n";
            std::cout << stats::format_table(now, &prev);
        }
        std::cout << std::flush;
        prev = std::move(now);
        if (a.count > 0 && round >= a.count) break;
    }
    return kExitOk;
}

}  // namespace weir::cli
