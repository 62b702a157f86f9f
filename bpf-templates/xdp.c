/* The XDP program template. Codegen links the generated weir_match (see weir_abi.h) into this
 * file's bitcode; everything around the match lives here: parsing, counters, the verdict. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"
#include "weir_abi.h"
#include "weir_pkt.h"

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1); /* the loader sets the number of rules */
    __type(key, __u32);
    __type(value, struct weir_counter);
} weir_rules SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, WEIR_VERDICT_SLOTS);
    __type(key, __u32);
    __type(value, struct weir_counter);
} weir_verdicts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, WEIR_STAT_SLOTS);
    __type(key, __u32);
    __type(value, struct weir_counter);
} weir_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1); /* the loader sets the number of rules */
    __type(key, __u32);
    __type(value, __u32);
} weir_redirect SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct weir_last);
} weir_last SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, WEIR_LOG_RING_BYTES); /* the loader may resize it */
} weir_log_ring SEC(".maps");

#define WEIR_SET_MAP(NAME, KEY)                 \
    struct {                                    \
        __uint(type, BPF_MAP_TYPE_LPM_TRIE);    \
        __uint(max_entries, 1);                 \
        __uint(map_flags, BPF_F_NO_PREALLOC);   \
        __type(key, struct KEY);                \
        __type(value, __u8);                    \
    } NAME SEC(".maps")

WEIR_SET_MAP(weir_set_v4, weir_key_v4);
WEIR_SET_MAP(weir_set_v6, weir_key_v6);
WEIR_SET_MAP(weir_set_port, weir_key_port);
WEIR_SET_MAP(weir_set_proto, weir_key_proto);
WEIR_SET_MAP(weir_set_mac, weir_key_mac);

/* Hashed address sets (weir_abi.h): one exact-match entry per prefix, probed per length. */
#define WEIR_SETH_MAP(NAME, KEY)                \
    struct {                                    \
        __uint(type, BPF_MAP_TYPE_HASH);        \
        __uint(max_entries, 1);                 \
        __uint(map_flags, BPF_F_NO_PREALLOC);   \
        __type(key, struct KEY);                \
        __type(value, __u8);                    \
    } NAME SEC(".maps")

WEIR_SETH_MAP(weir_seth_v4, weir_key_v4);
WEIR_SETH_MAP(weir_seth_v6, weir_key_v6);

#define WEIR_SETD_MAP(NAME)                            \
    struct {                                           \
        __uint(type, BPF_MAP_TYPE_ARRAY);              \
        __uint(max_entries, WEIR_SET_DESC_SLOTS);      \
        __type(key, __u32);                            \
        __type(value, struct weir_set_desc);           \
    } NAME SEC(".maps")

WEIR_SETD_MAP(weir_setd_v4);
WEIR_SETD_MAP(weir_setd_v6);

#define WEIR_CLS_MAP(NAME, VALUE)               \
    struct {                                    \
        __uint(type, BPF_MAP_TYPE_ARRAY);       \
        __uint(max_entries, 1);                 \
        __uint(map_flags, BPF_F_MMAPABLE);      \
        __type(key, __u32);                     \
        __type(value, VALUE);                   \
    } NAME SEC(".maps")

WEIR_CLS_MAP(weir_cls_nodes, __u64);
WEIR_CLS_MAP(weir_cls_refs, struct weir_cls_ref);

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 1); /* the loader sets the capacity */
    __type(key, struct weir_limit_key);
    __type(value, struct weir_limit_state);
} weir_limits SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} weir_clock SEC(".maps");

/* Rate limits (weir_abi.h): 1 if the packet is over the limit `key->limit` (cost inc, burst
 * tau, fixed-point ns), called by generated code for `over` atoms, last in their conjunction so
 * that only packets the rest of the rule matched take tokens. */
