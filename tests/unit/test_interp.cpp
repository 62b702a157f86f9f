// The reference interpreter: field extraction for every field, every operator, the
// missing-header semantics of docs/language.md, sets (also mixed-family), rule order, count
// rules, defaults, payload bounds, pkt.iface, and probes run end to end through the packet
// builder and the shared parser (bpf-templates/parse.h).
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "driver.hpp"
#include "field_access.hpp"
#include "interp.hpp"
#include "parse.h"
#include "test_frames.hpp"
#include "values.hpp"

using namespace weir;

namespace {

using F = FieldId;

// ---- building checked programs by hand ----

Element num(u128 v) {
    Element e;
    e.lo = e.hi = v;
    return e;
}
Element range(u128 lo, u128 hi) {
    Element e;
    e.lo = lo;
    e.hi = hi;
    return e;
}
Element v4(std::string_view text, int prefix = 32) {
    Element e;
    e.family = Family::V4;
    u128 a = *ip4_from_text(text);
    u128 span = (u128{1} << (32 - prefix)) - 1;
    e.lo = a & ~span & 0xffffffffu;
    e.hi = e.lo | span;
    e.prefix = prefix;
    return e;
}
Element v6(std::string_view text, int prefix = 128) {
    Element e;
    e.family = Family::V6;
    u128 a = *ip6_from_text(text);
    u128 span = prefix == 0 ? ~u128{0} : (u128{1} << (128 - prefix)) - 1;
    e.lo = a & ~span;
    e.hi = e.lo | span;
    e.prefix = prefix;
    return e;
}

Expr cmp(F f, Cmp op, Element v) {
    Expr e;
    e.kind = Expr::Kind::Compare;
    e.field = f;
    e.op = op;
    e.value = v;
    return e;
}
Expr eq(F f, u128 v) { return cmp(f, Cmp::Eq, num(v)); }
Expr in(F f, std::vector<Element> elems, bool negated = false) {
    Expr e;
    e.kind = Expr::Kind::In;
    e.field = f;
    e.elems = std::move(elems);
    e.negated = negated;
    return e;
}
Expr in_set(F f, int set, bool negated = false) {
    Expr e;
    e.kind = Expr::Kind::In;
    e.field = f;
    e.set = set;
    e.negated = negated;
    return e;
}
Expr test(F f) {
    Expr e;
    e.kind = Expr::Kind::Test;
    e.field = f;
    return e;
}
Expr not_(Expr k) {
    Expr e;
    e.kind = Expr::Kind::Not;
    e.kids.push_back(std::move(k));
    return e;
}
Expr and_(std::vector<Expr> kids) {
    Expr e;
    e.kind = Expr::Kind::And;
    e.kids = std::move(kids);
    return e;
}
Expr or_(std::vector<Expr> kids) {
    Expr e;
    e.kind = Expr::Kind::Or;
    e.kids = std::move(kids);
    return e;
}
Expr payload(std::uint16_t off, std::string_view bytes, Cmp op = Cmp::Eq) {
    Expr e;
    e.kind = Expr::Kind::Payload;
    e.offset = off;
    e.bytes.assign(bytes.begin(), bytes.end());
    e.op = op;
    return e;
}

Rule rule(std::string name, Action::Kind act, std::optional<Expr> cond = std::nullopt) {
    Rule r;
    r.name = std::move(name);
    r.action.kind = act;
    if (act == Action::Kind::Redirect) r.action.ifname = "eth9";
    if (cond) {
        r.cond = std::move(*cond);
        r.has_cond = true;
    }
    return r;
}

Policy policy(std::vector<Rule> rules, Verdict def = Verdict::Pass) {
    Policy p;
    p.name = "p";
    p.default_verdict = def;
    p.rules = std::move(rules);
    return p;
}

const Program kNoSets;

bool eval(const Expr& e, const weir_pkt& pkt, std::span<const std::uint8_t> frame = {},
          std::string_view iface = "eth0", const Program& prog = kNoSets) {
    return matches(prog, e, pkt, frame, iface);
}

// ---- packets ----

constexpr std::uint32_t kAllHeaders = WEIR_H_ETH | WEIR_H_VLAN | WEIR_H_IP4 | WEIR_H_IP6 | WEIR_H_TCP |
                                      WEIR_H_UDP | WEIR_H_ICMP | WEIR_H_ICMP6;

// Every member set, to distinct values; every header bit set (impossible on the wire, but lets
// each field be read and then removed one header at a time).
weir_pkt full_pkt() {
    weir_pkt p{};
    p.present = kAllHeaders;
    p.len = 1234;
    p.ifindex = 7;
    p.eth_src = 0x020000000001ull;
    p.eth_dst = 0x0a0b0c0d0e0full;
    p.eth_type = 0x0800;
    p.vlan_id = 100;
    p.vlan_pcp = 5;
    p.ip_version = 4;
    p.ip_proto = 6;
    p.ip_ttl = 63;
    p.ip_dscp = 46;
    p.ip_frag = 1;
    p.ip_len = 1200;
    p.ip4_src = 0xc0000201;
    p.ip4_dst = 0xc6336407;
    p.ip6_src_hi = 0x20010db800000000ull;
    p.ip6_src_lo = 0x1;
    p.ip6_dst_hi = 0x20010db8ffff0000ull;
    p.ip6_dst_lo = 0x2;
    p.ip6_flowlabel = 0x12345;
    p.sport = 40000;
    p.dport = 443;
    p.tcp_flags = kTcpSyn | kTcpAck | kTcpCwr;
    p.icmp_type = 8;
    p.icmp_code = 3;
    p.tcp_window = 29200;
    p.udp_len = 99;
    return p;
}

// Independent statement of where every field's value comes from (the oracle for
// field_access.hpp). -Wswitch flags a new FieldId missing here.
u128 expected_value(F f, const weir_pkt& p) {
    switch (f) {
        case F::EthSrc: return p.eth_src;
        case F::EthDst: return p.eth_dst;
        case F::EthType: return p.eth_type;
        case F::VlanId: return p.vlan_id;
        case F::VlanPcp: return p.vlan_pcp;
        case F::IpSrc: return p.ip4_src;  // IPv4 present in full_pkt()
        case F::IpDst: return p.ip4_dst;
        case F::Ip4Src: return p.ip4_src;
        case F::Ip4Dst: return p.ip4_dst;
        case F::Ip6Src: return u128{p.ip6_src_hi} << 64 | p.ip6_src_lo;
        case F::Ip6Dst: return u128{p.ip6_dst_hi} << 64 | p.ip6_dst_lo;
        case F::IpProto: return p.ip_proto;
        case F::IpTtl: return p.ip_ttl;
        case F::IpDscp: return p.ip_dscp;
        case F::IpLen: return p.ip_len;
        case F::IpVersion: return p.ip_version;
        case F::IpFrag: return 1;
        case F::Ip6Flowlabel: return p.ip6_flowlabel;
        case F::TcpSport: return p.sport;
        case F::TcpDport: return p.dport;
        case F::TcpWindow: return p.tcp_window;
        case F::TcpFlagFin: return 0;
        case F::TcpFlagSyn: return 1;
        case F::TcpFlagRst: return 0;
        case F::TcpFlagPsh: return 0;
        case F::TcpFlagAck: return 1;
        case F::TcpFlagUrg: return 0;
        case F::TcpFlagEce: return 0;
        case F::TcpFlagCwr: return 1;
        case F::UdpSport: return p.sport;
        case F::UdpDport: return p.dport;
        case F::UdpLen: return p.udp_len;
        case F::L4Sport: return p.sport;
        case F::L4Dport: return p.dport;
        case F::IcmpType: return p.icmp_type;
        case F::IcmpCode: return p.icmp_code;
        case F::Icmp6Type: return p.icmp_type;
        case F::Icmp6Code: return p.icmp_code;
        case F::PktLen: return p.len;
        case F::PktIface: return p.ifindex;
        case F::Count_: break;
    }
    return 0;
}

// The presence bits that carry each Header (independent of field_access.hpp's header_mask).
std::uint32_t bits_of(Header h) {
    switch (h) {
        case Header::Eth: return WEIR_H_ETH;
        case Header::Vlan: return WEIR_H_VLAN;
        case Header::Ip: return WEIR_H_IP4 | WEIR_H_IP6;
        case Header::Ip4: return WEIR_H_IP4;
        case Header::Ip6: return WEIR_H_IP6;
        case Header::Tcp: return WEIR_H_TCP;
        case Header::Udp: return WEIR_H_UDP;
        case Header::L4: return WEIR_H_TCP | WEIR_H_UDP;
        case Header::Icmp: return WEIR_H_ICMP;
        case Header::Icmp6: return WEIR_H_ICMP6;
        case Header::Pkt: return 0;
    }
    return 0;
}

// A frame with an L4 payload "HELLO WORLD" (TCP over IPv4) and its parse.
struct Parsed {
    std::vector<std::uint8_t> frame;
    weir_pkt pkt{};
};
Parsed parse(std::vector<std::uint8_t> frame) {
    Parsed p;
    p.frame = std::move(frame);
    weir_parse(p.frame.data(), p.frame.data() + p.frame.size(), &p.pkt);
    return p;
}
Parsed parse_spec(const PacketSpec& s) {
    auto b = build_packet(s);
    REQUIRE_MESSAGE(b.ok(), b.error);
    return parse(std::move(b.bytes));
}

PacketSpec tcp4(std::uint16_t dport, std::uint8_t flags = kTcpSyn) {
    PacketSpec s;
    s.family = Family::V4;
    s.src = ip4(192, 0, 2, 1);
    s.dst = ip4(198, 51, 100, 7);
    s.proto = 6;
    s.sport = 40000;
    s.dport = dport;
    s.tcp_flags = flags;
    return s;
}
PacketSpec udp4(std::uint16_t dport) {
    PacketSpec s = tcp4(dport, 0);
    s.proto = 17;
    return s;
}
PacketSpec udp6(std::uint16_t dport) {
    PacketSpec s = udp4(dport);
    s.family = Family::V6;
    s.src = *ip6_from_text("2001:db8::1");
    s.dst = *ip6_from_text("2001:db8::2");
    return s;
}

}  // namespace

