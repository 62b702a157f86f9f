// The test-packet builder: byte-exact frames (expected bytes computed independently, by hand and
// with a separate script), checksums verified by recomputation, lengths, VLAN layout,
// fragments, padding, raw frames, and the Frame builder's extension-header chains and options.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test_frames.hpp"

using namespace weir;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes hex(std::string_view s) {
    Bytes out;
    auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    for (std::size_t i = 0; i + 1 < s.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(nib(s[i]) << 4 | nib(s[i + 1])));
    return out;
}

std::uint16_t be16(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]); }

// Independent one's-complement sum: a correct checksum makes the folded sum 0xffff.
std::uint32_t fold(std::uint64_t s) {
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint32_t>(s);
}
std::uint64_t words(const Bytes& b, std::size_t from, std::size_t to) {
    std::uint64_t s = 0;
    for (std::size_t i = from; i < to; i += 2) s += (std::uint32_t{b[i]} << 8) | (i + 1 < to ? b[i + 1] : 0);
    return s;
}
bool ip4_header_ok(const Bytes& b, std::size_t ip) {
    std::size_t hlen = (b[ip] & 0x0f) * 4u;
    return fold(words(b, ip, ip + hlen)) == 0xffff;
}
// L4 checksum with the IPv4 pseudo header; l4 runs to the end of the IP datagram.
bool l4_ok_v4(const Bytes& b, std::size_t ip, std::size_t l4, std::uint8_t proto) {
    std::size_t end = ip + be16(b, ip + 2);
    std::uint64_t s = words(b, ip + 12, ip + 20) + proto + (end - l4) + words(b, l4, end);
    return fold(s) == 0xffff;
}
bool l4_ok_v6(const Bytes& b, std::size_t ip, std::size_t l4, std::uint8_t proto) {
    std::size_t end = ip + 40 + be16(b, ip + 4);
    std::uint64_t s = words(b, ip + 8, ip + 40) + proto + (end - l4) + words(b, l4, end);
    return fold(s) == 0xffff;
}

PacketSpec tcp4_spec() {
    PacketSpec s;
    s.family = Family::V4;
    s.src = *ip4_from_text("192.0.2.1");
    s.dst = *ip4_from_text("198.51.100.7");
    s.proto = 6;
    s.sport = 1234;
    s.dport = 22;
    s.tcp_flags = kTcpSyn;
    s.payload = {'h', 'i'};
    return s;
}

Bytes built(const PacketSpec& s) {
    auto r = build_packet(s);
    REQUIRE_MESSAGE(r.ok(), r.error);
    return r.bytes;
}

}  // namespace

TEST_CASE("inet_checksum: RFC 1071 and a textbook IPv4 header") {
    Bytes rfc = hex("0001f203f4f5f6f7");
    CHECK(inet_checksum(rfc) == static_cast<std::uint16_t>(~0xddf2));
    Bytes hdr = hex("450000730000400040110000c0a80001c0a800c7");
    CHECK(inet_checksum(hdr) == 0xb861);
    // Odd length: the last byte is padded with zero.
    CHECK(inet_checksum(hex("01")) == static_cast<std::uint16_t>(~0x0100));
}

TEST_CASE("text addresses") {
    CHECK(ip4_from_text("192.0.2.1") == 0xc0000201u);
    CHECK(ip4(192, 0, 2, 1) == 0xc0000201u);
    CHECK_FALSE(ip4_from_text("192.0.2").has_value());
    CHECK(ip6_from_text("::1") == u128{1});
    CHECK(ip6_from_text("2001:db8::") == u128{0x20010db8} << 96);
    CHECK_FALSE(ip6_from_text("2001:::1").has_value());
}

