// Lint, shadowed and unreachable rules: a rule whose packets earlier terminal rules all decide,
// alone or together. Comparing every pair does not scale to 100k rules, so the earlier rules
// worth comparing come from an index of the values each rule allows (CandidateIndex), and the
// case splits spent deciding coverage are budgeted per question and per policy.
#include <algorithm>
#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lint_internal.hpp"

namespace weir::lint_detail {

namespace {

constexpr long kQuestionBudget = 20000;     // case splits for one "is A covered by B?"
constexpr std::size_t kMaxUnionRules = 12;  // rules tried together for "shadowed by several"

// Which earlier rules can share a packet with a rule: the candidates the shadow analysis must
// look at, found without comparing every pair (policies of 100k rules). For each of the fields
// most rules constrain, rules are indexed by the values of that field they allow (a rule with a
// box that leaves the field free is a candidate for everyone); a rule's candidates are the
// rules every index offers. A superset of the intersecting rules: the exact test
// (logic::disjoint) still decides.
class FieldIndex {
public:
    FieldIndex(const std::vector<RuleFacts>& facts, FieldId field) : field_(field) {
        std::vector<const logic::FieldSet*> sets;
        for (std::size_t j = 0; j < facts.size(); ++j) {
            const RuleFacts& f = facts[j];
            if (!f.usable() || f.never()) continue;
            if (!sets_of(f, sets)) {
                wild_.push_back(j);
                continue;
            }
            for (const auto* set : sets) {
                if (set->absent) absent_.push_back(j);
                for (std::size_t v = 0; v < 2; ++v)
                    for (const auto& iv : set->v[v]) entries_[v].push_back({iv.lo, iv.hi, j});
            }
        }
        for (std::size_t v = 0; v < 2; ++v) {
            auto& e = entries_[v];
            std::sort(e.begin(), e.end(), [](const Entry& x, const Entry& y) { return x.lo < y.lo; });
            max_[v].assign(4 * std::max<std::size_t>(1, e.size()), 0);
            if (!e.empty()) build(v, 1, 0, e.size());
            his_[v].reserve(e.size());
            for (const Entry& x : e) his_[v].push_back(x.hi);
            std::sort(his_[v].begin(), his_[v].end());
        }
        marks_.assign(facts.size() / 64 + 1, 0);
        hulls_.resize(facts.size());
        for (auto j : wild_) hulls_[j].wild = true;
        for (std::size_t j = 0; j < facts.size(); ++j)
            if (!hulls_[j].wild && facts[j].usable() && !facts[j].never() && sets_of(facts[j], sets))
                hulls_[j] = hull_of(sets);
    }

    // How many entries (of any rule) `before` would look at for `sets`, from two binary searches
    // per interval: entries with lo <= hi_q, less those that end before lo_q.
    std::size_t estimate(const std::vector<const logic::FieldSet*>& sets) const {
        std::size_t n = wild_.size();
        for (const auto* set : sets) {
            if (set->absent) n += absent_.size();
            for (std::size_t v = 0; v < 2; ++v) {
                const auto& e = entries_[v];
                for (const auto& iv : set->v[v]) {
                    auto upto = std::upper_bound(e.begin(), e.end(), iv.hi, [](u128 x, const Entry& en) { return x < en.lo; }) - e.begin();
                    auto ended = std::lower_bound(his_[v].begin(), his_[v].end(), iv.lo) - his_[v].begin();
                    n += static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, upto - ended));
                }
            }
        }
        return n;
    }