TEST_CASE("field_access: the table follows the field table's headers, and weir_pkt's layout") {
    for (const FieldDef& f : all_fields()) {
        CAPTURE(f.name);
        const FieldAccess& a = field_access(f.id);
        CHECK(a.id == f.id);
        CHECK(a.present == bits_of(f.header));
        CHECK(header_mask(f.header) == bits_of(f.header));
        if (f.type == FieldType::IpAny) {
            CHECK(a.size == 0);
            CHECK(field(a.v4).type == FieldType::Ip4);
            CHECK(field(a.v6).type == FieldType::Ip6);
        } else {
            CHECK(a.offset + a.size <= sizeof(weir_pkt));
            // The member is wide enough for the field's values (Bool: a bit of it).
            if (f.type != FieldType::Bool && f.type != FieldType::Iface) CHECK(a.size * 8 >= f.bits);
        }
    }
    CHECK(kMaxVlanTags == WEIR_MAX_VLAN_TAGS);
    CHECK(kMaxIp6ExtHeaders == WEIR_MAX_IP6_EXT_HEADERS);
}

TEST_CASE("every field: read when its header is present, false in every form when absent") {
    const weir_pkt full = full_pkt();
    for (const FieldDef& f : all_fields()) {
        CAPTURE(f.name);
        if (f.type == FieldType::Iface) continue;  // compared by name: see the pkt.iface test
        u128 want = expected_value(f.id, full);
        auto got = field_value(f.id, full);
        REQUIRE(got.has_value());
        CHECK(*got == want);

        Element value = num(want);
        if (f.type == FieldType::IpAny || f.type == FieldType::Ip4) value.family = Family::V4;
        if (f.type == FieldType::Ip6) value.family = Family::V6;
        Element other = value;
        other.lo = other.hi = want ^ 1;

        // Present: the comparisons behave as on any value.
        if (f.type == FieldType::Bool) {
            CHECK(eval(test(f.id), full) == (want != 0));
        } else {
            CHECK(eval(cmp(f.id, Cmp::Eq, value), full));
            CHECK_FALSE(eval(cmp(f.id, Cmp::Ne, value), full));
            CHECK(eval(cmp(f.id, Cmp::Ne, other), full));
            CHECK(eval(in(f.id, {other, value}), full));
            CHECK_FALSE(eval(in(f.id, {other, value}, true), full));
            CHECK(eval(in(f.id, {other}, true), full));
            CHECK_FALSE(eval(not_(cmp(f.id, Cmp::Eq, value)), full));
        }

        std::uint32_t bits = bits_of(f.header);
        if (bits == 0) {
            weir_pkt bare{};  // metadata is there even for a frame with no headers at all
            bare.len = full.len;
            bare.ifindex = full.ifindex;
            CHECK(field_value(f.id, bare) == want);
            continue;
        }
        weir_pkt absent = full;
        absent.present &= ~bits;
        CHECK_FALSE(field_value(f.id, absent).has_value());
        if (f.type == FieldType::Bool) {
            CHECK_FALSE(eval(test(f.id), absent));
            CHECK(eval(not_(test(f.id)), absent));
        } else {
            CHECK_FALSE(eval(cmp(f.id, Cmp::Eq, value), absent));
            CHECK_FALSE(eval(cmp(f.id, Cmp::Ne, value), absent));
            CHECK_FALSE(eval(cmp(f.id, Cmp::Ne, other), absent));
            CHECK_FALSE(eval(in(f.id, {value}), absent));
            CHECK_FALSE(eval(in(f.id, {other}, true), absent));
            CHECK(eval(not_(cmp(f.id, Cmp::Eq, value)), absent));
            CHECK(eval(not_(cmp(f.id, Cmp::Ne, value)), absent));
            if (f.type == FieldType::Int) {
                for (Cmp op : {Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge}) {
                    CHECK_FALSE(eval(cmp(f.id, op, num(0)), absent));
                    CHECK_FALSE(eval(cmp(f.id, op, num(~u128{0})), absent));
                }
            }
        }
    }
}

