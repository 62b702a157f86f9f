// Swaps that roll back unless confirmed (`weir load --confirm-within`, `weir confirm`;
// docs/operations.md "Confirmed swaps").
//
// A load with a window arms a rollback between its prepare and swap steps: the running program
// is pinned as rollback_prog and weir_meta's Rollback record (the last confirmed policy, a
// CLOCK_BOOTTIME deadline, a token) goes in with the pending swap, one map update. Until
// `weir confirm`, the clean-up of the swap keeps what the previous policy uses (keep()).
// Three things roll an expired swap back, each under the interface's lock:
//   - the watcher arm() starts: a systemd transient timer unit when systemd runs, else a
//     detached process in its own session; both run `weir confirm-watch` (watch());
//   - recover(), so every weir command on the interface (expire());
//   - the daemon's tick (through status, which recovers).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "attach.hpp"
#include "bpf.hpp"
#include "pins.hpp"

namespace weir::attach::confirm {

std::int64_t boottime_ns();
std::string boot_id();  // /proc/sys/kernel/random/boot_id, "" if unreadable
// The wall-clock time an armed rollback is due.
std::int64_t deadline_unix(const pins::Rollback& r);

// The Rollback record of a load about to swap on `p` (whose record is `meta`; the caller holds
// the lock). A first arming pins the running program as
// rollback_prog; a load while a swap is armed keeps the armed target. Starts the watcher.
// Stores it in meta.rollback and writes weir_meta (with the pending swap: one update).
bpf::Status arm(const std::string& ifname, const pins::Pinned& p, pins::Meta& meta, std::chrono::seconds window);
// What clean-up after a swap keeps: `now`, and while a rollback is armed its target's slots and
// set tables too (with its shadow candidate's).
pins::PolicyMeta keep(const pins::Meta& m, const pins::PolicyMeta& now);
// "policy 'b' on 'eth1' awaits confirmation ..." for a refused load, and the load's note.
std::string pending_text(const std::string& ifname, const pins::Meta& m);
// Why a load must not go ahead on a swap awaiting confirmation ("": it may): it would replace
// the unconfirmed policy with no way back, so only a load that arms too (or a dry run) may.
std::string refusal(const LoadOptions& o, const std::optional<pins::Meta>& m);
// The arm step's detail: the rollback target and the watcher.
std::string watcher_text(const pins::Rollback& r);

// Stops the watcher of `r` unless it is this process: its timer unit, or its process when that
// still runs `confirm-watch` with r's token (the pid may have been reused).
void stop_watcher(const pins::Rollback& r);

// Rolls back an expired armed swap on `ifname` (the caller holds its lock, any interrupted swap
// already recovered). Returns a note, "" when nothing was due.
std::string expire(const std::string& ifname, Failure& failure);

enum class Outcome { Done, Nothing, Failed };
// `weir confirm`: the armed swap stays; its rollback, watcher and the previous policy's tables
// are dropped. Nothing: no swap awaits confirmation (none armed, or already rolled back).
Outcome confirm(const std::string& ifname, std::string& message);
// `weir confirm-watch`: sleeps until the deadline of the arming named `token`, then rolls back
// if that arming is still unconfirmed. Done: rolled back; Nothing: confirmed or replaced.
Outcome watch(const std::string& ifname, const std::string& token, std::string& message);

}  // namespace weir::attach::confirm