__attribute__((always_inline)) int weir_limit_over(struct weir_limit_key *key, __u64 inc, __u64 tau)
{
    __u32 zero = 0;
    __u64 *frozen = bpf_map_lookup_elem(&weir_clock, &zero);
    __u64 now = (frozen && *frozen) ? *frozen : bpf_ktime_get_ns();
    __u64 next = 0;
    now <<= WEIR_LIMIT_FP_SHIFT;

    struct weir_limit_state *s = bpf_map_lookup_elem(&weir_limits, key);
    if (!s) {
        /* A new key: a full bucket. If another CPU created it meanwhile, take its state. */
        if (weir_limit_step(now, now, inc, tau, &next))
            return 1;
        struct weir_limit_state fresh = {.tat = next};
        if (bpf_map_update_elem(&weir_limits, key, &fresh, BPF_NOEXIST) == 0)
            return 0;
        s = bpf_map_lookup_elem(&weir_limits, key);
        if (!s)
            return 0;
    }
    for (int i = 0; i < WEIR_LIMIT_CAS_TRIES; i++) {
        __u64 tat = *(volatile __u64 *)&s->tat;
        if (weir_limit_step(tat, now, inc, tau, &next))
            return 1; /* over: read only, no write */
        if (__sync_val_compare_and_swap(&s->tat, tat, next) == tat)
            return 0;
    }
    return 1; /* lost the race WEIR_LIMIT_CAS_TRIES times: count it as over (never over-admit) */
}

/* Classifier reads, called by generated code (always-inline, like the set lookups below).
 * A missing entry reads as an empty leaf / a box that matches nothing. */
__attribute__((always_inline)) __u64 weir_cls_node(__u32 i)
{
    __u64 *d = bpf_map_lookup_elem(&weir_cls_nodes, &i);
    return d ? *d : 0;
}

/* A leaf entry (its order, decision and box), or 0. */
__attribute__((always_inline)) struct weir_cls_ref *weir_cls_entry(__u32 i)
{
    return bpf_map_lookup_elem(&weir_cls_refs, &i);
}

__attribute__((always_inline)) __u32 weir_cls_decision(__u32 i)
{
    struct weir_cls_ref *r = bpf_map_lookup_elem(&weir_cls_refs, &i);
    return r ? r->decision : weir_decision(WEIR_RULE_DEFAULT, WEIR_ACT_ABORTED);
}

/* Set lookups, called by generated code (`FIELD in @set`): values in host order, as in
 * struct weir_pkt. External so they survive in the template bitcode; always-inline so they
 * disappear into weir_match once linked. Return 1 if the value is in set `set`. */
/* The descriptor of set `set` if the set is hashed (weir_abi.h), else 0. */
static __always_inline struct weir_set_desc *weir_set_hashed(void *descs, __u32 set)
{
    __u32 slot = set & (WEIR_SET_DESC_SLOTS - 1);
    struct weir_set_desc *d = bpf_map_lookup_elem(descs, &slot);
    return d && d->set == set && d->hashed ? d : 0;
}

__attribute__((always_inline)) int weir_in_v4(__u32 set, __u32 addr)
{
    struct weir_set_desc *d = weir_set_hashed(&weir_setd_v4, set);
    if (d) {
        struct weir_key_v4 k = {.set = set};
        __u32 n = d->n;
        for (__u32 i = 0; i < WEIR_SET_HASH_LENS; i++) {
            if (i >= n)
                break;
            __u32 len = d->len[i];
            if (len > 32)
                break;
            __u32 masked = __builtin_bswap32(addr & (__u32)(~0ull << (32 - len))); /* len 0: 0 */
            k.prefixlen = WEIR_SET_ID_BITS + len;
            __builtin_memcpy(k.value, &masked, 4); /* big-endian */
            if (bpf_map_lookup_elem(&weir_seth_v4, &k))
                return 1;
        }
        return 0;
    }
    struct weir_key_v4 k = {.prefixlen = WEIR_SET_ID_BITS + 32, .set = set};
    for (int i = 0; i < 4; i++)
        k.value[i] = (__u8)(addr >> (24 - 8 * i));
    return bpf_map_lookup_elem(&weir_set_v4, &k) != 0;
}

