// `weir daemon`: the reconcile step and the main loop (daemon.hpp).
#include "daemon.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>

#include "daemon_alerts.hpp"
#include "daemon_shadow.hpp"
#include "http_server.hpp"
#include "program_cost.hpp"
#include "watch.hpp"
#include "weir/daemon.hpp"

namespace weir::daemon {

namespace {

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }


double ms(std::chrono::nanoseconds d) { return std::round(double(d.count()) / 1e4) / 100.0; }

std::vector<std::string> interfaces(const Config& c) {
    std::vector<std::string> out;
    for (const Binding& b : c.bindings) out.push_back(b.interface);
    return out;
}

// The `policy` block of the file a binding enforces: the configured one, or the file's only one.
// Empty: `error` says why not.
std::string choose_policy(const Binding& b, const api::Policy& p, std::string& error) {
    api::Result<std::string> chosen = p.select(b.policy, "\"policy\"");
    if (!chosen) error = chosen.error.message;
    return chosen.value;
}

}  // namespace

std::chrono::seconds retry_delay(unsigned attempt) {
    std::chrono::seconds d = kRetryFirst;
    for (unsigned k = 1; k < attempt && d < kRetryMax; ++k) d *= 2;
    return std::min(d, kRetryMax);
}

Daemon::Daemon(Config config, DaemonOptions options, std::ostream& events)
    : config_(std::move(config)), options_(options), events_(events), stats_(config_.bindings.size()),
      retry_(config_.bindings.size()) {
    started_ = now_unix();
    metrics_.add("daemon", [this](MetricsWriter& w) { collect_daemon_metrics(w); });
    metrics_.add("policies", [this](MetricsWriter& w) { collect_policy_metrics(w, interfaces(config_)); });
    alerts_ = std::make_unique<AlertMonitor>(events_, interfaces(config_));
    cost_ = std::make_unique<ProgramCost>(config_.program_statistics);
    if (!cost_->error().empty()) events_.emit("statistics_off", {{"message", cost_->error()}});
    // One reading of every interface a tick, for the alerts and the programs' cost alike.
    add_tick_hook([this] {
        std::map<std::string, api::Counters> readings;
        for (const auto& i : interfaces(config_))
            if (auto c = api::Attachment(i).counters(); c.ok()) readings.emplace(i, std::move(*c));
        alerts_->tick(readings);
        cost_->tick(readings);
    });
    // A swap loaded with --confirm-within that nobody confirmed rolls back here too, should its
    // watcher be gone: status recovers (docs/operations.md "Confirmed swaps").
    add_tick_hook([this] {
        for (const auto& i : interfaces(config_))
            if (auto st = api::Attachment(i).status()) report_rollbacks(i, st->notes);
    });
    metrics_.add("alerts", [this](MetricsWriter& w) { alerts_->collect(w); });
    shadows_ = std::make_unique<ShadowRollouts>(events_);
    shadows_->on_promote = [this](std::size_t i, const api::Policy& p, const std::string& name) {
        alerts_->set_policy(i, p, name);
        succeeded(i, /*reloaded=*/true, false);
    };
    add_tick_hook([this] { shadows_->tick(config_); });
    metrics_.add("shadow", [this](MetricsWriter& w) { shadows_->collect(w); });
    metrics_.add("program_cost", [this](MetricsWriter& w) { cost_->collect(w); });
}

Daemon::~Daemon() = default;

void Daemon::collect_daemon_metrics(MetricsWriter& w) const {
    std::vector<BindingStats> st;
    {
        std::lock_guard lock(mu_);
        st = stats_;
    }
    // One sample per binding of the value `get` reads from its stats.
    auto per_binding = [&](const char* name, auto get) {
        for (std::size_t i = 0; i < st.size(); ++i) w.sample(name, {{"interface", config_.bindings[i].interface}}, get(st[i]));
    };
    w.family("weir_up", "gauge", "1 while the weir daemon serves metrics.");
    w.sample("weir_up", {}, std::uint64_t{1});
    w.family("weir_daemon_start_time_seconds", "gauge", "Unix time the daemon started.");
    w.sample("weir_daemon_start_time_seconds", {}, double(started_));
    w.family("weir_daemon_reloads_total", "counter", "Loads and hot swaps the daemon made (start, file change, SIGHUP).");
    per_binding("weir_daemon_reloads_total", [](const BindingStats& s) { return s.reloads; });
    w.family("weir_daemon_reload_failures_total", "counter", "Loads and hot swaps that failed; the running policy was kept.");
    per_binding("weir_daemon_reload_failures_total", [](const BindingStats& s) { return s.failures; });
    w.family("weir_daemon_last_reload_timestamp_seconds", "gauge",
             "Unix time of the last successful load, hot swap or adoption (0: none yet).");
    per_binding("weir_daemon_last_reload_timestamp_seconds", [](const BindingStats& s) { return double(s.last_reload); });
    w.family("weir_daemon_last_reload_success", "gauge", "1 when the last attempt on the interface succeeded.");
    per_binding("weir_daemon_last_reload_success", [](const BindingStats& s) { return std::uint64_t{s.last_ok}; });
    w.family("weir_daemon_retries_total", "counter",
             "Attempts the daemon made on its own after an environment failure (backoff 1 s doubling to 60 s).");
    per_binding("weir_daemon_retries_total", [](const BindingStats& s) { return s.retries; });
    w.family("weir_daemon_retry_backoff_seconds", "gauge",
             "The wait before the retry now scheduled after an environment failure (0: none scheduled).");
    per_binding("weir_daemon_retry_backoff_seconds", [](const BindingStats& s) { return s.retry_in_s; });
}

