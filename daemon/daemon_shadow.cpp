// Shadow rollouts of the daemon (daemon_shadow.hpp).
#include "daemon_shadow.hpp"

#include <algorithm>
#include <vector>

#include "weir/shadow.hpp"

namespace weir::daemon {

namespace {

api::CompileOptions compile_options(const Binding& b) {
    api::CompileOptions copts;
    copts.include_dirs = b.include_dirs;
    copts.allowed_dirs = b.allowed_dirs;
    return copts;
}

nlohmann::ordered_json transitions_json(const api::ShadowReport& r) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& t : r.transitions)
        out.push_back({{"from_rule", t.from_rule}, {"from_verdict", t.from_verdict}, {"to_rule", t.to_rule},
                       {"to_verdict", t.to_verdict}, {"packets", t.packets}});
    return out;
}

}  // namespace

api::Error ShadowRollouts::start(std::size_t i, const Binding& b, const std::string& policy,
                                 const nlohmann::ordered_json& base) {
    api::AttachOptions ao;
    ao.policy = policy;
    api::LoadReport r = api::shadow_start(b.interface, b.file, compile_options(b), ao);
    if (!r.ok()) return r.error;
    nlohmann::ordered_json f = base;
    f["candidate"] = policy;
    f["running"] = r.policy;
    f["shadow_seconds"] = b.shadow_seconds;
    f["shadow_max_packets"] = b.shadow_max_packets;
    events_.emit("shadow_started", f);
    std::lock_guard lock(mu_);
    running_[i] = Rollout{b.interface, Clock::now() + std::chrono::seconds(b.shadow_seconds), b.shadow_max_packets, base};
    return {};
}

bool ShadowRollouts::active(std::size_t i) const {
    std::lock_guard lock(mu_);
    return running_.count(i) != 0;
}

void ShadowRollouts::tick(const Config& config) {
    std::vector<std::pair<std::size_t, Rollout>> due;
    {
        std::lock_guard lock(mu_);
        for (auto it = running_.begin(); it != running_.end();) {
            if (Clock::now() < it->second.due) {
                ++it;
                continue;
            }
            due.emplace_back(it->first, it->second);
            it = running_.erase(it);
        }
    }
    for (const auto& [i, r] : due) finish(i, r, config);
}

void ShadowRollouts::finish(std::size_t i, const Rollout& r, const Config& config) {
    const Binding& b = config.bindings.at(i);
    nlohmann::ordered_json f = r.base;
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
    api::LoadReport lr = promote ? api::shadow_promote(r.interface, compile_options(b))
                                 : api::shadow_stop(r.interface, compile_options(b));
    if (!lr.ok()) {
        f["message"] = lr.error.message;
        events_.emit("shadow_failed", f);
        return;
    }
    // A rejection is the alert: the event names every transition over the threshold.
    events_.emit(promote ? "shadow_promoted" : "shadow_rejected", f);
}

void ShadowRollouts::collect(MetricsWriter& w) const {
    std::vector<std::string> ifs;
    {
        std::lock_guard lock(mu_);
        for (const auto& [i, r] : running_) ifs.push_back(r.interface);
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