TEST_CASE("TCP over IPv4: byte-exact") {
    Bytes b = built(tcp4_spec());
    CHECK(b == hex("02000000000202000000000108004500002a0001000040068e91c0000201c633640704d2001600000001"
                   "000000005002ffff565200006869"));
    CHECK(b.size() == 14 + 20 + 20 + 2);
    CHECK(ip4_header_ok(b, 14));
    CHECK(l4_ok_v4(b, 14, 34, 6));
    CHECK(be16(b, 14 + 6) == 0);  // DF clear, not a fragment
}

TEST_CASE("TCP options: flags, window, ttl, dscp, MACs") {
    PacketSpec s = tcp4_spec();
    s.tcp_flags = kTcpSyn | kTcpAck | kTcpCwr;
    s.window = 1024;
    s.ttl = 3;
    s.dscp = 46;
    s.eth_src[5] = 0xaa;
    s.eth_dst[0] = 0xff;
    Bytes b = built(s);
    CHECK(b[0] == 0xff);
    CHECK(b[11] == 0xaa);
    CHECK(b[14 + 1] == 46 << 2);
    CHECK(b[14 + 8] == 3);
    CHECK(b[34 + 12] == 0x50);  // data offset 5
    CHECK(b[34 + 13] == 0x92);
    CHECK(be16(b, 34 + 14) == 1024);
    CHECK(ip4_header_ok(b, 14));
    CHECK(l4_ok_v4(b, 14, 34, 6));
}

TEST_CASE("UDP over IPv6: byte-exact, traffic class and flow label") {
    PacketSpec s;
    s.family = Family::V6;
    s.src = *ip6_from_text("2001:db8::1");
    s.dst = *ip6_from_text("2001:db8::2");
    s.proto = 17;
    s.sport = 5353;
    s.dport = 53;
    s.ttl = 32;
    s.dscp = 46;
    s.flowlabel = 0x12345;
    s.payload = {'a', 'b', 'c'};
    Bytes b = built(s);
    CHECK(b == hex("02000000000202000000000186dd6b812345000b112020010db800000000000000000000000120010db8"
                   "00000000000000000000000214e90035000bcae2616263"));
    CHECK(be16(b, 54 + 4) == 11);  // UDP length
    CHECK(l4_ok_v6(b, 14, 54, 17));
}

TEST_CASE("ICMP over IPv4: byte-exact") {
    PacketSpec s;
    s.family = Family::V4;
    s.src = ip4(10, 0, 0, 1);
    s.dst = ip4(10, 0, 0, 2);
    s.proto = 1;
    s.icmp_type = 8;
    s.dscp = 10;
    s.payload = {'p', 'i', 'n', 'g'};
    Bytes b = built(s);
    CHECK(b == hex("02000000000202000000000108004528002000010000400166b20a0000010a0000020800192f00000000"
                   "70696e67"));
    CHECK(ip4_header_ok(b, 14));
    CHECK(fold(words(b, 34, b.size())) == 0xffff);  // no pseudo header for ICMP
}

TEST_CASE("ICMPv6: byte-exact, checksum with the pseudo header") {
    PacketSpec s;
    s.family = Family::V6;
    s.src = *ip6_from_text("fe80::1");
    s.dst = *ip6_from_text("ff02::1");
    s.proto = 58;
    s.icmp_type = 128;
    s.icmp_code = 0;
    Bytes b = built(s);
    CHECK(b == hex("02000000000202000000000186dd6000000000083a40fe800000000000000000000000000001ff02000000"
                   "00000000000000000000018000823700000000"));
    CHECK(l4_ok_v6(b, 14, 54, 58));
    // The pseudo header matters: without it the sum is wrong.
    CHECK(fold(words(b, 54, b.size())) != 0xffff);
}

