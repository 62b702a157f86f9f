// Lint: warnings over a checked program. The reasoning about conditions (DNF, per-field value
// sets, implication) lives in condition_sets.*; this file decides what to report and how.
#include "lint.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "condition_sets.hpp"

namespace weir {

namespace {

using logic::Box;
using logic::Conj;
using logic::Dnf;
using logic::Lit;
using logic::Space;

constexpr long kQuestionBudget = 20000;     // case splits for one "is A covered by B?"
constexpr std::size_t kMaxUnionRules = 12;  // rules tried together for "shadowed by several"

// What lint knows about one rule's condition.
struct RuleFacts {
    std::optional<Dnf> dnf;  // nullopt: too large to reason about
    std::vector<const Box*> boxes;
    std::vector<std::uint32_t> masks;  // logic::state_mask of each box
    bool usable() const { return dnf.has_value(); }
    bool never() const { return dnf && dnf->empty(); }
};

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

// Why a conjunction is empty: lits[first] alone, or lits[first] with lits[second].
struct Conflict {
    enum class Kind { Single, Headers, Values, Negation, Many };
    Kind kind = Kind::Many;
    int first = -1;
    int second = -1;
};

std::string_view lit_field_name(const Lit& l) {
    if (l.atom && l.atom->kind == Expr::Kind::Limit) return "over";
    return l.atom && l.atom->kind == Expr::Kind::Payload ? std::string_view("payload") : field(l.field).name;
}

// The header a literal needs, as words ("a TCP header"); empty when it needs none.
std::string_view needed_header(const Lit& l) {
    if (l.kind != Lit::Kind::Field || l.set.absent) return {};
    bool v0 = !l.set.v[0].empty(), v1 = !l.set.v[1].empty();
    if (l.canon == FieldId::IpSrc || l.canon == FieldId::IpDst)
        return v0 && !v1 ? "an IPv4 header" : v1 && !v0 ? "an IPv6 header" : "an IP header";
    if (l.canon == FieldId::L4Sport || l.canon == FieldId::L4Dport)
        return v0 && !v1 ? "a TCP header" : v1 && !v0 ? "a UDP header" : "a TCP or UDP header";
    switch (field(l.field).header) {
        case Header::Vlan: return "a VLAN tag";
        case Header::Ip: return "an IP header";
        case Header::Ip4: return "an IPv4 header";
        case Header::Ip6: return "an IPv6 header";
        case Header::Tcp: return "a TCP header";
        case Header::Udp: return "a UDP header";
        case Header::L4: return "a TCP or UDP header";
        case Header::Icmp: return "an ICMP header";
        case Header::Icmp6: return "an ICMPv6 header";
        case Header::Eth:
        case Header::Pkt: return {};
    }
    return {};
}

bool is_named_set_use(const Lit& l) {
    return l.atom && l.atom->kind == Expr::Kind::In && l.atom->set >= 0;
}

// The smallest explanation of why the conjunction `c` is empty.
Conflict explain(const Space& space, const Conj& c) {
    const auto n = c.lits.size();
    for (std::size_t i = 0; i < n; ++i)
        if (logic::is_empty(logic::box_of(space.lit(c.lits[i]))))
            return {Conflict::Kind::Single, c.lits[i], -1};
    for (std::size_t j = 1; j < n; ++j) {
        const Lit& b = space.lit(c.lits[j]);
        for (std::size_t i = 0; i < j; ++i) {
            const Lit& a = space.lit(c.lits[i]);
            Box both = logic::box_of(a);
            logic::constrain(both, b);
            if (!logic::is_empty(both)) continue;
            Conflict k{Conflict::Kind::Values, c.lits[i], c.lits[j]};
            if (a.kind == Lit::Kind::Var || b.kind == Lit::Kind::Var)
                k.kind = Conflict::Kind::Negation;
            else if ((logic::state_mask(logic::box_of(a)) & logic::state_mask(logic::box_of(b))) == 0 &&
                     !needed_header(a).empty() && !needed_header(b).empty())
                k.kind = Conflict::Kind::Headers;
            return k;
        }
    }
    return {Conflict::Kind::Many, n ? c.lits[0] : -1, -1};
}

const Expr* find_set_use(const Expr& e, int set) {
    if (e.kind == Expr::Kind::In && e.set == set) return &e;
    for (const auto& k : e.kids)
        if (const Expr* u = find_set_use(k, set)) return u;
    return nullptr;
}

class Linter {
public:
    Linter(const Program& program, const SourceManager* sm, Diagnostics& diags, long comparisons, long case_splits)
        : program_(program), sm_(sm), diags_(diags), comparisons_(comparisons), case_splits_(case_splits) {}

