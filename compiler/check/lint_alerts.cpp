// Lint, alerts: an alert whose comparison can never or always hold, given that a rate is never
// negative and that a counter lint proved never moves (from the rule warnings) stays at 0/s;
// and a `for` shorter than the daemon's evaluation interval.
#include <cstdio>
#include <optional>
#include <string>

#include "lint_internal.hpp"

namespace weir::lint_detail {

namespace {

// A rate is (counter now - counter before) / seconds: never negative. So `< 0/s` never holds and
// `>= 0/s` always does; and a counter that lint proved never moves (its rule can never match,
// the default is never reached, no rule gives the verdict) has a rate of exactly 0/s.

std::string number_text(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
}

std::string rate_text(const Alert& a) {
    return "rate(" + std::string(a.source == Alert::Source::Verdict ? "verdict " : "") + a.counter +
           (a.bytes ? ", bytes" : "") + ")";
}

std::string threshold_text(const Alert& a) { return number_text(a.threshold) + (a.bytes ? "bytes/s" : "/s"); }

std::string duration_text(std::uint64_t ms) {
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

std::optional<Action::Kind> verdict_action(const std::string& v) {
    if (v == "pass") return Action::Kind::Pass;
    if (v == "drop") return Action::Kind::Drop;
    if (v == "tx") return Action::Kind::Tx;
    if (v == "redirect") return Action::Kind::Redirect;
    return std::nullopt;  // aborted: any redirect may end so, and errors do
}

}  // namespace

std::optional<Linter::Zero> Linter::stays_zero(const Alert& a) {
    const Policy& pol = program_.policies[static_cast<std::size_t>(a.policy)];
    const DeadCounters& dead = dead_[static_cast<std::size_t>(a.policy)];
    switch (a.source) {
        case Alert::Source::Rule: {
            const int i = pol.rule_index(a.counter);
            if (i < 0 || !dead.rule[static_cast<std::size_t>(i)]) return std::nullopt;
            const Rule& r = pol.rules[static_cast<std::size_t>(i)];
            const std::string verb = r.action.terminal() ? "match" : r.action.kind == Action::Kind::Log ? "log" : "count";
            Zero z{"rule '" + r.name + "'" + where(rule_loc(r), a.rate_range) + " can never " + verb, {}};
            z.notes.push_back({rule_loc(r), "'" + r.name + "' can never " + verb + " (see " +
                                                dead.rule[static_cast<std::size_t>(i)] + ")"});
            return z;
        }
        case Alert::Source::Default: {
            if (!dead.decider) return std::nullopt;
            const Rule& u = pol.rules[*dead.decider];
            Zero z{"rule '" + u.name + "'" + where(rule_loc(u), a.rate_range) +
                       " decides every packet, so the default decides none",
                   {}};
            z.notes.push_back({rule_loc(u), "every packet is decided here"});
            return z;
        }
        case Alert::Source::Verdict: {
            auto kind = verdict_action(a.counter);
            if (!kind) return std::nullopt;
            for (std::size_t i = 0; i < pol.rules.size(); ++i)
                if (pol.rules[i].action.kind == *kind && !dead.rule[i]) return std::nullopt;
            const bool default_gives = action_name(*kind) == std::string(verdict_name(pol.default_verdict));
            if (default_gives && !dead.decider) return std::nullopt;
            std::string why = "policy '" + pol.name + "'" + where(pol.name_range, a.rate_range) + " never gives verdict " +
                              a.counter + ": no rule that can match has action " + a.counter;
            why += default_gives ? " and no packet reaches its default" : " and its default is " +
                                                                              std::string(verdict_name(pol.default_verdict));
            Zero z{std::move(why), {}};
            z.notes.push_back({pol.name_range, "policy '" + pol.name + "' is declared here"});
            if (default_gives) z.notes.push_back({rule_loc(pol.rules[*dead.decider]), "every packet is decided here"});
            return z;
        }
        case Alert::Source::Malformed: return std::nullopt;
    }
    return std::nullopt;
}

void Linter::lint_alert(const Alert& a) {
    if (a.policy < 0 || static_cast<std::size_t>(a.policy) >= program_.policies.size()) return;
    const std::string rate = rate_text(a), thr = threshold_text(a);
    const SourceRange rate_at = a.rate_range.valid() ? a.rate_range : a.name_range;
    const SourceRange thr_at = a.threshold_range.valid() ? a.threshold_range : a.name_range;
    const double t = a.threshold;
    const std::string never = "alert '" + a.name + "' can never fire: ";
    const std::string always = "alert '" + a.name + "' always fires: ";

    // The comparison alone.
    if ((a.op == Cmp::Lt && t <= 0) || (a.op == Cmp::Le && t < 0)) {
        auto& d = diags_.warning("alert-never-fires", thr_at,
                                 never + rate + " is never below " + (a.op == Cmp::Le ? "or at " : "") + thr);
        d.notes.push_back({rate_at, "a rate is never negative"});
    } else if (a.op == Cmp::Ge && t <= 0) {
        auto& d = diags_.warning("alert-always-fires", thr_at,
                                 always + rate + " is always at least " + thr + "; write '> " + thr +
                                     "' to fire on any traffic");
        d.notes.push_back({rate_at, "a rate is never negative"});
    } else if (auto z = stays_zero(a)) {
        // A counter that never moves: the rate is 0/s at every evaluation.
        const bool holds_at_zero = (a.op == Cmp::Lt && t > 0) || a.op == Cmp::Le || (a.op == Cmp::Ge && t <= 0);
        const char* op_words = a.op == Cmp::Gt ? "above" : a.op == Cmp::Ge ? "at or above" : a.op == Cmp::Lt ? "below" : "at or below";
        auto& d = holds_at_zero
                      ? diags_.warning("alert-always-fires", rate_at,
                                       always + z->why + ", so " + rate + " stays at 0/s, always " + op_words + " " + thr)
                      : diags_.warning("alert-never-fires", rate_at,
                                       never + z->why + ", so " + rate + " stays at 0/s, never " + op_words + " " + thr);
        for (auto& n : z->notes) d.notes.push_back(std::move(n));
    }

    // `for` below the evaluation interval.
    if (a.for_ms > 0 && a.for_ms < kAlertEvaluationMs) {
        const std::string interval = duration_text(kAlertEvaluationMs);
        auto& d = diags_.warning("alert-for-below-interval", a.for_range.valid() ? a.for_range : a.name_range,
                                 "'for " + duration_text(a.for_ms) + "' is shorter than the daemon's evaluation interval (" +
                                     interval + "): alert '" + a.name + "' acts as with 'for " + interval + "'");
        d.notes.push_back({a.name_range, "the daemon evaluates alerts once every " + interval +
                                             ": the condition must hold at two evaluations in a row"});
    }
}

}  // namespace weir::lint_detail
