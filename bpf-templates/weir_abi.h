/* The contract between the XDP template (xdp.c), the generated match code (codegen) and the
 * user-space runtime: how a decision is encoded, and the names and layouts of the maps.
 * Plain C, included by BPF C and by C++ alike.
 *
 * Generated code
 * --------------
 * Codegen emits one function into a module that is linked with the template bitcode:
 *
 *     __u32 weir_match(struct weir_pkt *pkt, const void *data, const void *data_end,
 *                      struct xdp_md *ctx);
 *
 * It evaluates the policy's rules in order on the parsed packet (payload matches read the frame
 * through data/data_end, bounds-checked) and returns a *decision*: weir_decision(rule, action).
 * `rule` is the counter slot of the deciding rule (PlannedRule::slot: the rule's index in the
 * policy, 0-based, `count` rules included, unless the attach runtime kept a rule's slot across a
 * hot swap) or WEIR_RULE_DEFAULT when the policy default decided; `action` is one of
 * WEIR_ACT_*. For every matching `count` rule it calls weir_count(rule, pkt->len) (defined in
 * the template) and goes on. After linking, codegen gives weir_match internal linkage and marks
 * it always-inline: it must be inlined into weir_xdp because it takes packet pointers, which a
 * separately verified (global) BPF function cannot receive. A policy too large for one BPF
 * function is split into global functions weir_match_N(pkt, ctx) that weir_match calls (each
 * verified once, on its own); they read the frame pointers from `ctx`.
 *
 * Verifier: weir_xdp parses into the weir_pkt inside the per-CPU weir_last value and reads it
 * back after a compiler barrier, so the match code sees every field as an unknown scalar of its
 * width (as when the parser was a separately verified function). Payload reads must bound the
 * offset before adding it to data: `data + (pkt->payload_off & WEIR_PAYLOAD_OFF_MASK) + OFF`,
 * then compare `p + LEN > data_end` (and check OFF + LEN <= pkt->payload_len).
 *
 * Maps (BTF-defined, section ".maps"; per-CPU values are summed over CPUs by the runtime)
 * ----
 *   weir_rules     PERCPU_ARRAY  key counter slot   -> struct weir_counter
 *                  packets/bytes matched by each rule: the deciding rule, and every matching
 *                  count rule. max_entries = number of rules (set by the loader; template: 1).
 *   weir_verdicts  PERCPU_ARRAY  key XDP action     -> struct weir_counter  (WEIR_VERDICT_SLOTS)
 *                  what the program returned, whichever rule decided.
 *   weir_stats     PERCPU_ARRAY  key WEIR_STAT_*    -> struct weir_counter  (WEIR_STAT_SLOTS)
 *                  policy default decisions, malformed packets, errors.
 *   weir_redirect  ARRAY         key rule index     -> __u32 ifindex
 *                  target of each `redirect` rule (0: unset). max_entries = number of rules.
 *   weir_log_ring  RINGBUF       struct weir_log_record per sampled `log` match
 *                  written at the end of weir_xdp, when the verdict is known: a `log` rule that
 *                  matches calls weir_log(pkt, slot, pkt->len, sample, snap), which counts it
 *                  like a `count` rule and, on every sample-th match on this CPU (the rule's
 *                  per-CPU packet counter modulo sample), queues it in the weir_pkt. A full
 *                  ring never blocks: the record is counted in WEIR_STAT_RING_DROPS.
 *                  max_entries = ring bytes (WEIR_LOG_RING_BYTES unless the loader says).
 *   weir_last      PERCPU_ARRAY  key 0              -> struct weir_last
 *                  the last decision taken on each CPU. `weir test` zeroes it, runs one packet
 *                  with BPF_PROG_TEST_RUN and reads the CPU slot whose `runs` is non-zero to
 *                  learn which rule decided. Also the program's scratch space: the packet
 *                  being decided is parsed into its `pkt` (see "Verifier" above).
 */
#ifndef WEIR_ABI_H
#define WEIR_ABI_H

#include <linux/types.h>

#include "weir_pkt.h"

/* Actions: the XDP return codes (enum xdp_action in <linux/bpf.h>). */
#define WEIR_ACT_ABORTED  0u
#define WEIR_ACT_DROP     1u
#define WEIR_ACT_PASS     2u
#define WEIR_ACT_TX       3u
#define WEIR_ACT_REDIRECT 4u

/* A decision packs the deciding rule into the upper 24 bits and the action into the low 8. */
#define WEIR_DECISION_ACTION_BITS 8u
#define WEIR_DECISION_ACTION_MASK 0xffu
#define WEIR_RULE_DEFAULT 0xffffffu /* the policy default decided */
#define WEIR_MAX_RULES    0xfffffeu /* rule indexes are 0 .. WEIR_MAX_RULES - 1 */

