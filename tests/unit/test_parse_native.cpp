// weir_parse (bpf-templates/parse.h) compiled as C++, on hand-built frames.
#include <doctest/doctest.h>
#include <linux/bpf.h>

#include <cstring>
#include <string_view>

#include "fields.hpp"
#include "frames.hpp"
#include "parse.h"
#include "weir_abi.h"

using namespace weir::test;

static_assert(WEIR_MAX_VLAN_TAGS == weir::kMaxVlanTags);
static_assert(WEIR_MAX_IP6_EXT_HEADERS == weir::kMaxIp6ExtHeaders);
static_assert(WEIR_ACT_ABORTED == XDP_ABORTED && WEIR_ACT_DROP == XDP_DROP &&
              WEIR_ACT_PASS == XDP_PASS && WEIR_ACT_TX == XDP_TX &&
              WEIR_ACT_REDIRECT == XDP_REDIRECT);

namespace {

weir_pkt parse(const Bytes& b, std::size_t len) {
    weir_pkt p;
    weir_parse(b.data(), b.data() + len, &p);
    return p;
}
weir_pkt parse(const Bytes& b) { return parse(b, b.size()); }

const Bytes& frame(std::string_view name) {
    static const std::vector<Frame> frames = sample_frames();
    for (const Frame& f : frames)
        if (f.name == name) return f.bytes;
    FAIL("no sample frame " << name);
    return frames.front().bytes;
}

// Where each header of a frame ends, and its presence bit (0: none, e.g. an extension header).
struct Layer {
    std::size_t end;
    std::uint32_t bit;
};

// Every prefix of `b`: headers that end within the prefix are present, the rest absent, and
// the packet is malformed until the last layer is complete.
void check_prefixes(const Bytes& b, const std::vector<Layer>& layers) {
    for (std::size_t len = 0; len <= b.size(); ++len) {
        CAPTURE(len);
        std::uint32_t present = 0;
        for (const Layer& l : layers)
            if (l.end <= len) present |= l.bit;
        weir_pkt p = parse(b, len);
        CHECK(p.present == present);
        CHECK(p.malformed == (len < layers.back().end ? 1u : 0u));
        CHECK(p.len == len);
    }
}

}  // namespace

TEST_CASE("frames shorter than an Ethernet header are malformed and carry no header") {
    const Bytes& b = frame("ip4-tcp");
    for (std::size_t len = 0; len < 14; ++len) {
        weir_pkt p = parse(b, len);
        CHECK(p.present == 0);
        CHECK(p.malformed == 1);
        CHECK(p.len == len);
        CHECK(p.eth_type == 0);
    }
}

TEST_CASE("Ethernet header without IP") {
    weir_pkt p = parse(frame("arp"));
    CHECK(p.present == WEIR_H_ETH);
    CHECK(p.malformed == 0);
    CHECK(p.eth_src == kMacSrc);
    CHECK(p.eth_dst == kMacDst);
    CHECK(p.eth_type == 0x0806);
    CHECK(p.len == 14 + 28);
    CHECK(p.ip_version == 0);
}

TEST_CASE("IPv4 and TCP fields") {
    weir_pkt p = parse(frame("ip4-tcp"));
    CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_TCP));
    CHECK(p.malformed == 0);
    CHECK(p.eth_type == 0x0800);
    CHECK(p.ip_version == 4);
    CHECK(p.ip_proto == 6);
    CHECK(p.ip_ttl == 64);
    CHECK(p.ip_len == 20 + 20 + 16);
    CHECK(p.ip4_src == kIp4Src);
    CHECK(p.ip4_dst == kIp4Dst);
    CHECK(p.ip_frag == 0);
    CHECK(p.sport == 40000);
    CHECK(p.dport == 22);
    CHECK(p.tcp_flags == 0x02);
    CHECK(p.tcp_window == 1024);
    CHECK(p.payload_off == 14 + 20 + 20);
    CHECK(p.payload_len == 16);
    CHECK(p.udp_len == 0);
}

TEST_CASE("TCP options move the payload") {
    weir_pkt p = parse(frame("ip4-tcp-options"));
    CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_TCP));
    CHECK(p.tcp_flags == 0x12);
    CHECK(p.payload_off == 14 + 20 + 32);
    CHECK(p.payload_len == 16);
}

TEST_CASE("IPv4 options: the header length comes from IHL") {
    weir_pkt p = parse(frame("ip4-options-udp"));
    CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_UDP));
    CHECK(p.sport == 5353);
    CHECK(p.dport == 53);
    CHECK(p.udp_len == 9);
    CHECK(p.payload_off == 14 + 28 + 8);
    CHECK(p.payload_len == 1);

    weir_pkt max = parse(frame("ip4-max-options-tcp"));
    CHECK(max.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_TCP));
    CHECK(max.payload_off == 14 + 60 + 20);
}

