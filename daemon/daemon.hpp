// `weir daemon` (docs/cli.md, docs/deploy.md): keeps the configured policies enforcing on their
// interfaces, hot-swaps them when their files change, serves Prometheus metrics over HTTP.
// Built on the public embedding API (include/weir/weir.hpp) only.
//
// The stages, in the order a run goes through them:
//   read_config     the JSON config file -> Config (errors as data, every one reported; config.hpp)
//   reconcile       one binding: compile its file, compare with what is pinned (policy name and
//                   source hash), adopt it unchanged or attach / hot-swap it (verify-then-swap);
//                   a failure keeps the running policy and is reported as an event
//   Watcher         inotify on the folders of each file, re-resolved after every change, debounced
//                   (watch.hpp)
//   MetricsRegistry collectors rendered into the Prometheus text format on GET /metrics (metrics.hpp)
//   EventLog        one JSON object per line on stdout (loaded, reloaded, reload_failed, ...;
//                   event_log.hpp)
//
// Extension points: MetricsRegistry::add (a new metric family) and Daemon::add_tick_hook (called
// once a second from the main loop; alert evaluation is registered there, daemon_alerts.hpp).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "event_log.hpp"
#include "metrics.hpp"
#include "weir/weir.hpp"

namespace weir::http {
class Server;  // http_server.hpp
}

namespace weir::daemon {

class AlertMonitor;  // daemon_alerts.hpp
class ShadowRollouts;  // daemon_shadow.hpp
class ProgramCost;     // program_cost.hpp
class Watcher;       // watch.hpp

struct DaemonOptions {
    bool once = false;            // reconcile every binding, then exit (no HTTP, no watching)
    bool detach_on_exit = false;  // unload the bindings' policies on SIGTERM / SIGINT
};

// What the daemon itself did on one binding (weir_daemon_* metrics).
struct BindingStats {
    std::uint64_t reloads = 0, failures = 0;  // loads / hot swaps done, attempts that failed
    std::uint64_t retries = 0;                // attempts made by the retry timer
    std::int64_t last_reload = 0;             // unix time: last load, swap or adoption
    bool last_ok = false;                     // the last attempt (start, change, SIGHUP, retry) succeeded
    double retry_in_s = 0;                    // the backoff of the retry now scheduled (0: none)
};

// How often the main loop runs its tick hooks (alert evaluation; lint.hpp's kAlertEvaluationMs
// says the same to `weir check`).
inline constexpr std::chrono::seconds kTickInterval{1};

// Retries of a binding whose last attempt failed for an environment reason (api::ErrorKind::
// Environment: the interface does not exist yet, bpffs, permissions...): the first after
// kRetryFirst, each next one after twice the previous, at most kRetryMax apart, until an attempt
// succeeds or fails for a policy reason (those wait for a file change or SIGHUP). A file change
// or SIGHUP in between is an attempt too: its outcome decides the next step.
inline constexpr std::chrono::seconds kRetryFirst{1};
inline constexpr std::chrono::seconds kRetryMax{60};
// The wait before retry number `attempt` (1, 2, ...): 1 s, 2 s, 4 s, ... 32 s, 60 s, 60 s, ...
std::chrono::seconds retry_delay(unsigned attempt);

class Daemon {
public:
    Daemon(Config config, DaemonOptions options, std::ostream& events);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    MetricsRegistry& metrics() { return metrics_; }
    // Called once a second from the main loop (alerts are evaluated here).
    void add_tick_hook(std::function<void()> hook) { tick_hooks_.push_back(std::move(hook)); }

    // Runs until SIGTERM / SIGINT (or once). Exit code: 0; with --once 1 if a policy failed,
    // 2 for an environment problem; 2 if the HTTP server cannot listen.
    int run();

    // One binding: compile, compare with the pinned state, adopt or load. `reason`: "start",
    // "change", "sighup", "retry". Returns the failure (kind None: success or unchanged). An
    // environment failure schedules a retry (kRetryFirst ... kRetryMax, not with `once`); a
    // success or a policy failure cancels the one scheduled.
    api::Error reconcile(std::size_t i, const std::string& reason);

private:
    using Clock = std::chrono::steady_clock;
    struct Retry {
        unsigned attempts = 0;  // retries scheduled since the last success or policy failure
        bool due_set = false;
        Clock::time_point due{};
    };
    // Bindings whose files changed and are not reconciled yet: first and last event.
    using Pending = std::map<std::size_t, std::pair<Clock::time_point, Clock::time_point>>;

    void collect_daemon_metrics(MetricsWriter& w) const;
    // An environment failure schedules the next retry (returned); anything else cancels it.
    std::optional<std::chrono::seconds> schedule_retry(std::size_t i, bool environment);
    // Reports a failed attempt (event reload_failed, counters) and returns `e`.
    api::Error failed(std::size_t i, const nlohmann::ordered_json& base, const api::Result<api::Status>& st,
                      api::Error e, const std::string& diagnostics);
    void succeeded(std::size_t i, bool reloaded, bool start);
    void report_rollbacks(const std::string& ifname, const std::vector<std::string>& notes);

    int serve_and_watch();
    std::unique_ptr<http::Server> start_http();  // null: a fatal event was emitted
    // Due retries and debounced changes; returns when the main loop must wake up next.
    Clock::time_point run_due(Watcher& watcher, Pending& pending, Clock::time_point next_tick);
    // SIGHUP reconciles everything; false: SIGTERM / SIGINT.
    bool handle_signals(int sfd, Watcher& watcher, Pending& pending);
    void stop_and_leave();

    Config config_;
    DaemonOptions options_;
    EventLog events_;
    MetricsRegistry metrics_;
    std::vector<std::function<void()>> tick_hooks_;
    mutable std::mutex mu_;  // stats_
    std::vector<BindingStats> stats_;
    std::vector<Retry> retry_;  // per binding; main loop only
    std::int64_t started_ = 0;
    std::atomic<std::int64_t> heartbeat_{0};  // steady seconds of the last main-loop round
    std::unique_ptr<AlertMonitor> alerts_;    // the policies' alerts, evaluated every tick
    std::unique_ptr<ShadowRollouts> shadows_; // bindings with shadow_seconds (daemon_shadow.hpp)
    std::unique_ptr<ProgramCost> cost_;       // run-time statistics held on, read every tick
};

}  // namespace weir::daemon
