// Rate limits (`over RATE [burst N] [per KEY] [size N]`): the facts about a checked LimitSpec
// that the checker, dump, interpreter, codegen and loader share. Semantics: docs/language.md
// "Rate limits"; datapath state: bpf-templates/weir_abi.h (weir_limits, GCRA).
#pragma once
#include <cstdint>
#include <list>
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
// The rate-limit table's real capacity on a machine with `cpus` possible CPUs: limit_entries
// plus kLimitSlackPerCpu per CPU (0 without limits). The loader sizes the kernel's table with it
// and the interpreter its own, so both forget keys only past the same count.
std::uint64_t limit_table_capacity(const Policy& pol, unsigned cpus);
// `over 2000/s burst 4000 per ip.src size 65536`: canonical text (dump, --emit checked).
std::string limit_text(const LimitSpec& l);

// The interpreter's limit table: one GCRA state per (limit, key), the same arithmetic as the
// datapath (weir_limit_step). `now_ns` is the time every packet is evaluated at: test blocks
// use WEIR_LIMIT_TEST_CLOCK_NS, so all probes of a block arrive at the same instant.
//
// Like the kernel's table it is one LRU shared by all limits of the policy and holds at most
// `capacity` keys (evaluate() sets it, when it is 0, to limit_table_capacity() for this
// machine's CPUs: the capacity the kernel's table has here). Every packet that reads a key's bucket (admitted or over) makes it the
// most recently used; a new key that finds the table full evicts the least recently used key
// (of any limit), and a key that comes back starts with a full bucket (docs/language.md "Rate
// limits"). The kernel's LRU picks its victims only approximately in that order; this table is
// the exact statement of the rule.
class LimitState {
public:
    using Key = std::vector<std::uint64_t>;  // {limit id, v6 tag bits, key words...}

    std::uint64_t now_ns = WEIR_LIMIT_TEST_CLOCK_NS;
    std::uint64_t capacity = 0;  // keys the table holds; 0: not set (unbounded)

    // The key's tat, and the key becomes the most recently used; nullopt if not in the table.
    std::optional<std::uint64_t> touch(const Key& key);
    // Stores the key's tat (most recently used), evicting the least recently used key first if
    // the key is new and the table is full.
    void store(const Key& key, std::uint64_t tat);
    bool contains(const Key& key) const { return entries_.count(key) != 0; }
    std::size_t size() const { return entries_.size(); }
    std::uint64_t evictions() const { return evictions_; }

private:
    struct Entry {
        std::uint64_t tat;
        std::list<Key>::iterator use;  // its place in uses_
    };
    std::map<Key, Entry> entries_;
    std::list<Key> uses_;  // front: most recently used
    std::uint64_t evictions_ = 0;
};

// Whether the packet is over the limit, updating `state` as the datapath would (no state: every
// packet finds a full bucket). False when a key field's header is missing.
bool limit_over(const LimitSpec& l, const weir_pkt& pkt, LimitState* state);

}  // namespace weir