std::optional<std::chrono::seconds> Daemon::schedule_retry(std::size_t i, bool environment) {
    Retry& r = retry_[i];
    std::optional<std::chrono::seconds> delay;
    if (environment && !options_.once) {
        delay = retry_delay(++r.attempts);
        r.due_set = true;
        r.due = Clock::now() + *delay;
    } else {
        r = Retry{};
    }
    std::lock_guard lock(mu_);
    stats_[i].retry_in_s = delay ? double(delay->count()) : 0;
    return delay;
}

api::Error Daemon::failed(std::size_t i, const nlohmann::ordered_json& base, const api::Result<api::Status>& st,
                          api::Error e, const std::string& diagnostics) {
    auto delay = schedule_retry(i, e.kind == api::ErrorKind::Environment);
    const bool pinned = st.ok() && !st->policy.empty();
    nlohmann::ordered_json f = base;
    f["step"] = e.step;
    f["kind"] = api::error_kind_name(e.kind);
    f["message"] = e.message;
    if (!diagnostics.empty()) f["diagnostics"] = diagnostics;
    f["running"] = pinned ? nlohmann::ordered_json(st->policy) : nlohmann::ordered_json(nullptr);
    // Seconds until the daemon tries again by itself; null: it waits for a change or SIGHUP.
    f["retry_in_s"] = delay ? nlohmann::ordered_json(delay->count()) : nlohmann::ordered_json(nullptr);
    events_.emit("reload_failed", f);
    std::lock_guard lock(mu_);
    stats_[i].failures++;
    stats_[i].last_ok = false;
    return e;
}

void Daemon::succeeded(std::size_t i, bool reloaded, bool start) {
    schedule_retry(i, false);
    std::lock_guard lock(mu_);
    stats_[i].last_ok = true;
    if (reloaded) stats_[i].reloads++;
    if (reloaded || start || stats_[i].last_reload == 0) stats_[i].last_reload = now_unix();
}

// Any recovery (status, a load of ours) may be the one that rolls an unconfirmed swap back.
void Daemon::report_rollbacks(const std::string& ifname, const std::vector<std::string>& notes) {
    for (const auto& n : notes)
        if (n.find("was not confirmed") != std::string::npos)
            events_.emit("rolled_back", {{"interface", ifname}, {"note", n}});
}

