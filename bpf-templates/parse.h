/* Header parsing: fills struct weir_pkt from a frame, exactly as docs/language.md ("Semantics")
 * describes. Compiled twice from this one text: as BPF C inside the XDP program, and as C++ by
 * the user-space interpreter, so kernel and interpreter agree by construction.
 *
 * Rules for this file: no BPF helpers, no libc; every read is preceded by a check that the bytes
 * lie before data_end (pointer form `p + n > end`, which is what the verifier tracks); loops have
 * constant bounds and are unrolled; integers are read big-endian through weir_be16/32/48/64.
 *
 * Decisions beyond the language text:
 * - The frame end bounds everything (IPv4 total length / IPv6 payload length are reported in
 *   ip_len, not used to trim the frame): payload_len counts Ethernet padding.
 * - A third VLAN tag stops the walk (eth.type is the TPID found there, no IP header); that is not
 *   counted as malformed. An unknown EtherType or L4 protocol is not malformed either.
 * - ICMP means protocol 1 over IPv4, ICMPv6 next-header 58 over IPv6; both need the 8-byte header.
 * - When an IPv6 extension header is truncated, ip_proto is its type (where the walk stopped),
 *   as for a packet with too many extension headers. A non-first fragment's ip_proto is the
 *   next-header of its fragment header (IPv4: the protocol field).
 * - IPv4 needs version 4 and IHL >= 5; IPv6 needs version 6; TCP needs data offset >= 5. */
#ifndef WEIR_PARSE_H
#define WEIR_PARSE_H

#include <linux/types.h>

#include "weir_pkt.h"

/* Mirrors weir::kMaxVlanTags and weir::kMaxIp6ExtHeaders (compiler/core/fields.hpp); a C++ test
 * asserts they are equal. */
#define WEIR_MAX_VLAN_TAGS 2
#define WEIR_MAX_IP6_EXT_HEADERS 6

#define WEIR_ETH_HLEN 14
#define WEIR_VLAN_HLEN 4
#define WEIR_IP4_MIN_HLEN 20
#define WEIR_IP6_HLEN 40
#define WEIR_TCP_MIN_HLEN 20
#define WEIR_UDP_HLEN 8
#define WEIR_ICMP_HLEN 8
#define WEIR_IP6_EXT_MIN_LEN 8

#define WEIR_ETH_P_IP 0x0800
#define WEIR_ETH_P_IPV6 0x86dd
#define WEIR_ETH_P_8021Q 0x8100
#define WEIR_ETH_P_8021AD 0x88a8

#define WEIR_IPPROTO_HOPOPTS 0
#define WEIR_IPPROTO_ICMP 1
#define WEIR_IPPROTO_TCP 6
#define WEIR_IPPROTO_UDP 17
#define WEIR_IPPROTO_ROUTING 43
#define WEIR_IPPROTO_FRAGMENT 44
#define WEIR_IPPROTO_AH 51
#define WEIR_IPPROTO_ICMPV6 58
#define WEIR_IPPROTO_DSTOPTS 60

#if defined(__clang__)
#define WEIR_UNROLL _Pragma("unroll")
#else
#define WEIR_UNROLL
#endif

#define WEIR_PARSE_FN static inline __attribute__((always_inline))

/* Big-endian reads of 2 and 4 bytes. In BPF, one load and a byte swap: packet memory needs no
 * alignment where XDP runs natively (the verifier demands it only on architectures without
 * efficient unaligned access, or under BPF_F_STRICT_ALIGNMENT, which weir does not set), and the
 * byte-by-byte form cost ~2 ns per packet more. In C++ (the interpreter), memcpy: the compiler
 * turns it into the same load without undefined behaviour. */
WEIR_PARSE_FN __u16 weir_be16(const __u8 *p)
{
#if defined(__bpf__)
    __u16 v = *(const __u16 *)p;
#else
    __u16 v;
    __builtin_memcpy(&v, p, sizeof v);
#endif
    return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? __builtin_bswap16(v) : v;
}

WEIR_PARSE_FN __u32 weir_be32(const __u8 *p)
{
#if defined(__bpf__)
    __u32 v = *(const __u32 *)p;
#else
    __u32 v;
    __builtin_memcpy(&v, p, sizeof v);
#endif
    return __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? __builtin_bswap32(v) : v;
}

WEIR_PARSE_FN __u64 weir_be48(const __u8 *p)
{
    return ((__u64)weir_be16(p) << 32) | (__u64)weir_be32(p + 2);
}