TEST_CASE("IPv4 DSCP, TTL and UDP") {
    weir_pkt p = parse(frame("ip4-udp"));
    CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_UDP));
    CHECK(p.ip_dscp == 46);
    CHECK(p.ip_ttl == 3);
    CHECK(p.ip_proto == 17);
    CHECK(p.payload_len == 4);
}

TEST_CASE("ICMP belongs to IPv4, ICMPv6 to IPv6") {
    weir_pkt p = parse(frame("ip4-icmp"));
    CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_ICMP));
    CHECK(p.icmp_type == 8);
    CHECK(p.icmp_code == 0);
    CHECK(p.payload_off == 14 + 20 + 8);
    CHECK(p.payload_len == 4);

    weir_pkt v6 = parse(frame("ip6-icmp6"));
    CHECK(v6.present == (WEIR_H_ETH | WEIR_H_IP6 | WEIR_H_ICMP6));
    CHECK(v6.icmp_type == 128);
    CHECK(v6.payload_off == 14 + 40 + 8);

    weir_pkt cross4 = parse(frame("ip4-proto-58"));
    CHECK(cross4.present == (WEIR_H_ETH | WEIR_H_IP4));
    CHECK(cross4.ip_proto == 58);
    CHECK(cross4.malformed == 0);
    weir_pkt cross6 = parse(frame("ip6-proto-1"));
    CHECK(cross6.present == (WEIR_H_ETH | WEIR_H_IP6));
    CHECK(cross6.ip_proto == 1);
}

TEST_CASE("unknown L4 protocols carry no L4 header and are not malformed") {
    weir_pkt p = parse(frame("ip4-gre"));
    CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4));
    CHECK(p.ip_proto == 47);
    CHECK(p.malformed == 0);
    CHECK(p.payload_off == 0);
    CHECK(p.payload_len == 0);

    weir_pkt none = parse(frame("ip6-no-next"));
    CHECK(none.present == (WEIR_H_ETH | WEIR_H_IP6));
    CHECK(none.ip_proto == 59);
    CHECK(none.malformed == 0);
}

TEST_CASE("IPv4 fragments: only the first carries L4") {
    weir_pkt first = parse(frame("ip4-frag-first"));
    CHECK(first.ip_frag == 1);
    CHECK(first.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_UDP));
    CHECK(first.dport == 2);

    for (auto name : {"ip4-frag-middle", "ip4-frag-last", "ip4-frag-far"}) {
        CAPTURE(name);
        weir_pkt p = parse(frame(name));
        CHECK(p.ip_frag == 1);
        CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4));
        CHECK(p.malformed == 0);
        CHECK(p.sport == 0);
        CHECK(p.payload_len == 0);
    }
    CHECK(parse(frame("ip4-frag-middle")).ip_proto == 17);
    CHECK(parse(frame("ip4-frag-last")).ip_proto == 6);

    weir_pkt df = parse(frame("ip4-dont-fragment"));
    CHECK(df.ip_frag == 0);
    CHECK(df.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_TCP));
}

TEST_CASE("invalid IPv4 headers are absent, with everything after them") {
    for (auto name : {"ip4-bad-version", "ip4-ihl-4", "ip4-ihl-past-end"}) {
        CAPTURE(name);
        weir_pkt p = parse(frame(name));
        CHECK(p.present == WEIR_H_ETH);
        CHECK(p.malformed == 1);
        CHECK(p.eth_type == 0x0800);
        CHECK(p.ip_version == 0);
        CHECK(p.ip4_src == 0);
    }
}

TEST_CASE("invalid TCP headers are absent, IPv4 stays") {
    for (auto name : {"tcp-doff-4", "tcp-doff-past-end"}) {
        CAPTURE(name);
        weir_pkt p = parse(frame(name));
        CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4));
        CHECK(p.malformed == 1);
        CHECK(p.ip_proto == 6);
        CHECK(p.sport == 0);
        CHECK(p.payload_off == 0);
    }
}