    void run() {
        lint_sets();
        dead_.resize(program_.policies.size());
        for (std::size_t k = 0; k < program_.policies.size(); ++k) {
            dead_[k].rule.assign(program_.policies[k].rules.size(), nullptr);
            lint_policy(program_.policies[k], dead_[k]);
        }
        for (const Alert& a : program_.alerts) lint_alert(a);
    }

private:
    // " (line 12)" for a location in the same file as `from`, " (path:12)" for another file.
    std::string where(SourceRange r, SourceRange from) const {
        if (!sm_ || !r.valid() || r.file >= sm_->size()) return {};
        auto line = std::to_string(sm_->line_col(r.file, r.begin).line);
        if (r.file == from.file) return " (line " + line + ")";
        return " (" + sm_->file(r.file).path + ":" + line + ")";
    }

    static SourceRange rule_loc(const Rule& r) { return r.name_range.valid() ? r.name_range : r.range; }
    static SourceRange cond_loc(const Rule& r) { return r.cond.range.valid() ? r.cond.range : rule_loc(r); }

    // What the rule warnings proved about a policy's counters: the alerts read it (a rule that
    // can never match has a counter that never moves). Only what a warning reported is here.
    struct DeadCounters {
        std::vector<const char*> rule;        // per rule: the code of the warning that proved it, or nullptr
        std::optional<std::size_t> decider;   // a terminal rule that decides every packet (no default)
    };
    // Why an alert's counter provably stays at 0, with the notes that show it.
    struct Zero {
        std::string why;
        std::vector<DiagNote> notes;
    };

    void lint_sets();
    void lint_policy(const Policy& policy, DeadCounters& dead);
    void lint_alert(const Alert& a);
    std::optional<Zero> stays_zero(const Alert& a);
    bool always_true(const RuleFacts& f);
    bool covers(const Box& a, const std::vector<const Box*>& bs);
    bool covers_all(const RuleFacts& r, const std::vector<const Box*>& bs);
    bool check_shadowed(const Policy& policy, std::size_t i, const std::vector<RuleFacts>& facts,
                        const std::vector<std::size_t>& earlier);
    const char* report_contradiction(const Rule& rule, Space& space);
    void report_unreachable(const Policy& policy, std::size_t decider);

