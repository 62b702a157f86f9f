// `weir daemon`: config, reconcile, file watching, metrics, events (daemon.hpp).
#include "daemon.hpp"

#include "daemon_alerts.hpp"
#include "http_server.hpp"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace weir::daemon {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::string iso_now() {
    std::timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm{};
    gmtime_r(&ts.tv_sec, &tm);
    char buf[40];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return buf;
}

const char* mode_text(api::Mode m) {
    switch (m) {
        case api::Mode::Auto: return "auto";
        case api::Mode::Native: return "native";
        case api::Mode::Generic: return "generic";
    }
    return "auto";
}

const char* kind_text(api::ErrorKind k) {
    switch (k) {
        case api::ErrorKind::None: return "none";
        case api::ErrorKind::Policy: return "policy";
        case api::ErrorKind::Environment: return "environment";
    }
    return "environment";
}

double ms(std::chrono::nanoseconds d) { return std::round(double(d.count()) / 1e4) / 100.0; }

}  // namespace

// --- config ----------------------------------------------------------------------------------

ConfigResult parse_config(const std::string& path, const std::string& text) {
    ConfigResult r;
    auto err = [&](const std::string& m) { r.errors.push_back(path + ": " + m); };
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text, nullptr, true, /*ignore_comments=*/true);
    } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e500
        err(std::string("not valid JSON: ") + e.what());
        return r;
    }
    if (!j.is_object()) {
        err("the config must be a JSON object");
        return r;
    }
    const fs::path base = fs::absolute(fs::path(path)).parent_path();
    auto strings = [&](const nlohmann::json& v, const std::string& where, std::vector<std::string>& out) {
        if (!v.is_array()) return err("\"" + where + "\" must be an array of strings");
        for (const auto& s : v)
            if (s.is_string()) out.push_back((base / s.get<std::string>()).lexically_normal().string());
            else err("\"" + where + "\" must be an array of strings");
    };
    std::vector<std::string> common_includes;
    std::vector<std::string> allowed;
    for (const auto& [key, v] : j.items()) {
        if (key == "listen") {
            if (!v.is_string()) err("\"listen\" must be a string such as \"127.0.0.1:9464\" or \"off\"");
            else r.config.listen = v.get<std::string>();
        } else if (key == "debounce_ms") {
            if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 60000)
                err("\"debounce_ms\" must be a whole number of milliseconds, 0 to 60000");
            else r.config.debounce = std::chrono::milliseconds(v.get<std::uint64_t>());
        } else if (key == "include_dirs") {
            strings(v, key, common_includes);
        } else if (key == "allowed_dirs") {
            strings(v, key, allowed);
        } else if (key != "interfaces") {
            err("unknown key \"" + key + "\" (known: listen, debounce_ms, include_dirs, allowed_dirs, interfaces)");
        }
    }
    if (r.config.listen != "off") {
        std::string host, e;
        int port = 0;
        if (!parse_listen(r.config.listen, host, port, e)) err("\"listen\": " + e);
    }
    auto it = j.find("interfaces");
    if (it == j.end() || !it->is_array() || it->empty()) {
        err("\"interfaces\" must be a non-empty array of {\"interface\", \"file\"[, \"policy\", \"mode\"]}");
        return r;
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const nlohmann::json& e = (*it)[i];
        const std::string at = "interfaces[" + std::to_string(i) + "]";
        if (!e.is_object()) {
            err(at + " must be an object");
            continue;
        }
        Binding b;
        b.include_dirs = common_includes;
        b.allowed_dirs = allowed;
        bool good = true;
        for (const auto& [key, v] : e.items()) {
            if (key == "include_dirs") {
                strings(v, at + ".include_dirs", b.include_dirs);
                continue;
            }
            if (!v.is_string()) {
                err(at + "." + key + " must be a string");
                good = false;
                continue;
            }
            std::string s = v.get<std::string>();
            if (key == "interface") b.interface = s;
            else if (key == "file") b.file = s.empty() ? s : (base / s).lexically_normal().string();
            else if (key == "policy") b.policy = s;
            else if (key == "mode") {
                if (s == "auto") b.mode = api::Mode::Auto;
                else if (s == "native") b.mode = api::Mode::Native;
                else if (s == "generic") b.mode = api::Mode::Generic;
                else {
                    err(at + ".mode must be auto, native or generic, not \"" + s + "\"");
                    good = false;
                }
            } else {
                err(at + ": unknown key \"" + key + "\" (known: interface, file, policy, mode, include_dirs)");
                good = false;
            }
        }
        if (b.interface.empty() || b.interface.size() >= 16) {
            err(at + ".interface must be an interface name (1 to 15 characters)");
            good = false;
        }
        if (b.file.empty()) {
            err(at + ".file must name a policy file");
            good = false;
        }
        if (good && !allowed.empty() &&
            std::none_of(allowed.begin(), allowed.end(), [&](const std::string& d) {
                auto rel = fs::path(b.file).lexically_relative(d);
                return !rel.empty() && *rel.begin() != "..";
            })) {
            err(at + ".file '" + b.file + "' is outside \"allowed_dirs\"");
            good = false;
        }
        if (good && !seen.insert(b.interface).second) {
            err(at + ": interface '" + b.interface + "' is configured twice");
            good = false;
        }
        if (good) r.config.bindings.push_back(std::move(b));
    }
    return r;
}

