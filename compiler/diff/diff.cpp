// diff(): both sides to entries, aligned, walked; the walk's findings turned into the result.
#include "diff.hpp"

#include <cmath>
#include <limits>
#include <map>

#include "diff_walk.hpp"

namespace weir::diff {

namespace {

using detail::Collector;
using detail::Side;

RuleRef rule_ref(const Side& side, bool old_side, int rule) {
    RuleRef r;
    r.old_side = old_side;
    r.rule = rule;
    if (rule < 0) {
        r.name = "default";
        return r;
    }
    const Rule& x = side.policy->rules.at(static_cast<std::size_t>(rule));
    r.name = x.name;
    r.where = x.range;
    return r;
}

std::string check_input(const DiffInput& in, const char* which) {
    if (!in.program) return std::string(which) + ": no program";
    if (in.policy < 0 || static_cast<std::size_t>(in.policy) >= in.program->policies.size())
        return std::string(which) + ": no policy " + std::to_string(in.policy);
    return {};
}

void finish(const Side& a, const Side& b, const Collector& col, const DiffLimits& lim, DiffResult& res) {
    double total = -std::numeric_limits<double>::infinity();
    std::vector<RuleRef> unconfirmed;
    std::map<std::string, std::vector<RuleRef>> opaque;  // no witness where opaque atoms were involved
    for (const auto& [key, p] : col.changes) {
        if (!p.witness && p.attempts == 0) {
            // Past max_witnesses: counted, not built (the exact model found it).
            ++res.changes_total;
            total = detail::log2_add(total, p.log2_headers);
            continue;
        }
        if (!p.witness) {
            auto& to = p.opaque.empty() ? unconfirmed : opaque[p.opaque];
            to.push_back(rule_ref(a, true, key.first));
            to.push_back(rule_ref(b, false, key.second));
            continue;
        }
        ++res.changes_total;
        total = detail::log2_add(total, p.log2_headers);
        if (res.changes.size() >= lim.max_witnesses) continue;
        res.changes.push_back(VerdictChange{p.before, p.after, *p.witness, p.log2_headers});
    }
    res.changed_log2_headers = std::isinf(total) ? 0 : total;
    for (const auto& [name, c] : col.counters) {
        if (!c.witness) {
            (c.opaque.empty() ? unconfirmed : opaque[c.opaque]).push_back(RuleRef{c.before, -1, name, {}});
            continue;
        }
        res.counters.push_back(CounterChange{name, c.before, c.after, *c.witness});
    }
    for (const auto& [reason, rules] : col.may_differ) {
        MayDiffer m{reason, {}};
        for (auto [old_side, rule] : rules) m.rules.push_back(rule_ref(old_side ? a : b, old_side, rule));
        auto extra = opaque.find(reason);
        if (extra != opaque.end()) {
            m.rules.insert(m.rules.end(), extra->second.begin(), extra->second.end());
            opaque.erase(extra);
        }
        res.may_differ.push_back(std::move(m));
    }
    for (auto& [reason, rules] : opaque) res.may_differ.push_back(MayDiffer{reason, std::move(rules)});
    MayDiffer large{"condition too large", {}};
    for (int r : a.too_large) large.rules.push_back(rule_ref(a, true, r));
    for (int r : b.too_large) large.rules.push_back(rule_ref(b, false, r));
    if (!large.rules.empty()) res.may_differ.push_back(std::move(large));
    if (!unconfirmed.empty()) res.may_differ.push_back(MayDiffer{"witness not confirmed", std::move(unconfirmed)});
}

}  // namespace

DiffResult diff(const DiffInput& before, const DiffInput& after, const DiffLimits& limits) {
    const auto t0 = std::chrono::steady_clock::now();
    DiffResult res;
    res.error = check_input(before, "old");
    if (res.error.empty()) res.error = check_input(after, "new");
    if (!res.error.empty()) return res;
    Side a = detail::build_side(before, limits.dnf_cap, 0x0123456789abcdefull);
    Side b = detail::build_side(after, limits.dnf_cap, 0xfedcba9876543210ull);
    detail::align(a, b);
    if (limits.focus) detail::add_hulls(a, b, detail::kMaxHulls);
    Collector col;
    detail::Walker w(a, b, limits, col);
    w.run();
    finish(a, b, col, limits, res);
    res.nodes = w.nodes();
    res.complete = !w.aborted() && !col.too_many_axes;
    res.equivalent = res.complete && res.changes_total == 0 && res.may_differ.empty();
    res.elapsed = std::chrono::steady_clock::now() - t0;
    return res;
}

}  // namespace weir::diff
