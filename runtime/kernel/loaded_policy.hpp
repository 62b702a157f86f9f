// One policy in the kernel: the object codegen produced for a Plan, opened, sized, verified and
// loaded, its set tables and redirect targets filled. Owns the program and its maps (closed on
// destruction); nothing is attached to an interface here.
//
//   auto obj = codegen(plan, sources, EmitKind::Obj);
//   Diagnostics diags;
//   auto lp = LoadedPolicy::load(plan, sources, obj.bytes, diags);
//   if (!lp) ... render diags (a verifier rejection names the rule and its line) ...
//   auto r = lp->run(frame);   // BPF_PROG_TEST_RUN: r->rule decided, r->action returned
//
// Errors are diagnostics, located in the policy source where one is involved:
//   verifier-rejected           the kernel verifier refused the program (verifier_log.hpp)
//   redirect-unknown-interface  a `redirect` names an interface this host does not have
//   bpf-permission-denied       this process may not load BPF programs (EPERM/EACCES)
//   bpf-load-failed             anything else (a bad object, a map that cannot be created, ...)
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf.hpp"
#include "diagnostics.hpp"
#include "maps.hpp"
#include "plan.hpp"
#include "source.hpp"

namespace weir {

struct KernelLoadOptions {
    // A redirect target that does not exist on this host: false = error; true = point it at the
    // loopback interface and add a note (Severity::Note, code "redirect-placeholder"). For
    // verification and BPF_PROG_TEST_RUN, which never transmit.
    bool placeholder_redirects = false;
    std::string object_name = "weir";

    // --- used by the attach runtime (attach.hpp); the defaults give a private, exact-size load ---
    // Maps to reuse instead of creating them (weir_abi.h name -> fd, e.g. pinned maps): the
    // program then shares them with whoever else holds them. Their sizes are the existing maps'.
    std::vector<std::pair<std::string, int>> reuse_maps;
    // Entries of weir_rules/weir_redirect; 0: the plan's slot_count().
    std::uint32_t rule_slots = 0;
    // Entries of each set table (LPM trie, not preallocated); 0: the plan's prefixes of its kind.
    std::uint32_t set_capacity = 0;
    // Fill the set tables from the plan. False: the caller fills them (e.g. reused tables).
    bool fill_sets = true;
    // Bytes of the `log` ring (weir_log): a power of 2 and a multiple of the page size; 0: the
    // template's WEIR_LOG_RING_BYTES. A reused ring keeps its size.
    std::uint32_t log_ring_bytes = 0;
    // Redirect targets of slots outside the plan: a shadow candidate's `redirect` rules, whose
    // decisions are compared with the enforcing policy's by interface.
    struct Redirect {
        std::uint32_t slot;
        std::string rule, ifname;
    };
    std::vector<Redirect> extra_redirects;
};

struct LoadStats {
    std::uint32_t xlated_insns = 0;    // BPF instructions after the verifier's rewrites
    std::uint32_t jited_bytes = 0;     // JIT-compiled code size
    std::uint32_t verified_insns = 0;  // instructions the verifier processed
    std::chrono::nanoseconds load_time{};  // wall time of the load (maps and verification)
};

// One packet through the program.
struct PolicyRun {
    std::uint32_t action = 0;  // what the program returned: WEIR_ACT_* (XDP action)
    int rule = -1;             // deciding rule (index into the policy's rules), -1 = default
    bool malformed = false;    // the parser stopped at a truncated or invalid header
    std::uint32_t duration_ns = 0;
};

// The LPM key of one prefix of a set table, laid out as weir_abi.h's struct weir_key_*:
// prefixlen = WEIR_SET_ID_BITS + prefix length, the set id (host order), the value big-endian
// (bits beyond the prefix cleared), zero padding.
std::vector<std::uint8_t> set_table_key(TableKind kind, std::uint32_t set, const TablePrefix& p);
// The size of that key: sizeof the weir_key_* struct of the kind.
std::size_t set_table_key_size(TableKind kind);
// The keys of `prefixes`, packed set_table_key_size() apart, in value order (then length): an
// LPM trie takes a million sorted inserts about four times faster than the same in random order.
std::vector<std::uint8_t> set_table_keys(TableKind kind, std::uint32_t set, std::span<const TablePrefix> prefixes);

// The maps holding one kind's sets (weir_abi.h, "Set tables"): its LPM trie and, for address
// kinds, the hash and the descriptor array; -1 where absent (pins made before these maps
// existed: every set of the kind is then in the trie).
struct SetMaps {
    int trie = -1;
    int hash = -1;
    int desc = -1;
};
// The hash / descriptor map names of a kind, nullptr for kinds that only have a trie.
const char* set_hash_map_name(TableKind k);
const char* set_desc_map_name(TableKind k);
// A kind's maps, looked up by name (fd_of returns -1 for a missing map).
SetMaps set_maps(TableKind k, const std::function<int(const char*)>& fd_of);
// The descriptor of set `id` if it is hashed (its slot holds its id with `hashed` set).
bpf::Result<std::optional<weir_set_desc>> hashed_desc(const SetMaps& m, std::uint32_t id);
// Whether set `id` may take its descriptor slot: the kind has the maps, and the slot is unused,
// not hashed, or already its own (another hashed set there keeps it: `id` then stays in the trie).
bpf::Result<bool> desc_slot_free(const SetMaps& m, std::uint32_t id);
bpf::Status write_set_desc(const SetMaps& m, const weir_set_desc& d);
// The distinct prefix lengths of `prefixes`, longest first.
std::vector<std::uint8_t> prefix_lengths(std::span<const TablePrefix> prefixes);
// Writes every prefix of `t` into its kind's maps (value 1), batched (maps.hpp): into the hash,
// then its descriptor, when it has at most WEIR_SET_HASH_LENS distinct lengths and its slot is
// free; otherwise into the trie.
bpf::Status fill_set_table(const SetMaps& m, const SetTable& t);
// Whether `value` (table_value_bits(kind) bits) is in set `id`, read the way the program reads
// it: the hash, one exact lookup per listed length, if the set is hashed; else the trie.
bpf::Result<bool> set_member(const SetMaps& m, TableKind kind, std::uint32_t id, u128 value);
// Deletes the entries and descriptors of every set of kind `k` whose id is not in `keep`.
bpf::Status drop_sets_except(const SetMaps& m, TableKind k, const std::set<std::uint32_t>& keep);

class LoadedPolicy {
public:
    // nullptr on failure, with error diagnostics added to `diags`. `plan` and `sources` are
    // only read during the call.
    static std::unique_ptr<LoadedPolicy> load(const Plan& plan, const SourceManager& sources,
                                              std::span<const std::uint8_t> elf,
                                              Diagnostics& diags, const KernelLoadOptions& opts = {});