TEST_CASE("headers that share members: TCP/UDP ports, ICMP/ICMPv6 types") {
    weir_pkt p = full_pkt();
    p.present = WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_UDP;
    CHECK_FALSE(eval(eq(F::TcpDport, 443), p));
    CHECK(eval(eq(F::UdpDport, 443), p));
    CHECK(eval(eq(F::L4Dport, 443), p));
    CHECK_FALSE(eval(test(F::TcpFlagSyn), p));
    p.present = WEIR_H_ETH | WEIR_H_IP6 | WEIR_H_ICMP6;
    CHECK_FALSE(eval(eq(F::IcmpType, 8), p));
    CHECK(eval(eq(F::Icmp6Type, 8), p));
    CHECK_FALSE(eval(eq(F::L4Dport, 443), p));
}

TEST_CASE("operators on integers: ==, != (values and ranges), <, <=, >, >=") {
    weir_pkt p = full_pkt();  // dport 443
    CHECK(eval(eq(F::TcpDport, 443), p));
    CHECK_FALSE(eval(eq(F::TcpDport, 444), p));
    CHECK(eval(cmp(F::TcpDport, Cmp::Ne, num(444)), p));
    CHECK(eval(cmp(F::TcpDport, Cmp::Eq, range(400, 443)), p));
    CHECK(eval(cmp(F::TcpDport, Cmp::Eq, range(443, 500)), p));
    CHECK_FALSE(eval(cmp(F::TcpDport, Cmp::Eq, range(444, 500)), p));
    CHECK(eval(cmp(F::TcpDport, Cmp::Ne, range(444, 500)), p));
    CHECK_FALSE(eval(cmp(F::TcpDport, Cmp::Ne, range(1, 1024)), p));
    CHECK(eval(cmp(F::TcpDport, Cmp::Lt, num(444)), p));
    CHECK_FALSE(eval(cmp(F::TcpDport, Cmp::Lt, num(443)), p));
    CHECK(eval(cmp(F::TcpDport, Cmp::Le, num(443)), p));
    CHECK_FALSE(eval(cmp(F::TcpDport, Cmp::Le, num(442)), p));
    CHECK(eval(cmp(F::TcpDport, Cmp::Gt, num(442)), p));
    CHECK_FALSE(eval(cmp(F::TcpDport, Cmp::Gt, num(443)), p));
    CHECK(eval(cmp(F::TcpDport, Cmp::Ge, num(443)), p));
    CHECK_FALSE(eval(cmp(F::TcpDport, Cmp::Ge, num(444)), p));
    CHECK(eval(in(F::TcpDport, {num(22), range(400, 450)}), p));
    CHECK_FALSE(eval(in(F::TcpDport, {num(22), range(444, 450)}), p));
    CHECK_FALSE(eval(in(F::TcpDport, {}), p));
    CHECK(eval(in(F::TcpDport, {}, true), p));
}