__attribute__((always_inline)) int weir_in_v6(__u32 set, __u64 hi, __u64 lo)
{
    struct weir_set_desc *d = weir_set_hashed(&weir_setd_v6, set);
    if (d) {
        struct weir_key_v6 k = {.set = set};
        __u32 n = d->n;
        for (__u32 i = 0; i < WEIR_SET_HASH_LENS; i++) {
            if (i >= n)
                break;
            __u32 len = d->len[i];
            if (len > 128)
                break;
            /* Masks without shifts by 64 or more. */
            __u64 mhi, mlo;
            if (len == 0) {
                mhi = 0;
                mlo = 0;
            } else if (len <= 64) {
                mhi = ~0ull << (64 - len);
                mlo = 0;
            } else if (len < 128) {
                mhi = ~0ull;
                mlo = ~0ull << (128 - len);
            } else {
                mhi = ~0ull;
                mlo = ~0ull;
            }
            __u64 h = __builtin_bswap64(hi & mhi), l = __builtin_bswap64(lo & mlo); /* big-endian */
            k.prefixlen = WEIR_SET_ID_BITS + len;
            __builtin_memcpy(k.value, &h, 8);
            __builtin_memcpy(k.value + 8, &l, 8);
            if (bpf_map_lookup_elem(&weir_seth_v6, &k))
                return 1;
        }
        return 0;
    }
    struct weir_key_v6 k = {.prefixlen = WEIR_SET_ID_BITS + 128, .set = set};
    for (int i = 0; i < 8; i++) {
        k.value[i] = (__u8)(hi >> (56 - 8 * i));
        k.value[8 + i] = (__u8)(lo >> (56 - 8 * i));
    }
    return bpf_map_lookup_elem(&weir_set_v6, &k) != 0;
}

__attribute__((always_inline)) int weir_in_port(__u32 set, __u32 port)
{
    struct weir_key_port k = {.prefixlen = WEIR_SET_ID_BITS + 16, .set = set};
    k.value[0] = (__u8)(port >> 8);
    k.value[1] = (__u8)port;
    return bpf_map_lookup_elem(&weir_set_port, &k) != 0;
}

__attribute__((always_inline)) int weir_in_proto(__u32 set, __u32 proto)
{
    struct weir_key_proto k = {.prefixlen = WEIR_SET_ID_BITS + 8, .set = set};
    k.value[0] = (__u8)proto;
    return bpf_map_lookup_elem(&weir_set_proto, &k) != 0;
}

__attribute__((always_inline)) int weir_in_mac(__u32 set, __u64 mac)
{
    struct weir_key_mac k = {.prefixlen = WEIR_SET_ID_BITS + 48, .set = set};
    for (int i = 0; i < 6; i++)
        k.value[i] = (__u8)(mac >> (40 - 8 * i));
    return bpf_map_lookup_elem(&weir_set_mac, &k) != 0;
}

/* Generated by codegen. */
extern __u32 weir_match(struct weir_pkt *pkt, const void *data, const void *data_end, struct xdp_md *ctx);

static __always_inline void weir_add(void *map, __u32 key, __u32 bytes)
{
    struct weir_counter *c = bpf_map_lookup_elem(map, &key);
    if (c) {
        c->packets += 1;
        c->bytes += bytes;
    }
}

/* Called by generated code for every matching `count` rule. External so that it survives in
 * the template bitcode; always-inline so that it disappears into weir_match once linked. */
__attribute__((always_inline)) void weir_count(__u32 rule, __u32 bytes)
{
    weir_add(&weir_rules, rule, bytes);
}

/* Called by generated code for every matching `log` rule: counts it as weir_count does and,
 * on every sample-th match on this CPU, queues (rule, snap) in the packet for weir_log_flush. */
__attribute__((always_inline)) void weir_log(struct weir_pkt *pkt, __u32 rule, __u32 bytes, __u32 sample,
                                             __u32 snap)
{
    struct weir_counter *c = bpf_map_lookup_elem(&weir_rules, &rule);
    if (!c)
        return;
    c->packets += 1;
    c->bytes += bytes;
    if (sample > 1 && c->packets % sample != 0)
        return;
    __u32 i = pkt->log_count;
    if (i >= WEIR_LOG_PER_PACKET) {
        weir_add(&weir_stats, WEIR_STAT_RING_DROPS, bytes);
        return;
    }
    pkt->log_rule[i] = rule;
    pkt->log_snap[i] = (__u16)snap;
    pkt->log_count = i + 1;
}

