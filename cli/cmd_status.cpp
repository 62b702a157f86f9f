// weir status [--dev IFACE] [--json]: every interface with a weir policy (or one): policy,
// source path and hash, program id and tag, attach mode, load times, swap count. Running it
// also finishes or undoes a swap a killed `weir load` left behind (attach::recover).
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "attach.hpp"
#include "commands.hpp"

namespace weir::cli {
namespace {

std::string iso_time(std::int64_t t) {
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

int cmd_status(const StatusArgs& a) {
    std::vector<attach::Attachment> all;
    attach::Failure f = attach::status(all, a.dev);
    if (f) {
        std::cerr << "weir status: " << f.message << "\n";
        return kExitUsage;
    }
    if (a.json) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& at : all) {
            const pins::PolicyMeta& m = at.meta;
            nlohmann::json sets = nlohmann::json::array();
            for (const auto& s : m.sets)
                sets.push_back({{"name", s.name}, {"kind", pins::kind_name(s.kind)}, {"id", s.id}, {"named", s.named},
                                {"live_edits", s.live_edits},  // `weir set` batches since it was filled
                                {"edited_at", s.edited_at ? nlohmann::json(iso_time(s.edited_at)) : nlohmann::json(nullptr)}});
            out.push_back({{"interface", at.ifname},
                           {"ifindex", at.ifindex},
                           {"enforcing", at.enforcing},
                           {"policy", m.policy},
                           {"source", m.source},
                           {"source_hash", m.source_hash},
                           {"prog_id", m.prog_id},
                           {"prog_tag", m.prog_tag},
                           {"mode", m.mode},
                           {"attached_at", iso_time(m.attached_at)},
                           {"loaded_at", iso_time(m.loaded_at)},
                           {"swaps", m.swaps},
                           {"rule_slots", m.slots},
                           {"rule_capacity", m.rule_capacity},
                           {"sets", sets},
                           {"pins", pins::dir(at.ifname)},
                           {"notes", at.notes}});
        }
        std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return kExitOk;
    }
    if (all.empty()) std::cout << "no weir policy is attached\n";
    for (const auto& at : all) {
        const pins::PolicyMeta& m = at.meta;
        std::cout << at.ifname << ": policy '" << m.policy << "' "
                  << (at.enforcing ? "enforcing" : "NOT enforcing") << " (" << m.mode << ", prog id "
                  << m.prog_id << ", tag " << m.prog_tag << ")\n"
                  << "  source " << m.source << " (sha256 " << m.source_hash.substr(0, 16) << ")\n"
                  << "  loaded " << iso_time(m.loaded_at) << ", attached " << iso_time(m.attached_at) << ", "
                  << plural(m.swaps, "swap", "swaps") << "\n"
                  << "  pins " << pins::dir(at.ifname) << "\n";
        for (const auto& s : m.sets)  // sets edited with `weir set` since they were filled
            if (s.live_edits)
                std::cout << "  set " << s.name << " (" << pins::kind_name(s.kind) << "): edited live, "
                          << plural(s.live_edits, "batch", "batches") << ", last " << iso_time(s.edited_at) << "\n";
        for (const auto& n : at.notes) std::cout << "  note: " << n << "\n";
    }
    return kExitOk;
}

}  // namespace weir::cli