ConfigResult read_config(const std::string& path) {
    api::Result<std::string> text = api::read_input_file(path, kMaxConfigBytes);
    if (!text) {
        ConfigResult r;
        r.errors.push_back(text.error.message);
        return r;
    }
    return parse_config(path, text.value);
}

bool parse_listen(const std::string& text, std::string& host, int& port, std::string& error) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
        error = "expected HOST:PORT, e.g. 127.0.0.1:9464, not '" + text + "'";
        return false;
    }
    host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string p = text.substr(colon + 1);
    if (p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5 || std::stoi(p) > 65535) {
        error = "bad port '" + p + "' in '" + text + "'";
        return false;
    }
    port = std::stoi(p);
    return true;
}

// --- metrics ---------------------------------------------------------------------------------

void MetricsWriter::family(const std::string& name, const char* type, const std::string& help) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void MetricsWriter::labels(const Labels& l) {
    if (l.empty()) return;
    out_ += '{';
    for (std::size_t i = 0; i < l.size(); ++i) {
        if (i) out_ += ',';
        out_ += l[i].first + "=\"";
        for (char c : l[i].second) {
            if (c == '\\') out_ += "\\\\";
            else if (c == '"') out_ += "\\\"";
            else if (c == '\n') out_ += "\\n";
            else out_ += c;
        }
        out_ += '"';
    }
    out_ += '}';
}

void MetricsWriter::sample(const std::string& name, const Labels& l, double value) {
    out_ += name;
    labels(l);
    char buf[64];
    std::snprintf(buf, sizeof buf, " %.17g\n", value);
    out_ += buf;
}

void MetricsWriter::sample(const std::string& name, const Labels& l, std::uint64_t value) {
    out_ += name;
    labels(l);
    out_ += ' ' + std::to_string(value) + '\n';
}

void MetricsRegistry::add(std::string name, Collector c) {
    std::lock_guard lock(mu_);
    collectors_.emplace_back(std::move(name), std::move(c));
}

std::string MetricsRegistry::render() const {
    std::vector<Collector> cs;
    {
        std::lock_guard lock(mu_);
        for (const auto& [name, c] : collectors_) cs.push_back(c);
    }
    MetricsWriter w;
    for (const auto& c : cs) c(w);
    return w.text();
}