static inline __u32 weir_decision(__u32 rule, __u32 action)
{
    return (rule << WEIR_DECISION_ACTION_BITS) | (action & WEIR_DECISION_ACTION_MASK);
}
static inline __u32 weir_decision_rule(__u32 decision)
{
    return decision >> WEIR_DECISION_ACTION_BITS;
}
static inline __u32 weir_decision_action(__u32 decision)
{
    return decision & WEIR_DECISION_ACTION_MASK;
}

/* Bounds payload_off for the verifier (packet offsets must stay below 0xffff); real offsets are
 * far smaller (linear XDP data is at most a page). */
#define WEIR_PAYLOAD_OFF_MASK 0x7fffu

/* Map names, as the loader looks them up. */
#define WEIR_MAP_RULES    "weir_rules"
#define WEIR_MAP_VERDICTS "weir_verdicts"
#define WEIR_MAP_STATS    "weir_stats"
#define WEIR_MAP_REDIRECT "weir_redirect"
#define WEIR_MAP_LAST     "weir_last"
#define WEIR_MAP_LOG      "weir_log_ring"
#define WEIR_PROG_XDP     "weir_xdp"
#define WEIR_MAP_SET_V4    "weir_set_v4"
#define WEIR_MAP_SET_V6    "weir_set_v6"
#define WEIR_MAP_SET_PORT  "weir_set_port"
#define WEIR_MAP_SET_PROTO "weir_set_proto"
#define WEIR_MAP_SET_MAC   "weir_set_mac"
#define WEIR_MAP_SETH_V4   "weir_seth_v4"
#define WEIR_MAP_SETH_V6   "weir_seth_v6"
#define WEIR_MAP_SETD_V4   "weir_setd_v4"
#define WEIR_MAP_SETD_V6   "weir_setd_v6"
#define WEIR_MAP_CLS_NODES "weir_cls_nodes"
#define WEIR_MAP_CLS_REFS  "weir_cls_refs"
#define WEIR_MAP_LIMITS    "weir_limits"
#define WEIR_MAP_CLOCK     "weir_clock"

/* Slots of weir_stats. */
#define WEIR_STAT_DEFAULT   0u /* the policy default decided */
#define WEIR_STAT_MALFORMED 1u /* parsing stopped at a truncated or invalid header */
#define WEIR_STAT_ERROR     2u /* bad decision or redirect without a target: XDP_ABORTED */
#define WEIR_STAT_RING_DROPS 3u /* `log` records lost: ring full (or > WEIR_LOG_PER_PACKET) */
#define WEIR_STAT_SLOTS     4u

#define WEIR_VERDICT_SLOTS  8u /* weir_verdicts is indexed by WEIR_ACT_* */

struct weir_counter {
    __u64 packets;
    __u64 bytes;
};

struct weir_last {
    __u32 rule;      /* weir_decision_rule() of the last decision, WEIR_RULE_DEFAULT for default */
    __u32 action;    /* the XDP action returned (after redirect/error handling) */
    __u32 runs;      /* packets seen on this CPU since the slot was last zeroed */
    struct weir_pkt pkt; /* that packet as parsed (weir_xdp parses into it: see xdp.c) */
};

/* `log` records (weir_log ring). Fixed size: bpf_ringbuf_reserve needs a constant size; the
 * snap length is at most WEIR_LOG_SNAP_MAX. Times are bpf_ktime_get_ns() (CLOCK_MONOTONIC). */
#define WEIR_LOG_SNAP_MAX   256u
#define WEIR_LOG_RING_BYTES (256u * 1024u) /* default ring size: a power of 2, >= a page */

struct weir_log_record {
    __u64 time_ns;    /* bpf_ktime_get_ns() when the verdict was taken */
    __u32 rule;       /* counter slot of the `log` rule */
    __u32 decided_by; /* counter slot of the deciding rule, WEIR_RULE_DEFAULT for the default */
    __u32 action;     /* the XDP action returned for the packet (WEIR_ACT_*) */
    __u32 ifindex;    /* receiving interface */
    __u32 len;        /* frame length (all fragments of a multi-buffer frame) */
    __u32 cap_len;    /* bytes of the frame in data[] */
    __u8 data[WEIR_LOG_SNAP_MAX];
    /* Appended in record format 2 (older programs write records without them: read as 0).
     * kind WEIR_LOG_KIND_SHADOW: a shadow sample (rule is WEIR_LOG_SHADOW_RULE, decided_by
     * and action the enforced decision, shadow the candidate's weir_decision()). */
    __u32 kind;
    __u32 shadow;
};
#define WEIR_LOG_RECORD_FORMAT 2
#define WEIR_LOG_KIND_LOG      0u
#define WEIR_LOG_KIND_SHADOW   1u
#define WEIR_LOG_SHADOW_RULE   0xfffffeu /* WEIR_MAX_RULES: never a counter slot */

