// Reading the XDP template's maps (bpf-templates/weir_abi.h): counters summed over CPUs, and the
// last decision, which is how `weir test` learns the deciding rule of a BPF_PROG_TEST_RUN packet.
#pragma once
#include <cstddef>
#include <cstdint>

#include "bpf.hpp"
#include "weir/vocabulary.hpp"
#include "weir_abi.h"

namespace weir::bpf {

using Counter = api::Counter;

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

// Writes `n` entries, keys packed `key_size` bytes apart and values `value_size` apart (or one
// value for all when `same_value`), with BPF_MAP_UPDATE_BATCH: one system call for a million
// set entries instead of a million. Where the kernel has no batch update for the map type, entry
// by entry. `*written` (if given) is how many entries were written, also on failure.
struct ManyUpdate {
    const void* keys = nullptr;
    std::size_t key_size = 0;
    const void* values = nullptr;
    std::size_t value_size = 0;
    bool same_value = false;
    std::size_t n = 0;
    std::uint64_t elem_flags = 0;  // BPF_ANY
};
Status update_many(int map_fd, const ManyUpdate& u, std::size_t* written = nullptr);

}  // namespace weir::bpf