TEST_CASE("operators on addresses: host, prefix, range, MACs, 128-bit IPv6") {
    weir_pkt p = full_pkt();  // 192.0.2.1 -> 198.51.100.7, 2001:db8::1 -> 2001:db8:ffff::2
    CHECK(eval(cmp(F::Ip4Src, Cmp::Eq, v4("192.0.2.1")), p));
    CHECK(eval(cmp(F::Ip4Src, Cmp::Eq, v4("192.0.2.0", 24)), p));
    CHECK_FALSE(eval(cmp(F::Ip4Src, Cmp::Eq, v4("192.0.3.0", 24)), p));
    CHECK(eval(cmp(F::Ip4Src, Cmp::Ne, v4("10.0.0.0", 8)), p));
    CHECK(eval(cmp(F::Ip4Dst, Cmp::Eq, v4("0.0.0.0", 0)), p));
    CHECK(eval(cmp(F::Ip6Src, Cmp::Eq, v6("2001:db8::", 32)), p));
    CHECK(eval(cmp(F::Ip6Dst, Cmp::Eq, v6("2001:db8:ffff::", 48)), p));
    CHECK_FALSE(eval(cmp(F::Ip6Dst, Cmp::Eq, v6("2001:db8:fffe::", 48)), p));
    CHECK(eval(cmp(F::Ip6Dst, Cmp::Eq, v6("2001:db8:ffff::2")), p));
    CHECK_FALSE(eval(cmp(F::Ip6Dst, Cmp::Eq, v6("2001:db8:ffff::3")), p));
    // The low half alone must not decide.
    CHECK_FALSE(eval(cmp(F::Ip6Dst, Cmp::Eq, v6("2001:db8:fffe::2")), p));
    CHECK(eval(eq(F::EthDst, 0x0a0b0c0d0e0f), p));
    CHECK(eval(cmp(F::EthDst, Cmp::Eq, range(0x0a0b0c000000, 0x0a0b0cffffff)), p));
    CHECK_FALSE(eval(eq(F::EthSrc, 0x0a0b0c0d0e0f), p));
}

TEST_CASE("boolean fields: each TCP flag bit, ip.frag") {
    weir_pkt p = full_pkt();
    const std::pair<F, std::uint8_t> flags[] = {
        {F::TcpFlagFin, kTcpFin}, {F::TcpFlagSyn, kTcpSyn}, {F::TcpFlagRst, kTcpRst}, {F::TcpFlagPsh, kTcpPsh},
        {F::TcpFlagAck, kTcpAck}, {F::TcpFlagUrg, kTcpUrg}, {F::TcpFlagEce, kTcpEce}, {F::TcpFlagCwr, kTcpCwr},
    };
    for (auto [id, bit] : flags) {
        CAPTURE(field(id).name);
        p.tcp_flags = bit;
        CHECK(eval(test(id), p));
        p.tcp_flags = static_cast<std::uint8_t>(~bit);
        CHECK_FALSE(eval(test(id), p));
        CHECK(eval(not_(test(id)), p));
    }
    p.ip_frag = 0;
    CHECK_FALSE(eval(test(F::IpFrag), p));
    p.ip_frag = 1;
    CHECK(eval(test(F::IpFrag), p));
}

TEST_CASE("missing headers: != and not in are false, not negates (docs/language.md example)") {
    Parsed u = parse_spec(udp4(22));
    REQUIRE((u.pkt.present & WEIR_H_UDP));
    CHECK_FALSE(eval(cmp(F::TcpDport, Cmp::Ne, num(22)), u.pkt));
    CHECK(eval(not_(eq(F::TcpDport, 22)), u.pkt));
    CHECK_FALSE(eval(in(F::TcpDport, {num(80)}, true), u.pkt));
    CHECK(eval(not_(in(F::TcpDport, {num(22)})), u.pkt));
    CHECK(eval(eq(F::L4Dport, 22), u.pkt));
    // and / or / not compose the per-atom results.
    CHECK(eval(or_({eq(F::TcpDport, 22), eq(F::UdpDport, 22)}), u.pkt));
    CHECK_FALSE(eval(and_({eq(F::L4Dport, 22), cmp(F::TcpDport, Cmp::Ne, num(1))}), u.pkt));
    CHECK(eval(and_({}), u.pkt));
    CHECK_FALSE(eval(or_({}), u.pkt));
    CHECK(eval(not_(not_(eq(F::UdpDport, 22))), u.pkt));
    // Only pkt.* exist in a frame shorter than an Ethernet header.
    Parsed tiny = parse({1, 2, 3});
    CHECK(tiny.pkt.malformed);
    CHECK_FALSE(eval(cmp(F::EthType, Cmp::Ne, num(0x0800)), tiny.pkt));
    CHECK_FALSE(eval(cmp(F::EthSrc, Cmp::Ne, num(1)), tiny.pkt));
    CHECK(eval(eq(F::PktLen, 3), tiny.pkt));
}

