// The daemon's alerts: evaluation each tick, events and metrics (daemon_alerts.hpp).
#include "daemon_alerts.hpp"

#include <cmath>

namespace weir::daemon {

namespace {

double rounded(double v) { return std::round(v * 1000) / 1000; }

std::string unit(const api::AlertDef& a) { return a.bytes ? "bytes/s" : "packets/s"; }

}  // namespace

AlertMonitor::AlertMonitor(EventLog& events, std::vector<std::string> interfaces) : events_(events) {
    for (auto& i : interfaces) slots_.push_back(Slot{std::move(i), {}, {}});
}

void AlertMonitor::set_policy(std::size_t i, const api::Policy& file, const std::string& policy) {
    std::lock_guard lock(mu_);
    Slot& s = slots_.at(i);
    s.policy = policy;
    for (const auto& e : s.eval.set_alerts(file.alerts(policy), std::chrono::steady_clock::now())) emit(s, e);
}

void AlertMonitor::tick(const std::map<std::string, api::Counters>& readings) {
    std::lock_guard lock(mu_);
    for (Slot& s : slots_) {
        if (s.eval.empty()) continue;
        auto c = readings.find(s.ifname);
        // Not readable, or another policy than the one whose alerts these are (replaced
        // outside the daemon): no reading, states unchanged.
        if (c == readings.end() || c->second.policy != s.policy) continue;
        for (const auto& e : s.eval.observe(c->second)) emit(s, e);
    }
}

void AlertMonitor::emit(const Slot& s, const alerts::Event& e) {
    const api::AlertDef& a = e.alert;
    nlohmann::ordered_json f = {{"alert", a.name},          {"policy", a.policy},
                                {"interface", s.ifname},    {"severity", a.severity}};
    f["value"] = e.value ? nlohmann::ordered_json(rounded(*e.value)) : nlohmann::ordered_json(nullptr);
    f["op"] = a.op;
    f["threshold"] = a.threshold;
    f["unit"] = unit(a);
    if (e.kind == alerts::Event::Kind::Firing) {
        f["for_s"] = double(a.for_duration.count()) / 1000;
    } else {
        f["firing_s"] = rounded(e.active_seconds);
        f["reason"] = e.reason;
    }
    f["message"] = a.message;
    events_.emit(e.kind == alerts::Event::Kind::Firing ? "alert_firing" : "alert_resolved", f);
}

void AlertMonitor::collect(MetricsWriter& w) const {
    struct Row {
        std::string ifname;
        alerts::AlertStatus st;
    };
    std::vector<Row> rows;
    {
        std::lock_guard lock(mu_);
        for (const Slot& s : slots_)
            for (auto& st : s.eval.status()) rows.push_back({s.ifname, std::move(st)});
    }
    auto labels = [](const Row& r) {
        return Labels{{"alert", r.st.alert.name}, {"policy", r.st.alert.policy}, {"interface", r.ifname}};
    };
    w.family("weir_alert_state", "gauge", "State of each alert: 0 inactive, 1 pending, 2 firing.");
    for (const Row& r : rows) {
        Labels l = labels(r);
        l.emplace_back("severity", r.st.alert.severity);
        w.sample("weir_alert_state", l, std::uint64_t(r.st.state));
    }
    w.family("weir_alert_value", "gauge",
             "The rate each alert compares, per second (packets or bytes), at the last evaluation.");
    for (const Row& r : rows)
        if (r.st.value) w.sample("weir_alert_value", labels(r), *r.st.value);
    w.family("weir_alert_threshold", "gauge", "Each alert's threshold, per second (packets or bytes).");
    for (const Row& r : rows) w.sample("weir_alert_threshold", labels(r), r.st.alert.threshold);
    w.family("weir_alert_firings_total", "counter", "Times each alert fired since the daemon started.");
    for (const Row& r : rows) w.sample("weir_alert_firings_total", labels(r), r.st.firings);
}

}  // namespace weir::daemon
