// Rollouts through shadow mode (include/weir/shadow.hpp) for bindings with shadow_seconds: a
// changed policy first runs beside the enforcing one, enforcing nothing; after shadow_seconds
// it is promoted if no transition (enforcing rule -> candidate rule) saw more than
// shadow_max_packets packets, else the shadow is stopped and the running policy kept (event
// shadow_rejected, with the transitions). Metric weir_shadow_packets_total{interface,
// from_rule,to_rule} while a shadow runs.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "config.hpp"
#include "event_log.hpp"
#include "metrics.hpp"
#include "weir/weir.hpp"

namespace weir::daemon {

class ShadowRollouts {
public:
    using Clock = std::chrono::steady_clock;
    explicit ShadowRollouts(EventLog& events) : events_(events) {}
    // Called (from tick) after a candidate was promoted: it is binding i's policy now.
    std::function<void(std::size_t, const api::Policy&, const std::string&)> on_promote;

    // What binding `i` enforces now (its file may change under it: the shadow needs the policy
    // that runs, compiled, and so does a rejection to swap back to it).
    void set_running(std::size_t i, const api::Policy& p, const std::string& name);
    bool has_running(std::size_t i) const;
    // Whether binding `i` rolls out policy `name` of the sources hashed `source_hash` now.
    bool rolling_out(std::size_t i, const std::string& name, const std::string& source_hash) const;
    // Starts binding `i`'s candidate beside the running policy. A running rollout of `i` is
    // replaced. Returns the failure (nothing changed then).
    api::Error start(std::size_t i, const Binding& b, const api::Policy& candidate, const std::string& name,
                     const nlohmann::ordered_json& base);
    // Due rollouts: promote or reject. Called once a second.
    void tick(const Config& config);
    void collect(MetricsWriter& w) const;

private:
    struct Rollout {
        std::string interface;
        api::Policy candidate;
        std::string name;
        Clock::time_point due;
        std::uint64_t max_packets = 0;
        nlohmann::ordered_json base;
    };
    void finish(std::size_t i, const Rollout& r, const Config& config);
    EventLog& events_;
    mutable std::mutex mu_;
    std::map<std::size_t, Rollout> rollouts_;
    std::map<std::size_t, std::pair<api::Policy, std::string>> running_;
};

}  // namespace weir::daemon