void collect_policy_metrics(MetricsWriter& w, const std::vector<std::string>& ifnames) {
    std::vector<api::Status> statuses;
    std::vector<api::Counters> counters;
    for (const std::string& ifn : ifnames) {
        api::Attachment a(ifn);
        if (auto st = a.status(); st.ok()) statuses.push_back(*st);
        if (auto c = a.counters(); c.ok()) counters.push_back(*c);
    }
    w.family("weir_policy_info", "gauge",
             "The policy enforced on an interface (value 1): name, source hash, attach mode, program id.");
    for (const auto& s : statuses)
        w.sample("weir_policy_info",
                 {{"interface", s.ifname}, {"policy", s.policy}, {"source_hash", s.source_hash},
                  {"mode", s.mode}, {"prog_id", std::to_string(s.prog_id)}},
                 std::uint64_t{1});
    w.family("weir_policy_enforcing", "gauge", "1 when the pinned link runs the recorded program.");
    for (const auto& s : statuses) w.sample("weir_policy_enforcing", {{"interface", s.ifname}}, std::uint64_t{s.enforcing});
    w.family("weir_policy_swaps_total", "counter", "Hot swaps recorded in the pinned state (any client).");
    for (const auto& s : statuses) w.sample("weir_policy_swaps_total", {{"interface", s.ifname}}, std::uint64_t{s.swaps});
    w.family("weir_policy_loaded_timestamp_seconds", "gauge", "Unix time the running program was loaded.");
    for (const auto& s : statuses)
        w.sample("weir_policy_loaded_timestamp_seconds", {{"interface", s.ifname}}, double(s.loaded_at));
    w.family("weir_set_elements", "gauge", "Elements of a named set, as `weir set list` shows them.");
    for (const auto& s : statuses)
        for (const auto& set : s.sets) {
            if (set.type.empty()) continue;  // inline sets are part of their rule
            api::SetEdit list = api::Attachment(s.ifname).edit_set(api::SetOp::List, set.name);
            if (list.ok())
                w.sample("weir_set_elements", {{"interface", s.ifname}, {"set", set.name}},
                         std::uint64_t{list.elements.size()});
        }
    w.family("weir_set_live_edits", "gauge", "Live set-edit batches since the set table was filled.");
    for (const auto& s : statuses)
        for (const auto& t : s.tables)
            w.sample("weir_set_live_edits", {{"interface", s.ifname}, {"set", t.name}, {"kind", t.kind}},
                     std::uint64_t{t.live_edits});

    w.family("weir_rule_packets_total", "counter", "Packets a rule matched.");
    for (const auto& c : counters)
        for (const auto& r : c.rules)
            w.sample("weir_rule_packets_total",
                     {{"interface", c.ifname}, {"policy", c.policy}, {"rule", r.name}, {"action", r.action}},
                     r.counter.packets);
    w.family("weir_rule_bytes_total", "counter", "Bytes of the packets a rule matched.");
    for (const auto& c : counters)
        for (const auto& r : c.rules)
            w.sample("weir_rule_bytes_total",
                     {{"interface", c.ifname}, {"policy", c.policy}, {"rule", r.name}, {"action", r.action}},
                     r.counter.bytes);
    w.family("weir_default_packets_total", "counter", "Packets no rule decided (the policy default).");
    for (const auto& c : counters)
        w.sample("weir_default_packets_total",
                 {{"interface", c.ifname}, {"policy", c.policy}, {"verdict", c.default_verdict}},
                 c.default_decisions.packets);
    w.family("weir_default_bytes_total", "counter", "Bytes no rule decided (the policy default).");
    for (const auto& c : counters)
        w.sample("weir_default_bytes_total",
                 {{"interface", c.ifname}, {"policy", c.policy}, {"verdict", c.default_verdict}},
                 c.default_decisions.bytes);
    w.family("weir_verdict_packets_total", "counter", "Packets per final XDP verdict.");
    for (const auto& c : counters)
        for (const auto& [v, n] : c.verdicts)
            w.sample("weir_verdict_packets_total", {{"interface", c.ifname}, {"verdict", v}}, n.packets);
    w.family("weir_verdict_bytes_total", "counter", "Bytes per final XDP verdict.");
    for (const auto& c : counters)
        for (const auto& [v, n] : c.verdicts)
            w.sample("weir_verdict_bytes_total", {{"interface", c.ifname}, {"verdict", v}}, n.bytes);
    w.family("weir_malformed_packets_total", "counter", "Packets the parser rejected as malformed.");
    for (const auto& c : counters) w.sample("weir_malformed_packets_total", {{"interface", c.ifname}}, c.malformed.packets);
    w.family("weir_error_packets_total", "counter", "Packets that hit an internal error path.");
    for (const auto& c : counters) w.sample("weir_error_packets_total", {{"interface", c.ifname}}, c.errors.packets);
    w.family("weir_log_ring_drops_total", "counter", "Log records lost because the log ring was full.");
    for (const auto& c : counters) w.sample("weir_log_ring_drops_total", {{"interface", c.ifname}}, c.log_drops.packets);
}

// --- events ----------------------------------------------------------------------------------

void EventLog::emit(const std::string& event, nlohmann::ordered_json fields) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();  // "event" and "time" first
    j["event"] = event;
    j["time"] = iso_now();
    for (auto& [k, v] : fields.items()) j[k] = v;
    std::lock_guard lock(mu_);
    out_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

// --- file watching ---------------------------------------------------------------------------

