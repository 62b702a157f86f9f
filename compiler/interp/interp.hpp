// Interpreter: a checked policy (policy.hpp) and one parsed packet (weir_pkt) -> the Decision
// (verdict, deciding rule, counted rules), in user space. It is the executable statement of
// docs/language.md's semantics, the oracle codegen is tested against, and what `weir test` runs
// test blocks with.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "field_access.hpp"
#include "limits.hpp"
#include "policy.hpp"
#include "weir_pkt.h"

namespace weir {

struct Decision {
    Verdict verdict = Verdict::Pass;
    int rule = -1;            // index of the deciding rule in the policy; -1 = the default
    std::vector<int> counted; // `count` rules that matched, in rule order
};

// Whether `e` holds for the packet. `frame` is the whole frame (payload matches read it at
// pkt.payload_off); `iface` is the name pkt.iface compares with. `limits`: the rate-limit
// buckets `over` atoms read and take tokens from (nullptr: every bucket is full).
bool matches(const Program& prog, const Expr& e, const weir_pkt& pkt,
             std::span<const std::uint8_t> frame, std::string_view iface, LimitState* limits = nullptr);

// Runs the policy's rules in order: matching `count` rules are collected, the first matching
// terminal rule decides, the policy's default otherwise.
// `limits`: its capacity is set to limit_table_capacity() for this machine's CPUs when it is 0.
Decision evaluate(const Program& prog, const Policy& policy, const weir_pkt& pkt,
                  std::span<const std::uint8_t> frame, std::string_view iface, LimitState* limits = nullptr);

// One `packet ... expect ...` of a test block, run: built (test_frames.hpp), parsed with the kernel
// program's own parser (bpf-templates/parse.h), evaluated.
struct ProbeRun {
    std::string error;                // non-empty: the packet could not be built or parsed
    std::vector<std::uint8_t> frame;
    weir_pkt pkt{};
    Decision decision;
    bool passed = false;              // the verdict (and `by`, if given) are as expected
};
// `limits`: the buckets of the probe's test block (one LimitState per block, probes in order).
ProbeRun run_probe(const Program& prog, const Policy& policy, const Probe& probe, LimitState* limits = nullptr);

// Whether a decision satisfies a probe's `expect VERDICT [by RULE|default]`.
bool meets_expectation(const Probe& probe, const Decision& d);

}  // namespace weir