WEIR_PARSE_FN __u64 weir_be64(const __u8 *p)
{
    return ((__u64)weir_be32(p) << 32) | (__u64)weir_be32(p + 4);
}

/* end - start, as one 64-bit pointer subtraction: left alone, clang narrows it to 32 bits,
 * which the verifier rejects. The only pointer subtraction in the parser (the verifier allows
 * it to privileged loaders: CAP_PERFMON); offsets are tracked as integers from here on. */
WEIR_PARSE_FN __u32 weir_frame_len(const __u8 *start, const __u8 *end)
{
    __u64 len = (__u64)(end - start);
#if defined(__bpf__)
    __asm__ volatile("" : "+r"(len));
#endif
    return (__u32)len;
}

/* Parsing stopped at a truncated or invalid header. */
WEIR_PARSE_FN int weir_parse_stop(struct weir_pkt *pkt)
{
    pkt->malformed = 1;
    return 1;
}

WEIR_PARSE_FN int weir_is_ip6_ext(__u8 nh)
{
    return nh == WEIR_IPPROTO_HOPOPTS || nh == WEIR_IPPROTO_ROUTING ||
           nh == WEIR_IPPROTO_FRAGMENT || nh == WEIR_IPPROTO_DSTOPTS || nh == WEIR_IPPROTO_AH;
}

/* L4 header at offset `off`, protocol pkt->ip_proto; sets the payload window after it. */
WEIR_PARSE_FN int weir_parse_l4(const __u8 *start, const __u8 *end, __u32 off,
                                struct weir_pkt *pkt)
{
    const __u8 *l4 = start + off;
    __u32 hlen;
    __u8 proto = pkt->ip_proto;

    if (proto == WEIR_IPPROTO_TCP) {
        if (l4 + WEIR_TCP_MIN_HLEN > end)
            return weir_parse_stop(pkt);
        hlen = (__u32)(l4[12] >> 4) * 4;
        if (hlen < WEIR_TCP_MIN_HLEN || l4 + hlen > end)
            return weir_parse_stop(pkt);
        pkt->present |= WEIR_H_TCP;
        pkt->sport = weir_be16(l4);
        pkt->dport = weir_be16(l4 + 2);
        pkt->tcp_flags = l4[13];
        pkt->tcp_window = weir_be16(l4 + 14);
    } else if (proto == WEIR_IPPROTO_UDP) {
        hlen = WEIR_UDP_HLEN;
        if (l4 + WEIR_UDP_HLEN > end)
            return weir_parse_stop(pkt);
        pkt->present |= WEIR_H_UDP;
        pkt->sport = weir_be16(l4);
        pkt->dport = weir_be16(l4 + 2);
        pkt->udp_len = weir_be16(l4 + 4);
    } else if ((proto == WEIR_IPPROTO_ICMP && pkt->ip_version == 4) ||
               (proto == WEIR_IPPROTO_ICMPV6 && pkt->ip_version == 6)) {
        hlen = WEIR_ICMP_HLEN;
        if (l4 + WEIR_ICMP_HLEN > end)
            return weir_parse_stop(pkt);
        pkt->present |= proto == WEIR_IPPROTO_ICMP ? WEIR_H_ICMP : WEIR_H_ICMP6;
        pkt->icmp_type = l4[0];
        pkt->icmp_code = l4[1];
    } else {
        return 0;
    }
    pkt->payload_off = (__u16)(off + hlen);
    pkt->payload_len = (__u16)(pkt->len - (off + hlen));
    return 0;
}

WEIR_PARSE_FN int weir_parse_ip4(const __u8 *start, const __u8 *end, __u32 off,
                                 struct weir_pkt *pkt)
{
    const __u8 *ip = start + off;
    if (ip + WEIR_IP4_MIN_HLEN > end)
        return weir_parse_stop(pkt);
    __u32 hlen = (__u32)(ip[0] & 0x0f) * 4;
    if ((ip[0] >> 4) != 4 || hlen < WEIR_IP4_MIN_HLEN || ip + hlen > end)
        return weir_parse_stop(pkt);

    __u16 frag = weir_be16(ip + 6);
    pkt->present |= WEIR_H_IP4;
    pkt->ip_version = 4;
    pkt->ip_dscp = (__u8)(ip[1] >> 2);
    pkt->ip_len = weir_be16(ip + 2);
    pkt->ip_ttl = ip[8];
    pkt->ip_proto = ip[9];
    pkt->ip4_src = weir_be32(ip + 12);
    pkt->ip4_dst = weir_be32(ip + 16);
    pkt->ip_frag = (frag & 0x3fff) != 0; /* MF set or offset non-zero */
    if (frag & 0x1fff)                   /* non-first fragment: no L4 header */
        return 0;
    return weir_parse_l4(start, end, off + hlen, pkt);
}

