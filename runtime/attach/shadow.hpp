// Shadow mode (docs/operations.md, "Shadow mode"): a candidate policy runs beside the enforcing
// one in the same XDP program (weir_abi.h, "Shadow mode"), enforcing nothing. Starting,
// promoting and stopping a shadow are ordinary hot swaps (load.cpp): `start` rebuilds the
// enforcing policy from its recorded source (whose hash must still match) with the candidate
// added; `promote` loads the candidate alone; `stop` loads the enforcing policy alone. The
// candidate is planned as straight-line code with counter slots after the enforcing policy's.
// It may bring its own sets: a table equal to one of the enforcing policy's (same name, kind,
// ordinal and contents) shares it; any other (a set the enforcing policy lacks, or the same name
// with other contents) takes a fresh set id and is filled from the candidate's file, leaving the
// enforcing policy's tables alone. pins::ShadowMeta::sets records them, so that clean-ups keep
// them while the shadow runs, `promote` keeps them (no refill) and `stop` drops them.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "artifact.hpp"
#include "attach.hpp"
#include "pins.hpp"

namespace weir::attach {

// The candidate of a shadow load (LoadOptions::shadow).
struct ShadowCandidate {
    std::shared_ptr<const Compilation> compilation;
    int policy = -1;
    std::string source;  // absolute path, as weir_meta records it
    std::string source_hash;
};

namespace shadow {

// The candidate's plan beside `enforcing` (numbered for the interface, `next` its record; `cur`:
// the running program's record): straight-line, slots above every slot in use, set ids of
// the enforcing policy's equal tables, else of the running candidate's, else fresh ones from
// next.next_set_id. nullopt: `why` (the running policy changed meanwhile).
struct Planned {
    Plan plan;
    pins::ShadowMeta meta;
    std::vector<int> fill;  // indexes of plan.tables with fresh ids: filled before the swap
};
std::optional<Planned> plan_candidate(const ShadowCandidate& cand, const Plan& enforcing, pins::PolicyMeta& next,
                                      const pins::PolicyMeta* cur, std::string& why);

// `weir load --shadow FILE`: opts.file is the candidate; the enforcing policy is the running one,
// compiled again from its recorded source unless `running` is given (the caller kept it: the
// daemon, whose file already holds the candidate), whose hash must still be the recorded one.
// `candidate`: already compiled (opts.file then only names it).
LoadOutcome start(const LoadOptions& opts, std::shared_ptr<const Compilation> running = nullptr,
                  std::shared_ptr<const Compilation> candidate = nullptr);
// The candidate alone (promote), or the enforcing policy alone (stop).
LoadOutcome promote(const LoadOptions& opts);
LoadOutcome stop(const LoadOptions& opts);

struct Transition {
    std::string from_rule, from_verdict;  // the enforcing policy's ("default" for its default)
    std::string to_rule, to_verdict;      // the candidate's
    std::uint64_t packets = 0, bytes = 0;
};

struct Report {
    std::string ifname;
    pins::PolicyMeta meta;                // the running program's record; meta.shadow is the candidate
    std::vector<Transition> transitions;  // most packets first
    std::uint64_t same_packets = 0;       // packets both decided alike
    std::uint64_t lost_packets = 0;       // differing packets not counted (weir_shadow_tx full)
    std::uint64_t candidate_default_packets = 0;
    std::vector<std::pair<std::string, std::uint64_t>> candidate_rules;  // packets per candidate rule
};
// What the running shadow saw. Failure when `ifname` runs no shadow.
Failure report(const std::string& ifname, Report& out);

}  // namespace shadow
}  // namespace weir::attach