    // What a rule allows of the field, all its boxes together: "absent", and per variant the
    // smallest and largest value (the hull). Two rules may share a packet only if their hulls
    // meet (or both allow the field absent): exact for the one-interval fields of most rules, a
    // superset otherwise (a candidate too many costs one exact test later, one too few would
    // lose a finding).
    struct Hull {
        bool wild = false;  // some box leaves the field free
        bool absent = false;
        std::array<bool, 2> any{};
        std::array<u128, 2> lo{}, hi{};
    };
    static Hull hull_of(const std::vector<const logic::FieldSet*>& sets) {
        Hull h;
        for (const auto* set : sets) {
            h.absent = h.absent || set->absent;
            for (std::size_t v = 0; v < 2; ++v) {
                if (set->v[v].empty()) continue;
                u128 lo = set->v[v].front().lo, hi = set->v[v].back().hi;
                h.lo[v] = h.any[v] ? std::min(h.lo[v], lo) : lo;
                h.hi[v] = h.any[v] ? std::max(h.hi[v], hi) : hi;
                h.any[v] = true;
            }
        }
        return h;
    }
    bool may_share(std::size_t j, const Hull& q) const {
        const Hull& h = hulls_[j];
        if (h.wild || (q.absent && h.absent)) return true;
        for (std::size_t v = 0; v < 2; ++v)
            if (q.any[v] && h.any[v] && std::max(q.lo[v], h.lo[v]) <= std::min(q.hi[v], h.hi[v])) return true;
        return false;
    }

    // The field's set in each box of `f`; false if some box leaves the field free.
    bool sets_of(const RuleFacts& f, std::vector<const logic::FieldSet*>& out) const {
        out.clear();
        if (!f.usable()) return false;
        for (const Box* b : f.boxes) {
            auto it = std::find_if(b->fields.begin(), b->fields.end(), [&](const auto& p) { return p.first == field_; });
            if (it == b->fields.end()) return false;
            out.push_back(&it->second);
        }
        return true;
    }

    // Rules j < i that allow a value of the field that one of `sets` allows, or leave it free,
    // ascending. Marked in a bitmap and read back in order: no sort.
    std::vector<std::size_t> before(std::size_t i, const std::vector<const logic::FieldSet*>& sets) const {
        std::vector<std::size_t> out;
        for (auto j : wild_)
            if (j < i) out.push_back(j);
        for (const auto* set : sets) {
            if (set->absent)
                for (auto j : absent_)
                    if (j < i) out.push_back(j);
            for (std::size_t v = 0; v < 2; ++v)
                for (const auto& iv : set->v[v]) overlapping(v, iv.lo, iv.hi, i, out);
        }
        for (auto j : out) marks_[j / 64] |= std::uint64_t{1} << (j % 64);
        out.clear();
        for (std::size_t w = 0; w * 64 < i; ++w) {
            for (std::uint64_t bits = marks_[w]; bits != 0; bits &= bits - 1)
                out.push_back(w * 64 + static_cast<std::size_t>(__builtin_ctzll(bits)));
            marks_[w] = 0;
        }
        return out;
    }

private:
    struct Entry {
        u128 lo, hi;
        std::size_t rule;
    };

    // max_[v][node]: the largest hi under `node` of a segment tree over entries_[v] (sorted by lo).
    u128 build(std::size_t v, std::size_t node, std::size_t a, std::size_t b) {
        if (b - a == 1) return max_[v][node] = entries_[v][a].hi;
        std::size_t m = (a + b) / 2;
        return max_[v][node] = std::max(build(v, 2 * node, a, m), build(v, 2 * node + 1, m, b));
    }
    // Entries with lo <= hi_q (a prefix of the sorted entries) and hi >= lo_q, of rules before i.
    void overlapping(std::size_t v, u128 lo_q, u128 hi_q, std::size_t i, std::vector<std::size_t>& out) const {
        const auto& e = entries_[v];
        auto end = static_cast<std::size_t>(
            std::upper_bound(e.begin(), e.end(), hi_q, [](u128 x, const Entry& en) { return x < en.lo; }) - e.begin());
        if (end > 0) collect(v, 1, 0, e.size(), end, lo_q, i, out);
    }
    void collect(std::size_t v, std::size_t node, std::size_t a, std::size_t b, std::size_t end, u128 lo_q,
                 std::size_t i, std::vector<std::size_t>& out) const {
        if (a >= end || max_[v][node] < lo_q) return;
        if (b - a == 1) {
            if (entries_[v][a].rule < i) out.push_back(entries_[v][a].rule);
            return;
        }
        std::size_t m = (a + b) / 2;
        collect(v, 2 * node, a, m, end, lo_q, i, out);
        collect(v, 2 * node + 1, m, b, end, lo_q, i, out);
    }

