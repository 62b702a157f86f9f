// A second, deliberately plain reading of a frame's headers, written from the RFCs and from
// docs/language.md ("Fields", "Semantics") and sharing no code with bpf-templates/parse.h, so
// that tests can check weir_parse (kernel and native) against something other than itself:
//   Ethernet II (IEEE 802.3), 802.1Q / 802.1ad tags, IPv4 (RFC 791), IPv6 (RFC 8200) with
//   hop-by-hop, routing, fragment and destination options headers (RFC 8200 section 4) and AH
//   (RFC 4302, length in 4-octet units), TCP (RFC 9293), UDP (RFC 768), ICMP (RFC 792) and
//   ICMPv6 (RFC 4443).
// What the docs fix beyond the RFCs: at most 2 VLAN tags and 6 IPv6 extension headers are
// walked; the first truncated or invalid header and everything after it are absent and the
// packet is malformed; non-first fragments carry no L4 header; ICMP is protocol 1 over IPv4 and
// ICMPv6 next-header 58 over IPv6.
// Where the docs are silent, the walk-stops-here value is kept: eth.type is the last type field
// read (the TPID of a truncated or third tag), ip.proto the last next-header read (the type of
// a truncated extension header, or what a non-first IPv6 fragment's fragment header names).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace weir::test::ref {

enum class L4 { None, Tcp, Udp, Icmp, Icmp6 };

struct Headers {
    std::size_t frame_len = 0;
    bool malformed = false;

    bool ether = false;
    std::array<std::uint8_t, 6> mac_dst{}, mac_src{};
    std::uint16_t ethertype = 0;

    bool tagged = false;  // the outer tag's fields
    std::uint16_t vid = 0;
    std::uint8_t pcp = 0;

    int ip = 0;  // 0 (none), 4 or 6
    std::uint8_t proto = 0, ttl = 0, dscp = 0;
    bool fragment = false;
    std::uint32_t datagram_len = 0;           // IPv4 total length; IPv6 payload length + 40
    std::array<std::uint8_t, 16> src{}, dst{};  // IPv4: the first 4 bytes
    std::uint32_t flow = 0;

    L4 l4 = L4::None;
    std::uint16_t sport = 0, dport = 0, window = 0, udp_length = 0;
    std::uint8_t flags = 0, icmp_type = 0, icmp_code = 0;
    std::size_t payload_at = 0, payload_size = 0;
};