TEST_CASE("ip.src/ip.dst: compared by the literal's family, mixed sets") {
    Parsed a4 = parse_spec(udp4(53));   // 192.0.2.1
    Parsed a6 = parse_spec(udp6(53));   // 2001:db8::1
    CHECK(eval(cmp(F::IpSrc, Cmp::Eq, v4("192.0.2.0", 24)), a4.pkt));
    CHECK_FALSE(eval(cmp(F::IpSrc, Cmp::Eq, v4("192.0.2.0", 24)), a6.pkt));
    CHECK_FALSE(eval(cmp(F::IpSrc, Cmp::Ne, v4("10.0.0.0", 8)), a6.pkt));  // means ip4.src
    CHECK(eval(cmp(F::IpSrc, Cmp::Ne, v4("10.0.0.0", 8)), a4.pkt));
    CHECK(eval(cmp(F::IpSrc, Cmp::Eq, v6("2001:db8::", 32)), a6.pkt));
    CHECK_FALSE(eval(cmp(F::IpSrc, Cmp::Eq, v6("2001:db8::", 32)), a4.pkt));
    CHECK_FALSE(eval(cmp(F::IpSrc, Cmp::Ne, v6("2001:db8::", 32)), a4.pkt));
    // An IPv4 element must not match an IPv6 address with the same low bits, and back.
    Element low = v4("0.0.0.1");
    CHECK_FALSE(eval(cmp(F::IpSrc, Cmp::Eq, low), a6.pkt));
    CHECK_FALSE(eval(in(F::IpSrc, {v6("::c000:201")}), a4.pkt));

    Program prog;
    SetDef mixed;
    mixed.name = "nets";
    mixed.type = SetType::Ip;
    mixed.elems = {v4("10.0.0.0", 8), v6("2001:db8::", 32)};
    prog.sets.push_back(mixed);
    SetDef only4 = mixed;
    only4.name = "nets4";
    only4.elems = {v4("10.0.0.0", 8)};
    prog.sets.push_back(only4);

    CHECK(eval(in_set(F::IpSrc, 0), a6.pkt, {}, "", prog));          // 2001:db8::1 in 2001:db8::/32
    CHECK_FALSE(eval(in_set(F::IpSrc, 0), a4.pkt, {}, "", prog));    // 192.0.2.1 not in 10/8
    CHECK(eval(in_set(F::IpSrc, 0, true), a4.pkt, {}, "", prog));
    CHECK_FALSE(eval(in_set(F::IpSrc, 0, true), a6.pkt, {}, "", prog));
    Parsed d6 = parse_spec([] {
        PacketSpec s = udp6(53);
        s.src = *ip6_from_text("2001:db9::1");
        return s;
    }());
    CHECK(eval(in_set(F::IpSrc, 0, true), d6.pkt, {}, "", prog));
    // An IPv4-only set: `not in` needs IPv4, like `!=` with an IPv4 literal.
    CHECK(eval(in_set(F::IpSrc, 1, true), a4.pkt, {}, "", prog));
    CHECK_FALSE(eval(in_set(F::IpSrc, 1, true), a6.pkt, {}, "", prog));
    // Typed sets on typed fields.
    CHECK_FALSE(eval(in_set(F::Ip4Src, 1), a4.pkt, {}, "", prog));
    CHECK(eval(in_set(F::Ip4Src, 1, true), a4.pkt, {}, "", prog));
    CHECK_FALSE(eval(in_set(F::Ip4Src, 1, true), a6.pkt, {}, "", prog));
    // A one-family field against a mixed `ip` set uses only the elements of its own family: an
    // IPv4 element 0.0.0.0/0 covers the numbers of every IPv6 address, but not IPv6 addresses
    // (found by the differential test, where the kernel's per-family tables were right).
    SetDef cross = mixed;
    cross.name = "cross";
    cross.elems = {v4("0.0.0.0", 0)};  // numerically covers ::/96
    prog.sets.push_back(cross);
    Parsed low6 = parse_spec([] {
        PacketSpec s = udp6(53);
        s.src = *ip6_from_text("::1");
        return s;
    }());
    CHECK_FALSE(eval(in_set(F::Ip6Src, 2), low6.pkt, {}, "", prog));  // ::1 is not in 0.0.0.0/0
    CHECK(eval(in_set(F::Ip6Src, 2), a6.pkt, {}, "", prog) == false);
    CHECK(eval(in_set(F::Ip4Src, 2), a4.pkt, {}, "", prog));        // 0.0.0.0/0
    SetDef low6set = mixed;
    low6set.name = "low6";
    low6set.elems = {v6("::", 96)};
    prog.sets.push_back(low6set);
    CHECK_FALSE(eval(in_set(F::Ip4Src, 3), a4.pkt, {}, "", prog));  // 192.0.2.1 is not in ::/96
}

TEST_CASE("payload matches: offset, bounds, == and !=, no L4 header") {
    PacketSpec s = tcp4(80);
    s.payload = {'G', 'E', 'T', ' ', '/'};
    Parsed p = parse_spec(s);
    REQUIRE(p.pkt.payload_len == 5);
    CHECK(eval(payload(0, "GET"), p.pkt, p.frame));
    CHECK(eval(payload(1, "ET /"), p.pkt, p.frame));
    CHECK(eval(payload(0, "GET /"), p.pkt, p.frame));     // exactly the whole payload
    CHECK_FALSE(eval(payload(0, "GET /x"), p.pkt, p.frame));
    CHECK_FALSE(eval(payload(0, "GET /x", Cmp::Ne), p.pkt, p.frame));  // too short: false for != too
    CHECK_FALSE(eval(payload(5, "", Cmp::Ne), p.pkt, p.frame));
    CHECK(eval(payload(5, ""), p.pkt, p.frame));
    CHECK_FALSE(eval(payload(6, ""), p.pkt, p.frame));
    CHECK(eval(payload(0, "PUT", Cmp::Ne), p.pkt, p.frame));
    CHECK_FALSE(eval(payload(0, "GET", Cmp::Ne), p.pkt, p.frame));
    CHECK(eval(not_(payload(0, "GET /x")), p.pkt, p.frame));
    // UDP and ICMP payloads start after their 8-byte headers.
    PacketSpec u = udp4(53);
    u.payload = {0xab, 0xcd};
    Parsed pu = parse_spec(u);
    CHECK(eval(payload(0, "\xab\xcd"), pu.pkt, pu.frame));
    PacketSpec i = udp4(0);
    i.proto = 1;
    i.payload = {'p', 'i', 'n', 'g'};
    Parsed pi = parse_spec(i);
    CHECK(eval(payload(1, "ing"), pi.pkt, pi.frame));
    // No L4 header (other protocol; non-first fragment): false, even for !=.
    PacketSpec g = tcp4(80);
    g.proto = 47;
    g.payload = {'G', 'E', 'T'};
    Parsed pg = parse_spec(g);
    CHECK_FALSE(eval(payload(0, "G"), pg.pkt, pg.frame));
    CHECK_FALSE(eval(payload(0, "X", Cmp::Ne), pg.pkt, pg.frame));
    s.frag = PacketSpec::Frag::Last;
    Parsed pf = parse_spec(s);
    CHECK_FALSE(eval(payload(0, "GET"), pf.pkt, pf.frame));
    // A parsed view claiming more payload than the frame holds is not read past its end.
    weir_pkt lying = p.pkt;
    lying.payload_len = 60;
    CHECK_FALSE(eval(payload(4, "/xxxx"), lying, p.frame));
}

