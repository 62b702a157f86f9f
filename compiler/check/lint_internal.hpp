// Private to the linter (lint.cpp and its lint_*.cpp parts): what lint knows about a rule, and
// the Linter whose warnings the parts emit. One family of warnings a part: lint.cpp (sets),
// lint_shadow.cpp (shadowed and unreachable rules), lint_contradiction.cpp (rules that can never
// match), lint_alerts.cpp (alerts that can never or always fire).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "condition_sets.hpp"
#include "diagnostics.hpp"
#include "lint.hpp"
#include "policy.hpp"

namespace weir::lint_detail {

using logic::Box;
using logic::Conj;
using logic::Dnf;
using logic::Lit;
using logic::Space;

// What lint knows about one rule's condition.
struct RuleFacts {
    std::optional<Dnf> dnf;  // nullopt: too large to reason about
    std::vector<const Box*> boxes;
    std::vector<std::uint32_t> masks;  // logic::state_mask of each box
    bool usable() const { return dnf.has_value(); }
    bool never() const { return dnf && dnf->empty(); }
};

class Linter {
public:
    Linter(const Program& program, const SourceManager* sm, Diagnostics& diags, long comparisons, long case_splits)
        : program_(program), sm_(sm), diags_(diags), case_splits_(case_splits), comparisons_(comparisons) {}

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

}  // namespace weir::lint_detail
