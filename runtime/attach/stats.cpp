#include "stats.hpp"

#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "actions.hpp"
#include "pins.hpp"

namespace weir::stats {
namespace {

using attach::Failure;
using attach::Problem;

Failure env_failure(std::string msg) { return {Problem::Environment, std::move(msg)}; }

constexpr const char* kStatsOff =
    "run-time statistics are off (on while `weir stats --watch` or `weir daemon` runs, or with sysctl "
    "kernel.bpf_stats_enabled=1)";

bool privileged_error(int code) { return code == -EPERM || code == -EACCES; }

// One interface; `skip` set when it has pins but no current policy (an interrupted first load).
Failure read_one(const std::string& ifname, Snapshot& s, bool& skip) {
    skip = false;
    auto p = pins::open_pinned(ifname);
    if (!p) {
        if (privileged_error(p.error().code)) return env_failure("not privileged: cannot read " + pins::root() + " (run as root)");
        return env_failure(p.error().message);
    }
    if (!p->meta) return skip = true, Failure{};
    auto meta = pins::read_meta(p->meta.get());
    if (!meta) return env_failure(meta.error().message);
    if (!meta->current) return skip = true, Failure{};
    const pins::PolicyMeta& m = *meta->current;
    s.ifname = ifname;
    s.policy = m.policy;
    s.prog_id = m.prog_id;
    s.mode = m.mode;
    s.default_verdict = m.default_verdict;
    s.taken = std::chrono::steady_clock::now();
    s.time = static_cast<std::int64_t>(std::time(nullptr));

    // Rules in policy order; records without it: by counter slot.
    std::vector<std::pair<std::string, std::string>> order;
    for (const auto& r : m.rules)
        if (m.slots.count(r.name)) order.emplace_back(r.name, r.action);
    if (order.size() != m.slots.size()) {
        order.clear();
        std::vector<std::pair<std::uint32_t, std::string>> by_slot;
        for (const auto& [n, slot] : m.slots) by_slot.emplace_back(slot, n);
        std::sort(by_slot.begin(), by_slot.end());
        for (const auto& [slot, n] : by_slot) order.emplace_back(n, "");
    }
    const int rules = p->map(WEIR_MAP_RULES), verdicts = p->map(WEIR_MAP_VERDICTS), stats = p->map(WEIR_MAP_STATS);
    if (rules < 0 || verdicts < 0 || stats < 0) return env_failure("the counter maps of '" + ifname + "' are not pinned");
    auto counter = [&](int fd, std::uint32_t key, bpf::Counter& out) -> Failure {
        auto c = bpf::read_counter(fd, key);
        if (!c) return env_failure("read counters of '" + ifname + "': " + c.error().message);
        out = *c;
        return {};
    };
    for (const auto& [name, action] : order) {
        RuleStat r;
        r.name = name;
        r.action = action;
        r.slot = m.slots.at(name);
        if (Failure f = counter(rules, r.slot, r.counter)) return f;
        s.rules.push_back(std::move(r));
    }
    for (std::uint32_t a : kReportedActions)
        if (Failure f = counter(verdicts, a, s.verdicts[action_name(a)])) return f;
    if (Failure f = counter(stats, WEIR_STAT_DEFAULT, s.default_decisions)) return f;
    if (Failure f = counter(stats, WEIR_STAT_MALFORMED, s.malformed)) return f;
    if (Failure f = counter(stats, WEIR_STAT_ERROR, s.errors)) return f;
    if (Failure f = counter(stats, WEIR_STAT_RING_DROPS, s.log_drops)) return f;
    if (p->prog) {
        auto info = bpf::program_info(p->prog.get());
        if (!info) return env_failure("read the program of '" + ifname + "': " + info.error().message);
        s.program.insns = info->xlated_insns;
        s.program.jited_bytes = info->jited_bytes;
        s.program.run_time_ns = info->run_time_ns;
        s.program.runs = info->run_cnt;
        s.program.measured = info->run_cnt > 0 || bpf::run_time_stats_on();
        if (!s.program.measured) s.program.why = kStatsOff;
    }
    return {};
}

std::string u64(std::uint64_t v) { return std::to_string(v); }

// The same counter in an earlier reading, or null.
const bpf::Counter* earlier_verdict(const Snapshot* b, const std::string& name) {
    if (!b) return nullptr;
    auto it = b->verdicts.find(name);
    return it == b->verdicts.end() ? nullptr : &it->second;
}

}  // namespace

Failure read(std::vector<Snapshot>& out, const std::string& ifname) {
    std::vector<std::string> names;
    if (attach::Failure f = attach::interfaces(names, ifname)) return f;
    for (const auto& name : names) {
        Snapshot s;
        bool skip = false;
        if (Failure f = read_one(name, s, skip)) return f;
        if (skip) {
            if (!ifname.empty()) return env_failure("no weir policy on '" + ifname + "' (a load is in progress)");
            continue;
        }
        out.push_back(std::move(s));
    }
    return {};
}

api::CostRate cost_rate(const Snapshot& now, const Snapshot* before) {
    api::CostRate r;
    if (!before || !now.program.measured || !before->program.measured || now.prog_id != before->prog_id) return r;
    const double secs = std::chrono::duration<double>(now.taken - before->taken).count();
    const auto &n = now.program, &b = before->program;
    if (secs <= 0 || n.runs < b.runs || n.run_time_ns < b.run_time_ns) return r;
    r.valid = true;
    r.pps = double(n.runs - b.runs) / secs;
    r.idle = n.runs == b.runs;
    if (!r.idle) r.ns_per_packet = double(n.run_time_ns - b.run_time_ns) / double(n.runs - b.runs);
    return r;
}

std::string cost_text(const Snapshot& s, const Snapshot* before) {
    const api::ProgramCost& c = s.program;
    std::string out = "program: " + u64(c.insns) + " insns, " + u64(c.jited_bytes) + " bytes JIT; ";
    char buf[64];
    if (!c.measured) return out + c.why;
    if (auto r = cost_rate(s, before); r.valid) {
        if (r.idle) std::snprintf(buf, sizeof buf, "idle (0 pps)");
        else std::snprintf(buf, sizeof buf, "%.1f ns/packet at %s pps", r.ns_per_packet, si(r.pps).c_str());
        return out + buf;
    }
    if (c.runs == 0) return out + "no run counted yet";
    std::snprintf(buf, sizeof buf, "%.1f ns/packet over %s runs", double(c.run_time_ns) / double(c.runs),
                  si(double(c.runs)).c_str());
    return out + buf + " while statistics were on";
}

Rate rate(const bpf::Counter& now, const bpf::Counter* before, double seconds) {
    Rate r;
    if (!before || seconds <= 0 || now.packets < before->packets || now.bytes < before->bytes) return r;
    r.valid = true;
    r.pps = double(now.packets - before->packets) / seconds;
    r.bps = double(now.bytes - before->bytes) * 8.0 / seconds;
    return r;
}

const Snapshot* find(const std::vector<Snapshot>* before, const std::string& ifname) {
    if (!before) return nullptr;
    for (const auto& s : *before)
        if (s.ifname == ifname) return &s;
    return nullptr;
}

std::string si(double v) {
    char buf[32];
    const char* units[] = {"", "k", "M", "G", "T", "P"};
    int u = 0;
    while (std::fabs(v) >= 1000 && u < 5) v /= 1000, ++u;
    if (u == 0) {
        if (v == std::floor(v)) std::snprintf(buf, sizeof buf, "%.0f", v);
        else std::snprintf(buf, sizeof buf, "%.1f", v);
    } else {
        std::snprintf(buf, sizeof buf, "%.2f%s", v, units[u]);
    }
    return buf;
}

std::string format_table(const std::vector<Snapshot>& now, const std::vector<Snapshot>* before) {
    std::ostringstream os;
    if (now.empty()) return "no weir policy is attached\n";
    bool first = true;
    for (const Snapshot& s : now) {
        const Snapshot* b = find(before, s.ifname);
        const bool rates = b != nullptr;
        const double secs = rates ? std::chrono::duration<double>(s.taken - b->taken).count() : 0;
        if (!first) os << "\n";
        first = false;
        os << s.ifname << ": policy '" << s.policy << "' (" << s.mode << ", prog id " << s.prog_id << ")";
        if (rates) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.2f", secs);
            os << ", rates over " << buf << " s";
        }
        os << "\n";

        // Rows: rules, then the default; columns aligned.
        std::vector<std::vector<std::string>> rows;
        rows.push_back({"rule", "action", "packets", "bytes"});
        if (rates) rows[0].insert(rows[0].end(), {"pps", "bps"});
        auto row = [&](const std::string& name, const std::string& action, const bpf::Counter& c,
                       const bpf::Counter* old) {
            std::vector<std::string> r{name, action, u64(c.packets), u64(c.bytes)};
            if (rates) {
                Rate rt = rate(c, old, secs);
                r.push_back(rt.valid ? si(rt.pps) : "-");
                r.push_back(rt.valid ? si(rt.bps) : "-");
            }
            rows.push_back(std::move(r));
        };
        for (const RuleStat& r : s.rules) {
            const bpf::Counter* old = nullptr;
            if (b)
                for (const RuleStat& o : b->rules)
                    if (o.name == r.name) old = &o.counter;
            row(r.name, r.action, r.counter, old);
        }
        row("(default)", s.default_verdict, s.default_decisions, b ? &b->default_decisions : nullptr);
        std::vector<std::size_t> width(rows[0].size(), 0);
        for (const auto& r : rows)
            for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
        for (const auto& r : rows) {
            os << " ";
            for (std::size_t i = 0; i < r.size(); ++i) {
                const bool left = i < 2;
                std::string cell = r[i];
                std::string pad(width[i] - cell.size(), ' ');
                os << "  " << (left ? cell + pad : pad + cell);
            }
            os << "\n";  // the last column is right-aligned: no trailing spaces
        }
        os << "  verdicts:";
        for (std::uint32_t a : kReportedActions) {
            const bpf::Counter c = s.verdict(action_name(a));
            os << " " << action_name(a) << " " << c.packets;
            if (rates) {
                Rate rt = rate(c, earlier_verdict(b, action_name(a)), secs);
                if (rt.valid) os << " (" << si(rt.pps) << " pps)";
            }
            if (a != WEIR_ACT_ABORTED) os << ",";
        }
        os << "\n  malformed " << s.malformed.packets << ", errors " << s.errors.packets;
        if (s.log_drops.packets) os << ", log records lost " << s.log_drops.packets;
        os << "\n  " << cost_text(s, b) << "\n";
    }
    return os.str();
}

