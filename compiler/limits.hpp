// Rate limits (`over RATE [burst N] [per KEY] [size N]`): the facts about a checked LimitSpec
// that the checker, dump, interpreter, codegen and loader share. Semantics: docs/language.md
// "Rate limits"; datapath state: bpf-templates/weir_abi.h (weir_limits, GCRA).
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "policy.hpp"
#include "weir_abi.h"
#include "weir_pkt.h"

namespace weir {

inline constexpr std::uint32_t kDefaultLimitSize = 65536;   // `size` when a keyed limit has none
inline constexpr std::uint32_t kMaxLimitSize = 1u << 24;    // largest `size`
// Spare LRU entries per possible CPU: the kernel's LRU hands nodes to CPUs in batches, so a
// table filled to exactly its capacity evicts early.
inline constexpr std::uint32_t kLimitSlackPerCpu = 256;

// 64-bit words a key field occupies in weir_limit_key (2: IPv6-capable addresses).
unsigned limit_key_words(FieldId f);
// The limit's id: FNV-1a of the rule name and the key fields' names. Same rule name and key ->
// same id, so the limit finds its buckets again after a hot swap.
std::uint32_t limit_id(const std::string& rule, const std::vector<FieldId>& key);
// The policy's `over` atoms, in rule order.
std::vector<const Expr*> policy_limits(const Policy& pol);
// The entries the policy's limits may hold together (sum of their sizes); 0 without limits.
std::uint64_t limit_entries(const Policy& pol);
// `over 2000/s burst 4000 per ip.src size 65536`: canonical text (dump, --emit checked).
std::string limit_text(const LimitSpec& l);

// The interpreter's limit table: one GCRA state per (limit, key), the same arithmetic as the
// datapath (weir_limit_step). `now_ns` is the time every packet is evaluated at: test blocks
// use WEIR_LIMIT_TEST_CLOCK_NS, so all probes of a block arrive at the same instant. Unbounded
// (no LRU eviction): test blocks hold far fewer keys than any table.
struct LimitState {
    std::uint64_t now_ns = WEIR_LIMIT_TEST_CLOCK_NS;
    std::map<std::vector<std::uint64_t>, std::uint64_t> tat;  // {id, tag, words...} -> tat
};

// Whether the packet is over the limit, updating `state` as the datapath would (no state: every
// packet finds a full bucket). False when a key field's header is missing.
bool limit_over(const LimitSpec& l, const weir_pkt& pkt, LimitState* state);

}  // namespace weir