TEST_CASE("VLAN tags: none, one, two, three") {
    weir_pkt none = parse(frame("ip4-tcp"));
    CHECK((none.present & WEIR_H_VLAN) == 0);
    CHECK(none.vlan_id == 0);

    weir_pkt one = parse(frame("vlan1-ip4-tcp"));
    CHECK(one.present == (WEIR_H_ETH | WEIR_H_VLAN | WEIR_H_IP4 | WEIR_H_TCP));
    CHECK(one.vlan_id == 0x00a);
    CHECK(one.vlan_pcp == 5);
    CHECK(one.eth_type == 0x0800);
    CHECK(one.dport == 443);
    CHECK(one.payload_off == 18 + 20 + 20);

    weir_pkt two = parse(frame("vlan2-ip4-udp"));
    CHECK(two.present == (WEIR_H_ETH | WEIR_H_VLAN | WEIR_H_IP4 | WEIR_H_UDP));
    CHECK(two.vlan_id == 0x064);  // the outer tag
    CHECK(two.vlan_pcp == 3);
    CHECK(two.eth_type == 0x0800);
    CHECK(two.dport == 67);

    weir_pkt three = parse(frame("vlan3-ip4"));
    CHECK(three.present == (WEIR_H_ETH | WEIR_H_VLAN));
    CHECK(three.vlan_id == 1);
    CHECK(three.eth_type == 0x8100);
    CHECK(three.malformed == 0);

    weir_pkt v6 = parse(frame("vlan1-ip6-udp"));
    CHECK(v6.present == (WEIR_H_ETH | WEIR_H_VLAN | WEIR_H_IP6 | WEIR_H_UDP));
    CHECK(v6.eth_type == 0x86dd);
}

TEST_CASE("IPv6 fields") {
    weir_pkt p = parse(frame("ip6-tcp"));
    CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP6 | WEIR_H_TCP));
    CHECK(p.malformed == 0);
    CHECK(p.eth_type == 0x86dd);
    CHECK(p.ip_version == 6);
    CHECK(p.ip_dscp == 46);
    CHECK(p.ip6_flowlabel == 0xabcde);
    CHECK(p.ip_ttl == 255);
    CHECK(p.ip_proto == 6);
    CHECK(p.ip_len == 40 + 20 + 16);
    CHECK(p.ip6_src_hi == kIp6SrcHi);
    CHECK(p.ip6_src_lo == kIp6SrcLo);
    CHECK(p.ip6_dst_hi == kIp6DstHi);
    CHECK(p.ip6_dst_lo == kIp6DstLo);
    CHECK(p.ip4_src == 0);
    CHECK(p.dport == 22);
    CHECK(p.payload_off == 14 + 40 + 20);

    weir_pkt u = parse(frame("ip6-udp"));
    CHECK(u.present == (WEIR_H_ETH | WEIR_H_IP6 | WEIR_H_UDP));
    CHECK(u.sport == 546);
    CHECK(u.udp_len == 12);
    CHECK(u.payload_len == 4);
}

TEST_CASE("IPv6 extension headers of each type are walked") {
    struct Case {
        const char* name;
        std::uint8_t proto;
        std::uint32_t l4;
        std::size_t ext_bytes;
    };
    for (Case c : {Case{"ip6-hop-tcp", 6, WEIR_H_TCP, 8}, Case{"ip6-routing-udp", 17, WEIR_H_UDP, 24},
                   Case{"ip6-dstopts-icmp6", 58, WEIR_H_ICMP6, 16}, Case{"ip6-ah-tcp", 6, WEIR_H_TCP, 24},
                   Case{"ip6-frag-first-udp", 17, WEIR_H_UDP, 8}}) {
        CAPTURE(c.name);
        weir_pkt p = parse(frame(c.name));
        CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP6 | c.l4));
        CHECK(p.malformed == 0);
        CHECK(p.ip_proto == c.proto);
        std::size_t l4_len = c.l4 == WEIR_H_TCP ? 20 : 8;
        CHECK(p.payload_off == 14 + 40 + c.ext_bytes + l4_len);
    }
    CHECK(parse(frame("ip6-frag-first-udp")).ip_frag == 1);
    CHECK(parse(frame("ip6-hop-tcp")).ip_frag == 0);
}

TEST_CASE("IPv6: six extension headers are walked, a seventh is malformed") {
    weir_pkt six = parse(frame("ip6-6-ext-tcp"));
    CHECK(six.present == (WEIR_H_ETH | WEIR_H_IP6 | WEIR_H_TCP));
    CHECK(six.malformed == 0);
    CHECK(six.ip_proto == 6);
    CHECK(six.ip_frag == 1);
    CHECK(six.payload_off == 14 + 40 + 60 + 20);

    weir_pkt seven = parse(frame("ip6-7-ext-tcp"));
    CHECK(seven.present == (WEIR_H_ETH | WEIR_H_IP6));
    CHECK(seven.malformed == 1);
    CHECK(seven.ip_proto == 60);  // the next-header where the walk stopped
    CHECK(seven.sport == 0);
}

TEST_CASE("IPv6 fragments: only the first carries L4") {
    weir_pkt middle = parse(frame("ip6-frag-middle"));
    CHECK(middle.present == (WEIR_H_ETH | WEIR_H_IP6));
    CHECK(middle.ip_frag == 1);
    CHECK(middle.ip_proto == 17);
    CHECK(middle.malformed == 0);

    weir_pkt last = parse(frame("ip6-frag-last"));
    CHECK(last.present == (WEIR_H_ETH | WEIR_H_IP6));
    CHECK(last.ip_frag == 1);
    CHECK(last.ip_proto == 6);
}

