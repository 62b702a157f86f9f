// Hand-built Ethernet frames for parser tests, shared by the native test (weir_parse as C++)
// and the kernel test (weir_parse as BPF): builders for each header, and the sample list.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace weir::test {

using Bytes = std::vector<std::uint8_t>;

inline void put8(Bytes& b, unsigned v) { b.push_back(std::uint8_t(v)); }
inline void put16(Bytes& b, unsigned v) { put8(b, (v >> 8) & 0xff); put8(b, v & 0xff); }
inline void put32(Bytes& b, std::uint32_t v) { put16(b, v >> 16); put16(b, v & 0xffff); }
inline void put64(Bytes& b, std::uint64_t v) { put32(b, std::uint32_t(v >> 32)); put32(b, std::uint32_t(v)); }
inline void put48(Bytes& b, std::uint64_t v) { put16(b, unsigned(v >> 32) & 0xffff); put32(b, std::uint32_t(v)); }
inline Bytes operator+(Bytes a, const Bytes& b) { a.insert(a.end(), b.begin(), b.end()); return a; }
inline Bytes text(std::string_view s) { return Bytes(s.begin(), s.end()); }

inline constexpr std::uint64_t kMacSrc = 0x02aabbccdd01, kMacDst = 0x02aabbccdd02;
inline constexpr std::uint32_t kIp4Src = 0x0a000001, kIp4Dst = 0xc0a80102;  // 10.0.0.1, 192.168.1.2
inline constexpr std::uint64_t kIp6SrcHi = 0x20010db800000000, kIp6SrcLo = 0x1;  // 2001:db8::1
inline constexpr std::uint64_t kIp6DstHi = 0xfe80000000000000, kIp6DstLo = 0x0200aaff0000beef;

struct Tag {
    std::uint16_t tpid = 0x8100;
    std::uint16_t tci = 0;
};
inline Bytes ether(std::uint16_t type, const Bytes& rest, const std::vector<Tag>& tags = {}) {
    Bytes b;
    put48(b, kMacDst);
    put48(b, kMacSrc);
    for (const Tag& t : tags) { put16(b, t.tpid); put16(b, t.tci); }
    put16(b, type);
    return b + rest;
}

struct Ip4 {
    std::uint8_t proto = 6;
    std::uint8_t tos = 0;
    std::uint8_t ttl = 64;
    std::uint16_t frag = 0;   // flags (MF 0x2000) and offset in 8-byte units
    Bytes options;            // a multiple of 4 bytes
    int ihl = -1;             // -1: from options
    int version = 4;
    int tot_len = -1;         // -1: computed
};
inline Bytes ip4(const Ip4& h, const Bytes& payload) {
    std::size_t hlen = 20 + h.options.size();
    Bytes b;
    put8(b, unsigned(h.version << 4) | unsigned(h.ihl >= 0 ? h.ihl : int(hlen / 4)));
    put8(b, h.tos);
    put16(b, h.tot_len >= 0 ? unsigned(h.tot_len) : unsigned(hlen + payload.size()));
    put16(b, 0x1234);  // id
    put16(b, h.frag);
    put8(b, h.ttl);
    put8(b, h.proto);
    put16(b, 0);  // checksum (not checked)
    put32(b, kIp4Src);
    put32(b, kIp4Dst);
    return b + h.options + payload;
}

struct Ip6 {
    std::uint8_t nh = 6;
    std::uint8_t tclass = 0;
    std::uint32_t flowlabel = 0;
    std::uint8_t hops = 64;
    int version = 6;
};
// `rest`: extension headers and the upper-layer header.
inline Bytes ip6(const Ip6& h, const Bytes& rest) {
    Bytes b;
    put32(b, (std::uint32_t(h.version) << 28) | (std::uint32_t(h.tclass) << 20) | (h.flowlabel & 0xfffff));
    put16(b, unsigned(rest.size()));
    put8(b, h.nh);
    put8(b, h.hops);
    put64(b, kIp6SrcHi);
    put64(b, kIp6SrcLo);
    put64(b, kIp6DstHi);
    put64(b, kIp6DstLo);
    return b + rest;
}
// Hop-by-hop (0), routing (43) or destination options (60): (len + 1) * 8 bytes; AH (51):
// (len + 2) * 4 bytes. Filled with 0xee after the two-byte header.
inline Bytes ip6_ext(std::uint8_t type, std::uint8_t nh, std::uint8_t len = 0) {
    std::size_t size = type == 51 ? (len + 2u) * 4 : (len + 1u) * 8;
    Bytes b{nh, len};
    b.resize(size, 0xee);
    return b;
}
inline Bytes ip6_frag(std::uint8_t nh, std::uint16_t offset_units, bool more) {
    Bytes b{nh, 0};
    put16(b, unsigned(offset_units << 3) | (more ? 1u : 0u));
    put32(b, 0xcafe);  // identification
    return b;
}