TEST_CASE("VLAN tags: one 802.1Q tag, two tags as 802.1ad + 802.1Q") {
    PacketSpec s;
    s.family = Family::V4;
    s.src = ip4(1, 2, 3, 4);
    s.dst = ip4(5, 6, 7, 8);
    s.proto = 17;
    s.sport = 1;
    s.dport = 2;
    SUBCASE("one") {
        s.vlans = {static_cast<std::uint16_t>(3 << 13 | 42)};
        Bytes b = built(s);
        CHECK(be16(b, 12) == 0x8100);
        CHECK(be16(b, 14) == (3 << 13 | 42));
        CHECK(be16(b, 16) == 0x0800);
        CHECK(ip4_header_ok(b, 18));
        CHECK(l4_ok_v4(b, 18, 38, 17));
        CHECK(b.size() == 18 + 20 + 8);
    }
    SUBCASE("two") {
        s.vlans = {static_cast<std::uint16_t>(5 << 13 | 100), 200};
        Bytes b = built(s);
        CHECK(b == hex("02000000000202000000000188a8a064810000c808004500001c0001000040116abd0102030405060708"
                       "000100020008efc7"));
    }
}

TEST_CASE("IPv4 fragments: first, middle, last") {
    PacketSpec s = tcp4_spec();
    s.frag = PacketSpec::Frag::First;
    CHECK(be16(built(s), 20) == 0x2000);
    s.frag = PacketSpec::Frag::Middle;
    Bytes mid = built(s);
    CHECK(be16(mid, 20) == (0x2000 | kMiddleFragOffset));
    CHECK(ip4_header_ok(mid, 14));
    // Fragment data: the bytes a first fragment would carry.
    CHECK(be16(mid, 34 + 2) == 22);
    s.frag = PacketSpec::Frag::Last;
    Bytes last = built(s);
    CHECK(be16(last, 20) == kLastFragOffset);
    CHECK(be16(last, 18) == kPacketIpId);
    CHECK(ip4_header_ok(last, 14));
}

TEST_CASE("IPv6 fragments: a fragment header after the fixed header") {
    PacketSpec s;
    s.family = Family::V6;
    s.src = 1;
    s.dst = 2;
    s.proto = 17;
    s.sport = 7;
    s.dport = 9;
    s.frag = PacketSpec::Frag::First;
    Bytes b = built(s);
    REQUIRE(b.size() == 14 + 40 + 8 + 8);
    CHECK(b[14 + 6] == 44);             // next header: fragment
    CHECK(be16(b, 14 + 4) == 16);       // payload length: fragment header + UDP
    CHECK(b[54] == 17);                 // fragment header -> UDP
    CHECK(b[55] == 0);
    CHECK(be16(b, 56) == 1);            // offset 0, M
    CHECK(be16(b, 58) == 0);
    CHECK(be16(b, 60) == kPacketIpId);  // identification (low half)
    CHECK(l4_ok_v6(b, 14, 62, 17));
    s.frag = PacketSpec::Frag::Middle;
    CHECK(be16(built(s), 56) == (kMiddleFragOffset << 3 | 1));
    s.frag = PacketSpec::Frag::Last;
    CHECK(be16(built(s), 56) == (kLastFragOffset << 3));
}

TEST_CASE("other protocols: the payload follows the IP header") {
    PacketSpec s;
    s.family = Family::V4;
    s.proto = 47;  // GRE
    s.payload = {1, 2, 3};
    Bytes b = built(s);
    CHECK(b.size() == 14 + 20 + 3);
    CHECK(b[14 + 9] == 47);
    CHECK(b[34] == 1);
    s.family = Family::V6;
    s.frag = PacketSpec::Frag::First;
    b = built(s);
    CHECK(b[14 + 6] == 44);
    CHECK(b[54] == 47);  // the fragment header announces the protocol
    CHECK(b.size() == 14 + 40 + 8 + 3);
}