TEST_CASE("pkt.iface compares the interface name") {
    weir_pkt p = full_pkt();
    Element eth0 = iface_element("eth0");
    Element eth1 = iface_element("eth1");
    CHECK(eval(cmp(F::PktIface, Cmp::Eq, eth0), p, {}, "eth0"));
    CHECK_FALSE(eval(cmp(F::PktIface, Cmp::Eq, eth0), p, {}, "eth1"));
    CHECK_FALSE(eval(cmp(F::PktIface, Cmp::Eq, eth0), p, {}, "eth00"));
    CHECK(eval(cmp(F::PktIface, Cmp::Ne, eth0), p, {}, "eth1"));
    CHECK(eval(in(F::PktIface, {eth1, eth0}), p, {}, "eth0"));
    CHECK(eval(in(F::PktIface, {eth1}, true), p, {}, "eth0"));
    CHECK_FALSE(eval(cmp(F::PktIface, Cmp::Eq, eth0), p, {}, ""));
    weir_pkt bare{};  // present on frames without any header
    CHECK(eval(cmp(F::PktIface, Cmp::Eq, eth0), bare, {}, "eth0"));
}

TEST_CASE("evaluate: rule order, count rules, terminal actions, default") {
    weir_pkt p = full_pkt();  // TCP 443
    Program prog;
    Policy pol = policy({
        rule("c1", Action::Kind::Count, eq(F::TcpDport, 443)),
        rule("c2", Action::Kind::Count, eq(F::TcpDport, 80)),
        rule("web", Action::Kind::Drop, eq(F::TcpDport, 443)),
        rule("c3", Action::Kind::Count),  // after the deciding rule: not reached
        rule("all", Action::Kind::Pass),
    });
    Decision d = evaluate(prog, pol, p, {}, "eth0");
    CHECK(d.verdict == Verdict::Drop);
    CHECK(d.rule == 2);
    CHECK(d.counted == std::vector<int>{0});

    p.dport = 80;
    d = evaluate(prog, pol, p, {}, "eth0");
    CHECK(d.verdict == Verdict::Pass);
    CHECK(d.rule == 4);
    CHECK(d.counted == std::vector<int>{1, 3});

    Policy def = policy({rule("c", Action::Kind::Count), rule("ssh", Action::Kind::Pass, eq(F::TcpDport, 22))},
                        Verdict::Drop);
    d = evaluate(prog, def, p, {}, "eth0");
    CHECK(d.verdict == Verdict::Drop);
    CHECK(d.rule == -1);
    CHECK(d.counted == std::vector<int>{0});
    d = evaluate(prog, policy({}), p, {}, "eth0");
    CHECK(d.verdict == Verdict::Pass);
    CHECK(d.rule == -1);
    CHECK(d.counted.empty());

    Policy acts = policy({rule("r", Action::Kind::Redirect, eq(F::TcpDport, 1)),
                          rule("t", Action::Kind::Tx, eq(F::TcpDport, 2)),
                          rule("d", Action::Kind::Drop, eq(F::TcpDport, 3))});
    p.dport = 1;
    CHECK(evaluate(prog, acts, p, {}, "").verdict == Verdict::Redirect);
    p.dport = 2;
    CHECK(evaluate(prog, acts, p, {}, "").verdict == Verdict::Tx);
    p.dport = 3;
    CHECK(evaluate(prog, acts, p, {}, "").verdict == Verdict::Drop);
}

TEST_CASE("parsed packets: the builder, the shared parser and field_value agree") {
    PacketSpec s = tcp4(22, kTcpSyn | kTcpEce);
    s.vlans = {static_cast<std::uint16_t>(3 << 13 | 42), 7};
    s.ttl = 9;
    s.dscp = 10;
    s.window = 512;
    s.payload = {'x', 'y'};
    Parsed p = parse_spec(s);
    CHECK_FALSE(p.pkt.malformed);
    auto fv = [&](F f) { return field_value(f, p.pkt); };
    CHECK(fv(F::EthSrc) == 0x020000000001u);
    CHECK(fv(F::EthDst) == 0x020000000002u);
    CHECK(fv(F::EthType) == 0x0800u);
    CHECK(fv(F::VlanId) == 42u);
    CHECK(fv(F::VlanPcp) == 3u);
    CHECK(fv(F::IpSrc) == u128{ip4(192, 0, 2, 1)});
    CHECK(fv(F::Ip4Dst) == u128{ip4(198, 51, 100, 7)});
    CHECK_FALSE(fv(F::Ip6Src).has_value());
    CHECK(fv(F::IpProto) == 6u);
    CHECK(fv(F::IpTtl) == 9u);
    CHECK(fv(F::IpDscp) == 10u);
    CHECK(fv(F::IpLen) == 42u);
    CHECK(fv(F::IpVersion) == 4u);
    CHECK(fv(F::IpFrag) == 0u);
    CHECK(fv(F::TcpSport) == 40000u);
    CHECK(fv(F::TcpDport) == 22u);
    CHECK(fv(F::TcpWindow) == 512u);
    CHECK(fv(F::TcpFlagSyn) == 1u);
    CHECK(fv(F::TcpFlagEce) == 1u);
    CHECK(fv(F::TcpFlagAck) == 0u);
    CHECK(fv(F::L4Sport) == 40000u);
    CHECK_FALSE(fv(F::UdpDport).has_value());
    CHECK(fv(F::PktLen) == p.frame.size());

    PacketSpec i6;
    i6.family = Family::V6;
    i6.src = *ip6_from_text("2001:db8::1");
    i6.dst = *ip6_from_text("ff02::1:ff00:1");
    i6.proto = 58;
    i6.icmp_type = 135;
    i6.icmp_code = 0;
    i6.flowlabel = 0xabcde;
    i6.dscp = 46;
    i6.ttl = 255;
    Parsed q = parse_spec(i6);
    auto gv = [&](F f) { return field_value(f, q.pkt); };
    CHECK(gv(F::Ip6Src) == *ip6_from_text("2001:db8::1"));
    CHECK(gv(F::IpDst) == *ip6_from_text("ff02::1:ff00:1"));
    CHECK(gv(F::Ip6Flowlabel) == 0xabcdeu);
    CHECK(gv(F::IpDscp) == 46u);
    CHECK(gv(F::IpTtl) == 255u);
    CHECK(gv(F::IpLen) == 48u);
    CHECK(gv(F::Icmp6Type) == 135u);
    CHECK_FALSE(gv(F::IcmpType).has_value());
    CHECK_FALSE(gv(F::Ip4Src).has_value());
    CHECK_FALSE(gv(F::VlanId).has_value());
}

