// Shadow mode: a candidate policy runs on live traffic beside the enforcing one, in the same XDP
// program, and enforces nothing. Where the two decide differently (by action), the program
// counts the transition (enforcing rule -> candidate rule) and samples example packets into the
// interface's log ring (`weir events` shows them). docs/operations.md, "Shadow mode".
//
//   weir::api::LoadReport r = weir::api::shadow_start("eth1", "new.weir");
//   ... traffic ...
//   weir::api::ShadowReport s = weir::api::shadow_report("eth1");
//   std::cout << s.text();          // "1,234 packets passed by `api` would be dropped by `geo-block`"
//   weir::api::shadow_promote("eth1");  // or shadow_stop("eth1")
//
// Starting, promoting and stopping are atomic hot swaps (weir.hpp, attach): the enforcing policy
// keeps its counters throughout; promote keeps counters by rule name as any swap does. Starting
// rebuilds the enforcing policy from its recorded source, which must still hash the same.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "weir/weir.hpp"

namespace weir::api {

// Runs the policy in `path` (AttachOptions::policy chooses one) beside the policy running on
// `ifname`. A candidate replaces any earlier one. Its named sets must be sets the running policy
// has with the same contents (they are shared).
LoadReport shadow_start(const std::string& ifname, const std::string& path, const CompileOptions& copts = {},
                        const AttachOptions& opts = {});
// The same with both policies compiled by the caller, who kept the running one (the daemon: its
// file already holds the candidate). `running` must be what runs (its source hash); promote and
// stop are then attach(ifname, candidate) and attach(ifname, running).
LoadReport shadow_start(const std::string& ifname, const Policy& running, const Policy& candidate,
                        const AttachOptions& opts = {});
// The candidate alone, enforcing (its source must be unchanged since shadow_start).
LoadReport shadow_promote(const std::string& ifname, const CompileOptions& copts = {}, const AttachOptions& opts = {});
// The enforcing policy alone.
LoadReport shadow_stop(const std::string& ifname, const CompileOptions& copts = {}, const AttachOptions& opts = {});

struct ShadowTransition {
    std::string from_rule, from_verdict;  // what the enforcing policy did ("default" for its default)
    std::string to_rule, to_verdict;      // what the candidate would have done
    std::uint64_t packets = 0, bytes = 0;
};

// A sampled packet of a transition (read from the log ring, WEIR_SHADOW_SAMPLE-th packets).
struct ShadowSample {
    std::string from_rule, from_verdict, to_rule, to_verdict;
    std::string packet;  // log_summary() of the frame
};

struct ShadowReport {
    Error error;  // Environment: no shadow on the interface, not privileged
    std::string ifname;
    std::string policy, source;        // enforcing
    std::string candidate, candidate_source;
    std::int64_t since = 0;            // unix time the shadow began
    std::vector<ShadowTransition> transitions;  // most packets first
    std::uint64_t same_packets = 0;    // decided alike
    std::uint64_t lost_packets = 0;    // differing, not counted (transition table full)
    std::uint64_t differing_packets() const;
    std::vector<std::pair<std::string, std::uint64_t>> candidate_rules;  // packets per candidate rule
    std::uint64_t candidate_default_packets = 0;
    std::vector<ShadowSample> samples;
    bool ok() const { return !error; }
    // "1,234 packets passed by `api` would be dropped by `geo-block`", one line per transition.
    std::string text() const;
    std::string json(int indent = -1) const;
};

// What the shadow on `ifname` saw so far. `sample_ms` > 0: also read shadow samples from the log
// ring for that long (this consumes the ring's records: a running `weir events` misses them).
ShadowReport shadow_report(const std::string& ifname, int sample_ms = 0);

}  // namespace weir::api