TEST_CASE("len: payload padded with zeros, counted in lengths and checksums") {
    PacketSpec s;
    s.family = Family::V4;
    s.src = ip4(1, 1, 1, 1);
    s.dst = ip4(2, 2, 2, 2);
    s.proto = 17;
    s.payload = {'x'};
    s.frame_len = 100;
    Bytes b = built(s);
    CHECK(b.size() == 100);
    CHECK(be16(b, 16) == 86);      // IPv4 total length
    CHECK(be16(b, 34 + 4) == 66);  // UDP length
    CHECK(b[42] == 'x');
    CHECK(b[43] == 0);
    CHECK(b[99] == 0);
    CHECK(l4_ok_v4(b, 14, 34, 17));
    CHECK(ip4_header_ok(b, 14));

    s.frame_len = 43;  // exactly headers + payload
    CHECK(built(s).size() == 43);
    s.frame_len = 42;  // headers only: the payload does not fit
    auto r = build_packet(s);
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("payload") != std::string::npos);
    s.payload.clear();
    CHECK(built(s).size() == 42);
    s.frame_len = 41;
    r = build_packet(s);
    CHECK_FALSE(r.ok());
    CHECK(r.error == "len 41 is shorter than the 42 bytes of this packet's headers");
    CHECK(r.bytes.empty());
    s.frame_len = 70000;
    CHECK_FALSE(build_packet(s).ok());
}

TEST_CASE("raw frames are copied as is, padded to len") {
    PacketSpec s;
    s.is_raw = true;
    s.raw = {0xde, 0xad, 0xbe, 0xef};
    CHECK(built(s) == Bytes{0xde, 0xad, 0xbe, 0xef});
    s.frame_len = 6;
    CHECK(built(s) == Bytes{0xde, 0xad, 0xbe, 0xef, 0, 0});
    s.frame_len = 3;
    CHECK_FALSE(build_packet(s).ok());
}

TEST_CASE("Frame: Ethernet-only frames use the experimental EtherType, or the one given") {
    Bytes b = Frame().eth().payload("zz").bytes();
    CHECK(b.size() == 16);
    CHECK(be16(b, 12) == kExperimentalEtherType);
    b = Frame().eth().ethertype(0x0806).bytes();
    CHECK(be16(b, 12) == 0x0806);
    b = Frame().eth().vlan(5).ethertype(0x88cc).bytes();
    CHECK(be16(b, 12) == 0x8100);
    CHECK(be16(b, 16) == 0x88cc);
    // Three tags: all but the innermost are S-tags; an explicit TPID wins.
    b = Frame().eth().vlan(1).vlan(2).vlan(3, 0, 0x9100).ipv4(1, 2).bytes();
    CHECK(be16(b, 12) == 0x88a8);
    CHECK(be16(b, 16) == 0x88a8);
    CHECK(be16(b, 20) == 0x9100);
    CHECK(be16(b, 24) == 0x0800);
}

TEST_CASE("Frame: IPv4 options, IHL and overrides") {
    Ip4Options o;
    o.options = {0x94, 0x04, 0, 0, 0x01};  // router alert + NOP, padded to 8
    Bytes b = Frame().eth().ipv4(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), o).tcp(1, 2, kTcpAck).bytes();
    CHECK(b[14] == 0x47);
    CHECK(b.size() == 14 + 28 + 20);
    CHECK(ip4_header_ok(b, 14));
    CHECK(l4_ok_v4(b, 14, 42, 6));

    Ip4Options bad;
    bad.ihl = 4;
    bad.checksum = 0x1234;
    bad.total_len = 1000;
    bad.df = true;
    b = Frame().eth().ipv4(1, 2, bad).bytes();
    CHECK(b[14] == 0x44);
    CHECK(be16(b, 24) == 0x1234);
    CHECK(be16(b, 16) == 1000);
    CHECK(be16(b, 20) == 0x4000);
    CHECK(b[23] == 253);  // nothing follows: experimental protocol
}