TEST_CASE("fragments: non-first fragments carry no L4 header even if their bytes look like one") {
    for (auto frag : {PacketSpec::Frag::First, PacketSpec::Frag::Middle, PacketSpec::Frag::Last}) {
        for (Family fam : {Family::V4, Family::V6}) {
            PacketSpec s = fam == Family::V4 ? tcp4(22) : udp6(22);
            s.frag = frag;
            Parsed p = parse_spec(s);
            bool first = frag == PacketSpec::Frag::First;
            CAPTURE(static_cast<int>(frag));
            CAPTURE(static_cast<int>(fam));
            CHECK(eval(test(F::IpFrag), p.pkt));
            CHECK(eval(eq(F::L4Dport, 22), p.pkt) == first);
            CHECK(eval(cmp(F::L4Dport, Cmp::Ne, num(80)), p.pkt) == first);
            CHECK(eval(eq(F::IpProto, fam == Family::V4 ? 6 : 17), p.pkt));
        }
    }
}

TEST_CASE("IPv6 extension headers: ip.proto after the chain, too many is no L4") {
    auto six = [](Frame f) { return parse(f.bytes()); };
    Parsed ok = six(Frame().eth().ipv6(1, 2).hop_by_hop().routing().dest_opts().ah().tcp(1, 22, kTcpSyn));
    CHECK(eval(eq(F::IpProto, 6), ok.pkt));
    CHECK(eval(eq(F::TcpDport, 22), ok.pkt));
    Frame many;
    many.eth().ipv6(1, 2);
    for (unsigned i = 0; i < kMaxIp6ExtHeaders + 1; ++i) many.dest_opts();
    many.tcp(1, 22);
    Parsed bad = six(many);
    CHECK(bad.pkt.malformed);
    CHECK(eval(eq(F::IpProto, kIp6DestOpts), bad.pkt));
    CHECK_FALSE(eval(eq(F::TcpDport, 22), bad.pkt));
    CHECK_FALSE(eval(cmp(F::TcpDport, Cmp::Ne, num(22)), bad.pkt));
}

TEST_CASE("run_probe: build, parse, evaluate, check the expectation") {
    Program prog;
    prog.policies.push_back(policy(
        {
            rule("count-web", Action::Kind::Count, eq(F::TcpDport, 80)),
            rule("ssh", Action::Kind::Pass, and_({eq(F::TcpDport, 22), test(F::TcpFlagSyn)})),
            rule("lan", Action::Kind::Pass, cmp(F::PktIface, Cmp::Eq, iface_element("lan0"))),
            rule("block-udp", Action::Kind::Drop, cmp(F::UdpDport, Cmp::Ne, num(53))),
        },
        Verdict::Drop));
    const Policy& pol = prog.policies[0];

    Probe ssh;
    ssh.packet = tcp4(22);
    ssh.expect = Verdict::Pass;
    ssh.by_rule = 1;
    ProbeRun r = run_probe(prog, pol, ssh);
    CHECK(r.error.empty());
    CHECK(r.passed);
    CHECK(r.decision.rule == 1);
    CHECK(r.frame.size() == 54);
    CHECK((r.pkt.present & WEIR_H_TCP));

    Probe wrong_rule = ssh;
    wrong_rule.by_rule = 2;
    CHECK_FALSE(run_probe(prog, pol, wrong_rule).passed);
    Probe wrong_verdict = ssh;
    wrong_verdict.expect = Verdict::Drop;
    wrong_verdict.by_rule = -1;
    CHECK_FALSE(run_probe(prog, pol, wrong_verdict).passed);

    Probe web;
    web.packet = tcp4(80);
    web.expect = Verdict::Drop;
    web.by_default = true;
    r = run_probe(prog, pol, web);
    CHECK(r.passed);
    CHECK(r.decision.counted == std::vector<int>{0});
    Probe web_lan = web;
    web_lan.packet.iface = "lan0";
    r = run_probe(prog, pol, web_lan);
    CHECK_FALSE(r.passed);
    CHECK(r.decision.verdict == Verdict::Pass);
    CHECK(r.decision.rule == 2);

    Probe dns;
    dns.packet = udp4(53);
    dns.expect = Verdict::Drop;
    dns.by_default = true;
    CHECK(run_probe(prog, pol, dns).passed);
    Probe other = dns;
    other.packet.dport = 54;
    other.by_default = false;
    other.by_rule = 3;
    CHECK(run_probe(prog, pol, other).passed);

    Probe too_short = ssh;
    too_short.packet.frame_len = 20;
    r = run_probe(prog, pol, too_short);
    CHECK_FALSE(r.error.empty());
    CHECK_FALSE(r.passed);
}

// ---- from source text, through the whole front end ----

