// The API's shadow mode (include/weir/shadow.hpp) over runtime/attach/shadow.hpp.
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>

#include "api_impl.hpp"
#include "events.hpp"
#include "shadow.hpp"
#include "weir/shadow.hpp"

namespace weir::api {

namespace {

attach::LoadOptions shadow_options(const std::string& ifname, const CompileOptions& copts, const AttachOptions& opts) {
    attach::LoadOptions lo = load_options(ifname, opts);
    lo.check = check_options(copts);
    return lo;
}

// 1234567 -> "1,234,567"
std::string grouped(std::uint64_t n) {
    std::string d = std::to_string(n), out;
    for (std::size_t i = 0; i < d.size(); ++i) {
        if (i && (d.size() - i) % 3 == 0) out += ',';
        out += d[i];
    }
    return out;
}

// "passed", "dropped", "redirected", "sent back" (tx), "aborted".
std::string past(const std::string& verdict) {
    if (verdict == "pass") return "passed";
    if (verdict == "drop") return "dropped";
    if (verdict == "redirect") return "redirected";
    if (verdict == "tx") return "sent back";
    return verdict == "aborted" ? "aborted" : verdict;
}

std::string by(const std::string& rule) { return rule == "default" ? "the default" : "`" + rule + "`"; }

}  // namespace

LoadReport shadow_start(const std::string& ifname, const std::string& path, const CompileOptions& copts,
                        const AttachOptions& opts) {
    attach::LoadOptions lo = shadow_options(ifname, copts, opts);
    lo.file = path;
    return report(ifname, attach::shadow::start(lo), opts);
}

LoadReport shadow_start(const std::string& ifname, const Policy& running, const Policy& candidate,
                        const AttachOptions& opts) {
    if (!running.ok() || !candidate.ok()) {
        LoadReport out;
        out.ifname = ifname;
        out.error = {ErrorKind::Policy, "compile", "the policy does not compile: nothing was changed on '" + ifname + "'"};
        return out;
    }
    attach::LoadOptions lo = load_options(ifname, opts);
    const auto& c = PolicyAccess::of(candidate);
    lo.file = c.name;
    std::error_code ec;
    if (!c.from_string)
        if (auto abs = std::filesystem::absolute(c.name, ec); !ec) lo.file = abs.lexically_normal().string();
    return report(ifname, attach::shadow::start(lo, PolicyAccess::of(running).compilation, c.compilation), opts);
}

LoadReport shadow_promote(const std::string& ifname, const CompileOptions& copts, const AttachOptions& opts) {
    return report(ifname, attach::shadow::promote(shadow_options(ifname, copts, opts)), opts);
}

LoadReport shadow_stop(const std::string& ifname, const CompileOptions& copts, const AttachOptions& opts) {
    return report(ifname, attach::shadow::stop(shadow_options(ifname, copts, opts)), opts);
}

std::uint64_t ShadowReport::differing_packets() const {
    std::uint64_t n = lost_packets;
    for (const auto& t : transitions) n += t.packets;
    return n;
}

ShadowReport shadow_report(const std::string& ifname, int sample_ms) {
    ShadowReport out;
    out.ifname = ifname;
    attach::shadow::Report r;
    if (attach::Failure f = attach::shadow::report(ifname, r)) {
        out.error = {f.problem, "shadow", f.message};
        return out;
    }
    out.policy = r.meta.policy;
    out.source = r.meta.source;
    out.candidate = r.meta.shadow->policy;
    out.candidate_source = r.meta.shadow->source;
    out.since = r.meta.shadow->loaded_at;
    for (auto& t : r.transitions)
        out.transitions.push_back({t.from_rule, t.from_verdict, t.to_rule, t.to_verdict, t.packets, t.bytes});
    out.same_packets = r.same_packets;
    out.lost_packets = r.lost_packets;
    out.candidate_rules = r.candidate_rules;
    out.candidate_default_packets = r.candidate_default_packets;
    if (sample_ms <= 0) return out;
    events::Options eo;
    eo.backlog = true;
    auto reader = events::Reader::open(ifname, eo);
    if (!reader) {
        out.error = {ErrorKind::Environment, "read", reader.error().message};
        return out;
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(sample_ms);
    while (std::chrono::steady_clock::now() < until) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        auto n = (*reader)->poll(static_cast<int>(std::max<long long>(1, left.count())), [&](const events::Record& rec) {
            if (rec.shadow)
                out.samples.push_back({rec.decided_by, rec.verdict, rec.shadow_rule, rec.shadow_verdict,
                                       events::summary(rec)});
            return true;
        });
        if (!n) break;
    }
    return out;
}

std::string ShadowReport::text() const {
    if (error) return error.message + "\n";
    std::string s = "shadow on '" + ifname + "': candidate '" + candidate + "' (" + candidate_source +
                    ") beside '" + policy + "'\n";
    s += grouped(same_packets) + " packets decided alike, " + grouped(differing_packets()) + " differently";
    if (lost_packets) s += " (" + grouped(lost_packets) + " of them not counted: transition table full)";
    s += "\n";
    for (const auto& t : transitions)
        s += "  " + grouped(t.packets) + " packets " + past(t.from_verdict) + " by " + by(t.from_rule) +
             " would be " + past(t.to_verdict) + " by " + by(t.to_rule) + "\n";
    if (!samples.empty()) s += "samples:\n";
    for (const auto& x : samples) s += "  " + x.packet + "\n";
    return s;
}

std::string ShadowReport::json(int indent) const {
    nlohmann::ordered_json j;
    if (error) {
        j["error"] = error.message;
        return j.dump(indent);
    }
    j["interface"] = ifname;
    j["policy"] = policy;
    j["source"] = source;
    j["candidate"] = candidate;
    j["candidate_source"] = candidate_source;
    j["since"] = since;
    j["same_packets"] = same_packets;
    j["differing_packets"] = differing_packets();
    j["lost_packets"] = lost_packets;
    j["transitions"] = nlohmann::ordered_json::array();
    for (const auto& t : transitions)
        j["transitions"].push_back({{"from_rule", t.from_rule}, {"from_verdict", t.from_verdict},
                                    {"to_rule", t.to_rule}, {"to_verdict", t.to_verdict},
                                    {"packets", t.packets}, {"bytes", t.bytes}});
    nlohmann::ordered_json rules = nlohmann::ordered_json::object();
    for (const auto& [n, p] : candidate_rules) rules[n] = p;
    j["candidate_rules"] = rules;
    j["candidate_default_packets"] = candidate_default_packets;
    j["samples"] = nlohmann::ordered_json::array();
    for (const auto& x : samples)
        j["samples"].push_back({{"from_rule", x.from_rule}, {"from_verdict", x.from_verdict},
                                {"to_rule", x.to_rule}, {"to_verdict", x.to_verdict}, {"packet", x.packet}});
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace weir::api