WEIR_PARSE_FN int weir_parse_ip6(const __u8 *start, const __u8 *end, __u32 off,
                                 struct weir_pkt *pkt)
{
    const __u8 *ip = start + off;
    if (ip + WEIR_IP6_HLEN > end)
        return weir_parse_stop(pkt);
    __u32 word = weir_be32(ip);
    if ((word >> 28) != 6)
        return weir_parse_stop(pkt);

    pkt->present |= WEIR_H_IP6;
    pkt->ip_version = 6;
    pkt->ip_dscp = (__u8)((word >> 22) & 0x3f);
    pkt->ip6_flowlabel = word & 0xfffff;
    pkt->ip_len = (__u16)(weir_be16(ip + 4) + WEIR_IP6_HLEN);
    pkt->ip_ttl = ip[7];
    pkt->ip6_src_hi = weir_be64(ip + 8);
    pkt->ip6_src_lo = weir_be64(ip + 16);
    pkt->ip6_dst_hi = weir_be64(ip + 24);
    pkt->ip6_dst_lo = weir_be64(ip + 32);

    __u8 nh = ip[6];
    off += WEIR_IP6_HLEN;
    WEIR_UNROLL
    for (int i = 0; i < WEIR_MAX_IP6_EXT_HEADERS; i++) {
        if (!weir_is_ip6_ext(nh))
            break;
        pkt->ip_proto = nh; /* where the walk stops if this header is truncated */
        const __u8 *cur = start + off;
        if (cur + WEIR_IP6_EXT_MIN_LEN > end)
            return weir_parse_stop(pkt);
        __u32 len;
        if (nh == WEIR_IPPROTO_FRAGMENT) {
            len = WEIR_IP6_EXT_MIN_LEN;
            pkt->ip_frag = 1;
            if (weir_be16(cur + 2) & 0xfff8) { /* non-first fragment: no L4 header */
                pkt->ip_proto = cur[0];
                return 0;
            }
        } else if (nh == WEIR_IPPROTO_AH) {
            len = ((__u32)cur[1] + 2) * 4;
        } else {
            len = ((__u32)cur[1] + 1) * 8;
        }
        if (cur + len > end)
            return weir_parse_stop(pkt);
        nh = cur[0];
        off += len;
    }
    pkt->ip_proto = nh;
    if (weir_is_ip6_ext(nh)) /* more extension headers than we walk */
        return weir_parse_stop(pkt);
    return weir_parse_l4(start, end, off, pkt);
}

/* Parses the frame [data, data_end) into *pkt (zeroed first; ifindex is left 0 for the caller).
 * Returns 0 for a well-formed packet, 1 when pkt->malformed was set. */
WEIR_PARSE_FN int weir_parse(const void *data, const void *data_end, struct weir_pkt *pkt)
{
    const __u8 *start = (const __u8 *)data;
    const __u8 *end = (const __u8 *)data_end;

    __builtin_memset(pkt, 0, sizeof(*pkt));
    pkt->len = weir_frame_len(start, end);
    if (start + WEIR_ETH_HLEN > end)
        return weir_parse_stop(pkt);
    pkt->present = WEIR_H_ETH;
    pkt->eth_dst = weir_be48(start);
    pkt->eth_src = weir_be48(start + 6);

    __u16 type = weir_be16(start + 12);
    __u32 off = WEIR_ETH_HLEN;
    WEIR_UNROLL
    for (int i = 0; i < WEIR_MAX_VLAN_TAGS; i++) {
        if (type != WEIR_ETH_P_8021Q && type != WEIR_ETH_P_8021AD)
            break;
        const __u8 *cur = start + off;
        if (cur + WEIR_VLAN_HLEN > end) {
            pkt->eth_type = type;
            return weir_parse_stop(pkt);
        }
        if (i == 0) {
            __u16 tci = weir_be16(cur);
            pkt->present |= WEIR_H_VLAN;
            pkt->vlan_id = tci & 0x0fff;
            pkt->vlan_pcp = (__u8)(tci >> 13);
        }
        type = weir_be16(cur + 2);
        off += WEIR_VLAN_HLEN;
    }
    pkt->eth_type = type;

    if (type == WEIR_ETH_P_IP)
        return weir_parse_ip4(start, end, off, pkt);
    if (type == WEIR_ETH_P_IPV6)
        return weir_parse_ip6(start, end, off, pkt);
    return 0;
}

#endif
