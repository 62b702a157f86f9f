// Diff witnesses (§2 of the design): a frame in a leaf's cell, built from a PacketSpec (or as raw
// bytes where the spec cannot say it), parsed with the kernel's parser and run through the
// interpreter on both policies. Only a frame that gets exactly the claimed decisions is a witness.
#include <algorithm>

#include "diff_internal.hpp"
#include "packet_text.hpp"
#include "parse.h"
#include "test_frames.hpp"
#include "values.hpp"

namespace weir::diff::detail {

namespace {

constexpr int kAttempts = 4;

struct Pick {
    const Cell& cell;
    int attempt;
    std::optional<logic::Interval> range(FieldId f) const {
        for (const auto& [g, i] : cell.fields)
            if (g == f) return i;
        logic::Intervals d = state_domain(f, cell.state);
        if (d.empty()) return std::nullopt;
        return d.front();
    }
    // A value inside the field's interval: readable first (not an address ending in .0), then the ends.
    u128 value(FieldId f, u128 fallback = 0) const {
        auto r = range(f);
        if (!r) return fallback;
        bool in = r->lo <= fallback && fallback <= r->hi;
        switch (attempt) {
            case 0:
                if (in) return fallback;
                if ((f == FieldId::IpSrc || f == FieldId::IpDst) && r->hi > r->lo) return r->lo + 1;
                return r->lo;
            case 1: return r->hi;
            case 2: return r->lo;
            default: return r->lo + (r->hi - r->lo) / 2;
        }
    }
};

void put_mac(std::uint8_t (&dst)[6], u128 v) {
    for (int i = 5; i >= 0; --i) {
        dst[i] = static_cast<std::uint8_t>(v & 0xff);
        v >>= 8;
    }
}

// An interface name whose packed value lies in the cell's pkt.iface interval.
std::optional<std::string> iface_in(const Pick& p) {
    auto r = p.range(FieldId::PktIface);
    if (!r) return std::string();
    std::vector<u128> cands{r->lo, r->hi, r->lo + 1};
    for (auto v : {r->lo, r->hi}) {
        // The name made of v's bytes up to its first NUL, and with one more letter.
        std::string n = iface_name(Element{Family::None, v, v, -1, {}});
        cands.push_back(iface_element(n).lo);
        for (char c = 'a'; c <= 'z' && n.size() < 15; ++c) cands.push_back(iface_element(n + c).lo);
    }
    for (int i = 0; i < 10; ++i) cands.push_back(iface_element("wd" + std::to_string(i)).lo);
    cands.push_back(0);
    for (u128 v : cands) {
        if (v < r->lo || v > r->hi) continue;
        std::string n = iface_name(Element{Family::None, v, v, -1, {}});
        if (iface_element(n).lo == v) return n;
    }
    return std::nullopt;
}

std::size_t l3_offset(const PacketSpec& s) {
    return 14 + 4 * s.vlans.size();
}

// The frame for state `h` at the pick's values: the spec (is_raw when bytes had to be patched).
std::optional<PacketSpec> realize(const Pick& p) {
    logic::HeaderState h = logic::header_state(p.cell.state);
    PacketSpec s;
    put_mac(s.eth_src, p.value(FieldId::EthSrc, 0x020000000001));
    put_mac(s.eth_dst, p.value(FieldId::EthDst, 0x020000000002));
    if (h.vlan)
        s.vlans.push_back(static_cast<std::uint16_t>(p.value(FieldId::VlanPcp) << 13 | p.value(FieldId::VlanId, 1)));
    auto iface = iface_in(p);
    if (!iface) return std::nullopt;
    s.iface = *iface;
    auto len = p.range(FieldId::PktLen);
    if (h.net == 0) {
        // No IP header: Ethernet, the tag, the EtherType, zeros (an IPv4/IPv6 EtherType with a
        // version-0 header stays "no IP").
        std::vector<std::uint8_t> f(s.eth_dst, s.eth_dst + 6);
        f.insert(f.end(), s.eth_src, s.eth_src + 6);
        for (auto t : s.vlans) f.insert(f.end(), {0x81, 0x00, static_cast<std::uint8_t>(t >> 8), static_cast<std::uint8_t>(t)});
        auto et = p.value(FieldId::EthType, 0x88b5);
        f.push_back(static_cast<std::uint8_t>(et >> 8));
        f.push_back(static_cast<std::uint8_t>(et));
        std::size_t want = std::max<std::size_t>(f.size(), len ? static_cast<std::size_t>(p.value(FieldId::PktLen, 60)) : 60);
        f.resize(want, 0);
        s.is_raw = true;
        s.raw = std::move(f);
        return s;
    }
    s.family = h.net == 4 ? Family::V4 : Family::V6;
    const u128 v4base = 0xc0000201, v6base = (u128{0x20010db8} << 96) | 1;  // 192.0.2.1, 2001:db8::1
    s.src = p.value(FieldId::IpSrc, h.net == 4 ? 0xcb007109 : (u128{0x20010db8} << 96) | 0x9);
    s.dst = p.value(FieldId::IpDst, h.net == 4 ? v4base : v6base);
    s.ttl = static_cast<std::uint8_t>(p.value(FieldId::IpTtl, 64));
    s.dscp = static_cast<std::uint8_t>(p.value(FieldId::IpDscp, 0));
    if (h.net == 6) s.flowlabel = static_cast<std::uint32_t>(p.value(FieldId::Ip6Flowlabel, 0));
    s.proto = static_cast<std::uint8_t>(p.value(FieldId::IpProto, 253));
    const bool frag = p.value(FieldId::IpFrag, 0) != 0;
    bool truncate = false;
    switch (h.l4) {
        case logic::L4Header::Tcp: {
            s.sport = static_cast<std::uint16_t>(p.value(FieldId::L4Sport, 40000));
            s.dport = static_cast<std::uint16_t>(p.value(FieldId::L4Dport, 443));
            s.window = static_cast<std::uint16_t>(p.value(FieldId::TcpWindow, 65535));
            static constexpr FieldId kFlags[] = {FieldId::TcpFlagFin, FieldId::TcpFlagSyn, FieldId::TcpFlagRst,
                                                 FieldId::TcpFlagPsh, FieldId::TcpFlagAck, FieldId::TcpFlagUrg,
                                                 FieldId::TcpFlagEce, FieldId::TcpFlagCwr};
            for (int i = 0; i < 8; ++i)
                if (p.value(kFlags[i], i == 1 ? 1 : 0)) s.tcp_flags = static_cast<std::uint8_t>(s.tcp_flags | (1u << i));
            break;
        }
        case logic::L4Header::Udp:
            s.sport = static_cast<std::uint16_t>(p.value(FieldId::L4Sport, 40000));
            s.dport = static_cast<std::uint16_t>(p.value(FieldId::L4Dport, 53));
            break;
        case logic::L4Header::Icmp:
            s.icmp_type = static_cast<std::uint8_t>(p.value(FieldId::IcmpType, 8));
            s.icmp_code = static_cast<std::uint8_t>(p.value(FieldId::IcmpCode, 0));
            break;
        case logic::L4Header::Icmp6:
            s.icmp_type = static_cast<std::uint8_t>(p.value(FieldId::Icmp6Type, 128));
            s.icmp_code = static_cast<std::uint8_t>(p.value(FieldId::Icmp6Code, 0));
            break;
        case logic::L4Header::None: {
            const bool l4able = s.proto == 6 || s.proto == 17 || (s.proto == 1 && h.net == 4) || (s.proto == 58 && h.net == 6);
            if (frag) s.frag = PacketSpec::Frag::Middle;
            else truncate = l4able;  // an L4 header cut short
            break;
        }
    }
    if (frag && h.l4 != logic::L4Header::None) s.frag = PacketSpec::Frag::First;
    BuiltPacket b = build_packet(s);
    if (!b.ok()) return std::nullopt;
    std::vector<std::uint8_t> bytes = std::move(b.bytes);
    const std::size_t l3 = l3_offset(s);
    if (truncate) bytes.resize(l3 + (h.net == 4 ? 20 : 40));
    if (len) {
        u128 want = p.value(FieldId::PktLen, bytes.size());
        if (want < bytes.size() && !truncate) want = std::max<u128>(len->lo, bytes.size());
        if (want > len->hi || want < bytes.size()) return std::nullopt;
        if (want > bytes.size()) {
            if (truncate) bytes.resize(static_cast<std::size_t>(want), 0);
            else {
                s.frame_len = static_cast<std::uint32_t>(want);
                b = build_packet(s);
                if (!b.ok()) return std::nullopt;
                bytes = std::move(b.bytes);
            }
        }
    }
    bool raw = truncate;
    // ip.len and udp.len as derived from the frame, or patched (then only hex can say it).
    const u128 ip_len_now = h.net == 4 ? (u128{bytes[l3 + 2]} << 8 | bytes[l3 + 3])
                                       : ((u128{bytes[l3 + 4]} << 8 | bytes[l3 + 5]) + 40) & 0xffff;
    u128 ip_len = p.value(FieldId::IpLen, ip_len_now);
    if (ip_len != ip_len_now) {
        u128 field_val = h.net == 4 ? ip_len : (ip_len - 40) & 0xffff;
        bytes[l3 + (h.net == 4 ? 2 : 4)] = static_cast<std::uint8_t>(field_val >> 8);
        bytes[l3 + (h.net == 4 ? 3 : 5)] = static_cast<std::uint8_t>(field_val);
        raw = true;
    }
    if (h.l4 == logic::L4Header::Udp) {
        std::size_t u = l3 + (h.net == 4 ? 20 : 40) + (s.frag != PacketSpec::Frag::None && h.net == 6 ? 8 : 0);
        u128 now = u128{bytes[u + 4]} << 8 | bytes[u + 5];
        u128 want = p.value(FieldId::UdpLen, now);
        if (want != now) {
            bytes[u + 4] = static_cast<std::uint8_t>(want >> 8);
            bytes[u + 5] = static_cast<std::uint8_t>(want);
            raw = true;
        }
    }
    if (raw) {
        s.is_raw = true;
        s.raw = std::move(bytes);
    }
    return s;
}

Outcome run(const Side& side, const std::vector<std::uint8_t>& frame, const std::string& iface) {
    weir_pkt pkt{};
    weir_parse(frame.data(), frame.data() + frame.size(), &pkt);
    Decision d = evaluate(*side.program, *side.policy, pkt, frame, iface);
    Outcome o;
    o.decided = decided_of(side, d.rule);
    for (int r : d.counted) o.counted.push_back(side.policy->rules.at(static_cast<std::size_t>(r)).name);
    std::sort(o.counted.begin(), o.counted.end());
    o.counted.erase(std::unique(o.counted.begin(), o.counted.end()), o.counted.end());
    return o;
}

bool same(const Outcome& x, const Outcome& y) {
    return x.decided.rule == y.decided.rule && x.decided.verdict == y.decided.verdict &&
           x.decided.ifname == y.decided.ifname && x.counted == y.counted;
}

}  // namespace

std::optional<Witness> make_witness(const Cell& cell, const Side& a, const Side& b, const Outcome& before,
                                    const Outcome& after) {
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        auto spec = realize(Pick{cell, attempt});
        if (!spec) continue;
        std::vector<std::uint8_t> frame;
        if (spec->is_raw) {
            frame = spec->raw;
        } else {
            BuiltPacket bp = build_packet(*spec);
            if (!bp.ok()) continue;
            frame = std::move(bp.bytes);
        }
        if (!same(run(a, frame, spec->iface), before) || !same(run(b, frame, spec->iface), after)) continue;
        Witness w;
        w.text = packet_statement(*spec);
        w.spec = std::move(*spec);
        w.confirmed = true;
        return w;
    }
    return std::nullopt;
}

}  // namespace weir::diff::detail
