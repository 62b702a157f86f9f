// weir events --dev IFACE [--rule R] [--json] [-c COUNT] [--timeout SECONDS] [--backlog]
//
// Records of `log` rules on one interface, one line each (api::log_summary) or one JSON
// object per line. Reads until COUNT records, SECONDS, or SIGINT/SIGTERM. Prints "weir events:
// reading ..." to stderr once the ring is open: records from then on are shown (--backlog: also
// those queued before). Exit: 0 ok, 1 --timeout passed before COUNT records, 2 environment.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>

#include "commands.hpp"

namespace weir::cli {
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_events_signal(int) { g_stop = true; }

}  // namespace

int follow_events(const char* cmd, const FollowArgs& a, const std::function<bool(const api::LogRecord&)>& fn,
                  const std::function<bool()>& ready) {
    api::LogOptions opts;
    opts.rule = a.rule;
    opts.backlog = a.backlog;
    auto reader = api::LogReader::open(a.dev, opts);
    if (!reader) {
        std::cerr << "weir " << cmd << ": " << reader.error.message << "\n";
        return kExitUsage;
    }
    // Only `log` rules queue records. A policy without any logs nothing until a swap brings
    // some (the reader keeps reading across swaps): said, not refused. --rule naming a rule
    // that does not log would wait for nothing: refused. (Records from before `log` existed
    // carry no actions: nothing is said then.)
    if (auto c = api::Attachment(a.dev).counters(); c.ok()) {
        bool known = std::none_of(c->rules.begin(), c->rules.end(), [](const auto& r) { return r.action.empty(); });
        std::string logs;
        for (const auto& r : c->rules)
            if (r.action == "log") logs += (logs.empty() ? "" : ", ") + r.name;
        const std::string where = "policy '" + c->policy + "' on '" + a.dev + "'";
        bool rule_logs = std::any_of(c->rules.begin(), c->rules.end(),
                                     [&](const auto& r) { return r.name == a.rule && r.action == "log"; });
        if (known && !a.rule.empty() && !rule_logs) {
            std::cerr << "weir " << cmd << ": rule '" << a.rule << "' of " << where << " is not a log rule ("
                      << (logs.empty() ? "it has none" : "its log rules: " + logs) << ")\n";
            return kExitUsage;
        }
        if (known && logs.empty())
            std::cerr << "weir " << cmd << ": note: " << where
                      << " has no log rules: no records until a policy with `log` rules is swapped in\n";
    }
    if (ready && !ready()) return kExitUsage;
    struct sigaction sa{};
    sa.sa_handler = on_events_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::cerr << "weir " << cmd << ": reading the log ring of '" << a.dev << "'"
              << (a.rule.empty() ? "" : " (rule '" + a.rule + "')") << "\n"
              << std::flush;

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.timeout);
    std::uint64_t seen = 0;
    auto each = [&](const api::LogRecord& r) {
        if (!fn(r)) return false;
        ++seen;
        return a.count == 0 || seen < a.count;
    };
    while (!g_stop && (a.count == 0 || seen < a.count)) {
        int wait_ms = 200;
        if (a.timeout > 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            wait_ms = static_cast<int>(std::min<long long>(wait_ms, left.count()));
        }
        auto n = reader.value->poll(wait_ms, each);
        if (!n) {
            std::cerr << "weir " << cmd << ": " << n.error.message << "\n";
            return kExitUsage;
        }
    }
    if (a.count && seen < a.count && a.timeout > 0 && !g_stop) {
        std::cerr << "weir " << cmd << ": " << seen << " of " << a.count << " records after " << a.timeout << " s\n";
        return kExitFindings;
    }
    return kExitOk;
}

int cmd_events(const EventsArgs& a) {
    return follow_events("events", a, [&](const api::LogRecord& r) {
        std::cout << (a.json ? api::log_json(r) : api::log_summary(r)) << "\n" << std::flush;
        return true;
    });
}

}  // namespace weir::cli