struct Tcp {
    std::uint16_t sport = 40000;
    std::uint16_t dport = 80;
    std::uint8_t flags = 0x02;  // SYN
    std::uint16_t window = 1024;
    Bytes options;              // a multiple of 4 bytes
    int doff = -1;              // -1: from options
};
inline Bytes tcp(const Tcp& h, const Bytes& payload = {}) {
    Bytes b;
    put16(b, h.sport);
    put16(b, h.dport);
    put32(b, 1000);  // seq
    put32(b, 0);     // ack
    put8(b, unsigned(h.doff >= 0 ? h.doff : int(5 + h.options.size() / 4)) << 4);
    put8(b, h.flags);
    put16(b, h.window);
    put16(b, 0);  // checksum
    put16(b, 0);  // urgent
    return b + h.options + payload;
}
inline Bytes udp(std::uint16_t sport, std::uint16_t dport, const Bytes& payload = {}) {
    Bytes b;
    put16(b, sport);
    put16(b, dport);
    put16(b, unsigned(8 + payload.size()));
    put16(b, 0);
    return b + payload;
}
// ICMP and ICMPv6 share the layout: type, code, checksum, 4 bytes of rest-of-header.
inline Bytes icmp(std::uint8_t type, std::uint8_t code, const Bytes& payload = {}) {
    Bytes b{type, code, 0, 0, 0, 1, 0, 1};
    return b + payload;
}

struct Frame {
    std::string name;
    Bytes bytes;
};

