/* Test-only XDP program the verifier must reject: it reads the packet without a bounds check.
 * test_kernel_xdp uses it to see the verifier log travel with the load error. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int bad_probe(struct xdp_md *ctx)
{
    const unsigned char *data = (const unsigned char *)(long)ctx->data;
    return data[20] == 1 ? XDP_DROP : XDP_PASS;
}