/* Shadow mode (runtime/attach/shadow.hpp): a program built from the template's WEIR_SHADOW
 * variant also runs a candidate policy's generated
 *
 *     __u32 weir_match_shadow(pkt, data, data_end, ctx)
 *
 * after weir_match and applies only weir_match's decision. The candidate counts its rules in
 * weir_rules at slots disjoint from the enforcing policy's; it never logs, redirects or takes
 * tokens from the enforcing policy's rate limits (its limit ids are WEIR_SHADOW_LIMIT_TAG'd).
 * Where the two decisions' actions differ:
 *   weir_shadow_tx  PERCPU_HASH  struct weir_shadow_key -> struct weir_counter
 *                   (WEIR_SHADOW_TX_ENTRIES; a full map counts WEIR_SHADOW_STAT_LOST)
 * and every WEIR_SHADOW_SAMPLE-th packet of a transition (per CPU, the first included) is sent
 * to weir_log_ring as a WEIR_LOG_KIND_SHADOW record.
 *   weir_shadow_st  PERCPU_ARRAY key WEIR_SHADOW_STAT_* -> struct weir_counter
 * Neither map is pinned: each shadow program starts from zero. */
#define WEIR_MAP_SHADOW_TX     "weir_shadow_tx"
#define WEIR_MAP_SHADOW_STATS  "weir_shadow_st"
#define WEIR_FN_MATCH_SHADOW   "weir_match_shadow"
#define WEIR_SHADOW_TX_ENTRIES 4096u
#define WEIR_SHADOW_SAMPLE     64u
#define WEIR_SHADOW_LIMIT_TAG  0x80000000u
#define WEIR_SHADOW_STAT_LOST     0u /* a transition not counted: weir_shadow_tx full */
#define WEIR_SHADOW_STAT_DEFAULT  1u /* the candidate's default decided */
#define WEIR_SHADOW_STAT_SAME     2u /* both decisions had the same action */
#define WEIR_SHADOW_STAT_SLOTS    4u

struct weir_shadow_key {
    __u32 enforced;  /* the enforcing decision's slot (WEIR_RULE_DEFAULT: its default) */
    __u32 candidate; /* the candidate's slot (WEIR_RULE_DEFAULT: its default) */
    __u32 actions;   /* enforcing action << 8 | candidate action */
};

/* Set tables (see compiler/plan/plan.hpp): one LPM trie per key width, shared by every set of that
 * kind; the set id in the key keeps sets apart, so a set is edited live by adding or deleting
 * its entries. key.prefixlen = WEIR_SET_ID_BITS + the element's prefix length; `set` is the
 * set id (host order, always matched in full); the value bytes are big-endian (network order),
 * bits beyond the prefix and padding bytes zero. The value stored is a __u8 (1). max_entries:
 * set by the loader (template: 1); maps are created with BPF_F_NO_PREALLOC as LPM tries require.
 *   weir_set_v4 weir_set_v6 weir_set_port weir_set_proto weir_set_mac   LPM_TRIE  key -> __u8
 *
 * Address sets (v4, v6) with few distinct prefix lengths (blocklists: /32 and /24) are hashed
 * instead: one lookup per length present, constant time, where a trie walk over a million
 * entries costs a cache miss per level. Per kind:
 *   weir_seth_v4/v6  HASH (BPF_F_NO_PREALLOC)  the same keys as the trie, exact match -> __u8 1
 *   weir_setd_v4/v6  ARRAY  key set id % WEIR_SET_DESC_SLOTS -> struct weir_set_desc
 * A set is hashed iff its descriptor slot holds its id with `hashed` set: then all its entries
 * are in weir_seth_* and the program probes the lengths len[0 .. n) (any order: a hit at any
 * length is a member); otherwise (a zero slot, another set's id, hashed 0) all its entries are
 * in the trie. The runtime hashes a set when it has at most WEIR_SET_HASH_LENS distinct lengths
 * and its slot is free. Writers keep every read exact: entries are written before their length
 * is listed (len[n] first, then n), a length is never moved or unlisted while it has entries,
 * and a set converted to the trie (a live add beyond WEIR_SET_HASH_LENS lengths) has its trie
 * entries written before `hashed` is cleared and its hash entries deleted after. A listed length
 * without entries (after `weir set del`) costs a probe, not a wrong answer. */
#define WEIR_SET_HASH_LENS  8u
#define WEIR_SET_DESC_SLOTS 4096u /* a power of 2 */

