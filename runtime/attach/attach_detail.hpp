// Pieces of the attach runtime shared by load (load.cpp) and recovery, status and unload
// (attach.cpp): the clean-up of pinned state after a swap, and the host checks.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "attach.hpp"
#include "bpf.hpp"
#include "pins.hpp"

namespace weir::attach::detail {

Failure env_failure(std::string msg);
// Test hook of the crash-consistency tests: SIGKILL now if $WEIR_INJECT_KILL (or `requested`)
// names `point` (loads: inject_points(); set edits: "set-after-journal", ... in sets.cpp).
void maybe_kill(std::string_view point, std::string_view requested = {});
// $WEIR_INJECT_KILL, "" if unset.
std::string_view inject_kill_env();
// With `probe`, privilege (an XDP program loads); with `mount`, a usable bpffs.
Failure prepare_environment(bool probe, bool mount);
// Program ids XDP runs on the interface, in any mode.
std::set<std::uint32_t> xdp_prog_ids(unsigned ifindex);

// Deletes every set-table entry whose set id neither the policy nor its shadow candidate uses.
bpf::Status gc_sets(const pins::Pinned& p, const pins::PolicyMeta& keep);
bpf::Status zero_slots(int rules_fd, const std::set<std::uint32_t>& slots);
// The counter slots of the policy and of its shadow candidate.
std::set<std::uint32_t> slot_values(const pins::PolicyMeta& m);
// After the link runs the pending program: pins point at it and its maps. Idempotent.
bpf::Status finish_pins(pins::Pinned& p, int prog_fd);
// Old set ids and freed counter slots cleaned (old: null in recovery, every unused slot).
bpf::Status cleanup(const pins::Pinned& p, const std::optional<pins::PolicyMeta>& old, const pins::PolicyMeta& now);

}  // namespace weir::attach::detail
