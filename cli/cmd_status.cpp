// weir status [--dev IFACE] [--json]: every interface with a weir policy (or one): policy,
// source path and hash, program id and tag, attach mode, load times, swap count
// (weir::api::status_all). Running it also finishes or undoes a swap a killed `weir load` left
// behind.
#include <algorithm>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "weir/shadow.hpp"

namespace weir::cli {
namespace {

// The candidate running beside the policy (weir/shadow.hpp), or null.
nlohmann::json shadow_json(const std::string& ifname) {
    api::ShadowReport sh = api::shadow_report(ifname);
    if (!sh.ok()) return nullptr;
    return {{"policy", sh.candidate}, {"source", sh.candidate_source}, {"since", sh.since}};
}

std::string iso_time(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// A load awaiting `weir confirm` (null: none).
nlohmann::json confirm_json(const api::Status& st) {
    if (!st.confirm_deadline) return nullptr;
    return {{"deadline", iso_time(st.confirm_deadline)},
            {"seconds_left", std::max<std::int64_t>(0, st.confirm_deadline - std::time(nullptr))},
            {"rollback_policy", st.rollback_policy.empty() ? nlohmann::json(nullptr) : nlohmann::json(st.rollback_policy)},
            {"watcher_pid", st.confirm_watcher_pid},
            {"watcher_unit", st.confirm_watcher_unit}};
}

std::string watcher_text(const api::Status& st) {
    if (!st.confirm_watcher_unit.empty()) return "timer unit " + st.confirm_watcher_unit;
    return "watcher pid " + std::to_string(st.confirm_watcher_pid);
}

}  // namespace

int cmd_status(const StatusArgs& a) {
    api::Result<std::vector<api::Status>> all = api::status_all(a.dev);
    if (!all) {
        std::cerr << "weir status: " << all.error.message << "\n";
        return kExitUsage;
    }
    if (a.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const api::Status& st : *all) {
            nlohmann::json sets = nlohmann::json::array();
            for (const api::SetTable& s : st.tables)
                sets.push_back({{"name", s.name}, {"kind", s.kind}, {"id", s.id}, {"named", s.named},
                                {"live_edits", s.live_edits},  // `weir set` batches since it was filled
                                {"edited_at", s.edited_at ? nlohmann::json(iso_time(s.edited_at)) : nlohmann::json(nullptr)}});
            out.push_back({{"interface", st.ifname},
                           {"ifindex", st.ifindex},
                           {"enforcing", st.enforcing},
                           {"policy", st.policy},
                           {"source", st.source},
                           {"source_hash", st.source_hash},
                           {"prog_id", st.prog_id},
                           {"prog_tag", st.prog_tag},
                           {"mode", st.mode},
                           {"attached_at", iso_time(st.attached_at)},
                           {"loaded_at", iso_time(st.loaded_at)},
                           {"swaps", st.swaps},
                           {"rule_slots", st.rule_slots},
                           {"rule_capacity", st.rule_capacity},
                           {"sets", sets},
                           {"pins", st.pins},
                           {"confirm", confirm_json(st)},
                           {"notes", st.notes},
                           {"shadow", shadow_json(st.ifname)}});
        }
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return kExitOk;
    }
    if (all->empty()) std::cout << "no weir policy is attached\n";
    for (const api::Status& st : *all) {
        std::cout << st.ifname << ": policy '" << st.policy << "' "
                  << (st.enforcing ? "enforcing" : "NOT enforcing") << " (" << st.mode << ", prog id "
                  << st.prog_id << ", tag " << st.prog_tag << ")\n"
                  << "  source " << st.source << " (sha256 " << st.source_hash.substr(0, 16) << ")\n"
                  << "  loaded " << iso_time(st.loaded_at) << ", attached " << iso_time(st.attached_at) << ", "
                  << plural(st.swaps, "swap", "swaps") << "\n"
                  << "  pins " << st.pins << "\n";
        if (api::ShadowReport sh = api::shadow_report(st.ifname); sh.ok())
            std::cout << "  shadow: candidate '" << sh.candidate << "' from " << sh.candidate_source
                      << ", enforcing nothing (weir shadow status --dev " << st.ifname << ")\n";
        for (const api::SetTable& s : st.tables)  // sets edited with `weir set` since they were filled
            if (s.live_edits)
                std::cout << "  set " << s.name << " (" << s.kind << "): edited live, "
                          << plural(s.live_edits, "batch", "batches") << ", last " << iso_time(s.edited_at) << "\n";
        if (st.confirm_deadline)
            std::cout << "  awaits confirmation: unless `weir confirm --dev " << st.ifname << "` runs by "
                      << iso_time(st.confirm_deadline) << ", "
                      << (st.rollback_policy.empty() ? "it is detached" : "policy '" + st.rollback_policy + "' is swapped back")
                      << " (" << watcher_text(st) << ")\n";
        for (const auto& n : st.notes) std::cout << "  note: " << n << "\n";
    }
    return kExitOk;
}

}  // namespace weir::cli