// Every frame the parser tests use: each header, VLAN tags, options, extension headers,
// fragments and invalid headers. Truncated variants are made by the tests (every prefix).
inline std::vector<Frame> sample_frames() {
    const Bytes get = text("GET / HTTP/1.0\r\n");
    const Bytes opts4{1, 1, 1, 0};  // NOP NOP NOP EOL
    std::vector<Frame> f;
    auto add = [&](std::string name, Bytes b) { f.push_back({std::move(name), std::move(b)}); };

    add("arp", ether(0x0806, Bytes(28, 0x11)));
    add("ip4-tcp", ether(0x0800, ip4({}, tcp({.dport = 22}, get))));
    add("ip4-tcp-options", ether(0x0800, ip4({}, tcp({.flags = 0x12, .options = Bytes(12, 1)}, get))));
    add("ip4-options-udp", ether(0x0800, ip4({.proto = 17, .options = opts4 + opts4}, udp(5353, 53, text("q")))));
    add("ip4-max-options-tcp", ether(0x0800, ip4({.options = Bytes(40, 1)}, tcp({}))));
    add("ip4-udp", ether(0x0800, ip4({.proto = 17, .tos = 0xb8, .ttl = 3}, udp(1234, 53, text("dns?")))));
    add("ip4-icmp", ether(0x0800, ip4({.proto = 1}, icmp(8, 0, text("ping")))));
    add("ip4-gre", ether(0x0800, ip4({.proto = 47}, Bytes(24, 0))));
    add("ip4-proto-58", ether(0x0800, ip4({.proto = 58}, icmp(128, 0))));
    add("ip4-frag-first", ether(0x0800, ip4({.proto = 17, .frag = 0x2000}, udp(1, 2, Bytes(32, 7)))));
    add("ip4-frag-middle", ether(0x0800, ip4({.proto = 17, .frag = 0x2000 | 100}, Bytes(40, 7))));
    add("ip4-frag-last", ether(0x0800, ip4({.proto = 6, .frag = 200}, Bytes(40, 7))));
    add("ip4-frag-far", ether(0x0800, ip4({.proto = 6, .frag = 0x1800}, Bytes(40, 7))));
    add("ip4-dont-fragment", ether(0x0800, ip4({.frag = 0x4000}, tcp({}))));
    add("ip4-bad-version", ether(0x0800, ip4({.version = 5}, tcp({}))));
    add("ip4-ihl-4", ether(0x0800, ip4({.ihl = 4}, tcp({}))));
    add("ip4-ihl-past-end", ether(0x0800, ip4({.ihl = 15}, Bytes(8, 0))));
    add("tcp-doff-4", ether(0x0800, ip4({}, tcp({.doff = 4}, get))));
    add("tcp-doff-past-end", ether(0x0800, ip4({}, tcp({.doff = 15}, Bytes(8, 0)))));
    add("vlan1-ip4-tcp", ether(0x0800, ip4({}, tcp({.dport = 443}, get)), {{0x8100, 0xa00a}}));
    add("vlan2-ip4-udp", ether(0x0800, ip4({.proto = 17}, udp(68, 67)), {{0x88a8, 0x6064}, {0x8100, 0x0fff}}));
    add("vlan3-ip4", ether(0x0800, ip4({}, tcp({})), {{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}}));
    add("vlan1-ip6-udp", ether(0x86dd, ip6({.nh = 17}, udp(1, 2)), {{0x8100, 5}}));
    add("ip6-tcp", ether(0x86dd, ip6({.tclass = 0xb8, .flowlabel = 0xabcde, .hops = 255}, tcp({.dport = 22}, get))));
    add("ip6-udp", ether(0x86dd, ip6({.nh = 17}, udp(546, 547, text("dhcp")))));
    add("ip6-icmp6", ether(0x86dd, ip6({.nh = 58}, icmp(128, 0, text("ping")))));
    add("ip6-proto-1", ether(0x86dd, ip6({.nh = 1}, icmp(8, 0))));
    add("ip6-hop-tcp", ether(0x86dd, ip6({.nh = 0}, ip6_ext(0, 6) + tcp({}))));
    add("ip6-routing-udp", ether(0x86dd, ip6({.nh = 43}, ip6_ext(43, 17, 2) + udp(1, 2))));
    add("ip6-dstopts-icmp6", ether(0x86dd, ip6({.nh = 60}, ip6_ext(60, 58, 1) + icmp(1, 4))));
    add("ip6-ah-tcp", ether(0x86dd, ip6({.nh = 51}, ip6_ext(51, 6, 4) + tcp({}, get))));
    add("ip6-frag-first-udp", ether(0x86dd, ip6({.nh = 44}, ip6_frag(17, 0, true) + udp(1, 2, Bytes(16, 1)))));
    add("ip6-frag-middle", ether(0x86dd, ip6({.nh = 44}, ip6_frag(17, 10, true) + Bytes(24, 1))));
    add("ip6-frag-last", ether(0x86dd, ip6({.nh = 44}, ip6_frag(6, 20, false) + Bytes(24, 1))));
    // Six extension headers: walked; seven: malformed, no L4.
    Bytes six = ip6_ext(0, 43) + ip6_ext(43, 60, 1) + ip6_ext(60, 51) + ip6_ext(51, 44, 1) +
                ip6_frag(60, 0, true) + ip6_ext(60, 6);
    add("ip6-6-ext-tcp", ether(0x86dd, ip6({.nh = 0}, six + tcp({}, get))));
    Bytes seven = ip6_ext(0, 43) + ip6_ext(43, 60) + ip6_ext(60, 60) + ip6_ext(60, 60) +
                  ip6_ext(60, 60) + ip6_ext(60, 60) + ip6_ext(60, 6);
    add("ip6-7-ext-tcp", ether(0x86dd, ip6({.nh = 0}, seven + tcp({}))));
    add("ip6-bad-version", ether(0x86dd, ip6({.nh = 17, .version = 4}, udp(1, 2))));
    add("ip6-no-next", ether(0x86dd, ip6({.nh = 59}, Bytes(8, 0))));
    add("padded-ip4-udp", ether(0x0800, ip4({.proto = 17}, udp(7, 9))) + Bytes(18, 0));
    return f;
}

}  // namespace weir::test