namespace detail {

constexpr std::uint16_t kTpid8021Q = 0x8100, kTpid8021AD = 0x88a8;
constexpr std::uint16_t kEtherIPv4 = 0x0800, kEtherIPv6 = 0x86dd;

class Frame {
public:
    explicit Frame(std::span<const std::uint8_t> b) : b_(b) {}
    bool has(std::size_t at, std::size_t n) const { return at <= b_.size() && n <= b_.size() - at; }
    std::uint8_t byte(std::size_t at) const { return b_[at]; }
    std::uint16_t word(std::size_t at) const { return std::uint16_t(b_[at] << 8 | b_[at + 1]); }
    template <std::size_t N>
    void copy(std::size_t at, std::array<std::uint8_t, 16>& out) const {
        for (std::size_t i = 0; i < N; ++i) out[i] = b_[at + i];
    }
    std::size_t size() const { return b_.size(); }

private:
    std::span<const std::uint8_t> b_;
};

inline void stop(Headers& h) { h.malformed = true; }

inline void transport(const Frame& f, std::size_t at, Headers& h) {
    std::size_t header = 0;
    if (h.proto == 6) {
        if (!f.has(at, 20)) { stop(h); return; }
        std::size_t data_offset = f.byte(at + 12) >> 4;  // 32-bit words
        if (data_offset < 5 || !f.has(at, data_offset * 4)) { stop(h); return; }
        h.l4 = L4::Tcp;
        h.sport = f.word(at);
        h.dport = f.word(at + 2);
        h.flags = f.byte(at + 13);
        h.window = f.word(at + 14);
        header = data_offset * 4;
    } else if (h.proto == 17) {
        if (!f.has(at, 8)) { stop(h); return; }
        h.l4 = L4::Udp;
        h.sport = f.word(at);
        h.dport = f.word(at + 2);
        h.udp_length = f.word(at + 4);
        header = 8;
    } else if ((h.proto == 1 && h.ip == 4) || (h.proto == 58 && h.ip == 6)) {
        if (!f.has(at, 8)) { stop(h); return; }  // type, code, checksum, 4 more bytes
        h.l4 = h.ip == 4 ? L4::Icmp : L4::Icmp6;
        h.icmp_type = f.byte(at);
        h.icmp_code = f.byte(at + 1);
        header = 8;
    } else {
        return;
    }
    h.payload_at = at + header;
    h.payload_size = f.size() - h.payload_at;
}

inline void ipv4(const Frame& f, std::size_t at, Headers& h) {
    if (!f.has(at, 20)) { stop(h); return; }
    unsigned version = f.byte(at) >> 4, ihl = f.byte(at) & 0x0f;
    if (version != 4 || ihl < 5 || !f.has(at, ihl * 4)) { stop(h); return; }
    h.ip = 4;
    h.dscp = f.byte(at + 1) >> 2;
    h.datagram_len = f.word(at + 2);
    bool more_fragments = f.word(at + 6) & 0x2000;
    unsigned fragment_offset = f.word(at + 6) & 0x1fff;
    h.fragment = more_fragments || fragment_offset != 0;
    h.ttl = f.byte(at + 8);
    h.proto = f.byte(at + 9);
    f.copy<4>(at + 12, h.src);
    f.copy<4>(at + 16, h.dst);
    if (fragment_offset != 0) return;
    transport(f, at + ihl * 4, h);
}

inline bool extension_header(std::uint8_t next) {
    return next == 0 || next == 43 || next == 44 || next == 60 || next == 51;
}

inline void ipv6(const Frame& f, std::size_t at, Headers& h) {
    if (!f.has(at, 40)) { stop(h); return; }
    if (f.byte(at) >> 4 != 6) { stop(h); return; }
    h.ip = 6;
    unsigned traffic_class = (f.byte(at) & 0x0f) << 4 | f.byte(at + 1) >> 4;
    h.dscp = std::uint8_t(traffic_class >> 2);
    h.flow = std::uint32_t(f.byte(at + 1) & 0x0f) << 16 | std::uint32_t(f.word(at + 2));
    h.datagram_len = std::uint32_t(f.word(at + 4)) + 40;
    std::uint8_t next = f.byte(at + 6);
    h.ttl = f.byte(at + 7);
    f.copy<16>(at + 8, h.src);
    f.copy<16>(at + 24, h.dst);
    at += 40;
    for (int walked = 0; extension_header(next); ++walked) {
        h.proto = next;
        if (walked == 6) { stop(h); return; }  // more extension headers than weir walks
        if (!f.has(at, 8)) { stop(h); return; }  // every extension header is at least 8 bytes
        std::size_t length;
        if (next == 44) {  // fragment: next header, reserved, offset (13 bits) + flags, id
            h.fragment = true;
            if (f.word(at + 2) >> 3 != 0) {  // not the first fragment: no upper-layer header
                h.proto = f.byte(at);
                return;
            }
            length = 8;
        } else if (next == 51) {
            length = (std::size_t(f.byte(at + 1)) + 2) * 4;
        } else {
            length = (std::size_t(f.byte(at + 1)) + 1) * 8;
        }
        if (!f.has(at, length)) { stop(h); return; }
        next = f.byte(at);
        at += length;
    }
    h.proto = next;
    transport(f, at, h);
}

}  // namespace detail

inline Headers parse(std::span<const std::uint8_t> bytes) {
    using namespace detail;
    Frame f(bytes);
    Headers h;
    h.frame_len = bytes.size();
    if (!f.has(0, 14)) {
        stop(h);
        return h;
    }
    h.ether = true;
    for (std::size_t i = 0; i < 6; ++i) {
        h.mac_dst[i] = f.byte(i);
        h.mac_src[i] = f.byte(6 + i);
    }
    std::size_t type_at = 12;
    std::uint16_t type = f.word(type_at);
    for (int tags = 0; tags < 2 && (type == kTpid8021Q || type == kTpid8021AD); ++tags) {
        // A tag: TPID (already read as `type`), TCI, then the next type field.
        if (!f.has(type_at + 2, 4)) {
            h.ethertype = type;
            stop(h);
            return h;
        }
        if (tags == 0) {
            h.tagged = true;
            h.pcp = f.byte(type_at + 2) >> 5;
            h.vid = f.word(type_at + 2) & 0x0fff;
        }
        type_at += 4;
        type = f.word(type_at);
    }
    h.ethertype = type;
    if (type == kEtherIPv4) ipv4(f, type_at + 2, h);
    else if (type == kEtherIPv6) ipv6(f, type_at + 2, h);
    return h;
}

}  // namespace weir::test::ref
