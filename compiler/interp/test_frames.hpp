// Test packets: turns a PacketSpec (a `packet` statement of a test block) into the bytes of an
// Ethernet frame, and offers the lower-level Frame builder that kernel tests and the benchmark
// generator use to write arbitrary (also odd or malformed) frames.
//
// Frame stacks layers outermost first and serializes them in bytes():
//   Frame().eth().vlan(10).ipv4(src, dst).tcp(1234, 22, kTcpSyn).payload("x").bytes()
// Whatever a layer does not set explicitly is derived from its neighbours when bytes() runs:
// EtherTypes / VLAN TPIDs / IP protocols / IPv6 next headers from the following layer, IPv4 total
// length, IPv6 payload length and UDP length from the bytes that follow, and all checksums
// (IPv4 header; TCP, UDP and ICMPv6 with the pseudo header of the nearest enclosing IP layer;
// ICMP without one). Every derived value can be overridden through the layer's options struct
// to build deliberately wrong packets.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy.hpp"

namespace weir {

using MacAddr = std::array<std::uint8_t, 6>;

inline constexpr MacAddr kDefaultEthSrc{0x02, 0, 0, 0, 0, 0x01};
inline constexpr MacAddr kDefaultEthDst{0x02, 0, 0, 0, 0, 0x02};

// EtherType used after an Ethernet/VLAN header followed by nothing the builder knows
// (IEEE 802 local experimental EtherType 1).
inline constexpr std::uint16_t kExperimentalEtherType = 0x88b5;
// The IPv4 identification and IPv6 fragment identification of every built packet.
inline constexpr std::uint16_t kPacketIpId = 0x0001;
// Fragment offsets (in 8-byte units) of PacketSpec::Frag::Middle and ::Last.
inline constexpr std::uint16_t kMiddleFragOffset = 185;  // 1480 bytes
inline constexpr std::uint16_t kLastFragOffset = 370;    // 2960 bytes

// TCP flag bits (as in the header's flags byte and weir_pkt::tcp_flags).
inline constexpr std::uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                              kTcpAck = 0x10, kTcpUrg = 0x20, kTcpEce = 0x40, kTcpCwr = 0x80;

// IPv6 extension header types the builder knows how to length-encode.
inline constexpr std::uint8_t kIp6HopByHop = 0, kIp6Routing = 43, kIp6Fragment = 44,
                              kIp6Ah = 51, kIp6DestOpts = 60, kIp6NoNext = 59;

struct Ip4Options {
    std::uint8_t ttl = 64;
    std::uint8_t dscp = 0;
    std::uint8_t ecn = 0;
    std::uint16_t id = kPacketIpId;
    bool df = false;
    bool mf = false;
    std::uint16_t frag_offset = 0;        // in 8-byte units
    std::vector<std::uint8_t> options;    // padded with zeros (end of options) to a multiple of 4
    std::optional<std::uint8_t> proto;    // default: from the next layer (253 if none)
    std::optional<std::uint8_t> ihl;      // default: (20 + options) / 4
    std::optional<std::uint16_t> total_len;
    std::optional<std::uint16_t> checksum;
};

struct Ip6Options {
    std::uint8_t hop_limit = 64;
    std::uint8_t dscp = 0;
    std::uint8_t ecn = 0;
    std::uint32_t flowlabel = 0;
    std::optional<std::uint8_t> next_header;  // default: from the next layer (59 if none)
    std::optional<std::uint16_t> payload_len;
};

struct TcpOptions {
    std::uint32_t seq = 1;
    std::uint32_t ack = 0;
    std::uint16_t window = 65535;
    std::uint16_t urgent = 0;
    std::vector<std::uint8_t> options;          // padded with zeros to a multiple of 4
    std::optional<std::uint8_t> data_offset;    // default: (20 + options) / 4
    std::optional<std::uint16_t> checksum;
};

struct UdpOptions {
    std::optional<std::uint16_t> len;
    std::optional<std::uint16_t> checksum;
};

struct IcmpOptions {
    std::uint32_t rest = 0;  // the 4 bytes after the checksum (echo: identifier, sequence)
    std::optional<std::uint16_t> checksum;
};

class Frame {
public:
    Frame& eth(const MacAddr& src = kDefaultEthSrc, const MacAddr& dst = kDefaultEthDst);
    // One 802.1Q/802.1ad tag. tpid 0 picks it from the position: 0x88a8 when another tag
    // follows (an outer S-tag), 0x8100 otherwise.
    Frame& vlan(std::uint16_t id, std::uint8_t pcp = 0, std::uint16_t tpid = 0);
    // Sets the EtherType written by the preceding Ethernet header or VLAN tag.
    Frame& ethertype(std::uint16_t type);

