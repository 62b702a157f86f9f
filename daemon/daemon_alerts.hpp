// The daemon's alerts (docs/deploy.md "Alerts"): one alerts::Evaluator per binding, fed one
// reading of the interface's counters a second (Daemon's tick hook); firing and resolved alerts
// become events (alert_firing, alert_resolved) and every alert's state and value metrics
// (weir_alert_state, weir_alert_value, weir_alert_threshold, weir_alert_firings_total).
#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "alerts.hpp"
#include "event_log.hpp"
#include "metrics.hpp"

namespace weir::daemon {

class AlertMonitor {
public:
    AlertMonitor(EventLog& events, std::vector<std::string> interfaces);

    // The policy now enforced on binding `i` (after a load, hot swap or adoption): its alerts
    // replace the binding's (kept alerts keep their state, see alerts::Evaluator::set_alerts).
    void set_policy(std::size_t i, const api::Policy& file, const std::string& policy);
    // Evaluates every binding's alerts on its interface's reading (ifname -> counters; a binding
    // without one keeps its states).
    void tick(const std::map<std::string, api::Counters>& readings);
    // The weir_alert_* families (thread-safe).
    void collect(MetricsWriter& w) const;

private:
    struct Slot {
        std::string ifname, policy;
        alerts::Evaluator eval;
    };
    void emit(const Slot& s, const alerts::Event& e);

    EventLog& events_;
    mutable std::mutex mu_;
    std::vector<Slot> slots_;
};

}  // namespace weir::daemon