namespace {

// inotify on folders. Each binding is watched through the folder of its configured path and the
// folder of every path its symlinks lead through (a ConfigMap mount: edge.weir -> ..data/edge.weir,
// ..data -> ..2024_01_01_00_00_00.123; an update renames a new ..data into place: IN_MOVED_TO in
// the first folder). Any event in a binding's folders marks it changed; reconcile compares hashes,
// so spurious events cost a compile, never a swap.
class Watcher {
public:
    explicit Watcher(const std::vector<Binding>& bindings) : bindings_(bindings), dirs_(bindings.size()) {
        fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    }
    ~Watcher() {
        if (fd_ >= 0) close(fd_);
    }
    Watcher(const Watcher&) = delete;
    Watcher& operator=(const Watcher&) = delete;
    int fd() const { return fd_; }

    // (Re)computes every binding's folders and adds watches that are missing. Cheap; called after
    // every change and once a second (a folder that did not exist may appear).
    void arm() {
        for (std::size_t i = 0; i < bindings_.size(); ++i) {
            dirs_[i] = folders_of(bindings_[i].file);
            for (const std::string& d : dirs_[i]) {
                if (watched_.count(d)) continue;
                int wd = inotify_add_watch(fd_, d.c_str(),
                                           IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                               IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR);
                if (wd < 0) continue;  // not there (yet): tried again next time
                watched_[d] = wd;
                paths_[wd].insert(d);
            }
        }
    }

    // Drains the queue; returns the bindings whose folders saw an event.
    std::set<std::size_t> read_changes() {
        std::set<std::size_t> changed;
        alignas(inotify_event) char buf[16384];
        for (;;) {
            ssize_t n = read(fd_, buf, sizeof buf);
            if (n <= 0) break;
            for (char* p = buf; p < buf + n;) {
                auto* ev = reinterpret_cast<inotify_event*>(p);
                p += sizeof(inotify_event) + ev->len;
                auto it = paths_.find(ev->wd);
                if (it == paths_.end()) continue;
                for (const std::string& d : it->second)
                    for (std::size_t i = 0; i < dirs_.size(); ++i)
                        if (dirs_[i].count(d)) changed.insert(i);
                if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {  // the folder went away
                    for (const std::string& d : it->second) watched_.erase(d);
                    if (ev->mask & IN_IGNORED) paths_.erase(it);
                    else inotify_rm_watch(fd_, ev->wd);
                }
            }
        }
        return changed;
    }

private:
    // The folder of `path` and of every symlink met while resolving it, component by
    // component, and the folder of the file it finally names.
    static std::set<std::string> folders_of(const std::string& path) {
        std::set<std::string> out;
        fs::path lexical = fs::path(path).lexically_normal();
        out.insert(lexical.parent_path().string());
        const fs::path rel = lexical.relative_path();
        std::deque<fs::path> rest(rel.begin(), rel.end());
        fs::path acc = "/";
        std::error_code ec;
        for (int hops = 0; !rest.empty();) {
            fs::path part = rest.front();
            rest.pop_front();
            if (part.empty() || part == ".") continue;
            if (part == "..") {
                acc = acc.parent_path();
                continue;
            }
            fs::path next = acc / part;
            if (!fs::is_symlink(fs::symlink_status(next, ec))) {
                acc = next;
                continue;
            }
            if (++hops > 40) break;  // a loop
            out.insert(acc.string());  // the folder holding the symlink
            fs::path target = fs::read_symlink(next, ec);
            if (ec) break;
            if (target.is_absolute()) acc = "/";
            const fs::path trel = target.relative_path();
            rest.insert(rest.begin(), trel.begin(), trel.end());
        }
        out.insert(acc.parent_path().string());
        return out;
    }

    const std::vector<Binding>& bindings_;
    int fd_ = -1;
    std::vector<std::set<std::string>> dirs_;  // per binding
    std::map<std::string, int> watched_;       // folder -> watch
    std::map<int, std::set<std::string>> paths_;  // watch -> folders (one inode, several paths)
};

}  // namespace

// --- the daemon ------------------------------------------------------------------------------

std::chrono::seconds retry_delay(unsigned attempt) {
    std::chrono::seconds d = kRetryFirst;
    for (unsigned k = 1; k < attempt && d < kRetryMax; ++k) d *= 2;
    return std::min(d, kRetryMax);
}