    FieldId field_;
    std::vector<std::size_t> wild_, absent_;
    std::array<std::vector<Entry>, 2> entries_;
    std::array<std::vector<u128>, 2> max_;
    std::array<std::vector<u128>, 2> his_;  // every entry's hi, sorted (estimate())
    std::vector<Hull> hulls_;               // per rule
    mutable std::vector<std::uint64_t> marks_;  // before(): one bit per rule, cleared after use
};

class CandidateIndex {
public:
    static constexpr std::size_t kFields = 4;
    static constexpr std::size_t kMinRules = 64;  // below this, comparing every pair is cheaper

    explicit CandidateIndex(const std::vector<RuleFacts>& facts) : facts_(facts) {
        if (facts.size() < kMinRules) return;
        std::map<FieldId, std::size_t> constrained;
        for (const auto& f : facts)
            if (f.usable() && !f.never())
                for (const Box* b : f.boxes)
                    for (const auto& p : b->fields) ++constrained[p.first];
        std::vector<std::pair<std::size_t, FieldId>> by_use;
        for (const auto& [canon, n] : constrained) by_use.emplace_back(n, canon);
        std::sort(by_use.begin(), by_use.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        for (std::size_t k = 0; k < by_use.size() && k < kFields; ++k) fields_.emplace_back(facts, by_use[k].second);
    }

    // Rules j < i that may intersect rule i, ascending; `work` grows by the rules looked at.
    // The candidates come from the index of the field that offers the fewest (estimated without
    // collecting them); the other indexed fields then filter those rules one by one. Collecting
    // and sorting every field's list, to intersect them, cost most of lint at 10k rules.
    std::vector<std::size_t> before(std::size_t i, long& work) const {
        std::vector<std::vector<const logic::FieldSet*>> sets(fields_.size());
        std::optional<std::size_t> best;
        std::size_t best_n = 0;
        for (std::size_t k = 0; k < fields_.size(); ++k) {
            if (!fields_[k].sets_of(facts_[i], sets[k])) {
                sets[k].clear();
                continue;
            }
            std::size_t n = fields_[k].estimate(sets[k]);
            if (!best || n < best_n) best = k, best_n = n;
        }
        std::vector<std::size_t> out;
        if (best) {
            out = fields_[*best].before(i, sets[*best]);
        } else {
            out.resize(i);
            for (std::size_t j = 0; j < i; ++j) out[j] = j;
        }
        work += static_cast<long>(out.size());
        std::vector<std::pair<const FieldIndex*, FieldIndex::Hull>> filters;
        for (std::size_t k = 0; k < fields_.size(); ++k)
            if (k != best && !sets[k].empty()) filters.emplace_back(&fields_[k], FieldIndex::hull_of(sets[k]));
        std::erase_if(out, [&](std::size_t j) {
            return std::any_of(filters.begin(), filters.end(), [&](const auto& f) { return !f.first->may_share(j, f.second); });
        });
        return out;
    }

private:
    const std::vector<RuleFacts>& facts_;
    std::vector<FieldIndex> fields_;
};

}  // namespace

bool Linter::covers(const Box& a, const std::vector<const Box*>& bs) {
    // One box: exact without case splits, and without building the complement of each of its
    // fields (a million intervals for a rule over a blocklist).
    if (bs.size() == 1) return logic::within(a, logic::state_mask(a), *bs[0]);
    if (budget_ <= 0) {
        ++undecided_;
        return false;
    }
    long local = std::min(kQuestionBudget, budget_);
    const long start = local;
    bool yes = logic::covered(a, bs, local);
    budget_ -= start - std::max(local, 0L);
    if (!yes && local < 0) ++undecided_;  // gave up: "no" here means "not known"
    return yes;
}