std::string to_json(const Snapshot& s, const Snapshot* b, int indent) {
    using json = nlohmann::json;
    const double secs = b ? std::chrono::duration<double>(s.taken - b->taken).count() : 0;
    auto counter = [&](const bpf::Counter& c, const bpf::Counter* old) {
        json j = {{"packets", c.packets}, {"bytes", c.bytes}};
        if (b) {
            Rate rt = rate(c, old, secs);
            j["pps"] = rt.valid ? json(rt.pps) : json(nullptr);
            j["bps"] = rt.valid ? json(rt.bps) : json(nullptr);
        }
        return j;
    };
    json rules = json::array();
    for (const RuleStat& r : s.rules) {
        const bpf::Counter* old = nullptr;
        if (b)
            for (const RuleStat& o : b->rules)
                if (o.name == r.name) old = &o.counter;
        json j = counter(r.counter, old);
        j["rule"] = r.name;
        j["action"] = r.action;
        j["slot"] = r.slot;
        rules.push_back(std::move(j));
    }
    json verdicts = json::object();
    for (std::uint32_t a : kReportedActions)
        verdicts[action_name(a)] = counter(s.verdict(action_name(a)), earlier_verdict(b, action_name(a)));
    json def = counter(s.default_decisions, b ? &b->default_decisions : nullptr);
    def["verdict"] = s.default_verdict;
    json out = {{"interface", s.ifname},
                {"policy", s.policy},
                {"prog_id", s.prog_id},
                {"mode", s.mode},
                {"time", s.time},
                {"rules", rules},
                {"default", def},
                {"verdicts", verdicts},
                {"malformed", counter(s.malformed, b ? &b->malformed : nullptr)},
                {"errors", counter(s.errors, b ? &b->errors : nullptr)},
                {"log_drops", counter(s.log_drops, b ? &b->log_drops : nullptr)}};
    json prog = {{"insns", s.program.insns}, {"jited_bytes", s.program.jited_bytes}};
    if (!s.program.measured) {
        prog["statistics"] = false;
        prog["why"] = s.program.why;
    } else {
        prog["statistics"] = true;
        prog["run_time_ns"] = s.program.run_time_ns;
        prog["runs"] = s.program.runs;
        if (b) {
            api::CostRate r = cost_rate(s, b);
            prog["pps"] = r.valid ? json(r.pps) : json(nullptr);
            prog["ns_per_packet"] = r.valid && !r.idle ? json(r.ns_per_packet) : json(nullptr);
        }
    }
    out["program"] = prog;
    if (b) out["interval"] = secs;
    return out.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace weir::stats