    // Addresses in host order (192.0.2.1 == 0xc0000201; IPv6: first address byte highest).
    Frame& ipv4(std::uint32_t src, std::uint32_t dst, Ip4Options o = {});
    Frame& ipv6(u128 src, u128 dst, Ip6Options o = {});
    // An IPv6 extension header. `body` is everything after the next-header and length bytes;
    // it is zero-padded so the header's size is a multiple of 8, and the length byte is written
    // in the unit of `type` (AH: 4-byte units - 2, others: 8-byte units - 1).
    Frame& ip6_ext(std::uint8_t type, std::vector<std::uint8_t> body = {});
    Frame& hop_by_hop() { return ip6_ext(kIp6HopByHop); }
    Frame& dest_opts() { return ip6_ext(kIp6DestOpts); }
    Frame& routing(std::uint8_t segments_left = 0);
    Frame& ah(std::uint32_t spi = 0x100);
    Frame& frag6(std::uint16_t offset, bool more, std::uint32_t id = kPacketIpId);
    // Sets the protocol / next header written by the preceding IPv4, IPv6 or extension header.
    Frame& next_header(std::uint8_t proto);

    Frame& tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags = 0, TcpOptions o = {});
    Frame& udp(std::uint16_t sport, std::uint16_t dport, UdpOptions o = {});
    Frame& icmp(std::uint8_t type, std::uint8_t code = 0, IcmpOptions o = {});
    Frame& icmp6(std::uint8_t type, std::uint8_t code = 0, IcmpOptions o = {});

    Frame& payload(std::span<const std::uint8_t> bytes);
    Frame& payload(std::string_view text);
    // Ethernet padding: zeros after the IP datagram up to a frame of `frame_len` bytes. Not
    // counted in IP/UDP lengths or checksums (what a NIC does to reach the 60-byte minimum).
    Frame& pad_to(std::size_t frame_len);

    std::vector<std::uint8_t> bytes() const;

    struct Layer;  // defined in test_frames.cpp

    Frame();
    Frame(const Frame&);
    Frame(Frame&&) noexcept;
    Frame& operator=(const Frame&);
    Frame& operator=(Frame&&) noexcept;
    ~Frame();

private:
    std::vector<Layer> layers_;
    std::size_t pad_to_ = 0;
};

// The outcome of build_packet: the frame, or why it cannot be built.
struct BuiltPacket {
    std::vector<std::uint8_t> bytes;
    std::string error;  // empty on success
    bool ok() const { return error.empty(); }
};

// The frame a test block's `packet` statement describes:
// - Ethernet with spec.eth_src/eth_dst; VLAN tags outer first, every tag but the innermost with
//   TPID 0x88a8 (802.1ad S-tag) and the innermost with 0x8100 (so one tag is plain 802.1Q).
// - IPv4: DF clear, ID kPacketIpId, TTL, DSCP; IPv6: hop limit = ttl, traffic class = dscp << 2,
//   flow label. Fragments: first = MF with offset 0, middle = MF with offset kMiddleFragOffset,
//   last = offset kLastFragOffset without MF; IPv6 carries them in a fragment header directly
//   after the fixed header. Non-first fragments carry the same bytes a first fragment would
//   (L4 header + payload) as fragment data: the parser must not read them as an L4 header.
// - L4 by spec.proto: 6 TCP (seq 1, ack 0, data offset 5, flags, window), 17 UDP, 1 ICMP,
//   58 ICMPv6 (type, code, identifier/sequence 0); any other protocol: the payload follows the
//   IP header directly.
// - Payload, then, with frame_len, zeros appended to the payload (counted in IP/UDP lengths and
//   checksums) until the frame has frame_len bytes. Error if the headers and payload are longer.
// - is_raw: spec.raw as is (zero-padded to frame_len when that is larger).
BuiltPacket build_packet(const PacketSpec& spec);

// RFC 1071 Internet checksum of `data` (odd length: zero-padded), starting from partial sum `sum`.
std::uint16_t inet_checksum(std::span<const std::uint8_t> data, std::uint32_t sum = 0);

// Text addresses for tests and generators ("192.0.2.1", "2001:db8::1"); nullopt if invalid.
std::optional<std::uint32_t> ip4_from_text(std::string_view text);
std::optional<u128> ip6_from_text(std::string_view text);
constexpr std::uint32_t ip4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return std::uint32_t{a} << 24 | std::uint32_t{b} << 16 | std::uint32_t{c} << 8 | d;
}

}  // namespace weir