/* One ring record of `kind` with the frame's first `snap` bytes. Never waits: a full ring costs
 * the record (counted), not the packet. */
static __always_inline void weir_record(struct xdp_md *ctx, struct weir_pkt *pkt, __u32 len, __u64 now, __u32 rule,
                                        __u32 decided_by, __u32 action, __u32 snap, __u32 kind, __u32 shadow)
{
    struct weir_log_record *r = bpf_ringbuf_reserve(&weir_log_ring, sizeof(*r), 0);
    if (!r) {
        weir_add(&weir_stats, WEIR_STAT_RING_DROPS, len);
        return;
    }
    __u32 cap = snap;
    if (cap > len)
        cap = len;
    if (cap > WEIR_LOG_SNAP_MAX)
        cap = WEIR_LOG_SNAP_MAX;
    r->time_ns = now;
    r->rule = rule;
    r->decided_by = decided_by;
    r->action = action;
    r->ifindex = pkt->ifindex;
    r->len = len;
    if (cap == 0 || bpf_xdp_load_bytes(ctx, 0, r->data, cap) != 0)
        cap = 0;
    r->cap_len = cap;
    r->kind = kind;
    r->shadow = shadow;
    bpf_ringbuf_submit(r, 0);
}

/* One ring record per queued `log` match, now that the verdict is known. */
static __always_inline void weir_log_flush(struct xdp_md *ctx, struct weir_pkt *pkt, __u32 rule, __u32 action)
{
    __u32 n = pkt->log_count;
    __u32 len = (__u32)bpf_xdp_get_buff_len(ctx);
    __u64 now = bpf_ktime_get_ns();
    for (__u32 i = 0; i < WEIR_LOG_PER_PACKET; i++) {
        if (i >= n)
            break;
        weir_record(ctx, pkt, len, now, pkt->log_rule[i], rule, action, pkt->log_snap[i], WEIR_LOG_KIND_LOG, 0);
    }
}

/* The interface a `redirect` rule's slot sends to (0: unset). */
static __always_inline __u32 weir_redirect_target(__u32 rule)
{
    __u32 *ifindex = bpf_map_lookup_elem(&weir_redirect, &rule);
    return ifindex ? *ifindex : 0;
}

#ifdef WEIR_SHADOW
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, WEIR_SHADOW_TX_ENTRIES);
    __type(key, struct weir_shadow_key);
    __type(value, struct weir_counter);
} weir_shadow_tx SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, WEIR_SHADOW_STAT_SLOTS);
    __type(key, __u32);
    __type(value, struct weir_counter);
} weir_shadow_st SEC(".maps");

/* Generated by codegen from the candidate policy (weir_abi.h, "Shadow mode"). */
extern __u32 weir_match_shadow(struct weir_pkt *pkt, const void *data, const void *data_end, struct xdp_md *ctx);

/* The candidate's decision on the packet the enforcing policy decided (`decision`): counted,
 * never applied. */
static __always_inline void weir_shadow(struct xdp_md *ctx, struct weir_pkt *pkt, const void *data,
                                        const void *data_end, __u32 decision, __u32 action)
{
    __u32 shadow = weir_match_shadow(pkt, data, data_end, ctx);
    __u32 srule = weir_decision_rule(shadow), saction = weir_decision_action(shadow);
    __u32 erule = weir_decision_rule(decision), eaction = weir_decision_action(decision);
    if (srule == WEIR_RULE_DEFAULT)
        weir_add(&weir_shadow_st, WEIR_SHADOW_STAT_DEFAULT, pkt->len);
    else
        weir_add(&weir_rules, srule, pkt->len);
    if (saction == eaction && (saction != WEIR_ACT_REDIRECT || weir_redirect_target(erule) == weir_redirect_target(srule))) {
        weir_add(&weir_shadow_st, WEIR_SHADOW_STAT_SAME, pkt->len);
        return;
    }
    struct weir_shadow_key k = {.enforced = erule, .candidate = srule, .actions = (eaction << 8) | saction};
    struct weir_counter *c = bpf_map_lookup_elem(&weir_shadow_tx, &k);
    if (!c) {
        struct weir_counter zero = {0, 0};
        bpf_map_update_elem(&weir_shadow_tx, &k, &zero, BPF_NOEXIST); /* another CPU may win: fine */
        c = bpf_map_lookup_elem(&weir_shadow_tx, &k);
        if (!c) {
            weir_add(&weir_shadow_st, WEIR_SHADOW_STAT_LOST, pkt->len);
            return;
        }
    }
    c->packets += 1;
    c->bytes += pkt->len;
    if ((c->packets - 1) % WEIR_SHADOW_SAMPLE == 0)
        weir_record(ctx, pkt, (__u32)bpf_xdp_get_buff_len(ctx), bpf_ktime_get_ns(), WEIR_LOG_SHADOW_RULE, erule,
                    action, WEIR_LOG_SNAP_MAX, WEIR_LOG_KIND_SHADOW, shadow);
}
#endif