    const Program& program_;
    const SourceManager* sm_;
    Diagnostics& diags_;
    long budget_ = 0;  // left for the current policy
    long case_splits_ = kLintCaseSplits;  // budget_ at the start of each policy
    long undecided_ = 0;  // questions of the current policy left unanswered for lack of budget
    long comparisons_ = kLintComparisons;  // earlier rules the shadow analysis may look at, per policy
    std::vector<DeadCounters> dead_;       // per policy
};

void Linter::lint_sets() {
    for (std::size_t k = 0; k < program_.sets.size(); ++k) {
        const SetDef& s = program_.sets[k];
        const int idx = static_cast<int>(k);
        const Expr* use = nullptr;
        bool listed = false;
        for (const auto& p : program_.policies) {
            listed = listed || std::find(p.sets.begin(), p.sets.end(), idx) != p.sets.end();
            for (const auto& r : p.rules)
                if (!use) use = find_set_use(r.cond, idx);
        }
        SourceRange at = s.name_range.valid() ? s.name_range : s.range;
        if (s.elems.empty()) {
            std::string msg = "set '" + s.name + "' is empty";
            msg += s.from_file
                       ? ": file \"" + s.file + "\" has no elements, so 'in @" + s.name + "' never matches"
                       : ": 'in @" + s.name + "' never matches";
            auto& d = diags_.warning("empty-set", at, std::move(msg));
            if (use) {
                std::string note = use->negated ? "used here: true for every packet that carries " +
                                                      std::string(field(use->field).name)
                                                : std::string("used here: never matches");
                d.notes.push_back({use->range, std::move(note)});
            }
            continue;
        }
        if (use || listed) continue;
        // Set libraries (files without policies) are meant to be included and partly used.
        bool file_has_policy = std::any_of(program_.policies.begin(), program_.policies.end(),
                                           [&](const Policy& p) { return p.range.file == s.range.file; });
        if (!file_has_policy) continue;
        diags_.warning("unused-set", at, "set '" + s.name + "' is not used by any policy");
    }
}

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

// Reports a rule whose condition is never true; returns the code of the warning that says so
// ("empty-set" when the empty set's own warning does).
const char* Linter::report_contradiction(const Rule& rule, Space& space) {
    const std::string what = "rule '" + rule.name + "' can never match: ";
    auto all = space.dnf(rule.cond, /*drop_empty=*/false);
    if (!all || all->empty()) {
        auto& d = diags_.warning("contradiction", cond_loc(rule), what + "no packet satisfies its condition");
        d.notes.push_back({rule_loc(rule), "in rule '" + rule.name + "'"});
        return "contradiction";
    }
    // The first alternative not explained by an empty named set (empty-set says that already).
    std::optional<Conflict> why;
    for (const auto& c : *all) {
        Conflict k = explain(space, c);
        if (k.kind == Conflict::Kind::Single && is_named_set_use(space.lit(k.first))) continue;
        why = k;
        break;
    }
    if (!why) return "empty-set";
    const Lit* a = why->first >= 0 ? &space.lit(why->first) : nullptr;
    const Lit* b = why->second >= 0 ? &space.lit(why->second) : nullptr;
    const std::string fa = a ? std::string(lit_field_name(*a)) : std::string();
    const std::string fb = b ? std::string(lit_field_name(*b)) : std::string();

    if (all->size() > 1) {
        auto& d = diags_.warning("contradiction", cond_loc(rule),
                                 what + "every alternative of its condition is contradictory");
        if (a && b) {
            d.notes.push_back({a->range, "for example, this condition on " + fa + " ..."});
            d.notes.push_back({b->range, "... excludes this one on " + fb});
        } else if (a) {
            d.notes.push_back({a->range, "for example, this condition is never true"});
        }
        return "contradiction";
    }

    switch (why->kind) {
        case Conflict::Kind::Single: {
            const Expr& atom = *a->atom;
            bool empty_inline =
                atom.kind == Expr::Kind::In && atom.set < 0 && atom.elems.empty() && !a->negated;
            auto& d = diags_.warning("contradiction", cond_loc(rule),
                                     empty_inline ? what + "'" + fa + " in {}' tests an empty set"
                                                  : what + "no value of " + fa + " satisfies this condition");
            d.notes.push_back(
                {a->range, empty_inline ? "the empty set is here" : "this condition is never true"});
            return "contradiction";
        }
        case Conflict::Kind::Headers: {
            auto& d = diags_.warning("contradiction", b->range,
                                     what + "no packet has both " + std::string(needed_header(*a)) + " (" +
                                         fa + ") and " + std::string(needed_header(*b)) + " (" + fb + ")");
            d.notes.push_back({a->range, fa + " needs " + std::string(needed_header(*a)) + " here"});
            return "contradiction";
        }
        case Conflict::Kind::Values: {
            std::string msg = fa == fb ? "the two conditions on " + fa + " exclude each other"
                                       : "the conditions on " + fa + " and " + fb + " exclude each other";
            auto& d = diags_.warning("contradiction", b->range, what + msg);
            d.notes.push_back({a->range, "conflicting condition on " + fa + " here"});
            return "contradiction";
        }
        case Conflict::Kind::Negation: {
            auto& d =
                diags_.warning("contradiction", b->range, what + "it requires a condition and its negation");
            d.notes.push_back({a->range, "the other side is here"});
            return "contradiction";
        }
        case Conflict::Kind::Many: {
            auto& d = diags_.warning("contradiction", cond_loc(rule),
                                     what + "its conditions together exclude every packet");
            if (a) d.notes.push_back({a->range, "the first of the conflicting conditions"});
            return "contradiction";
        }
    }
    return "contradiction";
}

// ---- alerts -----------------------------------------------------------------------------------
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

}  // namespace

void lint(const Program& program, Diagnostics& diags, long comparisons, long case_splits) {
    Linter(program, nullptr, diags, comparisons, case_splits).run();
}

void lint(const Program& program, const SourceManager& sm, Diagnostics& diags, long comparisons,
          long case_splits) {
    Linter(program, &sm, diags, comparisons, case_splits).run();
}

}  // namespace weir
