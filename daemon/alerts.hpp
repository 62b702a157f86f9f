// Alert evaluation (docs/language.md "Alerts", docs/deploy.md "Alerts"): pure logic over counter
// readings, no I/O and no clock of its own (the reading's `taken` time is the clock), so it is
// unit-tested with synthetic readings (tests/unit/test_alerts.cpp). The daemon feeds it one
// reading of an interface's counters a second and reports its events and states.
//
// Per alert, a state machine:
//   inactive --condition holds--> pending --held for `for`--> firing       (event: firing)
//   inactive --condition holds, `for` 0--------------------> firing       (event: firing)
//   pending  --condition false--> inactive                                 (no event)
//   firing   --condition false--> resolving (still reported as firing)
//   resolving --condition holds--> firing                                   (no event)
//   resolving --false for as long as `for` (0: at once)--> inactive         (event: resolved)
// The hold before resolving is the alert's own `for`: an alert that needed 10 s to fire needs
// 10 s of quiet to resolve, so a rate hovering at the threshold does not flap.
//
// The value is a rate: (counter now - counter at the previous reading) / seconds between them.
// No value (the first reading, a counter that went backwards, a counter the reading lacks):
// the alert's state does not change.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "weir/weir.hpp"

namespace weir::alerts {

enum class State { Inactive = 0, Pending = 1, Firing = 2 };  // the weir_alert_state values
const char* state_name(State s);                             // "inactive", "pending", "firing"

struct Event {
    enum class Kind { Firing, Resolved };
    Kind kind = Kind::Firing;
    api::AlertDef alert;
    std::optional<double> value;  // the rate that decided it (none: removed/changed by a reload)
    double active_seconds = 0;    // Resolved: how long it was firing
    std::string reason;           // Resolved: "condition" (the rate), "removed", "changed" (a reload)
};

struct AlertStatus {
    api::AlertDef alert;
    State state = State::Inactive;
    std::optional<double> value;  // the last rate computed
    std::uint64_t firings = 0;    // times it fired (kept across reloads that keep it)
};

// The alerts of one policy on one interface.
class Evaluator {
public:
    using Time = std::chrono::steady_clock::time_point;

    // Replaces the alert set (a policy load or hot swap). An alert whose definition is kept
    // (same AlertDef::text) keeps its state; a firing alert that is removed or changed resolves
    // (reason "removed" / "changed"); a changed one starts over as inactive.
    std::vector<Event> set_alerts(std::vector<api::AlertDef> defs, Time now);

    // One reading (`c.taken` is its time). Returns the alerts that fired or resolved.
    std::vector<Event> observe(const api::Counters& c);

    std::vector<AlertStatus> status() const;
    bool empty() const { return alerts_.empty(); }

private:
    struct Entry {
        api::AlertDef def;
        enum class Phase { Inactive, Pending, Firing, Resolving } phase = Phase::Inactive;
        Time since{};         // Pending: condition true since; Resolving: false since
        Time fired_at{};      // Firing / Resolving
        std::optional<double> value;
        std::uint64_t firings = 0;
    };
    std::vector<Entry> alerts_;
    std::optional<api::Counters> prev_;
};

// The counter an alert reads in a reading (packets or bytes), if the reading has it.
std::optional<std::uint64_t> counter_value(const api::AlertDef& a, const api::Counters& c);
// `value OP threshold`.
bool holds(const api::AlertDef& a, double value);

}  // namespace weir::alerts
