// Stage 2, alerts: `alert NAME [on POLICY] when rate(SOURCE[, UNIT]) OP THRESHOLD [for DURATION]
// severity LEVEL "MESSAGE"` -> Alert (docs/language.md "Alerts").
#include <charconv>
#include <cmath>

#include "actions.hpp"
#include "sema_check.hpp"
#include "values.hpp"

namespace weir::sema_detail {

namespace {

// Threshold suffixes: multiplier, and whether the threshold is in bytes.
struct ThresholdUnit {
    std::string_view text;
    double scale;
    bool bytes;
};
constexpr ThresholdUnit kThresholdUnits[] = {
    {"", 1, false},        {"k", 1e3, false},      {"m", 1e6, false},      {"g", 1e9, false},
    {"bytes", 1, true},    {"kbytes", 1e3, true},  {"mbytes", 1e6, true},  {"gbytes", 1e9, true},
};

constexpr std::string_view kSeverities[] = {"info", "warning", "critical"};

constexpr std::uint64_t kMaxForMs = 7ull * 24 * 3600 * 1000;  // a week

// The counter `rate()` reads and its unit.
bool check_alert_counter(const ast::Alert& a, const Policy* pol, Alert& out, Diagnostics& diags) {
    bool ok = true;
    const std::string& src = a.source.text;
    out.counter = src;
    if (a.verdict) {
        out.source = Alert::Source::Verdict;
        bool known = false;
        std::vector<std::string> cands;
        for (std::uint32_t act : kReportedActions) {
            known |= src == action_name(act);
            cands.emplace_back(action_name(act));
        }
        if (!known) {
            diags.error("unknown-verdict", a.source.range,
                        "unknown verdict '" + src + "'" + did_you_mean(src, cands) +
                            " (verdict totals: pass, drop, tx, redirect, aborted)");
            ok = false;
        }
    } else if (src == "malformed") {
        out.source = Alert::Source::Malformed;
    } else if (src == "default") {
        out.source = Alert::Source::Default;
    } else {
        out.source = Alert::Source::Rule;
        if (pol && pol->rule_index(src) < 0) {
            std::vector<std::string> cands;
            for (const auto& r : pol->rules) cands.push_back(r.name);
            auto& d = diags.error("unknown-rule", a.source.range,
                                  "policy '" + pol->name + "' has no rule '" + src + "'" + did_you_mean(src, cands) +
                                      " (rate() takes a rule name, verdict V, malformed or default)");
            d.notes.push_back({pol->name_range, "policy '" + pol->name + "' is declared here"});
            ok = false;
        }
    }
    if (a.unit) {
        if (a.unit->text == "bytes") {
            out.bytes = true;
        } else if (a.unit->text != "packets") {
            diags.error("unknown-rate-unit", a.unit->range,
                        "unknown unit '" + a.unit->text + "'" + did_you_mean(a.unit->text, {"packets", "bytes"}) +
                            " (rate(COUNTER, packets) or rate(COUNTER, bytes))");
            ok = false;
        }
    }
    return ok;
}

// The threshold, per second, in the rate's unit.
bool check_alert_threshold(const ast::Alert& a, Alert& out, Diagnostics& diags) {
    bool ok = true;
    const std::string& src = a.source.text;
    const ThresholdUnit* unit = nullptr;
    for (const auto& u : kThresholdUnits)
        if (u.text == a.threshold_unit) unit = &u;
    double number = 0;
    const std::string& nt = a.threshold.text;
    auto [end, ec] = std::from_chars(nt.data(), nt.data() + nt.size(), number);
    if (ec != std::errc() || end != nt.data() + nt.size() || !unit || !std::isfinite(number * unit->scale)) {
        diags.error("invalid-threshold", a.threshold_range, "invalid threshold '" + nt + a.threshold_unit + "/s'");
        ok = false;
    } else {
        out.threshold = number * unit->scale;
        std::string rate = "rate(" + std::string(a.verdict ? "verdict " : "") + src + (out.bytes ? ", bytes" : "") + ")";
        if (unit->bytes && !out.bytes && a.unit) {
            diags.error("unit-mismatch", a.threshold_range,
                        rate + " counts packets but the threshold " + nt + a.threshold_unit +
                            "/s is in bytes; compare it with a packet rate such as 50/s");
            ok = false;
        } else if (unit->bytes && !out.bytes) {
            auto& d = diags.error("unit-mismatch", a.threshold_range,
                                  rate + " counts packets but the threshold " + nt + a.threshold_unit +
                                      "/s is in bytes; write rate(" + std::string(a.verdict ? "verdict " : "") + src +
                                      ", bytes) for a byte rate");
            d.notes.push_back({a.rate_range, "a packet rate"});
            ok = false;
        } else if (!unit->bytes && out.bytes) {
            auto& d = diags.error("unit-mismatch", a.threshold_range,
                                  rate + " counts bytes but the threshold " + nt + a.threshold_unit +
                                      "/s is a packet rate; write it in bytes, e.g. " + nt + "kbytes/s");
            d.notes.push_back({a.rate_range, "a byte rate"});
            ok = false;
        }
    }
    return ok;
}

// How long the condition must hold.
bool check_alert_duration(const ast::Alert& a, Alert& out, Diagnostics& diags) {
    if (!a.duration) return true;
    const std::string& dt = a.duration->text;
    std::size_t digits = dt.find_first_not_of("0123456789");
    std::uint64_t n = 0;
    auto [p, e] = std::from_chars(dt.data(), dt.data() + digits, n);
    std::string_view u = std::string_view(dt).substr(digits);
    std::uint64_t scale = u == "ms" ? 1 : u == "s" ? 1000 : u == "m" ? 60000 : 3600000;
    if (e != std::errc() || n > kMaxForMs / scale) {
        diags.error("invalid-duration", a.duration->range, "'for " + dt + "' is longer than a week");
        return false;
    }
    out.for_ms = n * scale;
    return true;
}

// Severity and message.
bool check_alert_severity(const ast::Alert& a, Alert& out, Diagnostics& diags) {
    bool ok = true;
    const std::string& sev = a.severity.text;
    if (sev == "info") out.severity = Alert::Severity::Info;
    else if (sev == "warning") out.severity = Alert::Severity::Warning;
    else if (sev == "critical") out.severity = Alert::Severity::Critical;
    else {
        std::vector<std::string> cands(std::begin(kSeverities), std::end(kSeverities));
        diags.error("unknown-severity", a.severity.range,
                    "unknown severity '" + sev + "'" + did_you_mean(sev, cands) + " (info, warning or critical)");
        ok = false;
    }
    out.message = a.message.text;
    if (out.message.empty()) {
        diags.error("empty-alert-message", a.message.range, "an alert's message must not be empty");
        ok = false;
    }
    return ok;
}

}  // namespace

int Checker::alert_policy(const ast::Alert& a, FileId file) {
    return owner_policy(a.policy, a.name.range, file,
                        {"alert '" + a.name.text + "'", "`alert " + a.name.text + " on POLICY when ...`",
                         "`on POLICY` after the alert name", "ambiguous-alert-policy"});
}

void Checker::check_alert(const ast::Alert& a, FileId file) {
    Alert out;
    out.name = a.name.text;
    out.range = a.range;
    out.name_range = a.name.range;
    out.rate_range = a.rate_range;
    out.threshold_range = a.threshold_range;
    if (a.duration) out.for_range = a.duration->range;
    bool ok = true;

    if (auto [it, fresh] = alert_names_.try_emplace(a.name.text, a.name.range); !fresh) {
        auto& d = diags_.error("duplicate-alert", a.name.range, "there is already an alert named '" + a.name.text + "'");
        d.notes.push_back({it->second, "first defined here"});
        ok = false;
    }

    out.policy = alert_policy(a, file);
    const Policy* pol = out.policy >= 0 ? &prog_.policies[out.policy] : nullptr;

    ok = check_alert_counter(a, pol, out, diags_) && ok;
    ok = check_alert_threshold(a, out, diags_) && ok;
    ok = check_alert_duration(a, out, diags_) && ok;
    ok = check_alert_severity(a, out, diags_) && ok;
    out.op = a.op;
    if (ok && out.policy >= 0) prog_.alerts.push_back(std::move(out));
}

}  // namespace weir::sema_detail