Daemon::Daemon(Config config, DaemonOptions options, std::ostream& events)
    : config_(std::move(config)), options_(options), events_(events), stats_(config_.bindings.size()),
      retry_(config_.bindings.size()) {
    started_ = now_unix();
    metrics_.add("daemon", [this](MetricsWriter& w) {
        std::vector<BindingStats> st;
        {
            std::lock_guard lock(mu_);
            st = stats_;
        }
        w.family("weir_up", "gauge", "1 while the weir daemon serves metrics.");
        w.sample("weir_up", {}, std::uint64_t{1});
        w.family("weir_daemon_start_time_seconds", "gauge", "Unix time the daemon started.");
        w.sample("weir_daemon_start_time_seconds", {}, double(started_));
        w.family("weir_daemon_reloads_total", "counter",
                 "Loads and hot swaps the daemon made (start, file change, SIGHUP).");
        for (std::size_t i = 0; i < st.size(); ++i)
            w.sample("weir_daemon_reloads_total", {{"interface", config_.bindings[i].interface}}, st[i].reloads);
        w.family("weir_daemon_reload_failures_total", "counter",
                 "Loads and hot swaps that failed; the running policy was kept.");
        for (std::size_t i = 0; i < st.size(); ++i)
            w.sample("weir_daemon_reload_failures_total", {{"interface", config_.bindings[i].interface}},
                     st[i].failures);
        w.family("weir_daemon_last_reload_timestamp_seconds", "gauge",
                 "Unix time of the last successful load, hot swap or adoption (0: none yet).");
        for (std::size_t i = 0; i < st.size(); ++i)
            w.sample("weir_daemon_last_reload_timestamp_seconds", {{"interface", config_.bindings[i].interface}},
                     double(st[i].last_reload));
        w.family("weir_daemon_last_reload_success", "gauge", "1 when the last attempt on the interface succeeded.");
        for (std::size_t i = 0; i < st.size(); ++i)
            w.sample("weir_daemon_last_reload_success", {{"interface", config_.bindings[i].interface}},
                     std::uint64_t{st[i].last_ok});
        w.family("weir_daemon_retries_total", "counter",
                 "Attempts the daemon made on its own after an environment failure (backoff 1 s doubling to 60 s).");
        for (std::size_t i = 0; i < st.size(); ++i)
            w.sample("weir_daemon_retries_total", {{"interface", config_.bindings[i].interface}}, st[i].retries);
        w.family("weir_daemon_retry_backoff_seconds", "gauge",
                 "The wait before the retry now scheduled after an environment failure (0: none scheduled).");
        for (std::size_t i = 0; i < st.size(); ++i)
            w.sample("weir_daemon_retry_backoff_seconds", {{"interface", config_.bindings[i].interface}},
                     st[i].retry_in_s);
    });
    metrics_.add("policies", [this](MetricsWriter& w) {
        std::vector<std::string> ifnames;
        for (const Binding& b : config_.bindings) ifnames.push_back(b.interface);
        collect_policy_metrics(w, ifnames);
    });
    std::vector<std::string> ifnames;
    for (const Binding& b : config_.bindings) ifnames.push_back(b.interface);
    alerts_ = std::make_unique<AlertMonitor>(events_, std::move(ifnames));
    add_tick_hook([this] { alerts_->tick(); });
    metrics_.add("alerts", [this](MetricsWriter& w) { alerts_->collect(w); });
}

Daemon::~Daemon() = default;

