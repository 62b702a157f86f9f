// Reading the XDP template's maps (bpf-templates/weir_abi.h): counters summed over CPUs, and the
// last decision, which is how `weir test` learns the deciding rule of a BPF_PROG_TEST_RUN packet.
#pragma once
#include <cstdint>

#include "bpf.hpp"
#include "weir_abi.h"

namespace weir::bpf {

struct Counter {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    friend bool operator==(const Counter&, const Counter&) = default;
};

// The sum over CPUs of a PERCPU_ARRAY of struct weir_counter (weir_rules, weir_verdicts,
// weir_stats) at `key`.
Result<Counter> read_counter(int map_fd, std::uint32_t key);

struct LastDecision {
    std::uint32_t rule = WEIR_RULE_DEFAULT;  // deciding rule index, WEIR_RULE_DEFAULT: default
    std::uint32_t action = 0;               // WEIR_ACT_*
    bool malformed = false;
    std::uint32_t runs = 0;                 // packets since clear_last_decision()
};
// Zeroes weir_last on every CPU.
Status clear_last_decision(int last_map_fd);
// The decision recorded since clear_last_decision(): from the one CPU that ran packets.
// Fails with -ENOENT if no packet ran, -EBUSY if packets ran on several CPUs.
Result<LastDecision> last_decision(int last_map_fd);

}  // namespace weir::bpf
