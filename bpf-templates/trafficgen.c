/* Traffic generator and counting sinks for live tests and benchmarks (lab/trafficgen.hpp).
 *
 * weir_tg_tx: run with BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES and ctx.ingress_ifindex =
 * a veth end; every repetition transmits the test frame out of that device, into its peer.
 *
 * weir_tg_sink_drop / weir_tg_sink_pass: attached to the receiving device, they count what
 * arrives in weir_tg_counts (per CPU, struct weir_tg_count) and drop it / hand it to the stack.
 * Slot k < WEIR_TG_PORT_SLOTS counts TCP/UDP frames (IPv4, or IPv6 without extension headers,
 * no VLAN tag) whose destination port % WEIR_TG_PORT_SLOTS == k; slot WEIR_TG_SLOT_OTHER counts
 * everything else. The total is the sum of all slots.
 *
 * weir_tg_replay: like weir_tg_tx, but every repetition transmits the next frame of a trace held
 * in weir_tg_trace (loaded with max_entries = the trace's length), wrapping around. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define WEIR_TG_PORT_SLOTS 64
#define WEIR_TG_SLOT_OTHER WEIR_TG_PORT_SLOTS

char LICENSE[] SEC("license") = "GPL";

struct weir_tg_count {
    __u64 packets;
    __u64 bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, WEIR_TG_PORT_SLOTS + 1);
    __type(key, __u32);
    __type(value, struct weir_tg_count);
} weir_tg_counts SEC(".maps");

/* weir_tg_tx is also attached to the sending device while a flood runs, which keeps it in the
 * kernel's XDP dispatcher (a test run with repeat > 1 otherwise adds and removes it, waiting for
 * an RCU grace period each time). Attached, it must leave received traffic alone: only test-run
 * frames carry WEIR_TG_MAGIC as 4 bytes of metadata; they lose it and are transmitted. */
#define WEIR_TG_MAGIC 0x77656972u

SEC("xdp")
int weir_tg_tx(struct xdp_md *ctx)
{
    const __u32 *meta = (const __u32 *)(long)ctx->data_meta;

    if ((const void *)(meta + 1) > (const void *)(long)ctx->data || *meta != WEIR_TG_MAGIC)
        return XDP_PASS;
    if (bpf_xdp_adjust_meta(ctx, 4))
        return XDP_ABORTED;
    return XDP_TX;
}

/* Replay. A test run's repetitions do not start from fresh copies of the test frame: live-frame
 * mode recycles its pages and resets only the data pointers (Documentation/bpf/bpf_prog_run.rst),
 * so whatever an earlier repetition wrote may still be there. Every repetition therefore writes
 * its whole frame, length included: the test frame only lends the length of the longest entry
 * (bpf_xdp_adjust_tail shrinks it to the entry's). Frames are built, checksums included, by user
 * space. The cursor is one global counter, taken with an atomic add, so that the entries go out
 * in trace order and every entry is sent exactly packets / len times (+1 for the first
 * packets % len), whatever CPUs the sending threads run on. */
#define WEIR_TG_TRACE_FRAME 128

struct weir_tg_trace_frame {
    __u32 len; /* 14 .. WEIR_TG_TRACE_FRAME */
    unsigned char data[WEIR_TG_TRACE_FRAME];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1); /* resized before load: the trace's length */
    __type(key, __u32);
    __type(value, struct weir_tg_trace_frame);
} weir_tg_trace SEC(".maps");

struct weir_tg_cursor {
    __u64 next; /* repetitions taken so far */
    __u32 len;  /* entries of weir_tg_trace in use */
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct weir_tg_cursor);
} weir_tg_cursor SEC(".maps");

SEC("xdp")
int weir_tg_replay(struct xdp_md *ctx)
{
    const __u32 *meta = (const __u32 *)(long)ctx->data_meta;
    struct weir_tg_trace_frame *f;
    struct weir_tg_cursor *c;
    __u32 zero = 0, key, len, have;

    if ((const void *)(meta + 1) > (const void *)(long)ctx->data || *meta != WEIR_TG_MAGIC)
        return XDP_PASS;
    c = bpf_map_lookup_elem(&weir_tg_cursor, &zero);
    if (!c || c->len == 0)
        return XDP_ABORTED;
    key = (__u32)(__sync_fetch_and_add(&c->next, 1) % c->len);
    f = bpf_map_lookup_elem(&weir_tg_trace, &key);
    if (!f)
        return XDP_ABORTED;
    len = f->len;
    if (len < 14 || len > WEIR_TG_TRACE_FRAME)
        return XDP_ABORTED;
    if (bpf_xdp_adjust_meta(ctx, 4))
        return XDP_ABORTED;
    have = (__u32)(ctx->data_end - ctx->data);
    if (have != len && bpf_xdp_adjust_tail(ctx, (int)len - (int)have))
        return XDP_ABORTED;
    if (bpf_xdp_store_bytes(ctx, 0, f->data, len))
        return XDP_ABORTED;
    return XDP_TX;
}

static __always_inline __u32 slot_of(const void *data, const void *end)
{
    const unsigned char *p = data;
    const unsigned char *l4;
    __u16 type;
    __u8 proto;

    if (p + 14 > (const unsigned char *)end)
        return WEIR_TG_SLOT_OTHER;
    type = (__u16)(p[12] << 8 | p[13]);
    if (type == ETH_P_IP) {
        if (p + 14 + 20 > (const unsigned char *)end)
            return WEIR_TG_SLOT_OTHER;
        proto = p[14 + 9];
        l4 = p + 14 + (p[14] & 0x0f) * 4;
    } else if (type == ETH_P_IPV6) {
        if (p + 14 + 40 > (const unsigned char *)end)
            return WEIR_TG_SLOT_OTHER;
        proto = p[14 + 6];
        l4 = p + 14 + 40;
    } else {
        return WEIR_TG_SLOT_OTHER;
    }
    if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
        return WEIR_TG_SLOT_OTHER;
    if (l4 + 4 > (const unsigned char *)end)
        return WEIR_TG_SLOT_OTHER;
    return ((__u32)l4[2] << 8 | l4[3]) % WEIR_TG_PORT_SLOTS;
}

static __always_inline void count(struct xdp_md *ctx)
{
    const void *data = (const void *)(long)ctx->data;
    const void *end = (const void *)(long)ctx->data_end;
    __u32 slot = slot_of(data, end);
    struct weir_tg_count *c = bpf_map_lookup_elem(&weir_tg_counts, &slot);

    if (c) {
        c->packets++;
        c->bytes += (__u64)(end - data);
    }
}

SEC("xdp")
int weir_tg_sink_drop(struct xdp_md *ctx)
{
    count(ctx);
    return XDP_DROP;
}

SEC("xdp")
int weir_tg_sink_pass(struct xdp_md *ctx)
{
    count(ctx);
    return XDP_PASS;
}