api::Error Daemon::reconcile(std::size_t i, const std::string& reason) {
    const Binding& b = config_.bindings[i];
    nlohmann::ordered_json base = {{"interface", b.interface}, {"file", b.file}, {"reason", reason}};
    if (reason == "retry") base["attempt"] = retry_[i].attempts;
    api::Result<api::Status> st = api::Attachment(b.interface).status();
    if (st) report_rollbacks(b.interface, st->notes);
    const bool pinned = st.ok() && !st->policy.empty();
    const std::string kept = pinned ? "the running policy '" + st->policy + "' is kept" : "nothing is attached";

    // compile
    api::CompileOptions copts;
    copts.include_dirs = b.include_dirs;
    copts.allowed_dirs = b.allowed_dirs;
    api::Policy p = api::Policy::from_file(b.file, copts);
    if (p.io_error())
        return failed(i, base, st, {api::ErrorKind::Environment, "compile", "cannot read '" + b.file + "': " + kept}, "");
    if (!p.ok())
        return failed(i, base, st, {api::ErrorKind::Policy, "compile", "the policy does not compile: " + kept},
                      p.diagnostics_text());
    std::string why;
    const std::string name = choose_policy(b, p, why);
    if (name.empty()) return failed(i, base, st, {api::ErrorKind::Policy, "compile", why + ": " + kept}, "");

    // compare with the pinned state: the same policy and source hash is adopted as it runs
    const std::string hash = p.source_hash();
    if (pinned && st->enforcing && st->policy == name && st->source_hash == hash &&
        (b.mode == api::Mode::Auto || st->mode == api::mode_name(b.mode))) {
        succeeded(i, /*reloaded=*/false, reason == "start");
        nlohmann::ordered_json f = base;
        f["policy"] = name;
        f["prog_id"] = st->prog_id;
        f["source_hash"] = hash;
        if (reason == "start") events_.emit("adopted", f);
        else if (reason == "sighup") events_.emit("unchanged", f);
        alerts_->set_policy(i, p, name);
        shadows_->set_running(i, p, name);
        return {};
    }

    // a change rolled out through shadow mode first: promoted (or not) by a later tick
    if (b.shadow_seconds > 0 && pinned && st->enforcing && !options_.once && shadows_->has_running(i)) {
        // A change event that left the candidate as it is (another file of the folder): its
        // rollout goes on, with its counts.
        if (shadows_->rolling_out(i, name, hash)) return {};
        if (api::Error e = shadows_->start(i, b, p, name, base)) return failed(i, base, st, e, "");
        succeeded(i, /*reloaded=*/false, reason == "start");
        return {};
    }

    // load or hot swap (verify, self-test, then swap; any failure keeps the running policy)
    api::AttachOptions ao;
    ao.mode = b.mode;
    ao.policy = name;
    api::LoadReport r = api::attach(b.interface, p, ao);
    report_rollbacks(b.interface, r.notes);
    if (!r.ok()) return failed(i, base, st, r.error, r.diagnostics_text);
    nlohmann::ordered_json f = base;
    f["policy"] = r.policy;
    if (r.hot_swap) f["replaced"] = r.replaced;
    f["prog_id"] = r.prog_id;
    f["mode"] = r.mode;
    f["source_hash"] = hash;
    f["probes"] = r.probes;
    f["total_ms"] = ms(r.total_time());
    if (r.hot_swap) f["swap_ms"] = ms(r.swap_time());
    if (!r.notes.empty()) f["notes"] = r.notes;
    succeeded(i, /*reloaded=*/true, reason == "start");
    events_.emit(r.hot_swap ? "reloaded" : "loaded", f);
    alerts_->set_policy(i, p, name);
    shadows_->set_running(i, p, name);
    return {};
}

int Daemon::run() {
    if (options_.once) {
        int rc = 0;
        for (std::size_t i = 0; i < config_.bindings.size(); ++i) {
            api::Error e = reconcile(i, "start");
            if (e) rc = std::max(rc, e.kind == api::ErrorKind::Policy ? 1 : 2);
        }
        return rc;
    }
    return serve_and_watch();
}

std::unique_ptr<http::Server> Daemon::start_http() {
    std::string host, err;
    int port = 0;
    if (!parse_listen(config_.listen, host, port, err)) {
        events_.emit("fatal", {{"message", "listen: " + err}});
        return nullptr;
    }
    std::unique_ptr<http::Server> server = http::Server::bind(host, port, http::Limits{}, err);
    if (!server) {
        events_.emit("fatal", {{"message", "cannot listen on " + config_.listen + ": " + err}});
        return nullptr;
    }
    server->get("/metrics", [this] {
        return http::Response{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render()};
    });
    // Inline: answered on the server thread even while a scrape waits for the maps.
    server->get(
        "/healthz",
        [this] {
            auto now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
            bool alive = now - heartbeat_.load() <= 5;
            return http::Response{alive ? 200 : 503, "text/plain", alive ? "ok\n" : "main loop stalled\n"};
        },
        /*inline_handler=*/true);
    server->start();
    events_.emit("listening", {{"address", host}, {"port", server->port()}});
    return server;
}