TEST_CASE("Frame: IPv6 extension header chains") {
    Bytes b = Frame()
                  .eth()
                  .ipv6(1, 2)
                  .hop_by_hop()
                  .routing(1)
                  .ah()
                  .dest_opts()
                  .frag6(0, true, 77)
                  .ip6_ext(kIp6DestOpts, std::vector<std::uint8_t>(10, 0))
                  .tcp(80, 443, kTcpSyn)
                  .payload("GET")
                  .bytes();
    CHECK(b[14 + 6] == kIp6HopByHop);
    std::size_t p = 54;  // hop-by-hop
    CHECK(b[p] == kIp6Routing);
    CHECK(b[p + 1] == 0);  // 8 bytes
    p += 8;  // routing
    CHECK(b[p] == kIp6Ah);
    CHECK(b[p + 3] == 1);  // segments left
    p += 8;  // AH
    CHECK(b[p] == kIp6DestOpts);
    CHECK(b[p + 1] == 2);  // 16 bytes = (2 + 2) * 4
    p += 16;  // destination options
    CHECK(b[p] == kIp6Fragment);
    p += 8;  // fragment
    CHECK(b[p] == kIp6DestOpts);
    CHECK(b[p + 1] == 0);  // reserved
    CHECK(be16(b, p + 2) == 1);
    CHECK(be16(b, p + 6) == 77);
    p += 8;  // destination options with a 10-byte body
    CHECK(b[p] == 6);
    CHECK(b[p + 1] == 1);  // 16 bytes = (1 + 1) * 8
    p += 16;
    CHECK(be16(b, p) == 80);
    CHECK(b.size() == p + 20 + 3);
    CHECK(be16(b, 14 + 4) == b.size() - 54);
    CHECK(l4_ok_v6(b, 14, p, 6));
    // Explicit next header on the last extension header.
    b = Frame().eth().ipv6(1, 2).dest_opts().next_header(99).bytes();
    CHECK(b[54] == 99);
    b = Frame().eth().ipv6(1, 2).bytes();
    CHECK(b[14 + 6] == kIp6NoNext);
}

TEST_CASE("Frame: pad_to adds Ethernet padding outside the IP datagram") {
    Bytes b = Frame().eth().ipv4(1, 2).udp(3, 4).payload("a").pad_to(60).bytes();
    CHECK(b.size() == 60);
    CHECK(be16(b, 16) == 29);
    CHECK(be16(b, 38) == 9);
    CHECK(l4_ok_v4(b, 14, 34, 17));
    // Never truncates.
    CHECK(Frame().eth().payload("abcdef").pad_to(4).bytes().size() == 20);
}

TEST_CASE("Frame: L4 overrides and TCP options") {
    TcpOptions t;
    t.options = {2, 4, 0x05, 0xb4, 1};  // MSS 1460 + NOP, padded to 8
    t.seq = 0x01020304;
    t.ack = 0x0a0b0c0d;
    Bytes b = Frame().eth().ipv4(1, 2).tcp(1, 2, kTcpSyn | kTcpAck, t).bytes();
    CHECK(b[34 + 12] == 0x70);
    CHECK(be16(b, 34 + 4) == 0x0102);
    CHECK(be16(b, 34 + 10) == 0x0c0d);
    CHECK(b.size() == 34 + 28);
    CHECK(l4_ok_v4(b, 14, 34, 6));
    t.data_offset = 2;
    t.checksum = 0xbeef;
    b = Frame().eth().ipv4(1, 2).tcp(1, 2, 0, t).bytes();
    CHECK(b[34 + 12] == 0x20);
    CHECK(be16(b, 34 + 16) == 0xbeef);
    UdpOptions u;
    u.len = 3;
    u.checksum = 0;
    b = Frame().eth().ipv4(1, 2).udp(1, 2, u).bytes();
    CHECK(be16(b, 38) == 3);
    CHECK(be16(b, 40) == 0);
    IcmpOptions c;
    c.rest = 0x00010002;
    b = Frame().eth().ipv6(1, 2).icmp6(135, 0, c).bytes();
    CHECK(b[14 + 6] == 58);
    CHECK(be16(b, 58) == 1);
    CHECK(be16(b, 60) == 2);
    CHECK(l4_ok_v6(b, 14, 54, 58));
}
