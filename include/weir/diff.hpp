// `weir diff` through the API: what changes when one policy replaces another, decided exactly
// over the fields the rules match (addresses, ports, protocols, flags, VLAN, lengths, sets by
// their contents), with one witness packet per changed (old rule, new rule) pair. No kernel and
// no privileges are needed, except to diff against what runs on an interface.
//
//   weir::api::Policy a = weir::api::Policy::from_file("old.weir");
//   weir::api::Policy b = weir::api::Policy::from_file("new.weir");
//   weir::api::DiffReport r = weir::api::diff(a, b);
//   if (!r.error && !r.equivalent) std::cout << r.text();
#pragma once
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "weir/weir.hpp"

namespace weir::api {

struct DiffOptions {
    std::string old_policy, new_policy;  // which policy of each file; empty: the file's only one
    std::size_t max_witnesses = 20;      // verdict changes listed in full (all are counted)
    std::chrono::milliseconds budget{60000};  // past it the diff is incomplete, never "equivalent"
};

// One side of a change: the rule that decides ("default" for the policy's default).
struct DiffSide {
    std::string rule;
    std::string verdict;  // "pass", "drop", "tx", "redirect \"eth1\""
    Location where;       // the rule (the policy's name for the default)
};

// Packets that OLD decides with `before` and NEW with `after`, differently.
struct VerdictChange {
    DiffSide before, after;
    std::string packet;         // a witness: a `packet ...` statement, ready for a test block
    double log2_headers = 0;    // how much header space changed, as log2 of the header count
};

// A counting or logging rule (`count`, `log`) that counts a witness packet on one side only.
struct CounterChange {
    std::string rule;
    bool counted_before = false, counted_after = false;
    std::string packet;
};

// Packets the diff cannot decide exactly: their verdicts may differ.
struct MayDiffer {
    std::string reason;           // "rate limit", "payload", "condition too large", ...
    std::vector<DiffSide> before, after;  // the rules involved on each side
};

struct DiffReport {
    // Policy: a file does not compile or has no such policy. Environment: unreadable file,
    // --dev problems, or the budget ran out (step "budget": the diff is incomplete).
    Error error;
    std::string old_name, new_name;  // "FILE policy NAME"
    bool complete = false;
    bool equivalent = false;  // complete, no verdict change, nothing that may differ
    std::vector<VerdictChange> changes;  // up to max_witnesses
    std::size_t changes_total = 0;
    std::vector<CounterChange> counters;
    std::vector<MayDiffer> may_differ;
    double changed_log2_headers = 0;  // all verdict changes together (-inf as 0 when none)
    std::chrono::nanoseconds time{};
    std::string text(bool color = false) const;
    std::string json(int indent = -1) const;
};

// OLD against NEW. Both must be ok().
DiffReport diff(const Policy& before, const Policy& after, const DiffOptions& opts = {});

// The policy running on `ifname` (its source file recompiled and checked against the hash the
// load recorded, with `copts`; sets with their live contents) against `after`. Needs the pinned
// state (root). A source file changed since the load is an Environment error (step "source").
DiffReport diff_running(const std::string& ifname, const Policy& after, const DiffOptions& opts = {},
                        const CompileOptions& copts = {});

}  // namespace weir::api