Daemon::Clock::time_point Daemon::run_due(Watcher& watcher, Pending& pending, Clock::time_point next_tick) {
    const auto debounce = config_.debounce;
    const auto max_wait = std::max<Clock::duration>(std::chrono::seconds(1), 4 * debounce);
    const auto now = Clock::now();
    // Due retries of environment failures (a pending change reconciles anyway: it waits).
    for (std::size_t i = 0; i < retry_.size(); ++i) {
        if (!retry_[i].due_set || now < retry_[i].due || pending.count(i)) continue;
        retry_[i].due_set = false;
        {
            std::lock_guard lock(mu_);
            stats_[i].retries++;
        }
        watcher.arm();
        reconcile(i, "retry");
    }
    // Due reloads: quiet for `debounce`, or waiting for max_wait already.
    for (auto it = pending.begin(); it != pending.end();) {
        auto [first, last] = it->second;
        if (now - last >= debounce || now - first >= max_wait) {
            watcher.arm();  // the change may have moved symlinks: re-resolve
            reconcile(it->first, "change");
            it = pending.erase(it);
        } else {
            ++it;
        }
    }
    auto deadline = next_tick;
    for (const auto& [i, t] : pending) deadline = std::min({deadline, t.second + debounce, t.first + max_wait});
    for (std::size_t i = 0; i < retry_.size(); ++i)
        if (retry_[i].due_set && !pending.count(i)) deadline = std::min(deadline, retry_[i].due);
    return deadline;
}

bool Daemon::handle_signals(int sfd, Watcher& watcher, Pending& pending) {
    bool running = true;
    signalfd_siginfo si{};
    while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            events_.emit("sighup", {});
            pending.clear();
            watcher.arm();
            for (std::size_t i = 0; i < config_.bindings.size(); ++i) reconcile(i, "sighup");
        } else {
            events_.emit("stopping", {{"signal", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
            running = false;
        }
    }
    return running;
}

int Daemon::serve_and_watch() {
    // Signals go to the signalfd of the main loop only: blocked before any thread starts.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    int sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd < 0) {
        events_.emit("fatal", {{"message", std::string("signalfd: ") + std::strerror(errno)}});
        return 2;
    }
    // HTTP first: a port that cannot be bound is fatal before anything changes.
    std::unique_ptr<http::Server> http_server;
    if (config_.listen != "off" && !(http_server = start_http())) {
        close(sfd);
        return 2;
    }

    std::vector<std::string> files;
    for (const Binding& b : config_.bindings) files.push_back(b.file);
    Watcher watcher(std::move(files));
    watcher.arm();  // before the first reconcile: a change while it runs is not missed
    for (std::size_t i = 0; i < config_.bindings.size(); ++i) reconcile(i, "start");

    Pending pending;
    auto next_tick = Clock::now();
    for (bool running = true; running;) {
        auto now = Clock::now();
        heartbeat_ = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        if (now >= next_tick) {
            watcher.arm();
            for (auto& hook : tick_hooks_) hook();
            next_tick = now + kTickInterval;
        }
        const auto deadline = run_due(watcher, pending, next_tick);
        int timeout = static_cast<int>(
            std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count()));
        pollfd fds[2] = {{watcher.fd(), POLLIN, 0}, {sfd, POLLIN, 0}};
        int n = poll(fds, 2, timeout);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (fds[0].revents & POLLIN) {
            auto t = Clock::now();
            for (std::size_t i : watcher.read_changes()) {
                auto [it, fresh] = pending.try_emplace(i, t, t);
                if (!fresh) it->second.second = t;
            }
        }
        if (fds[1].revents & POLLIN) running = handle_signals(sfd, watcher, pending);
    }

    if (http_server) http_server->stop();
    close(sfd);
    stop_and_leave();
    return 0;
}

void Daemon::stop_and_leave() {
    if (!options_.detach_on_exit) {
        events_.emit("stopped", {{"pinned", interfaces(config_)}});
        return;
    }
    for (const Binding& b : config_.bindings) {
        std::string removed;
        api::Error e = api::Attachment(b.interface).unload(&removed);
        if (e) events_.emit("detach_failed", {{"interface", b.interface}, {"message", e.message}});
        else events_.emit("detached", {{"interface", b.interface}, {"policy", removed}});
    }
    events_.emit("stopped", {{"pinned", nlohmann::ordered_json::array()}});
}

// --- the public entry (include/weir/daemon.hpp) -----------------------------------------------

int run(const RunOptions& o, std::ostream& events, std::vector<std::string>& config_errors) {
    ConfigResult cfg = read_config(o.config);
    if (!o.listen.empty()) {
        std::string host, err;
        int port = 0;
        if (o.listen != "off" && !parse_listen(o.listen, host, port, err)) cfg.errors.push_back("--listen: " + err);
        cfg.config.listen = o.listen;
    }
    if (!cfg.ok()) {
        config_errors = std::move(cfg.errors);
        return 2;
    }
    DaemonOptions d;
    d.once = o.once;
    d.detach_on_exit = o.detach_on_exit;
    return Daemon(std::move(cfg.config), d, events).run();
}

}  // namespace weir::daemon