api::Error Daemon::reconcile(std::size_t i, const std::string& reason) {
    const Binding& b = config_.bindings[i];
    nlohmann::ordered_json base = {{"interface", b.interface}, {"file", b.file}, {"reason", reason}};
    if (reason == "retry") base["attempt"] = retry_[i].attempts;
    api::Attachment att(b.interface);
    api::Result<api::Status> st = att.status();
    const bool pinned = st.ok() && !st->policy.empty();

    // An environment failure is retried with backoff; anything else ends the retries.
    auto schedule = [&](bool environment) -> std::optional<std::chrono::seconds> {
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
    };
    auto failed = [&](api::Error e, const std::string& diagnostics) {
        auto delay = schedule(e.kind == api::ErrorKind::Environment);
        nlohmann::ordered_json f = base;
        f["step"] = e.step;
        f["kind"] = kind_text(e.kind);
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
    };
    const std::string kept = pinned ? "the running policy '" + st->policy + "' is kept" : "nothing is attached";

    // compile
    api::CompileOptions copts;
    copts.include_dirs = b.include_dirs;
    copts.allowed_dirs = b.allowed_dirs;
    api::Policy p = api::Policy::from_file(b.file, copts);
    if (p.io_error())
        return failed({api::ErrorKind::Environment, "compile", "cannot read '" + b.file + "': " + kept}, "");
    if (!p.ok())
        return failed({api::ErrorKind::Policy, "compile", "the policy does not compile: " + kept}, p.diagnostics_text());
    std::string name = b.policy;
    std::vector<std::string> names = p.policy_names();
    if (name.empty() && names.size() == 1) name = names[0];
    if (name.empty() || std::find(names.begin(), names.end(), name) == names.end()) {
        std::string all;
        for (const auto& n : names) all += (all.empty() ? "" : ", ") + n;
        return failed({api::ErrorKind::Policy, "compile",
                       (b.policy.empty() ? "the file has " + std::to_string(names.size()) +
                                               " policies; choose one with \"policy\""
                                         : "the file has no policy '" + b.policy + "'") +
                           " (it has: " + all + "): " + kept},
                      "");
    }

    // compare with the pinned state
    const std::string hash = p.source_hash();
    if (pinned && st->enforcing && st->policy == name && st->source_hash == hash &&
        (b.mode == api::Mode::Auto || st->mode == mode_text(b.mode))) {
        {
            std::lock_guard lock(mu_);
            stats_[i].last_ok = true;
            if (reason == "start" || stats_[i].last_reload == 0) stats_[i].last_reload = now_unix();
        }
        schedule(false);
        nlohmann::ordered_json f = base;
        f["policy"] = name;
        f["prog_id"] = st->prog_id;
        f["source_hash"] = hash;
        if (reason == "start") events_.emit("adopted", f);
        else if (reason == "sighup") events_.emit("unchanged", f);
        alerts_->set_policy(i, p, name);
        return {};
    }

    // load or hot swap (verify, self-test, then swap; any failure keeps the running policy)
    api::AttachOptions ao;
    ao.mode = b.mode;
    ao.policy = name;
    api::LoadReport r = api::attach(b.interface, p, ao);
    if (!r.ok()) return failed(r.error, r.diagnostics_text);
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
    schedule(false);
    {
        std::lock_guard lock(mu_);
        stats_[i].reloads++;
        stats_[i].last_reload = now_unix();
        stats_[i].last_ok = true;
    }
    events_.emit(r.hot_swap ? "reloaded" : "loaded", f);
    alerts_->set_policy(i, p, name);
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
    if (config_.listen != "off") {
        std::string host, err;
        int port = 0;
        if (!parse_listen(config_.listen, host, port, err)) {
            events_.emit("fatal", {{"message", "listen: " + err}});
            close(sfd);
            return 2;
        }
        http_server = http::Server::bind(host, port, http::Limits{}, err);
        if (!http_server) {
            events_.emit("fatal", {{"message", "cannot listen on " + config_.listen + ": " + err}});
            close(sfd);
            return 2;
        }
        http_server->get("/metrics", [this] {
            return http::Response{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render()};
        });
        // Inline: answered on the server thread even while a scrape waits for the maps.
        http_server->get(
            "/healthz",
            [this] {
                auto now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
                bool alive = now - heartbeat_.load() <= 5;
                return http::Response{alive ? 200 : 503, "text/plain", alive ? "ok\n" : "main loop stalled\n"};
            },
            /*inline_handler=*/true);
        http_server->start();
        events_.emit("listening", {{"address", host}, {"port", http_server->port()}});
    }

    Watcher watcher(config_.bindings);
    watcher.arm();  // before the first reconcile: a change while it runs is not missed
    for (std::size_t i = 0; i < config_.bindings.size(); ++i) reconcile(i, "start");

    std::map<std::size_t, std::pair<Clock::time_point, Clock::time_point>> pending;  // first, last event
    const auto debounce = config_.debounce;
    const auto max_wait = std::max<Clock::duration>(std::chrono::seconds(1), 4 * debounce);
    auto next_tick = Clock::now();
    bool running = true;
    while (running) {
        auto now = Clock::now();
        heartbeat_ = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        if (now >= next_tick) {
            watcher.arm();
            for (auto& hook : tick_hooks_) hook();
            next_tick = now + kTickInterval;
        }
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
        if (fds[1].revents & POLLIN) {
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
        }
    }

    if (http_server) http_server->stop();
    close(sfd);
    stop_and_leave();
    return 0;
}

void Daemon::stop_and_leave() {
    if (!options_.detach_on_exit) {
        std::vector<std::string> ifs;
        for (const Binding& b : config_.bindings) ifs.push_back(b.interface);
        events_.emit("stopped", {{"pinned", ifs}});
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

}  // namespace weir::daemon
