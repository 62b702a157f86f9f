#include "fields.hpp"

#include <array>

namespace weir {

namespace {

using H = Header;
using T = FieldType;
using S = SymbolTable;
using F = FieldId;

// Order must follow FieldId.
constexpr std::array<FieldDef, static_cast<std::size_t>(F::Count_)> kFields{{
    {F::EthSrc, "eth.src", H::Eth, T::Mac, 48, S::None, "Ethernet source address"},
    {F::EthDst, "eth.dst", H::Eth, T::Mac, 48, S::None, "Ethernet destination address"},
    {F::EthType, "eth.type", H::Eth, T::Int, 16, S::EtherType,
     "EtherType of the payload after any VLAN tags (the network protocol)"},
    {F::VlanId, "vlan.id", H::Vlan, T::Int, 12, S::None, "VLAN id of the outer tag (802.1ad or 802.1Q)"},
    {F::VlanPcp, "vlan.pcp", H::Vlan, T::Int, 3, S::None, "priority code point of the outer VLAN tag"},
    {F::IpSrc, "ip.src", H::Ip, T::IpAny, 128, S::None,
     "source address, IPv4 or IPv6 by the literal compared with"},
    {F::IpDst, "ip.dst", H::Ip, T::IpAny, 128, S::None,
     "destination address, IPv4 or IPv6 by the literal compared with"},
    {F::Ip4Src, "ip4.src", H::Ip4, T::Ip4, 32, S::None, "IPv4 source address"},
    {F::Ip4Dst, "ip4.dst", H::Ip4, T::Ip4, 32, S::None, "IPv4 destination address"},
    {F::Ip6Src, "ip6.src", H::Ip6, T::Ip6, 128, S::None, "IPv6 source address"},
    {F::Ip6Dst, "ip6.dst", H::Ip6, T::Ip6, 128, S::None, "IPv6 destination address"},
    {F::IpProto, "ip.proto", H::Ip, T::Int, 8, S::Proto,
     "L4 protocol: IPv4 protocol, or IPv6 next header after the extension headers"},
    {F::IpTtl, "ip.ttl", H::Ip, T::Int, 8, S::None, "IPv4 TTL or IPv6 hop limit"},
    {F::IpDscp, "ip.dscp", H::Ip, T::Int, 6, S::Dscp, "DSCP (upper 6 bits of TOS / traffic class)"},
    {F::IpLen, "ip.len", H::Ip, T::Int, 16, S::None,
     "IP datagram length: IPv4 total length, IPv6 payload length + 40"},
    {F::IpVersion, "ip.version", H::Ip, T::Int, 4, S::None, "4 or 6"},
    {F::IpFrag, "ip.frag", H::Ip, T::Bool, 1, S::None,
     "the packet is a fragment (IPv4 MF or offset != 0, or an IPv6 fragment header)"},
    {F::Ip6Flowlabel, "ip6.flowlabel", H::Ip6, T::Int, 20, S::None, "IPv6 flow label"},
    {F::TcpSport, "tcp.sport", H::Tcp, T::Int, 16, S::None, "TCP source port"},
    {F::TcpDport, "tcp.dport", H::Tcp, T::Int, 16, S::None, "TCP destination port"},
    {F::TcpWindow, "tcp.window", H::Tcp, T::Int, 16, S::None, "TCP window (unscaled)"},
    {F::TcpFlagFin, "tcp.flags.fin", H::Tcp, T::Bool, 1, S::None, "TCP FIN flag"},
    {F::TcpFlagSyn, "tcp.flags.syn", H::Tcp, T::Bool, 1, S::None, "TCP SYN flag"},
    {F::TcpFlagRst, "tcp.flags.rst", H::Tcp, T::Bool, 1, S::None, "TCP RST flag"},
    {F::TcpFlagPsh, "tcp.flags.psh", H::Tcp, T::Bool, 1, S::None, "TCP PSH flag"},
    {F::TcpFlagAck, "tcp.flags.ack", H::Tcp, T::Bool, 1, S::None, "TCP ACK flag"},
    {F::TcpFlagUrg, "tcp.flags.urg", H::Tcp, T::Bool, 1, S::None, "TCP URG flag"},
    {F::TcpFlagEce, "tcp.flags.ece", H::Tcp, T::Bool, 1, S::None, "TCP ECE flag"},
    {F::TcpFlagCwr, "tcp.flags.cwr", H::Tcp, T::Bool, 1, S::None, "TCP CWR flag"},
    {F::UdpSport, "udp.sport", H::Udp, T::Int, 16, S::None, "UDP source port"},
    {F::UdpDport, "udp.dport", H::Udp, T::Int, 16, S::None, "UDP destination port"},
    {F::UdpLen, "udp.len", H::Udp, T::Int, 16, S::None, "UDP length field (header + payload)"},
    {F::L4Sport, "l4.sport", H::L4, T::Int, 16, S::None, "TCP or UDP source port"},
    {F::L4Dport, "l4.dport", H::L4, T::Int, 16, S::None, "TCP or UDP destination port"},
    {F::IcmpType, "icmp.type", H::Icmp, T::Int, 8, S::IcmpType, "ICMP (v4) type"},
    {F::IcmpCode, "icmp.code", H::Icmp, T::Int, 8, S::None, "ICMP (v4) code"},
    {F::Icmp6Type, "icmp6.type", H::Icmp6, T::Int, 8, S::Icmp6Type, "ICMPv6 type"},
    {F::Icmp6Code, "icmp6.code", H::Icmp6, T::Int, 8, S::None, "ICMPv6 code"},
    {F::PktLen, "pkt.len", H::Pkt, T::Int, 16, S::None, "frame length in bytes, Ethernet header included"},
    {F::PktIface, "pkt.iface", H::Pkt, T::Iface, 32, S::None, "name of the interface the packet arrived on"},
}};

constexpr bool table_in_order() {
    for (std::size_t i = 0; i < kFields.size(); ++i)
        if (static_cast<std::size_t>(kFields[i].id) != i) return false;
    return true;
}
static_assert(table_in_order(), "kFields must follow FieldId order");

constexpr Symbol kProto[] = {
    {"icmp", 1}, {"igmp", 2}, {"ipip", 4}, {"tcp", 6}, {"udp", 17}, {"ipv6", 41}, {"gre", 47},
    {"esp", 50}, {"ah", 51}, {"icmp6", 58}, {"ospf", 89}, {"pim", 103}, {"vrrp", 112},
    {"l2tp", 115}, {"sctp", 132}, {"udplite", 136},
};
constexpr Symbol kEtherType[] = {
    {"ipv4", 0x0800}, {"arp", 0x0806}, {"vlan", 0x8100}, {"rarp", 0x8035}, {"ipv6", 0x86dd},
    {"lacp", 0x8809}, {"mpls", 0x8847}, {"mpls-multicast", 0x8848}, {"pppoe-discovery", 0x8863},
    {"pppoe", 0x8864}, {"eapol", 0x888e}, {"qinq", 0x88a8}, {"lldp", 0x88cc}, {"ptp", 0x88f7},
};
constexpr Symbol kIcmpType[] = {
    {"echo-reply", 0}, {"destination-unreachable", 3}, {"source-quench", 4}, {"redirect", 5},
    {"echo-request", 8}, {"router-advertisement", 9}, {"router-solicitation", 10},
    {"time-exceeded", 11}, {"parameter-problem", 12}, {"timestamp-request", 13},
    {"timestamp-reply", 14}, {"info-request", 15}, {"info-reply", 16},
    {"address-mask-request", 17}, {"address-mask-reply", 18},
};
constexpr Symbol kIcmp6Type[] = {
    {"destination-unreachable", 1}, {"packet-too-big", 2}, {"time-exceeded", 3},
    {"parameter-problem", 4}, {"echo-request", 128}, {"echo-reply", 129},
    {"mld-listener-query", 130}, {"mld-listener-report", 131}, {"mld-listener-done", 132},
    {"nd-router-solicit", 133}, {"nd-router-advert", 134}, {"nd-neighbor-solicit", 135},
    {"nd-neighbor-advert", 136}, {"nd-redirect", 137}, {"mld2-listener-report", 143},
};
constexpr Symbol kDscp[] = {
    {"cs0", 0}, {"cs1", 8}, {"af11", 10}, {"af12", 12}, {"af13", 14}, {"cs2", 16}, {"af21", 18},
    {"af22", 20}, {"af23", 22}, {"cs3", 24}, {"af31", 26}, {"af32", 28}, {"af33", 30},
    {"cs4", 32}, {"af41", 34}, {"af42", 36}, {"af43", 38}, {"cs5", 40}, {"ef", 46},
    {"cs6", 48}, {"cs7", 56},
};
// Bit values as in the TCP header's flags byte (used by test packets: `flags syn,ack`).
constexpr Symbol kTcpFlag[] = {
    {"fin", 0x01}, {"syn", 0x02}, {"rst", 0x04}, {"psh", 0x08},
    {"ack", 0x10}, {"urg", 0x20}, {"ece", 0x40}, {"cwr", 0x80},
};

}  // namespace

std::span<const FieldDef> all_fields() { return kFields; }

const FieldDef& field(FieldId id) { return kFields.at(static_cast<std::size_t>(id)); }

const FieldDef* find_field(std::string_view name) {
    for (const auto& f : kFields)
        if (f.name == name) return &f;
    return nullptr;
}

std::uint64_t field_max(const FieldDef& f) {
    return f.bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << f.bits) - 1;
}

