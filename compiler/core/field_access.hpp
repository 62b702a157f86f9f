// Where each field's value lives in the parsed packet (struct weir_pkt, bpf-templates/weir_pkt.h).
// The one mapping from FieldId to weir_pkt members: the interpreter reads it, and codegen emits
// its loads from it. Names, widths and types stay in fields.hpp; this table only says where.
//
// Reading a field (this is what field_value() below and the generated code both do):
//   1. present: the field exists iff (pkt.present & present) != 0; present == 0 means always
//      (pkt.*). present is the WEIR_H_* mask of the field's fields.hpp Header (a unit test keeps
//      the two in step).
//   2. size 1/2/4/8: one host-order unsigned member at `offset`.
//      size 16 (IPv6 addresses): two consecutive __u64 members, the high half (first 8 address
//      bytes) at `offset`, the low half at `offset + 8`; value = hi << 64 | lo.
//      MACs are one __u64 with the address in the low 48 bits (eth_src/eth_dst).
//   3. bit != 0 (Bool fields): the field is 1 iff (member & bit) != 0. Bool fields with bit == 0
//      (ip.frag) are 1 iff the member is non-zero.
//   IpAny fields (ip.src, ip.dst) have no member of their own (size 0): they read the field named
//   by `v4` or `v6`, chosen by the family of the value compared with.
//   pkt.iface reads `ifindex` in the kernel (names are resolved to ifindexes at load time); the
//   interpreter compares the interface name instead.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "fields.hpp"
#include "weir_pkt.h"

