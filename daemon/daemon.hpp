// `weir daemon` (docs/cli.md, docs/deploy.md): keeps the configured policies enforcing on their
// interfaces, hot-swaps them when their files change, serves Prometheus metrics over HTTP.
// Built on the public embedding API (include/weir/weir.hpp) only.
//
// The stages, in the order a run goes through them:
//   read_config     the JSON config file -> Config (errors as data, every one reported)
//   reconcile       one binding: compile its file, compare with what is pinned (policy name and
//                   source hash), adopt it unchanged or attach / hot-swap it (verify-then-swap);
//                   a failure keeps the running policy and is reported as an event
//   Watcher         inotify on the folders of each file (the configured path and where its
//                   symlinks lead, re-resolved after every change: a Kubernetes ConfigMap update
//                   renames a new `..data` symlink into place), debounced
//   MetricsRegistry collectors rendered into the Prometheus text format on GET /metrics
//   EventLog        one JSON object per line on stdout (loaded, reloaded, reload_failed, ...)
//
// Extension points for the parts of issue 6 that come later: MetricsRegistry::add (rate limits,
// ring-buffer drops, alert states add their families there) and Daemon::add_tick_hook (called
// once a second from the main loop; alert evaluation is registered there, daemon_alerts.hpp).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "weir/weir.hpp"

namespace weir::daemon {

class AlertMonitor;  // daemon_alerts.hpp

// --- config ----------------------------------------------------------------------------------

// One interface and the policy file to enforce there.
struct Binding {
    std::string interface;
    std::string file;    // absolute and lexically normal, symlinks NOT resolved (they are
                         // re-resolved on every change)
    std::string policy;  // which `policy` block; empty: the file's only one
    api::Mode mode = api::Mode::Auto;
    std::vector<std::string> include_dirs;
    std::vector<std::string> allowed_dirs;  // the config's "allowed_dirs" (empty: anywhere)
};

struct Config {
    std::vector<Binding> bindings;
    std::string listen = "127.0.0.1:9464";  // "off": no HTTP server
    std::chrono::milliseconds debounce{250};
};

struct ConfigResult {
    Config config;
    std::vector<std::string> errors;  // "FILE: message", one per problem
    bool ok() const { return errors.empty(); }
};

// The JSON config (format in docs/cli.md). Relative policy paths are relative to the config
// file's folder.
ConfigResult parse_config(const std::string& path, const std::string& text);
// The config must be a regular file (a FIFO or directory is an error, never a wait) of at most
// kMaxConfigBytes.
inline constexpr std::uint64_t kMaxConfigBytes = 1u << 20;
ConfigResult read_config(const std::string& path);

// "HOST:PORT" or "[V6]:PORT" (port 0: any free port).
bool parse_listen(const std::string& text, std::string& host, int& port, std::string& error);

// --- metrics ---------------------------------------------------------------------------------

using Labels = std::vector<std::pair<std::string, std::string>>;

// Prometheus text exposition format 0.0.4: a family header (HELP, TYPE), then its samples.
class MetricsWriter {
public:
    // type: "counter" or "gauge"
    void family(const std::string& name, const char* type, const std::string& help);
    void sample(const std::string& name, const Labels& labels, double value);
    void sample(const std::string& name, const Labels& labels, std::uint64_t value);
    const std::string& text() const { return out_; }

private:
    void labels(const Labels& l);
    std::string out_;
};

// Collectors render their families in registration order. Thread-safe: collectors run on the
// HTTP server's threads, so they must only read state they lock themselves.
class MetricsRegistry {
public:
    using Collector = std::function<void(MetricsWriter&)>;
    void add(std::string name, Collector c);
    std::string render() const;

private:
    mutable std::mutex mu_;
    std::vector<std::pair<std::string, Collector>> collectors_;
};

// The families of the enforced policies (counters and status through the API), for `ifnames`.
void collect_policy_metrics(MetricsWriter& w, const std::vector<std::string>& ifnames);

// --- events ----------------------------------------------------------------------------------

// One JSON object per line ("event", "time" and the event's fields), flushed at once.
class EventLog {
public:
    explicit EventLog(std::ostream& out) : out_(out) {}
    void emit(const std::string& event, nlohmann::ordered_json fields = nlohmann::ordered_json::object());

private:
    std::mutex mu_;
    std::ostream& out_;
};

// --- the daemon ------------------------------------------------------------------------------

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
    // Called once a second from the main loop (alerts will be evaluated here).
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
    struct Retry {
        unsigned attempts = 0;  // retries scheduled since the last success or policy failure
        bool due_set = false;
        std::chrono::steady_clock::time_point due{};
    };

    int serve_and_watch();
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
};

}  // namespace weir::daemon