    int program_fd() const { return prog_; }
    // The fd of one of the template's maps (weir_abi.h names), -1 if there is none.
    int map_fd(std::string_view name) const;
    std::size_t rule_count() const { return rules_; }
    const LoadStats& stats() const { return stats_; }

    // The counter slot of rule `rule` (PlannedRule::slot), and the rule of a slot (-1: none).
    std::uint32_t slot_of(std::size_t rule) const { return slot_of_.at(rule); }
    int rule_of_slot(std::uint32_t slot) const;
    std::uint32_t slot_capacity() const { return slots_; }  // entries of weir_rules

    // Counters summed over CPUs: per rule (index into the policy's rules), per XDP action
    // (WEIR_ACT_*), per WEIR_STAT_* slot.
    bpf::Result<bpf::Counter> rule_counter(std::size_t rule) const;
    bpf::Result<bpf::Counter> verdict_counter(std::uint32_t action) const;
    bpf::Result<bpf::Counter> stat_counter(std::uint32_t stat) const;
    // Zeroes every counter (every slot of weir_rules, also those of no rule of this policy).
    bpf::Status reset_counters() const;
    // Rate limits: empties weir_limits (every bucket full again) and sets the clock limits see
    // (weir_clock; 0: the real clock). `weir test` and the attach self-test freeze it at
    // WEIR_LIMIT_TEST_CLOCK_NS before each test block, as the interpreter does.
    bpf::Status reset_limits(std::uint64_t frozen_ns) const;

    // Runs one frame (at least 14 bytes) with BPF_PROG_TEST_RUN; `ingress_ifindex` (0: none)
    // is the interface it arrives on, which must exist. Counters count it. PolicyRun::rule is
    // the rule index (translated from the decision's counter slot).
    bpf::Result<PolicyRun> run(std::span<const std::uint8_t> frame,
                               std::uint32_t ingress_ifindex = 0) const;

private:
    LoadedPolicy(bpf::Object obj) : obj_(std::move(obj)) {}
    bpf::Object obj_;
    int prog_ = -1, rules_fd_ = -1, verdicts_fd_ = -1, stats_fd_ = -1, last_fd_ = -1;
    std::size_t rules_ = 0;
    std::uint32_t slots_ = 0;
    std::vector<std::uint32_t> slot_of_;  // rule -> counter slot
    LoadStats stats_;
};

}  // namespace weir