bool Linter::covers_all(const RuleFacts& r, const std::vector<const Box*>& bs) {
    if (bs.size() == 1) {
        // One box: exact without case splits (most rules of a large policy are one box).
        for (std::size_t x = 0; x < r.boxes.size(); ++x)
            if (!logic::within(*r.boxes[x], r.masks[x], *bs[0])) return false;
        return true;
    }
    return std::all_of(r.dnf->begin(), r.dnf->end(), [&](const Conj& c) { return covers(c.box, bs); });
}

bool Linter::always_true(const RuleFacts& f) {
    return f.usable() && covers(Box{}, f.boxes);
}

void Linter::lint_policy(const Policy& policy, DeadCounters& dead) {
    budget_ = case_splits_;
    undecided_ = 0;
    Space space(program_);
    std::vector<RuleFacts> facts(policy.rules.size());
    for (std::size_t i = 0; i < policy.rules.size(); ++i) {
        const Rule& r = policy.rules[i];
        RuleFacts& f = facts[i];
        if (!r.has_cond || r.cond.kind == Expr::Kind::True)
            f.dnf = Dnf{Conj{}};
        else
            f.dnf = space.dnf(r.cond);
        if (f.dnf)
            for (const auto& c : *f.dnf) {
                f.boxes.push_back(&c.box);
                f.masks.push_back(logic::state_mask(c.box));
            }
    }

    std::size_t end = policy.rules.size();  // rules [0, end) can be reached
    for (std::size_t i = 0; i < policy.rules.size(); ++i) {
        if (policy.rules[i].action.terminal() && always_true(facts[i])) {
            end = i + 1;
            if (end < policy.rules.size()) report_unreachable(policy, i);
            dead.decider = i;
            for (std::size_t j = end; j < policy.rules.size(); ++j) dead.rule[j] = "unreachable-rule";
            break;
        }
    }

    CandidateIndex index(facts);
    long pairs = comparisons_;
    for (std::size_t i = 0; i < end; ++i) {
        if (!facts[i].usable()) continue;
        if (facts[i].never()) {
            dead.rule[i] = report_contradiction(policy.rules[i], space);
            continue;
        }
        if (pairs <= 0) continue;  // contradictions are still reported: they cost nothing
        long work = 0;
        std::vector<std::size_t> earlier = index.before(i, work);
        pairs -= work + static_cast<long>(earlier.size());
        if (pairs <= 0) {
            const Rule& r = policy.rules[i];
            diags_.add({Severity::Note, "lint-budget", rule_loc(r),
                        "lint did not look for shadowed rules from rule '" + r.name + "' on: policy '" + policy.name +
                            "' needs more than " + std::to_string(comparisons_) + " rule comparisons; rules before it were checked",
                        {}});
            continue;
        }
        if (check_shadowed(policy, i, facts, earlier)) dead.rule[i] = "shadowed-rule";
    }
    if (undecided_ > 0)
        diags_.add({Severity::Note, "lint-budget", policy.name_range,
                    "lint left " + std::to_string(undecided_) + (undecided_ == 1 ? " question" : " questions") +
                        " about shadowed rules of policy '" + policy.name + "' undecided: they need more than " +
                        std::to_string(kQuestionBudget) + " case splits each or " + std::to_string(case_splits_) +
                        " for the policy; the rules they concern may be shadowed without a warning",
                    {}});
}