/* The action for a decision: redirect looks up its interface, anything unknown aborts. */
static __always_inline __u32 weir_act(__u32 rule, __u32 action)
{
    switch (action) {
    case WEIR_ACT_PASS:
    case WEIR_ACT_DROP:
    case WEIR_ACT_TX:
        return action;
    case WEIR_ACT_REDIRECT: {
        __u32 ifindex = weir_redirect_target(rule);
        return ifindex ? (__u32)bpf_redirect(ifindex, 0) : WEIR_ACT_ABORTED;
    }
    default:
        return WEIR_ACT_ABORTED;
    }
}

/* Parsing is inlined into weir_xdp: a BPF-to-BPF call and its return cost ~7 ns per packet on
 * this kind of machine (the kernel's return thunk for its SRSO/retbleed mitigations runs on
 * every `ret`), a third of the program's cost over an empty one. The parsed packet lives in the
 * per-CPU weir_last value, not on the stack, and the match code reads it after a compiler
 * barrier: to the verifier every field it reads is then an unknown scalar, as it was when the
 * parser was a separately verified function, so the parse outcomes (IPv4 TCP, IPv6 UDP, ARP...)
 * reach the match code as one state and it is verified once, not once per outcome. A per-CPU
 * scratch value is safe: XDP runs with bottom halves disabled (NAPI, generic XDP, and
 * BPF_PROG_TEST_RUN alike), so two runs never interleave on one CPU. */
SEC("xdp")
int weir_xdp(struct xdp_md *ctx)
{
    __u32 zero = 0;
    struct weir_last *last = bpf_map_lookup_elem(&weir_last, &zero);
    if (!last)
        return XDP_ABORTED;
    struct weir_pkt *pkt = &last->pkt;

    weir_parse((const void *)(long)ctx->data, (const void *)(long)ctx->data_end, pkt);
    pkt->ifindex = ctx->ingress_ifindex;
    /* The barrier: everything below reloads the packet view and the frame pointers. */
    __asm__ volatile("" ::: "memory");
    const void *data = (const void *)(long)ctx->data;
    const void *data_end = (const void *)(long)ctx->data_end;

    if (pkt->malformed)
        weir_add(&weir_stats, WEIR_STAT_MALFORMED, pkt->len);

    __u32 decision = weir_match(pkt, data, data_end, ctx);
    __u32 rule = weir_decision_rule(decision);
    __u32 action = weir_act(rule, weir_decision_action(decision));

    if (rule == WEIR_RULE_DEFAULT)
        weir_add(&weir_stats, WEIR_STAT_DEFAULT, pkt->len);
    else
        weir_add(&weir_rules, rule, pkt->len);
    if (action == WEIR_ACT_ABORTED)
        weir_add(&weir_stats, WEIR_STAT_ERROR, pkt->len);
    weir_add(&weir_verdicts, action, pkt->len);
    if (pkt->log_count)
        weir_log_flush(ctx, pkt, rule, action);
#ifdef WEIR_SHADOW
    weir_shadow(ctx, pkt, data, data_end, decision, action);
#endif

    last->rule = rule;
    last->action = action;
    last->runs += 1;
    return (int)action;
}
