// The one table of packet fields. Parser, checker, linter, formatter, interpreter and codegen
// all look fields up here; no field's meaning is written anywhere else.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace weir {

// Field values up to 128 bits wide (IPv6 addresses). The kernel keeps them as two 64-bit halves,
// high half first (field_access.hpp).
using u128 = unsigned __int128;
constexpr std::uint64_t hi64(u128 v) { return static_cast<std::uint64_t>(v >> 64); }
constexpr std::uint64_t lo64(u128 v) { return static_cast<std::uint64_t>(v); }
constexpr u128 u128_of(std::uint64_t hi, std::uint64_t lo) { return u128{hi} << 64 | lo; }

// Which header must be present for the field to exist in a packet. A comparison on a field
// whose header the packet does not carry is false (see docs/language.md, "Missing headers").
enum class Header : std::uint8_t {
    Eth,    // always present (frames shorter than 14 bytes are malformed and never reach rules)
    Vlan,   // at least one 802.1Q/802.1ad tag
    Ip,     // IPv4 or IPv6
    Ip4,
    Ip6,
    Tcp,    // TCP header, not a non-first fragment
    Udp,
    L4,     // TCP or UDP
    Icmp,
    Icmp6,
    Pkt,    // metadata: always present
};

// The type of values a field compares with.
enum class FieldType : std::uint8_t {
    Int,    // unsigned integer of `bits` width
    Bool,   // tested bare: `tcp.flags.syn`
    Ip4,    // IPv4 address (32 bits)
    Ip6,    // IPv6 address (128 bits)
    IpAny,  // ip.src/ip.dst: IPv4 or IPv6, chosen by the literal (or both for a mixed set)
    Mac,    // 48-bit Ethernet address
    Iface,  // interface name (string), resolved to an ifindex at load time
};

// Symbolic constants a field accepts in place of numbers.
enum class SymbolTable : std::uint8_t { None, Proto, EtherType, IcmpType, Icmp6Type, Dscp, TcpFlag };

enum class FieldId : std::uint8_t {
    EthSrc, EthDst, EthType,
    VlanId, VlanPcp,
    IpSrc, IpDst, Ip4Src, Ip4Dst, Ip6Src, Ip6Dst,
    IpProto, IpTtl, IpDscp, IpLen, IpVersion, IpFrag, Ip6Flowlabel,
    TcpSport, TcpDport, TcpWindow,
    TcpFlagFin, TcpFlagSyn, TcpFlagRst, TcpFlagPsh, TcpFlagAck, TcpFlagUrg, TcpFlagEce, TcpFlagCwr,
    UdpSport, UdpDport, UdpLen,
    L4Sport, L4Dport,
    IcmpType, IcmpCode, Icmp6Type, Icmp6Code,
    PktLen, PktIface,
    Count_
};

struct FieldDef {
    FieldId id;
    std::string_view name;  // as written in policies: "tcp.dport"
    Header header;
    FieldType type;
    std::uint8_t bits;      // value width (Int: 1..32; addresses: 32/128/48)
    SymbolTable symbols;
    std::string_view doc;   // one line for docs/language.md and `weir fields`
};

std::span<const FieldDef> all_fields();
const FieldDef& field(FieldId id);
const FieldDef* find_field(std::string_view name);
// Largest value an Int field holds: (1 << bits) - 1.
std::uint64_t field_max(const FieldDef& f);

struct Symbol {
    std::string_view name;
    std::uint32_t value;
};
std::span<const Symbol> symbols(SymbolTable t);
std::optional<std::uint32_t> find_symbol(SymbolTable t, std::string_view name);
// The canonical name of a value, empty if it has none.
std::string_view symbol_name(SymbolTable t, std::uint32_t value);
std::string_view symbol_table_name(SymbolTable t);
// For people: "integer", "IPv4 address", ...; the header a field needs, "TCP", "IPv4 or IPv6", ...
const char* field_type_text(FieldType t);
const char* header_text(Header h);

// Payload matches: `payload[OFF:LEN]`, bytes of the L4 payload (after TCP/UDP/ICMP header).
inline constexpr unsigned kPayloadWindow = 64;  // OFF + LEN <= kPayloadWindow

// Parsing limits shared by the interpreter and the kernel program.
inline constexpr unsigned kMaxVlanTags = 2;        // 802.1ad/802.1Q tags walked
inline constexpr unsigned kMaxIp6ExtHeaders = 6;   // IPv6 extension headers walked

}  // namespace weir
