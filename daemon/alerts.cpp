// Alert evaluation: rates from consecutive readings, one state machine per alert (alerts.hpp).
#include "alerts.hpp"

#include <algorithm>

namespace weir::alerts {

namespace {

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

const char* state_name(State s) {
    switch (s) {
        case State::Inactive: return "inactive";
        case State::Pending: return "pending";
        case State::Firing: return "firing";
    }
    return "inactive";
}

std::optional<std::uint64_t> counter_value(const api::AlertDef& a, const api::Counters& c) {
    const api::Counter* k = nullptr;
    if (a.source == "rule") {
        k = c.rule(a.counter);
    } else if (a.source == "verdict") {
        auto it = c.verdicts.find(a.counter);
        if (it != c.verdicts.end()) k = &it->second;
    } else if (a.source == "malformed") {
        k = &c.malformed;
    } else if (a.source == "default") {
        k = &c.default_decisions;
    }
    if (!k) return std::nullopt;
    return a.bytes ? k->bytes : k->packets;
}

bool holds(const api::AlertDef& a, double value) {
    if (a.op == ">") return value > a.threshold;
    if (a.op == ">=") return value >= a.threshold;
    if (a.op == "<") return value < a.threshold;
    if (a.op == "<=") return value <= a.threshold;
    return false;
}

std::vector<Event> Evaluator::set_alerts(std::vector<api::AlertDef> defs, Time now) {
    std::vector<Event> events;
    std::vector<Entry> next;
    for (auto& d : defs) {
        auto same = std::find_if(alerts_.begin(), alerts_.end(), [&](const Entry& e) { return e.def == d; });
        if (same != alerts_.end()) {
            next.push_back(std::move(*same));
            alerts_.erase(same);
            continue;
        }
        Entry e;
        e.def = std::move(d);
        // A changed definition keeps counting its firings under the same name.
        auto renamed = std::find_if(alerts_.begin(), alerts_.end(), [&](const Entry& o) { return o.def.name == e.def.name; });
        if (renamed != alerts_.end()) e.firings = renamed->firings;
        next.push_back(std::move(e));
    }
    for (const Entry& old : alerts_) {  // removed or changed
        if (old.phase != Entry::Phase::Firing && old.phase != Entry::Phase::Resolving) continue;
        bool changed = std::any_of(next.begin(), next.end(), [&](const Entry& e) { return e.def.name == old.def.name; });
        Event ev;
        ev.kind = Event::Kind::Resolved;
        ev.alert = old.def;
        ev.active_seconds = seconds(now - old.fired_at);
        ev.reason = changed ? "changed" : "removed";
        events.push_back(std::move(ev));
    }
    alerts_ = std::move(next);
    return events;
}

std::vector<Event> Evaluator::observe(const api::Counters& c) {
    std::vector<Event> events;
    const Time now = c.taken;
    const double dt = prev_ ? seconds(now - prev_->taken) : 0;
    using P = Entry::Phase;
    for (Entry& e : alerts_) {
        std::optional<double> value;
        if (prev_ && dt > 0) {
            auto a = counter_value(e.def, *prev_), b = counter_value(e.def, c);
            if (a && b && *b >= *a) value = double(*b - *a) / dt;
        }
        e.value = value;
        if (!value) continue;
        const bool cond = holds(e.def, *value);
        const auto hold = e.def.for_duration;
        auto fire = [&] {
            e.phase = P::Firing;
            e.fired_at = now;
            e.firings++;
            events.push_back(Event{Event::Kind::Firing, e.def, value, 0, {}});
        };
        switch (e.phase) {
            case P::Inactive:
                if (!cond) break;
                if (hold.count() == 0) {
                    fire();
                } else {
                    e.phase = P::Pending;
                    e.since = now;
                }
                break;
            case P::Pending:
                if (!cond) e.phase = P::Inactive;
                else if (now - e.since >= hold) fire();
                break;
            case P::Firing:
            case P::Resolving:
                if (cond) {
                    e.phase = P::Firing;
                    break;
                }
                if (e.phase == P::Firing) {
                    e.phase = P::Resolving;
                    e.since = now;
                }
                if (now - e.since >= hold) {
                    e.phase = P::Inactive;
                    events.push_back(Event{Event::Kind::Resolved, e.def, value, seconds(now - e.fired_at), "condition"});
                }
                break;
        }
    }
    prev_ = c;
    return events;
}

std::vector<AlertStatus> Evaluator::status() const {
    std::vector<AlertStatus> out;
    for (const Entry& e : alerts_) {
        AlertStatus s;
        s.alert = e.def;
        s.state = e.phase == Entry::Phase::Inactive  ? State::Inactive
                  : e.phase == Entry::Phase::Pending ? State::Pending
                                                     : State::Firing;
        s.value = e.value;
        s.firings = e.firings;
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace weir::alerts