namespace weir {

struct FieldAccess {
    FieldId id;
    std::uint16_t offset;  // offsetof(weir_pkt, member)
    std::uint8_t size;     // bytes: 1, 2, 4, 8, 16 (two __u64, hi first), 0 = IpAny (see v4/v6)
    std::uint32_t present; // WEIR_H_* bits, any of which makes the field exist; 0 = always
    std::uint32_t bit;     // Bool fields: the bit of the member; 0 = the whole member
    FieldId v4 = FieldId::Count_, v6 = FieldId::Count_;  // IpAny only
};

// The WEIR_H_* mask that corresponds to a fields.hpp Header (0 = always present).
constexpr std::uint32_t header_mask(Header h) {
    switch (h) {
        case Header::Eth: return WEIR_H_ETH;
        case Header::Vlan: return WEIR_H_VLAN;
        case Header::Ip: return WEIR_H_IP;
        case Header::Ip4: return WEIR_H_IP4;
        case Header::Ip6: return WEIR_H_IP6;
        case Header::Tcp: return WEIR_H_TCP;
        case Header::Udp: return WEIR_H_UDP;
        case Header::L4: return WEIR_H_L4;
        case Header::Icmp: return WEIR_H_ICMP;
        case Header::Icmp6: return WEIR_H_ICMP6;
        case Header::Pkt: return 0;
    }
    return 0;
}

namespace field_access_detail {

#define WEIR_MEMBER(m) static_cast<std::uint16_t>(offsetof(weir_pkt, m)), \
                       static_cast<std::uint8_t>(sizeof(weir_pkt::m))
#define WEIR_IP6(m) static_cast<std::uint16_t>(offsetof(weir_pkt, m##_hi)), std::uint8_t{16}

using F = FieldId;
// Order must follow FieldId.
inline constexpr std::array<FieldAccess, static_cast<std::size_t>(F::Count_)> kAccess{{
    {F::EthSrc, WEIR_MEMBER(eth_src), WEIR_H_ETH, 0},
    {F::EthDst, WEIR_MEMBER(eth_dst), WEIR_H_ETH, 0},
    {F::EthType, WEIR_MEMBER(eth_type), WEIR_H_ETH, 0},
    {F::VlanId, WEIR_MEMBER(vlan_id), WEIR_H_VLAN, 0},
    {F::VlanPcp, WEIR_MEMBER(vlan_pcp), WEIR_H_VLAN, 0},
    {F::IpSrc, 0, 0, WEIR_H_IP, 0, F::Ip4Src, F::Ip6Src},
    {F::IpDst, 0, 0, WEIR_H_IP, 0, F::Ip4Dst, F::Ip6Dst},
    {F::Ip4Src, WEIR_MEMBER(ip4_src), WEIR_H_IP4, 0},
    {F::Ip4Dst, WEIR_MEMBER(ip4_dst), WEIR_H_IP4, 0},
    {F::Ip6Src, WEIR_IP6(ip6_src), WEIR_H_IP6, 0},
    {F::Ip6Dst, WEIR_IP6(ip6_dst), WEIR_H_IP6, 0},
    {F::IpProto, WEIR_MEMBER(ip_proto), WEIR_H_IP, 0},
    {F::IpTtl, WEIR_MEMBER(ip_ttl), WEIR_H_IP, 0},
    {F::IpDscp, WEIR_MEMBER(ip_dscp), WEIR_H_IP, 0},
    {F::IpLen, WEIR_MEMBER(ip_len), WEIR_H_IP, 0},
    {F::IpVersion, WEIR_MEMBER(ip_version), WEIR_H_IP, 0},
    {F::IpFrag, WEIR_MEMBER(ip_frag), WEIR_H_IP, 0},
    {F::Ip6Flowlabel, WEIR_MEMBER(ip6_flowlabel), WEIR_H_IP6, 0},
    {F::TcpSport, WEIR_MEMBER(sport), WEIR_H_TCP, 0},
    {F::TcpDport, WEIR_MEMBER(dport), WEIR_H_TCP, 0},
    {F::TcpWindow, WEIR_MEMBER(tcp_window), WEIR_H_TCP, 0},
    {F::TcpFlagFin, WEIR_MEMBER(tcp_flags), WEIR_H_TCP, 0x01},
    {F::TcpFlagSyn, WEIR_MEMBER(tcp_flags), WEIR_H_TCP, 0x02},
    {F::TcpFlagRst, WEIR_MEMBER(tcp_flags), WEIR_H_TCP, 0x04},
    {F::TcpFlagPsh, WEIR_MEMBER(tcp_flags), WEIR_H_TCP, 0x08},
    {F::TcpFlagAck, WEIR_MEMBER(tcp_flags), WEIR_H_TCP, 0x10},
    {F::TcpFlagUrg, WEIR_MEMBER(tcp_flags), WEIR_H_TCP, 0x20},
    {F::TcpFlagEce, WEIR_MEMBER(tcp_flags), WEIR_H_TCP, 0x40},
    {F::TcpFlagCwr, WEIR_MEMBER(tcp_flags), WEIR_H_TCP, 0x80},
    {F::UdpSport, WEIR_MEMBER(sport), WEIR_H_UDP, 0},
    {F::UdpDport, WEIR_MEMBER(dport), WEIR_H_UDP, 0},
    {F::UdpLen, WEIR_MEMBER(udp_len), WEIR_H_UDP, 0},
    {F::L4Sport, WEIR_MEMBER(sport), WEIR_H_L4, 0},
    {F::L4Dport, WEIR_MEMBER(dport), WEIR_H_L4, 0},
    {F::IcmpType, WEIR_MEMBER(icmp_type), WEIR_H_ICMP, 0},
    {F::IcmpCode, WEIR_MEMBER(icmp_code), WEIR_H_ICMP, 0},
    {F::Icmp6Type, WEIR_MEMBER(icmp_type), WEIR_H_ICMP6, 0},
    {F::Icmp6Code, WEIR_MEMBER(icmp_code), WEIR_H_ICMP6, 0},
    {F::PktLen, WEIR_MEMBER(len), 0, 0},
    {F::PktIface, WEIR_MEMBER(ifindex), 0, 0},
}};

#undef WEIR_MEMBER
#undef WEIR_IP6

constexpr bool in_order() {
    for (std::size_t i = 0; i < kAccess.size(); ++i)
        if (static_cast<std::size_t>(kAccess[i].id) != i) return false;
    return true;
}
static_assert(in_order(), "kAccess must follow FieldId order");
static_assert(offsetof(weir_pkt, ip6_src_lo) == offsetof(weir_pkt, ip6_src_hi) + 8 &&
                  offsetof(weir_pkt, ip6_dst_lo) == offsetof(weir_pkt, ip6_dst_hi) + 8,
              "IPv6 halves must be adjacent, hi first");

}  // namespace field_access_detail

constexpr const FieldAccess& field_access(FieldId id) {
    return field_access_detail::kAccess[static_cast<std::size_t>(id)];
}
constexpr std::span<const FieldAccess> all_field_access() { return field_access_detail::kAccess; }

// The value of a field in a parsed packet, nullopt when the packet lacks the field's header.
// Bool fields are 0 or 1. ip.src/ip.dst give the address of whichever IP version is present
// (IPv4 in the low 32 bits). pkt.iface gives pkt.ifindex; the interpreter itself compares
// interface names (see evaluate() in interp.hpp).
std::optional<u128> field_value(FieldId id, const weir_pkt& pkt);

}  // namespace weir
