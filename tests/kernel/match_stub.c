/* A hand-written stand-in for generated match code, linked into the XDP template for
 * test_kernel_xdp. It plays this policy (rule indexes in brackets):
 *
 *   policy stub default pass {
 *     [0] count-udp: count    if udp
 *     [1] drop-ssh:  drop     if tcp.dport == 22
 *     [2] tx-icmp:   tx       if icmp
 *     [3] dns:       redirect "x" if udp.dport == 53
 *     [4] http-get:  drop     if payload[0:3] == "GET"
 *     [5] bogus:     <action 9, invalid> if tcp.dport == 9
 *   }
 */
#include <linux/bpf.h>

#include "weir_abi.h"
#include "weir_pkt.h"

extern void weir_count(__u32 rule, __u32 bytes);

__attribute__((always_inline)) __u32 weir_match(struct weir_pkt *pkt, const void *data,
                                                const void *data_end, struct xdp_md *ctx)
{
    (void)ctx;
    if (pkt->present & WEIR_H_UDP)
        weir_count(0, pkt->len);
    if ((pkt->present & WEIR_H_TCP) && pkt->dport == 22)
        return weir_decision(1, WEIR_ACT_DROP);
    if (pkt->present & WEIR_H_ICMP)
        return weir_decision(2, WEIR_ACT_TX);
    if ((pkt->present & WEIR_H_UDP) && pkt->dport == 53)
        return weir_decision(3, WEIR_ACT_REDIRECT);
    if (pkt->present & WEIR_H_L4) {
        const unsigned char *p =
            (const unsigned char *)data + (pkt->payload_off & WEIR_PAYLOAD_OFF_MASK);
        if (pkt->payload_len >= 3 && p + 3 <= (const unsigned char *)data_end && p[0] == 'G' &&
            p[1] == 'E' && p[2] == 'T')
            return weir_decision(4, WEIR_ACT_DROP);
    }
    if ((pkt->present & WEIR_H_TCP) && pkt->dport == 9)
        return weir_decision(5, 9);
    return weir_decision(WEIR_RULE_DEFAULT, WEIR_ACT_PASS);
}