struct weir_set_desc {
    __u32 set;    /* the set id this slot describes */
    __u8 hashed;  /* 1: the set's entries are in weir_seth_*, probed at len[0 .. n) */
    __u8 n;       /* listed lengths, <= WEIR_SET_HASH_LENS */
    __u8 len[WEIR_SET_HASH_LENS];
    __u8 pad[2];
};

#define WEIR_SET_ID_BITS 32u

struct weir_key_v4 {
    __u32 prefixlen;
    __u32 set;
    __u8 value[4];
};
struct weir_key_v6 {
    __u32 prefixlen;
    __u32 set;
    __u8 value[16];
};
struct weir_key_port {
    __u32 prefixlen;
    __u32 set;
    __u8 value[2];
    __u8 pad[2];
};
struct weir_key_proto {
    __u32 prefixlen;
    __u32 set;
    __u8 value[1];
    __u8 pad[3];
};
struct weir_key_mac {
    __u32 prefixlen;
    __u32 set;
    __u8 value[6];
    __u8 pad[2];
};

/* Classifier trees (compiler/plan/classifier.hpp): two ARRAY maps, BPF_F_MMAPABLE so the loader
 * fills them with one copy each; max_entries set by the loader (template: 1). Read through
 * weir_cls_node/weir_cls_entry/weir_cls_decision (xdp.c).
 *   weir_cls_nodes  key i -> __u64 node descriptor (index 0: an empty leaf)
 *   weir_cls_refs   key i -> struct weir_cls_ref: a leaf entry, its box inline (one lookup per
 *                   box: a leaf is checked without a map read per dimension) */
#define WEIR_CLS_MAX_DIMS 8
struct weir_cls_span {
    __u64 lo;
    __u64 hi;
};
struct weir_cls_ref {
    __u32 order;    /* the rule's position in the policy: the lowest found over the trees wins */
    __u32 decision; /* weir_decision(slot, action) of the box's rule */
    struct weir_cls_span span[WEIR_CLS_MAX_DIMS]; /* the box, one span per dimension of its group */
};

/* Rate limits (`over RATE [burst N] [per KEY] [size N]`, compiler/check/limits.hpp): one LRU hash,
 * shared by every limit of the policy, keyed by the limit's id (a hash of its rule name and key
 * fields, so a limit that keeps both keeps its buckets across hot swaps) and the key fields'
 * values. max_entries: set by the loader (the sum of the limits' sizes plus per-CPU slack).
 *   weir_limits  LRU_HASH  struct weir_limit_key -> struct weir_limit_state
 *   weir_clock   ARRAY     key 0 -> __u64 ns: when non-zero, the time limits see instead of
 *                bpf_ktime_get_ns() (`weir test` freezes it; never set on a live program)
 *
 * The bucket is kept as GCRA state: one "theoretical arrival time" `tat` in fixed-point ns
 * (ns << WEIR_LIMIT_FP_SHIFT). A packet of cost c (1, or its length for byte rates) costs
 * inc = c * interval, interval = the time one unit of rate takes to refill; tau = burst *
 * interval. It is admitted (not over) when max(tat, now) + inc - now <= tau, and then tat
 * becomes max(tat, now) + inc: equivalent to a token bucket of `burst` tokens refilled at `rate`,
 * with tokens = (tau - (tat - now)) / interval. A key never seen (or evicted) has a full bucket.
 * Over-limit packets only read the state; admitted ones update it with a 64-bit compare-and-swap
 * (no lost updates across CPUs, no lock). Time differences are compared signed, so the wrap of
 * now << 10 (after 208 days of uptime) is harmless. */
#define WEIR_LIMIT_FP_SHIFT 10u
#define WEIR_LIMIT_KEY_WORDS 6u
#define WEIR_LIMIT_CAS_TRIES 8
/* The clock `weir test` freezes limits at (ns): all probes of a test block arrive at once. */
#define WEIR_LIMIT_TEST_CLOCK_NS 1000000000000ull

struct weir_limit_key {
    __u32 limit;                      /* the limit's id */
    __u32 tag;                        /* bit i: key field i (ip.src/ip.dst) holds an IPv6 address */
    __u64 w[WEIR_LIMIT_KEY_WORDS];    /* key field values, host order; IPv6: high word first */
};
struct weir_limit_state {
    __u64 tat; /* fixed-point ns */
};

/* One GCRA step: 1 if the packet is over the limit (state unchanged), else 0 and *next the new
 * tat. Shared by the datapath and the interpreter. */
static inline int weir_limit_step(__u64 tat, __u64 now, __u64 inc, __u64 tau, __u64 *next)
{
    __u64 base = (__s64)(tat - now) > 0 ? tat : now;
    __u64 n = base + inc;
    if ((__s64)(n - now) > (__s64)tau)
        return 1;
    *next = n;
    return 0;
}

#endif