std::span<const Symbol> symbols(SymbolTable t) {
    switch (t) {
        case S::None: return {};
        case S::Proto: return kProto;
        case S::EtherType: return kEtherType;
        case S::IcmpType: return kIcmpType;
        case S::Icmp6Type: return kIcmp6Type;
        case S::Dscp: return kDscp;
        case S::TcpFlag: return kTcpFlag;
    }
    return {};
}

std::optional<std::uint32_t> find_symbol(SymbolTable t, std::string_view name) {
    for (const auto& s : symbols(t))
        if (s.name == name) return s.value;
    return std::nullopt;
}

std::string_view symbol_name(SymbolTable t, std::uint32_t value) {
    for (const auto& s : symbols(t))
        if (s.value == value) return s.name;
    return {};
}

const char* field_type_text(FieldType t) {
    switch (t) {
        case FieldType::Int: return "integer";
        case FieldType::Bool: return "flag";
        case FieldType::Ip4: return "IPv4 address";
        case FieldType::Ip6: return "IPv6 address";
        case FieldType::IpAny: return "IPv4 or IPv6 address";
        case FieldType::Mac: return "MAC address";
        case FieldType::Iface: return "interface name (string)";
    }
    return "?";
}

const char* header_text(Header h) {
    switch (h) {
        case Header::Eth: return "Ethernet";
        case Header::Vlan: return "VLAN tag";
        case Header::Ip: return "IPv4 or IPv6";
        case Header::Ip4: return "IPv4";
        case Header::Ip6: return "IPv6";
        case Header::Tcp: return "TCP";
        case Header::Udp: return "UDP";
        case Header::L4: return "TCP or UDP";
        case Header::Icmp: return "ICMP";
        case Header::Icmp6: return "ICMPv6";
        case Header::Pkt: return "always (metadata)";
    }
    return "?";
}

std::string_view symbol_table_name(SymbolTable t) {
    switch (t) {
        case S::None: return "";
        case S::Proto: return "protocol";
        case S::EtherType: return "EtherType";
        case S::IcmpType: return "ICMP type";
        case S::Icmp6Type: return "ICMPv6 type";
        case S::Dscp: return "DSCP";
        case S::TcpFlag: return "TCP flag";
    }
    return "";
}

}  // namespace weir
