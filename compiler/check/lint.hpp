// Linter, stage 2b: a checked program (policy.hpp) -> warnings as diagnostics (shadowed rules,
// unreachable rules, contradictions, empty sets; alerts that can never fire or always fire).
// Every warning carries a note pointing at the other location involved.
#pragma once
#include <cstdint>

#include "diagnostics.hpp"
#include "policy.hpp"

namespace weir {

// How often `weir daemon` evaluates alerts (daemon/daemon.hpp kTickInterval, checked equal in
// tests/unit/test_daemon_alerts.cpp): a `for` below it acts as one interval
// (`alert-for-below-interval`).
inline constexpr std::uint64_t kAlertEvaluationMs = 1000;

// The shadow analysis finds the earlier rules that may share packets with a rule through an index
// (lint.cpp, CandidateIndex) and looks at no more than `comparisons` of them per policy, all
// rules together; past that it stops with a note (`lint-budget`) naming the first rule it left.
inline constexpr long kLintComparisons = 20'000'000;

// Deciding whether a rule is covered by several earlier ones splits cases; each policy may use
// `case_splits` of them (one question at most 20,000). A question left undecided is counted, and
// the policy gets one note (`lint-budget`) saying how many.
inline constexpr long kLintCaseSplits = 4'000'000;

void lint(const Program& program, Diagnostics& diags, long comparisons = kLintComparisons,
          long case_splits = kLintCaseSplits);
// The same, with "(line N)" in messages that name another rule (the note points there too).
void lint(const Program& program, const SourceManager& sm, Diagnostics& diags, long comparisons = kLintComparisons,
          long case_splits = kLintCaseSplits);

}  // namespace weir
