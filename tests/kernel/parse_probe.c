/* Test-only XDP program: parses the packet with weir_parse and stores the resulting struct
 * weir_pkt in slot 0 of weir_probe_out, so a test can compare it with the native parse. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"

char LICENSE[] SEC("license") = "GPL";

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct weir_pkt);
} weir_probe_out SEC(".maps");

SEC("xdp")
int parse_probe(struct xdp_md *ctx)
{
    struct weir_pkt pkt;
    __u32 zero = 0;

    weir_parse((const void *)(long)ctx->data, (const void *)(long)ctx->data_end, &pkt);
    bpf_map_update_elem(&weir_probe_out, &zero, &pkt, BPF_ANY);
    return XDP_PASS;
}