// Whether rule i can never match (or count) because earlier terminal rules decide its packets;
// reported when true.
bool Linter::check_shadowed(const Policy& policy, std::size_t i, const std::vector<RuleFacts>& facts,
                            const std::vector<std::size_t>& earlier) {
    const Rule& rule = policy.rules[i];
    const RuleFacts& rf = facts[i];
    const bool count = !rule.action.terminal();
    const std::string verb = rule.action.kind == Action::Kind::Log ? "log" : "count";
    const std::string what =
        count ? "rule '" + rule.name + "' can never " + verb + ": " : "rule '" + rule.name + "' can never match: ";
    const std::string tail =
        count ? " decides every packet it would " + verb : " matches every packet it would";

    auto intersects = [&](const RuleFacts& e) {
        for (std::size_t x = 0; x < rf.boxes.size(); ++x)
            for (std::size_t y = 0; y < e.boxes.size(); ++y)
                if (!logic::disjoint(*rf.boxes[x], rf.masks[x], *e.boxes[y], e.masks[y])) return true;
        return false;
    };

    std::vector<std::size_t> candidates;  // earlier terminal rules that match some of its packets
    for (std::size_t j : earlier) {
        const Rule& e = policy.rules[j];
        if (!e.action.terminal() || !facts[j].usable() || facts[j].never()) continue;
        // Past kMaxUnionRules candidates the union is not tried, so whether a one-box rule meets
        // this one only matters if it covers it, which implies meeting (its boxes are non-empty).
        const bool only_cover = candidates.size() > kMaxUnionRules && facts[j].boxes.size() == 1;
        if (!only_cover && !intersects(facts[j])) continue;
        if (covers_all(rf, facts[j].boxes)) {
            auto& d =
                diags_.warning("shadowed-rule", rule_loc(rule),
                               what + "rule '" + e.name + "'" + where(rule_loc(e), rule_loc(rule)) + tail);
            d.notes.push_back({rule_loc(e), "'" + e.name + "' matches first here"});
            return true;
        }
        if (!only_cover) candidates.push_back(j);
    }
    if (candidates.size() < 2 || candidates.size() > kMaxUnionRules) return false;

    auto boxes_of = [&](const std::vector<std::size_t>& rules) {
        std::vector<const Box*> bs;
        for (auto j : rules) bs.insert(bs.end(), facts[j].boxes.begin(), facts[j].boxes.end());
        return bs;
    };
    if (!covers_all(rf, boxes_of(candidates))) return false;
    // Keep only the rules needed, dropping later ones first.
    for (std::size_t k = candidates.size(); k-- > 0 && candidates.size() > 2;) {
        auto fewer = candidates;
        fewer.erase(fewer.begin() + static_cast<std::ptrdiff_t>(k));
        if (covers_all(rf, boxes_of(fewer))) candidates = std::move(fewer);
    }
    std::string list;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
        const Rule& e = policy.rules[candidates[k]];
        if (k > 0) list += k + 1 == candidates.size() ? " and " : ", ";
        list += "'" + e.name + "'" + where(rule_loc(e), rule_loc(rule));
    }
    auto& d =
        diags_.warning("shadowed-rule", rule_loc(rule),
                       what + "rules " + list + " together" +
                           (count ? " decide every packet it would count" : " match every packet it would"));
    for (auto j : candidates) {
        const Rule& e = policy.rules[j];
        d.notes.push_back({rule_loc(e), "'" + e.name + "' matches some of those packets first here"});
    }
    return true;
}

void Linter::report_unreachable(const Policy& policy, std::size_t decider) {
    const Rule& u = policy.rules[decider];
    const Rule& first = policy.rules[decider + 1];
    const std::size_t more = policy.rules.size() - decider - 2;
    std::string subject = "rule '" + first.name + "'";
    if (more == 1) subject += " and the rule after it";
    if (more > 1) subject += " and the " + std::to_string(more) + " rules after it";
    auto& d = diags_.warning("unreachable-rule", rule_loc(first),
                             subject + " can never match: rule '" + u.name + "'" +
                                 where(rule_loc(u), rule_loc(first)) + " decides every packet");
    d.notes.push_back({rule_loc(u), u.has_cond && u.cond.kind != Expr::Kind::True
                                        ? "its condition is always true: every packet is decided here"
                                        : "every packet is decided here"});
}

}  // namespace weir::lint_detail
