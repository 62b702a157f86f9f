// Shadow rollouts of the daemon (daemon_shadow.hpp).
#include "daemon_shadow.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "weir/shadow.hpp"

namespace weir::daemon {

namespace {

nlohmann::ordered_json transitions_json(const api::ShadowReport& r) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& t : r.transitions)
        out.push_back({{"from_rule", t.from_rule}, {"from_verdict", t.from_verdict}, {"to_rule", t.to_rule},
                       {"to_verdict", t.to_verdict}, {"packets", t.packets}});
    return out;
}

}  // namespace

void ShadowRollouts::set_running(std::size_t i, const api::Policy& p, const std::string& name) {
    std::lock_guard lock(mu_);
    running_.insert_or_assign(i, std::make_pair(p, name));
}

bool ShadowRollouts::has_running(std::size_t i) const {
    std::lock_guard lock(mu_);
    return running_.count(i) != 0;
}

bool ShadowRollouts::rolling_out(std::size_t i, const std::string& name, const std::string& source_hash) const {
    std::lock_guard lock(mu_);
    auto it = rollouts_.find(i);
    return it != rollouts_.end() && it->second.name == name && it->second.candidate.source_hash() == source_hash;
}

api::Error ShadowRollouts::start(std::size_t i, const Binding& b, const api::Policy& candidate,
                                 const std::string& name, const nlohmann::ordered_json& base) {
    std::optional<api::Policy> running;
    {
        std::lock_guard lock(mu_);
        if (auto it = running_.find(i); it != running_.end()) running = it->second.first;
    }
    if (!running) return {api::ErrorKind::Environment, "shadow", "the daemon does not know the running policy"};
    api::AttachOptions ao;
    ao.policy = name;
    api::LoadReport r = api::shadow_start(b.interface, *running, candidate, ao);
    if (!r.ok()) return r.error;
    nlohmann::ordered_json f = base;
    f["candidate"] = name;
    f["running"] = r.policy;
    f["shadow_seconds"] = b.shadow_seconds;
    f["shadow_max_packets"] = b.shadow_max_packets;
    events_.emit("shadow_started", f);
    std::lock_guard lock(mu_);
    rollouts_.insert_or_assign(i, Rollout{b.interface, candidate, name,
                                          Clock::now() + std::chrono::seconds(b.shadow_seconds), b.shadow_max_packets,
                                          base});
    return {};
}

void ShadowRollouts::tick(const Config& config) {
    std::vector<std::pair<std::size_t, Rollout>> due;
    {
        std::lock_guard lock(mu_);
        for (auto it = rollouts_.begin(); it != rollouts_.end();) {
            if (Clock::now() < it->second.due) {
                ++it;
                continue;
            }
            due.emplace_back(it->first, it->second);
            it = rollouts_.erase(it);
        }
    }
    for (const auto& [i, r] : due) finish(i, r, config);
}

void ShadowRollouts::finish(std::size_t i, const Rollout& r, const Config& config) {
    const Binding& b = config.bindings.at(i);
    nlohmann::ordered_json f = r.base;
    std::optional<std::pair<api::Policy, std::string>> run;
    {
        std::lock_guard lock(mu_);
        run = running_.at(i);
    }
    api::ShadowReport rep = api::shadow_report(r.interface);
    if (!rep.ok()) {
        f["message"] = rep.error.message;
        events_.emit("shadow_failed", f);
        return;
    }
    std::uint64_t worst = rep.lost_packets;
    for (const auto& t : rep.transitions) worst = std::max(worst, t.packets);
    f["candidate"] = rep.candidate;
    f["running"] = rep.policy;
    f["transitions"] = transitions_json(rep);
    f["same_packets"] = rep.same_packets;
    const bool promote = worst <= r.max_packets;
    // Swaps from the policies compiled when the shadow began: the file may have moved on.
    api::AttachOptions ao;
    ao.mode = b.mode;
    ao.policy = promote ? r.name : run->second;
    api::LoadReport lr = api::attach(r.interface, promote ? r.candidate : run->first, ao);
    if (!lr.ok()) {
        f["message"] = lr.error.message;
        events_.emit("shadow_failed", f);
        return;
    }
    if (promote) {
        set_running(i, r.candidate, r.name);
        if (on_promote) on_promote(i, r.candidate, r.name);
    }
    // A rejection is the alert: the event names every transition over the threshold.
    events_.emit(promote ? "shadow_promoted" : "shadow_rejected", f);
}

void ShadowRollouts::collect(MetricsWriter& w) const {
    std::vector<std::string> ifs;
    {
        std::lock_guard lock(mu_);
        for (const auto& [i, r] : rollouts_) ifs.push_back(r.interface);
    }
    w.family("weir_shadow_packets_total", "counter",
             "Packets a shadow candidate would have decided differently, per transition (enforcing rule -> "
             "candidate rule), while the daemon rolls it out.");
    for (const std::string& ifname : ifs) {
        api::ShadowReport rep = api::shadow_report(ifname);
        if (!rep.ok()) continue;
        for (const auto& t : rep.transitions)
            w.sample("weir_shadow_packets_total",
                     {{"interface", ifname}, {"from_rule", t.from_rule}, {"to_rule", t.to_rule}}, t.packets);
    }
}

}  // namespace weir::daemon