namespace {

struct Outcome {
    int probes = 0;
    std::vector<std::string> failures;  // "test name #i: why"
};

const char* verdict_text(Verdict v) {
    switch (v) {
        case Verdict::Pass: return "pass";
        case Verdict::Drop: return "drop";
        case Verdict::Redirect: return "redirect";
        case Verdict::Tx: return "tx";
    }
    return "?";
}

Outcome run_tests(const Program& prog) {
    Outcome out;
    for (const TestCase& t : prog.tests) {
        REQUIRE(t.policy >= 0);
        const Policy& pol = prog.policies[static_cast<std::size_t>(t.policy)];
        for (std::size_t i = 0; i < t.probes.size(); ++i) {
            ++out.probes;
            ProbeRun r = run_probe(prog, pol, t.probes[i]);
            if (r.passed) continue;
            std::string why = r.error;
            if (why.empty()) {
                const int rule = r.decision.rule;
                why = std::string("got ") + verdict_text(r.decision.verdict) + " by " +
                      (rule < 0 ? std::string("default") : pol.rules[static_cast<std::size_t>(rule)].name);
            }
            out.failures.push_back(t.name + " #" + std::to_string(i + 1) + ": " + why);
        }
    }
    return out;
}

std::unique_ptr<Compilation> compile(const std::string& text) {
    CheckOptions opts;
    opts.lint = false;
    auto c = compile_source(std::string(WEIR_TEST_DATA) + "/unit/interp-inline.weir", text, opts);
    for (const auto& d : c->diags.list()) MESSAGE(d.code << ": " << d.message);
    return c;
}

}  // namespace

TEST_CASE("source: test blocks of a policy run through the interpreter") {
    auto c = compile(R"(
set admins : ip = { 198.51.100.0/24, 2001:db8:ad::/48 }
policy edge default drop {
    web-count: count if tcp.dport in { 80, 443 }
    no-frags:  drop if ip.frag
    ssh:       pass if tcp.dport == 22 and ip.src in @admins and tcp.flags.syn
    web:       pass if tcp.dport in { 80, 443 }
    not-ssh:   pass if tcp.dport != 22 and tcp.dport < 1024
    dns:       pass if udp.dport == 53 and payload[2:1] == 0x01
    lan:       pass if pkt.iface == "lan0"
}
test "edge" policy edge {
    packet tcp 198.51.100.5:40000 -> 192.0.2.1:22 flags syn
    expect pass by ssh
    packet tcp [2001:db8:ad::5]:40000 -> [2001:db8::1]:22 flags syn
    expect pass by ssh
    packet tcp 203.0.113.5:40000 -> 192.0.2.1:22 flags syn
    expect drop by default
    packet tcp 203.0.113.5:40000 -> 192.0.2.1:443 flags syn, ack
    expect pass by web
    packet tcp 203.0.113.5:40000 -> 192.0.2.1:25
    expect pass by not-ssh
    packet udp 203.0.113.5:40000 -> 192.0.2.1:22
    expect drop by default
    packet udp 203.0.113.5:40000 -> 192.0.2.1:53 payload 0x00000100
    expect pass by dns
    packet udp 203.0.113.5:40000 -> 192.0.2.1:53 payload 0x0000
    expect drop by default
    packet tcp 198.51.100.5:40000 -> 192.0.2.1:22 flags syn frag middle
    expect drop by no-frags
    packet udp 203.0.113.5:1 -> 192.0.2.1:9 iface "lan0"
    expect pass by lan
    packet icmp 203.0.113.5 -> 192.0.2.1 type echo-request len 100
    expect drop by default
}
)");
    REQUIRE(c->ok());
    REQUIRE(c->program.tests.size() == 1);
    Outcome o = run_tests(c->program);
    CHECK(o.probes == 11);
    for (const auto& f : o.failures) FAIL_CHECK(f);

    // A wrong expectation is reported as a failure.
    auto bad = compile(R"(
policy p default drop { ssh: pass if tcp.dport == 22 }
test "wrong" policy p {
    packet tcp 192.0.2.1:1 -> 192.0.2.2:22
    expect drop
    packet tcp 192.0.2.1:1 -> 192.0.2.2:22
    expect drop by default
    packet tcp 192.0.2.1:1 -> 192.0.2.2:22
    expect pass by ssh
}
)");
    REQUIRE(bad->ok());
    Outcome ob = run_tests(bad->program);
    CHECK(ob.probes == 3);
    CHECK(ob.failures == std::vector<std::string>{"wrong #1: got pass by ssh", "wrong #2: got pass by ssh"});
}

TEST_CASE("source: every example's test blocks pass") {
    const char* examples[] = {"api-gateway", "blocklist-edge", "dns-authoritative", "edge", "ipv6-edge",
                              "ssh-bastion"};
    for (const char* name : examples) {
        CAPTURE(name);
        CheckOptions opts;
        opts.lint = false;
        auto c = compile_file(std::string(WEIR_SOURCE_DIR) + "/examples/" + name + ".weir", opts);
        for (const auto& d : c->diags.list()) MESSAGE(d.code << ": " << d.message);
        if (!c->ok()) {
            FAIL_CHECK("does not compile");
            continue;
        }
        Outcome o = run_tests(c->program);
        CHECK(o.probes > 0);
        for (const auto& f : o.failures) FAIL_CHECK(f);
    }
}

TEST_CASE("evaluate: a log rule counts and goes on like count, whatever its sample") {
    weir_pkt p = full_pkt();  // TCP 443
    Program prog;
    Policy pol = policy({
        rule("l1", Action::Kind::Log, eq(F::TcpDport, 443)),
        rule("l2", Action::Kind::Log),
        rule("web", Action::Kind::Drop, eq(F::TcpDport, 443)),
    });
    pol.rules[0].action.log_sample = 1000;  // sampling is the datapath's: no effect here
    for (int i = 0; i < 3; ++i) {
        Decision d = evaluate(prog, pol, p, {}, "eth0");
        CHECK(d.verdict == Verdict::Drop);
        CHECK(d.rule == 2);
        CHECK(d.counted == std::vector<int>{0, 1});
    }
}
