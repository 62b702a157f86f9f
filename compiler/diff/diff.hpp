// Semantic diff of two checked policies: which packets the two decide differently, each such
// (old rule, new rule) pair with one concrete witness packet, counter changes, and what cannot be
// decided exactly (rate limits, payload bytes, oversized conditions) named as "may differ".
//
// Exact over the packet model of condition_sets.hpp, refined per header state so that every point
// of it is a real frame (diff_entries.cpp), then compared as a joint decision diagram
// (diff_fdd.cpp). Every witness is confirmed with the interpreter on both policies
// (diff_witness.cpp). Never reports "equivalent" when the budget ran out.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "policy.hpp"
#include "source.hpp"

namespace weir::diff {

// One side: a checked program and the index of the policy in it. `file` names the side in
// reports (e.g. "old.weir"); only used for text.
struct DiffInput {
    const Program* program = nullptr;
    int policy = 0;
    std::string file;
};

struct DiffLimits {
    std::chrono::milliseconds budget{60000};  // wall clock; past it the result is incomplete
    std::uint64_t max_nodes = 20'000'000;     // diagram nodes visited; past it: incomplete
    std::size_t max_witnesses = 20;           // verdict changes kept in `changes` (all are counted)
    std::size_t dnf_cap = 4096;               // conjunctions per rule; more: "condition too large"
    // Walk only the hulls of the rules outside the common subsequence, one after the other (same
    // result as the whole header space; off: for tests comparing the two).
    bool focus = true;
};

// What one side decides for a set of packets: the deciding rule (-1 = the default), its verdict
// and, for a redirect, the interface.
struct Decided {
    int rule = -1;
    Verdict verdict = Verdict::Pass;
    std::string ifname;  // Redirect only
    std::string rule_name;  // "" for the default
    SourceRange where;      // the rule (invalid for the default)
    bool operator==(const Decided& o) const {
        return rule == o.rule && verdict == o.verdict && ifname == o.ifname;
    }
};

struct Witness {
    PacketSpec spec;
    std::string text;  // `packet ...` as in a test block (packet_text.hpp)
    bool confirmed = false;  // the interpreter gives the claimed decisions on both sides
};

// Packets decided by `before` in OLD and by `after` in NEW, with different verdicts.
struct VerdictChange {
    Decided before, after;
    Witness witness;
    double log2_headers = 0;  // log2 of the header-space volume of the region (over matched axes)
};

// A count/log rule (by name) that counts some packet on one side and not on the other.
struct CounterChange {
    std::string rule;
    bool counted_before = false, counted_after = false;
    Witness witness;
};

struct RuleRef {
    bool old_side = true;  // the rule is in OLD (else NEW)
    int rule = -1;
    std::string name;
    SourceRange where;
};

// Regions the diff cannot decide exactly.
struct MayDiffer {
    std::string reason;  // "rate limit", "payload", "condition too large", "witness not confirmed"
    std::vector<RuleRef> rules;
};

struct DiffResult {
    bool complete = false;    // every region was compared (no budget ran out)
    bool equivalent = false;  // complete, and no verdict change and no may-differ
    std::string error;        // non-empty: bad input (no program, bad policy index)
    // At most DiffLimits::max_witnesses, each with a witness confirmed by the interpreter.
    std::vector<VerdictChange> changes;
    // Distinct (old rule, new rule) pairs with different verdicts: the listed ones, and those past
    // max_witnesses, whose witnesses are not built. A pair whose witnesses all failed is in
    // may_differ ("witness not confirmed") instead.
    std::size_t changes_total = 0;
    std::vector<CounterChange> counters;
    std::vector<MayDiffer> may_differ;
    double changed_log2_headers = 0;  // log2 of the total changed volume (-inf as 0 if none)
    std::uint64_t nodes = 0;          // diagram nodes visited
    std::chrono::nanoseconds elapsed{};
};

DiffResult diff(const DiffInput& before, const DiffInput& after, const DiffLimits& limits = {});

}  // namespace weir::diff