TEST_CASE("invalid IPv6 version") {
    weir_pkt p = parse(frame("ip6-bad-version"));
    CHECK(p.present == WEIR_H_ETH);
    CHECK(p.malformed == 1);
    CHECK(p.eth_type == 0x86dd);
}

TEST_CASE("Ethernet padding counts as payload") {
    weir_pkt p = parse(frame("padded-ip4-udp"));
    CHECK(p.present == (WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_UDP));
    CHECK(p.udp_len == 8);
    CHECK(p.ip_len == 28);
    CHECK(p.payload_len == 18);
}

TEST_CASE("truncation at every length: the first incomplete header and all after it are absent") {
    constexpr std::uint32_t E = WEIR_H_ETH, V = WEIR_H_VLAN, I4 = WEIR_H_IP4, I6 = WEIR_H_IP6;
    SUBCASE("VLAN, VLAN, IPv4, UDP") {
        check_prefixes(frame("vlan2-ip4-udp"), {{14, E}, {18, V}, {22, 0}, {42, I4}, {50, WEIR_H_UDP}});
    }
    SUBCASE("VLAN, IPv4, TCP, payload") {
        check_prefixes(frame("vlan1-ip4-tcp"), {{14, E}, {18, V}, {38, I4}, {58, WEIR_H_TCP}});
    }
    SUBCASE("IPv4 with options, UDP") {
        check_prefixes(frame("ip4-options-udp"), {{14, E}, {42, I4}, {50, WEIR_H_UDP}});
    }
    SUBCASE("IPv4, TCP with options") {
        check_prefixes(frame("ip4-tcp-options"), {{14, E}, {34, I4}, {66, WEIR_H_TCP}});
    }
    SUBCASE("IPv4, ICMP") {
        check_prefixes(frame("ip4-icmp"), {{14, E}, {34, I4}, {42, WEIR_H_ICMP}});
    }
    SUBCASE("IPv6, ICMPv6") {
        check_prefixes(frame("ip6-icmp6"), {{14, E}, {54, I6}, {62, WEIR_H_ICMP6}});
    }
    SUBCASE("IPv6, AH, TCP") {
        check_prefixes(frame("ip6-ah-tcp"), {{14, E}, {54, I6}, {78, 0}, {98, WEIR_H_TCP}});
    }
    SUBCASE("IPv6, fragment, UDP") {
        check_prefixes(frame("ip6-frag-first-udp"), {{14, E}, {54, I6}, {62, 0}, {70, WEIR_H_UDP}});
    }
    SUBCASE("IPv6, six extension headers, TCP") {
        check_prefixes(frame("ip6-6-ext-tcp"), {{14, E}, {54, I6}, {62, 0}, {78, 0}, {86, 0}, {98, 0},
                                                {106, 0}, {114, 0}, {134, WEIR_H_TCP}});
    }
}

TEST_CASE("truncated headers leave what is known about the stop") {
    // A truncated VLAN tag: eth.type is the TPID that announced it.
    const Bytes& v = frame("vlan2-ip4-udp");
    CHECK(parse(v, 17).eth_type == 0x88a8);
    CHECK(parse(v, 21).eth_type == 0x8100);
    CHECK(parse(v, 21).vlan_id == 0x064);
    // A truncated extension header: ip.proto is its type.
    const Bytes& ah = frame("ip6-ah-tcp");
    CHECK(parse(ah, 60).ip_proto == 51);
    CHECK(parse(ah, 77).ip_proto == 51);
    CHECK(parse(ah, 78).ip_proto == 6);
    // The payload window ends at the frame end.
    const Bytes& t = frame("ip4-tcp");
    CHECK(parse(t, 60).payload_len == 6);
    CHECK(parse(t, 54).payload_len == 0);
    CHECK(parse(t, 54).payload_off == 54);
}

TEST_CASE("every sample frame parses deterministically, with zeroed padding") {
    for (const Frame& f : sample_frames()) {
        CAPTURE(f.name);
        weir_pkt a, b;
        std::memset(&a, 0xa5, sizeof a);
        std::memset(&b, 0x5a, sizeof b);
        weir_parse(f.bytes.data(), f.bytes.data() + f.bytes.size(), &a);
        weir_parse(f.bytes.data(), f.bytes.data() + f.bytes.size(), &b);
        CHECK(std::memcmp(&a, &b, sizeof a) == 0);
        CHECK(a.len == f.bytes.size());
        CHECK(a.ifindex == 0);
    }
}
