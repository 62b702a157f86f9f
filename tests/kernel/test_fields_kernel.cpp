// Every field of the field table, with every operator its type allows, on the kernel program:
// conditions are generated from the table (compiler/core/fields.hpp), packets carry the field with
// the value compared, its neighbours, the edges of its width and of each range and prefix, or
// lack the field's header; the expected outcome of each condition on each packet is computed
// here, from the language's rules (docs/language.md, "Operators" and "Semantics"), not by the
// interpreter. Each field's conditions run twice: as `count` rules (every condition's counter
// says whether it held) and as terminal rules (the first that holds decides).
// Then: truncation at and around every header boundary, and fragments.
#include <doctest/doctest.h>
#include <net/if.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "codegen.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "plan.hpp"
#include "policy_gen.hpp"
#include "test_frames.hpp"
#include "values.hpp"
#include "weir_abi.h"

using namespace weir;
using namespace weir::test;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes text_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
// A constant's name for a field: "k-ip-src".
std::string const_name(const FieldDef& f, std::string_view suffix = {}) {
    std::string n = "k-" + std::string(f.name) + std::string(suffix);
    std::replace(n.begin(), n.end(), '.', '-');
    return n;
}

u128 ones(unsigned bits) { return bits >= 128 ? ~u128{0} : (u128{1} << bits) - 1; }

// The interface a packet arrives on: lo, or another interface of this host (pkt.iface).
struct Ifaces {
    std::uint32_t lo = 0, other = 0;
    std::string lo_name = "lo", other_name;
};
const Ifaces& ifaces() {
    static Ifaces i = [] {
        Ifaces r;
        r.lo = if_nametoindex("lo");
        if (auto* list = if_nameindex()) {
            for (auto* p = list; p->if_index; ++p)
                if (p->if_index != r.lo && !r.other) r.other = p->if_index, r.other_name = p->if_name;
            if_freenameindex(list);
        }
        return r;
    }();
    return i;
}

// --- packets: a model of the values a frame carries, written with test_frames.hpp's Frame ---

struct Model {
    MacAddr src = {0x02, 0, 0, 0, 0, 0x11}, dst = {0x02, 0, 0, 0, 0, 0x22};
    std::vector<std::pair<std::uint16_t, std::uint8_t>> vlans;  // id, pcp; outer first
    enum class L3 { None, V4, V6 } l3 = L3::V4;
    std::uint16_t ethertype = 0x0806;  // L3::None
    std::uint32_t s4 = ip4(192, 0, 2, 1), d4 = ip4(198, 51, 100, 2);
    u128 s6 = u128{0x20010db800000000ull} << 64 | 1, d6 = u128{0x20010db800000000ull} << 64 | 2;
    std::uint8_t ttl = 64, dscp = 0;
    std::uint32_t flowlabel = 0;
    std::optional<std::uint16_t> ip_len;
    enum class Frag { None, First, Middle, Last } frag = Frag::None;
    std::vector<std::uint8_t> ip4_options;
    std::vector<std::uint8_t> ip6_ext;  // extension header types after the fixed header
    enum class L4 { None, Tcp, Udp, Icmp, Icmp6 } l4 = L4::Tcp;
    std::uint8_t other_proto = 253;
    std::uint16_t sport = 40000, dport = 80, window = 1000;
    std::uint8_t flags = 0;
    std::vector<std::uint8_t> tcp_options;
    std::optional<std::uint16_t> udp_len;
    std::uint8_t type = 8, code = 0;
    Bytes payload;
    std::size_t pad_to = 0;
    std::uint32_t ifindex = 0;  // 0: lo

    Bytes bytes() const {
        Frame f;
        f.eth(src, dst);
        for (auto [id, pcp] : vlans) f.vlan(id, pcp);
        bool more = frag == Frag::First || frag == Frag::Middle;
        std::uint16_t off = frag == Frag::Middle ? 100 : frag == Frag::Last ? 200 : 0;
        if (l3 == L3::None) {
            f.ethertype(ethertype);
        } else if (l3 == L3::V4) {
            Ip4Options o;
            o.ttl = ttl, o.dscp = dscp, o.total_len = ip_len, o.options = ip4_options;
            o.mf = more, o.frag_offset = off;
            f.ipv4(s4, d4, o);
        } else {
            Ip6Options o;
            o.hop_limit = ttl, o.dscp = dscp, o.flowlabel = flowlabel, o.payload_len = ip_len;
            f.ipv6(s6, d6, o);
            for (auto t : ip6_ext) f.ip6_ext(t);
            if (frag != Frag::None) f.frag6(off, more);
        }
        if (l3 != L3::None) {
            switch (l4) {
                case L4::Tcp: {
                    TcpOptions o;
                    o.window = window, o.options = tcp_options;
                    f.tcp(sport, dport, flags, o);
                    break;
                }
                case L4::Udp: {
                    UdpOptions o;
                    o.len = udp_len;
                    f.udp(sport, dport, o);
                    break;
                }
                case L4::Icmp: f.icmp(type, code); break;
                case L4::Icmp6: f.icmp6(type, code); break;
                case L4::None: f.next_header(other_proto); break;
            }
        }
        f.payload(payload);
        if (pad_to) f.pad_to(pad_to);
        return f.bytes();
    }
};

Model v4_tcp() { return Model{}; }
Model v6_udp() {
    Model m;
    m.l3 = Model::L3::V6, m.l4 = Model::L4::Udp, m.sport = 5353, m.dport = 53;
    return m;
}
Model v4_udp() {
    Model m;
    m.l4 = Model::L4::Udp, m.sport = 5353, m.dport = 53;
    return m;
}
Model v4_icmp() {
    Model m;
    m.l4 = Model::L4::Icmp;
    return m;
}
Model v6_icmp6() {
    Model m;
    m.l3 = Model::L3::V6, m.l4 = Model::L4::Icmp6, m.type = 128;
    return m;
}
Model v6_tcp() {
    Model m;
    m.l3 = Model::L3::V6;
    return m;
}
Model arp() {
    Model m;
    m.l3 = Model::L3::None;
    m.payload = Bytes(28, 0x11);
    return m;
}
Model tcp_middle_fragment() {
    Model m;
    m.frag = Model::Frag::Middle;
    return m;
}

// Models that carry the header a field needs (the value is then set on them).
std::vector<Model> carriers(Header h) {
    switch (h) {
        case Header::Vlan: {
            Model m;
            m.vlans = {{100, 0}};
            Model u = v6_udp();
            u.vlans = {{100, 0}, {7, 0}};
            return {m, u};
        }
        case Header::Ip4: return {v4_tcp()};
        case Header::Ip6: return {v6_tcp()};
        case Header::Tcp: return {v4_tcp(), v6_tcp()};
        case Header::Udp: return {v4_udp(), v6_udp()};
        case Header::Icmp: return {v4_icmp()};
        case Header::Icmp6: return {v6_icmp6()};
        case Header::Eth:
        case Header::Ip:
        case Header::L4:
        case Header::Pkt: return {v4_tcp(), v6_udp()};
    }
    return {};
}

// Models that lack the header (none for Ethernet and metadata: XDP frames have >= 14 bytes).
std::vector<Model> lacking(Header h) {
    switch (h) {
        case Header::Vlan: return {v4_tcp(), arp()};
        case Header::Ip: return {arp()};
        case Header::Ip4: return {arp(), v6_tcp()};
        case Header::Ip6: return {arp(), v4_tcp()};
        case Header::Tcp: return {v4_udp(), v4_icmp(), tcp_middle_fragment(), arp()};
        case Header::Udp: return {v4_tcp(), v6_icmp6(), arp()};
        case Header::L4: return {v4_icmp(), v6_icmp6(), tcp_middle_fragment(), arp()};
        case Header::Icmp: return {v4_tcp(), v6_icmp6(), arp()};
        case Header::Icmp6: return {v6_tcp(), v4_icmp(), arp()};
        case Header::Eth:
        case Header::Pkt: return {};
    }
    return {};
}

bool is_ip6_ext(u128 v) { return v == 0 || v == 43 || v == 44 || v == 51 || v == 60; }

// Writes value `v` (of family `fam` for addresses) of field `f` into the model. False when no
// well-formed frame of this model carries that value (ip.version 5, a pkt.len under the
// headers' length, ...): such packets are left out.
bool set_field(Model& m, const FieldDef& f, u128 v, Family fam) {
    using F = FieldId;
    auto mac = [](u128 x) {
        MacAddr a;
        for (int i = 0; i < 6; ++i) a[i] = static_cast<std::uint8_t>(x >> (40 - 8 * i));
        return a;
    };
    auto to_v4 = [&] {
        m.l3 = Model::L3::V4;
        if (m.l4 == Model::L4::Icmp6) m.l4 = Model::L4::Icmp;
    };
    auto to_v6 = [&] {
        m.l3 = Model::L3::V6;
        if (m.l4 == Model::L4::Icmp) m.l4 = Model::L4::Icmp6;
    };
    if (m.vlans.empty() && f.header == Header::Vlan) m.vlans = {{100, 0}};
    switch (f.id) {
        case F::EthSrc: m.src = mac(v); return true;
        case F::EthDst: m.dst = mac(v); return true;
        case F::EthType:
            if (v == 0x8100 || v == 0x88a8) return false;  // a VLAN tag, not an EtherType
            if (v == 0x0800) to_v4();
            else if (v == 0x86dd) to_v6();
            else m.l3 = Model::L3::None, m.ethertype = static_cast<std::uint16_t>(v);
            return true;
        case F::VlanId: m.vlans[0].first = static_cast<std::uint16_t>(v); return true;
        case F::VlanPcp: m.vlans[0].second = static_cast<std::uint8_t>(v); return true;
        case F::IpSrc:
        case F::IpDst: {
            bool src = f.id == F::IpSrc;
            if (fam == Family::V4) to_v4(), (src ? m.s4 : m.d4) = static_cast<std::uint32_t>(v);
            else to_v6(), (src ? m.s6 : m.d6) = v;
            return true;
        }
        case F::Ip4Src: to_v4(), m.s4 = static_cast<std::uint32_t>(v); return true;
        case F::Ip4Dst: to_v4(), m.d4 = static_cast<std::uint32_t>(v); return true;
        case F::Ip6Src: to_v6(), m.s6 = v; return true;
        case F::Ip6Dst: to_v6(), m.d6 = v; return true;
        case F::IpProto:
            if (v == 6) m.l4 = Model::L4::Tcp;
            else if (v == 17) m.l4 = Model::L4::Udp;
            else if (v == 1 && m.l3 == Model::L3::V4) m.l4 = Model::L4::Icmp;
            else if (v == 58 && m.l3 == Model::L3::V6) m.l4 = Model::L4::Icmp6;
            else if (m.l3 == Model::L3::V6 && is_ip6_ext(v)) return false;  // walked, not L4
            else m.l4 = Model::L4::None, m.other_proto = static_cast<std::uint8_t>(v);
            return true;
        case F::IpTtl: m.ttl = static_cast<std::uint8_t>(v); return true;
        case F::IpDscp: m.dscp = static_cast<std::uint8_t>(v); return true;
        case F::IpLen:
            if (m.l3 == Model::L3::V6) {
                if (v < 40) return false;
                m.ip_len = static_cast<std::uint16_t>(v - 40);
            } else {
                m.ip_len = static_cast<std::uint16_t>(v);
            }
            return true;
        case F::IpVersion:
            if (v == 4) to_v4();
            else if (v == 6) to_v6();
            else return false;
            return true;
        case F::IpFrag: m.frag = v ? Model::Frag::First : Model::Frag::None; return true;
        case F::Ip6Flowlabel: to_v6(), m.flowlabel = static_cast<std::uint32_t>(v); return true;
        case F::TcpSport:
        case F::UdpSport:
        case F::L4Sport: m.sport = static_cast<std::uint16_t>(v); return true;
        case F::TcpDport:
        case F::UdpDport:
        case F::L4Dport: m.dport = static_cast<std::uint16_t>(v); return true;
        case F::TcpWindow: m.window = static_cast<std::uint16_t>(v); return true;
        case F::TcpFlagFin:
        case F::TcpFlagSyn:
        case F::TcpFlagRst:
        case F::TcpFlagPsh:
        case F::TcpFlagAck:
        case F::TcpFlagUrg:
        case F::TcpFlagEce:
        case F::TcpFlagCwr: {
            // The flag's bit: the TCP flag symbol named like the field ("tcp.flags.syn" -> syn).
            auto bit = find_symbol(SymbolTable::TcpFlag, f.name.substr(f.name.rfind('.') + 1));
            REQUIRE(bit);
            m.flags = static_cast<std::uint8_t>(v ? m.flags | *bit : m.flags & ~*bit);
            return true;
        }
        case F::UdpLen: m.udp_len = static_cast<std::uint16_t>(v); return true;
        case F::IcmpType:
        case F::Icmp6Type: m.type = static_cast<std::uint8_t>(v); return true;
        case F::IcmpCode:
        case F::Icmp6Code: m.code = static_cast<std::uint8_t>(v); return true;
        case F::PktLen: {
            m.pad_to = 0;
            std::size_t natural = m.bytes().size();
            if (v < natural || v > 1500) return false;
            m.pad_to = static_cast<std::size_t>(v);
            return true;
        }
        case F::PktIface:
            if (v != ifaces().lo && (v != ifaces().other || !v)) return false;
            m.ifindex = static_cast<std::uint32_t>(v);
            return true;
        case F::Count_: break;
    }
    return false;
}

// --- conditions and what they must give ---------------------------------------------------------

struct Elem {
    Family fam = Family::None;
    u128 lo = 0, hi = 0;
    std::string text;
};

struct Sample {
    Model model;
    Family fam = Family::None;
    std::optional<u128> value;  // nullopt: the packet lacks the field's header
    std::string what;
};

struct Cond {
    std::string text;        // the condition
    GenOp op = GenOp::Eq;    // Eq/Ne/ordering: elems[0]; In/NotIn: elems; Bare; NotIn on a flag = `not F`
    std::vector<Elem> elems;
    bool negated_bare = false;
    bool ip_any = false;     // ip.src/ip.dst: each element against the packet's own family

    bool within(const Elem& e, const Sample& s) const {
        if (e.fam != Family::None && e.fam != s.fam) return false;
        return e.lo <= *s.value && *s.value <= e.hi;
    }
    // What the language says the condition gives on the sample.
    bool expect(const Sample& s) const {
        if (op == GenOp::Bare) return negated_bare ? !(s.value && *s.value) : (s.value && *s.value);
        if (!s.value) return false;  // missing header: false, also for != and not in
        const Elem& e = elems.empty() ? Elem{} : elems.front();
        switch (op) {
            case GenOp::Eq: return within(e, s);
            case GenOp::Ne: return (e.fam == Family::None || e.fam == s.fam) && !within(e, s);
            case GenOp::Lt: return *s.value < e.lo;
            case GenOp::Le: return *s.value <= e.lo;
            case GenOp::Gt: return *s.value > e.lo;
            case GenOp::Ge: return *s.value >= e.lo;
            case GenOp::In:
                return std::any_of(elems.begin(), elems.end(), [&](const Elem& x) { return within(x, s); });
            case GenOp::NotIn: {
                if (ip_any) {
                    // The header `not in` needs is that of the families the set holds.
                    bool v4 = false, v6 = false;
                    for (const Elem& x : elems) (x.fam == Family::V4 ? v4 : v6) = true;
                    if (v4 && !v6 && s.fam != Family::V4) return false;
                    if (v6 && !v4 && s.fam != Family::V6) return false;
                }
                return std::none_of(elems.begin(), elems.end(), [&](const Elem& x) { return within(x, s); });
            }
            default: return false;
        }
    }
};

struct FieldCases {
    const FieldDef* field = nullptr;
    std::string decls;  // sets and constants the conditions use
    std::vector<Cond> conds;
    std::vector<Sample> samples;
};

std::string number(u128 v) {
    std::string s;
    do s.insert(s.begin(), static_cast<char>('0' + static_cast<unsigned>(v % 10))), v /= 10;
    while (v);
    return s;
}

class CaseBuilder {
public:
    explicit CaseBuilder(const FieldDef& f) : f_(f) { out_.field = &f; }

    FieldCases build() {
        switch (f_.type) {
            case FieldType::Bool: bools(); break;
            case FieldType::Int: ints(); break;
            case FieldType::Mac: values(Family::None, 48); break;
            case FieldType::Ip4: values(Family::V4, 32); break;
            case FieldType::Ip6: values(Family::V6, 128); break;
            case FieldType::IpAny:
                values(Family::V4, 32);
                values(Family::V6, 128);
                mixed_sets();
                break;
            case FieldType::Iface: iface(); break;
        }
        samples();
        return std::move(out_);
    }

private:
    std::string text(Family fam, u128 v) const {
        if (f_.type == FieldType::Mac) return format_mac(v);
        if (fam != Family::None) return format_ip(fam, v);
        return number(v);
    }
    Elem single(Family fam, u128 v) const { return {fam, v, v, text(fam, v)}; }
    Elem range(Family fam, u128 a, u128 b) const { return {fam, a, b, text(fam, a) + "-" + text(fam, b)}; }
    Elem prefix(Family fam, u128 addr, unsigned len) const {
        unsigned bits = fam == Family::V4 ? 32 : 128;
        u128 host = len >= bits ? 0 : ones(bits - len);
        u128 net = addr & ~host & ones(bits);
        return {fam, net, net | host, text(fam, net) + "/" + std::to_string(len)};
    }
    static std::string set_text(const std::vector<Elem>& es) {
        std::string s = "{ ";
        for (std::size_t i = 0; i < es.size(); ++i) s += (i ? ", " : "") + es[i].text;
        return s + " }";
    }
    void add(GenOp op, std::vector<Elem> es, std::string rhs = {}) {
        Cond c;
        c.op = op;
        c.ip_any = f_.type == FieldType::IpAny;
        if (rhs.empty()) rhs = op == GenOp::In || op == GenOp::NotIn ? set_text(es) : es.front().text;
        c.text = std::string(f_.name) + " " + gen_op_name(op) + " " + rhs;
        c.elems = std::move(es);
        for (const Elem& e : c.elems) points(e);
        out_.conds.push_back(std::move(c));
        ops_.insert(op);
    }
    // Named set / constant forms of an `in`.
    void add_named(GenOp op, SetType t, std::vector<Elem> es) {
        std::string name = "s" + std::to_string(++nsets_);
        out_.decls += "set " + name + " : " + gen_set_type_name(t) + " = " + set_text(es) + "\n";
        // A set of type ip used with an ip4/ip6 field: the other family's elements never match.
        add(op, std::move(es), "@" + name);
    }
    void points(const Elem& e) {
        auto& p = pts_[e.fam];
        u128 max = ones(e.fam == Family::V4 ? 32 : e.fam == Family::V6 ? 128 : value_bits());
        p.insert(e.lo), p.insert(e.hi);
        if (e.lo > 0) p.insert(e.lo - 1);
        if (e.hi < max) p.insert(e.hi + 1);
        if (e.hi - e.lo >= 2) p.insert(e.lo + (e.hi - e.lo) / 2);
    }
    unsigned value_bits() const { return f_.type == FieldType::Mac ? 48 : f_.bits; }

    void bools() {
        Cond c;
        c.op = GenOp::Bare;
        c.text = std::string(f_.name);
        out_.conds.push_back(c);
        c.negated_bare = true;
        c.text = "not " + std::string(f_.name);
        out_.conds.push_back(c);
        pts_[Family::None] = {0, 1};
        ops_.insert(GenOp::Bare);
    }

    // A value in the middle of the field's width that a packet can carry, with neighbours.
    u128 middle() const {
        const u128 max = field_max(f_);
        for (u128 c : {max / 2, u128{1000}, u128{100}, u128{60}, u128{6}, u128{4}}) {
            if (c == 0 || c >= max) continue;
            for (const Model& base : carriers(f_.header)) {
                Model m = base;
                if (set_field(m, f_, c, Family::None)) return c;
            }
        }
        return max / 2;
    }

    void ints() {
        const u128 max = field_max(f_);
        const u128 mid = middle();
        auto lo = [&](u128 v, u128 d) { return v > d ? v - d : 0; };
        auto hi = [&](u128 v, u128 d) { return std::min(max, v + d); };
        for (u128 c : {u128{0}, mid, max})
            for (GenOp op : {GenOp::Eq, GenOp::Ne, GenOp::Lt, GenOp::Le, GenOp::Gt, GenOp::Ge})
                add(op, {single(Family::None, c)});
        add(GenOp::Eq, {range(Family::None, lo(mid, 2), hi(mid, 2))});
        add(GenOp::Ne, {range(Family::None, lo(mid, 2), hi(mid, 2))});
        add(GenOp::Eq, {range(Family::None, 0, mid)});
        add(GenOp::Eq, {range(Family::None, mid, max)});
        std::vector<Elem> small = {single(Family::None, 0), range(Family::None, lo(mid, 3), lo(mid, 1)),
                                   single(Family::None, max)};
        add(GenOp::In, small);
        add(GenOp::NotIn, small);
        std::vector<Elem> large;  // more than kInlineCompareLimit: a lookup table
        for (unsigned k = 0; k < 10; ++k) large.push_back(single(Family::None, hi(mid, 4 * k + 1)));
        large.push_back(range(Family::None, lo(mid, 10), lo(mid, 6)));
        large.push_back(single(Family::None, max));
        large.push_back(single(Family::None, 0));
        add(GenOp::In, large);
        add(GenOp::NotIn, large);
        for (SetType t : gen_set_types_for(f_)) {
            add_named(GenOp::In, t, large);
            add_named(GenOp::NotIn, t, small);
        }
        // Symbols: the first, a middle and the last of the table, compared and in a set.
        auto syms = symbols(f_.symbols);
        if (!syms.empty()) {
            std::vector<Elem> named;
            for (std::size_t i : {std::size_t{0}, syms.size() / 2, syms.size() - 1}) {
                Elem e = single(Family::None, syms[i].value);
                e.text = std::string(syms[i].name);
                named.push_back(e);
                add(GenOp::Eq, {e});
            }
            add(GenOp::In, named);
        }
        // A constant.
        out_.decls += "const " + const_name(f_) + " = " + number(mid) + "\n";
        add(GenOp::Eq, {single(Family::None, mid)}, "$" + const_name(f_));
    }

    // Addresses (fam V4/V6) and MACs (fam None).
    void values(Family fam, unsigned bits) {
        const u128 max = ones(bits);
        u128 mid = fam == Family::V4   ? u128{ip4(192, 0, 2, 77)}
                   : fam == Family::V6 ? (u128{0x20010db800000000ull} << 64 | 0x4d)
                                       : u128{0x020000000077};
        for (u128 c : {u128{0}, mid, max}) {
            add(GenOp::Eq, {single(fam, c)});
            add(GenOp::Ne, {single(fam, c)});
        }
        add(GenOp::Eq, {range(fam, mid - 5, mid + 5)});
        add(GenOp::Ne, {range(fam, mid - 5, mid + 5)});
        std::vector<Elem> small = {single(fam, 0), range(fam, mid - 3, mid - 1), single(fam, max)};
        if (fam != Family::None) {
            unsigned narrow = fam == Family::V4 ? 24 : 120, wide = fam == Family::V4 ? 8 : 64;
            for (unsigned len : {0u, 1u, wide, narrow, bits - 1, bits}) {
                add(GenOp::Eq, {prefix(fam, mid, len)});
                add(GenOp::Ne, {prefix(fam, mid, len)});
            }
            small.push_back(prefix(fam, mid + 0x100, narrow));
        }
        add(GenOp::In, small);
        add(GenOp::NotIn, small);
        std::vector<Elem> large;
        for (unsigned k = 0; k < 10; ++k) large.push_back(single(fam, mid + 4 * k + 1));
        large.push_back(range(fam, mid - 10, mid - 6));
        large.push_back(single(fam, max));
        if (fam != Family::None) large.push_back(prefix(fam, mid + 0x10000, bits - 12));
        add(GenOp::In, large);
        add(GenOp::NotIn, large);
        for (SetType t : gen_set_types_for(f_)) {
            bool fits = t == SetType::Ip || t == SetType::Mac || (t == SetType::Ip4) == (fam == Family::V4);
            if (!fits) continue;
            std::vector<Elem> es = large;
            if (t == SetType::Ip && f_.type != FieldType::IpAny) {
                // Elements of the other family in a mixed set must never match this field,
                // even where their numeric value covers the packet's address.
                Family other = fam == Family::V4 ? Family::V6 : Family::V4;
                es.push_back(prefix(other, 0, 0));
            }
            add_named(GenOp::In, t, es);
            add_named(GenOp::NotIn, t, small);
        }
        std::string k = const_name(f_, fam == Family::V6 ? "-6" : "-4");
        out_.decls += "const " + k + " = " + text(fam, mid) + "\n";
        add(GenOp::Eq, {single(fam, mid)}, "$" + k);
    }

    // ip.src/ip.dst with sets of both families, and of one family used with `not in`.
    void mixed_sets() {
        u128 m6 = u128{0x20010db800000000ull} << 64 | 0x4d;
        std::vector<Elem> mixed = {prefix(Family::V4, ip4(192, 0, 2, 77), 30), prefix(Family::V6, m6, 126)};
        add(GenOp::In, mixed);
        add(GenOp::NotIn, mixed);
        add_named(GenOp::In, SetType::Ip, mixed);
        add_named(GenOp::NotIn, SetType::Ip, mixed);
        add(GenOp::In, {}, "{ }");
        add(GenOp::NotIn, {}, "{ }");
    }

    void iface() {
        const Ifaces& i = ifaces();
        auto elem = [&](std::uint32_t idx, const std::string& name) {
            return Elem{Family::None, idx, idx, "\"" + name + "\""};
        };
        std::vector<Elem> names = {elem(i.lo, i.lo_name)};
        if (i.other) names.push_back(elem(i.other, i.other_name));
        for (const Elem& e : names) {
            add(GenOp::Eq, {e});
            add(GenOp::Ne, {e});
            add(GenOp::In, {e});
            add(GenOp::NotIn, {e});
        }
        add(GenOp::In, names);
        add(GenOp::NotIn, names);
        std::vector<Elem> many(9, names.back());  // more than kInlineCompareLimit elements
        add(GenOp::In, many);
        out_.decls += "const k-iface = " + names.front().text + "\n";
        add(GenOp::Eq, {names.front()}, "$k-iface");
        pts_[Family::None] = {i.lo};
        if (i.other) pts_[Family::None].insert(i.other);
    }

    void samples() {
        for (auto& [point_fam, values] : pts_) {
            // ip4.*/ip6.* fields: the other family's points are addresses of the field's own
            // family with the same number (they must not match the other family's elements).
            Family fam = f_.type == FieldType::Ip4 ? Family::V4 : f_.type == FieldType::Ip6 ? Family::V6 : point_fam;
            for (u128 v : values) {
                if (fam == Family::V4 && v > 0xffffffffu) continue;
                for (const Model& base : carriers(f_.header)) {
                    Model m = base;
                    if (!set_field(m, f_, v, fam)) continue;
                    std::string what = f_.type == FieldType::Mac   ? format_mac(v)
                                       : fam != Family::None ? format_ip(fam, v)
                                                             : number(v);
                    out_.samples.push_back({m, fam, v, std::string(f_.name) + " = " + what});
                }
            }
        }
        if (f_.type == FieldType::IpAny) {
            // A packet of one family is "absent" for the other family's literals: covered by the
            // samples of each family, whose `fam` the conditions compare with.
        }
        for (const Model& m : lacking(f_.header))
            out_.samples.push_back({m, Family::None, std::nullopt, std::string(f_.name) + " absent"});
    }

    const FieldDef& f_;
    FieldCases out_;
    std::map<Family, std::set<u128>> pts_;
    std::set<GenOp> ops_;
    unsigned nsets_ = 0;

public:
    const std::set<GenOp>& ops() const { return ops_; }
};

// --- running -----------------------------------------------------------------------------------

struct Compiled {
    std::unique_ptr<Compilation> c;
    std::unique_ptr<LoadedPolicy> lp;
};

Compiled compile_and_load(const std::string& text) {
    Compiled out;
    CheckOptions opts;
    opts.lint = false;
    out.c = compile_source("/tmp/weir-fields/fields.weir", text, opts);
    REQUIRE_MESSAGE(out.c->ok(), render_text(out.c->sources, out.c->diags) << "\n" << text);
    Plan plan = plan_policy(out.c->program, 0);
    CodegenOptions cg;
    cg.ifindex_of = [](const std::string& name) -> std::optional<std::uint32_t> {
        unsigned i = if_nametoindex(name.c_str());
        return i ? std::optional<std::uint32_t>(i) : std::nullopt;
    };
    CodegenResult obj = codegen(plan, out.c->sources, EmitKind::Obj, cg);
    REQUIRE_MESSAGE(obj.ok(), obj.error << "\n" << text);
    Diagnostics diags;
    out.lp = LoadedPolicy::load(plan, out.c->sources, obj.bytes, diags);
    REQUIRE_MESSAGE(out.lp, render_text(out.c->sources, diags) << "\n" << text);
    return out;
}

PolicyRun run(const LoadedPolicy& lp, const Model& m) {
    Bytes b = m.bytes();
    auto r = lp.run(b, m.ifindex ? m.ifindex : ifaces().lo);
    REQUIRE_MESSAGE(r, r.error().message);
    return *r;
}

std::vector<std::uint64_t> rule_packets(const LoadedPolicy& lp) {
    std::vector<std::uint64_t> out;
    for (std::size_t r = 0; r < lp.rule_count(); ++r) {
        auto c = lp.rule_counter(r);
        REQUIRE(c);
        out.push_back(c->packets);
    }
    return out;
}

struct Checked {
    unsigned conditions = 0, samples = 0, checks = 0, failures = 0;
};

// Every condition as a count rule: after each packet, each rule's counter moved iff the
// condition holds. Then as terminal rules: the first that holds decides.
void check_field(const FieldCases& fc, Checked& total) {
    const std::string field(fc.field->name);
    std::string counting = fc.decls + "policy fields default pass {\n";
    for (std::size_t i = 0; i < fc.conds.size(); ++i)
        counting += "    c" + std::to_string(i) + ": count if " + fc.conds[i].text + "\n";
    counting += "}\n";
    static constexpr std::uint32_t kActions[] = {WEIR_ACT_DROP, WEIR_ACT_TX, WEIR_ACT_REDIRECT};
    auto action_text = [](std::uint32_t a) -> std::string {
        return a == WEIR_ACT_DROP ? "drop" : a == WEIR_ACT_TX ? "tx" : "redirect \"lo\"";
    };
    std::string first = fc.decls + "policy fields default pass {\n";
    for (std::size_t i = 0; i < fc.conds.size(); ++i)
        first += "    t" + std::to_string(i) + ": " + action_text(kActions[i % 3]) + " if " + fc.conds[i].text + "\n";
    first += "}\n";

    Compiled a = compile_and_load(counting);
    Compiled b = compile_and_load(first);
    total.conditions += static_cast<unsigned>(fc.conds.size());
    std::vector<std::uint64_t> before = rule_packets(*a.lp);
    for (const Sample& s : fc.samples) {
        ++total.samples;
        PolicyRun r = run(*a.lp, s.model);
        std::vector<std::uint64_t> after = rule_packets(*a.lp);
        CHECK_MESSAGE(r.action == WEIR_ACT_PASS, field << ": " << s.what);
        for (std::size_t i = 0; i < fc.conds.size(); ++i) {
            bool want = fc.conds[i].expect(s);
            bool got = after[i] != before[i];
            ++total.checks;
            if (got != want) {
                ++total.failures;
                FAIL_CHECK("`" << fc.conds[i].text << "` on a packet with " << s.what << ": kernel says "
                               << std::string(got ? "true" : "false") << ", expected " << std::string(want ? "true" : "false")
                               << "\n  packet hex \"" << to_hex(s.model.bytes()) << "\"");
            }
        }
        before = std::move(after);

        int want_rule = -1;
        for (std::size_t i = 0; i < fc.conds.size() && want_rule < 0; ++i)
            if (fc.conds[i].expect(s)) want_rule = static_cast<int>(i);
        std::uint32_t want_action = want_rule < 0 ? WEIR_ACT_PASS : kActions[want_rule % 3];
        PolicyRun t = run(*b.lp, s.model);
        ++total.checks;
        if (t.rule != want_rule || t.action != want_action) {
            ++total.failures;
            FAIL_CHECK(field << " first match on a packet with " << s.what << ": kernel rule " << t.rule
                             << " action " << t.action << ", expected rule " << want_rule << " action "
                             << want_action << (want_rule >= 0 ? " (`" + fc.conds[want_rule].text + "`)" : "")
                             << "\n  packet hex \"" << to_hex(s.model.bytes()) << "\"");
        }
    }
}

}  // namespace

TEST_CASE("every field with every operator its type allows, on the kernel program") {
    Checked total;
    for (const FieldDef& f : all_fields()) {
        CAPTURE(f.name);
        CaseBuilder cb(f);
        FieldCases fc = cb.build();
        // The builder reaches every operator the field's type allows.
        for (GenOp op : gen_ops_for(f.type)) {
            CAPTURE(gen_op_name(op));
            CHECK(cb.ops().count(op) == 1);
        }
        // Present (matching and not), and absent unless the header is always there.
        CHECK(std::count_if(fc.samples.begin(), fc.samples.end(), [](const Sample& s) { return s.value.has_value(); }) >= 2);
        if (f.header != Header::Eth && f.header != Header::Pkt)
            CHECK(std::any_of(fc.samples.begin(), fc.samples.end(), [](const Sample& s) { return !s.value; }));
        check_field(fc, total);
    }
    MESSAGE(all_fields().size() << " fields: " << total.conditions << " conditions, " << total.samples
                                << " packets, " << total.checks << " checks, " << total.failures << " failures");
    CHECK(total.failures == 0);
}

// Truncation: every frame cut at every length from the Ethernet header to its end. A header is
// there iff the frame holds all of it (and all headers before it); a cut inside any header is
// malformed; a cut in the payload only shortens the payload.
TEST_CASE("truncation at and between every header boundary") {
    struct Shape {
        std::string name;
        Model model;
        std::size_t vlan_end, ip_end, ext_end, l4_end;  // offsets where each header ends
        std::uint8_t l4_proto;
    };
    std::vector<Shape> shapes;
    {
        Model m;
        m.vlans = {{100, 3}};
        m.dport = 53;
        m.payload = text_bytes("abcdefgh");
        shapes.push_back({"vlan ip4 tcp", m, 18, 38, 38, 58, 6});
    }
    {
        Model m = v6_udp();
        m.vlans = {{100, 3}, {200, 0}};
        m.ip6_ext = {0};
        m.payload = text_bytes("abcdefgh");
        shapes.push_back({"vlan2 ip6 hop-by-hop udp", m, 18, 62, 70, 78, 17});
    }
    {
        Model m = v4_udp();
        m.vlans = {{100, 3}};
        m.ip4_options = {1, 1, 1, 1, 1, 1, 1, 0};
        m.payload = text_bytes("abcdefgh");
        shapes.push_back({"vlan ip4+options udp", m, 18, 46, 46, 54, 17});
    }
    {
        Model m = v6_tcp();
        m.vlans = {{100, 3}};
        m.ip6_ext = {60, 43};
        m.dport = 53;
        m.tcp_options = {1, 1, 1, 1};
        m.payload = text_bytes("abcdefgh");
        shapes.push_back({"vlan ip6 dest-opts routing tcp+options", m, 18, 58, 74, 98, 6});
    }
    const std::string policy =
        "policy trunc default pass {\n"
        "    eth: count if eth.src == 02:00:00:00:00:11\n"
        "    vlan: count if vlan.id == 100 and vlan.pcp == 3\n"
        "    ip: count if ip.ttl == 64\n"
        "    proto-l4: count if ip.proto in { tcp, udp }\n"
        "    l4: count if l4.dport == 53\n"
        "    pay1: count if payload[0:1] == \"a\"\n"
        "    pay8: count if payload[0:8] == \"abcdefgh\"\n"
        "    short: count if pkt.len < 60\n"
        "}\n";
    Compiled c = compile_and_load(policy);
    unsigned cuts = 0;
    for (const Shape& sh : shapes) {
        Bytes full = sh.model.bytes();
        REQUIRE(full.size() == sh.l4_end + 8);  // the offsets above are right
        std::vector<std::uint64_t> before = rule_packets(*c.lp);
        for (std::size_t len = 14; len <= full.size(); ++len) {
            Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
            auto r = c.lp->run(cut, ifaces().lo);
            REQUIRE(r);
            std::vector<std::uint64_t> after = rule_packets(*c.lp);
            bool ip = len >= sh.ip_end, ext = len >= sh.ext_end, l4 = len >= sh.l4_end;
            // The first extension header is truncated: ip.proto is its type, not the L4 protocol.
            bool want[] = {true, len >= sh.vlan_end, ip, ip && ext, l4, l4 && len >= sh.l4_end + 1,
                           l4 && len >= sh.l4_end + 8, len < 60};
            for (std::size_t i = 0; i < std::size(want); ++i) {
                CAPTURE(i);
                CHECK_MESSAGE((after[i] != before[i]) == want[i],
                              sh.name << " cut to " << len << " bytes: rule " << i << " of\n" << policy);
            }
            CHECK_MESSAGE(r->malformed == (len < sh.l4_end), sh.name << " cut to " << len << " bytes");
            CHECK(r->action == WEIR_ACT_PASS);
            before = std::move(after);
            ++cuts;
        }
    }
    MESSAGE(cuts << " truncated frames");
}

TEST_CASE("fragments: the first carries its L4 header, the others do not") {
    const std::string policy =
        "policy frags default pass {\n"
        "    frag: count if ip.frag\n"
        "    not-frag: count if not ip.frag\n"
        "    proto: count if ip.proto == tcp\n"
        "    port: count if tcp.dport == 22\n"
        "    l4: count if l4.dport == 22\n"
        "    flags: count if tcp.flags.syn\n"
        "    no-flags: count if not tcp.flags.syn\n"
        "    pay: count if payload[0:2] == \"hi\"\n"
        "    pay-ne: count if payload[0:2] != \"xx\"\n"
        "    ttl: count if ip.ttl == 64\n"
        "}\n";
    Compiled c = compile_and_load(policy);
    for (Model::L3 l3 : {Model::L3::V4, Model::L3::V6}) {
        for (Model::Frag fr : {Model::Frag::None, Model::Frag::First, Model::Frag::Middle, Model::Frag::Last}) {
            Model m;
            m.l3 = l3, m.frag = fr, m.dport = 22, m.flags = kTcpSyn;
            m.payload = text_bytes("hi there");
            bool frag = fr != Model::Frag::None;
            bool l4 = fr == Model::Frag::None || fr == Model::Frag::First;
            bool want[] = {frag, !frag, true, l4, l4, l4, !l4, l4, l4, true};
            std::vector<std::uint64_t> before = rule_packets(*c.lp);
            PolicyRun r = run(*c.lp, m);
            std::vector<std::uint64_t> after = rule_packets(*c.lp);
            for (std::size_t i = 0; i < std::size(want); ++i) {
                CAPTURE(i);
                CHECK_MESSAGE((after[i] != before[i]) == want[i],
                              (l3 == Model::L3::V4 ? "IPv4" : "IPv6") << " fragment kind " << int(fr)
                                                                      << ", rule " << i << "\n"
                                                                      << to_hex(m.bytes()));
            }
            CHECK_FALSE(r.malformed);
        }
    }
}

// payload[OFF:LEN] == / != BYTES: after the TCP header with its options, after the 8-byte UDP,
// ICMP and ICMPv6 headers; false for == and != alike without such a header or when the payload
// is shorter than OFF + LEN; the last window bytes (OFF + LEN == 64) included.
TEST_CASE("payload matches at every L4 header, every length edge and the window's end") {
    struct Match {
        unsigned off;
        Bytes bytes;
        std::string text;  // as written
    };
    Bytes window(64);
    for (unsigned i = 0; i < 64; ++i) window[i] = static_cast<std::uint8_t>('A' + i % 26);
    window[5] = 0, window[6] = 0xff, window[7] = '"';
    std::vector<Match> matches = {
        {0, {'A'}, "\"A\""},
        {0, {'A', 'B', 'C', 'D'}, "0x41424344"},
        {5, {0, 0xff, '"', 'H'}, "\"\\x00\\xff\\\"H\""},
        {60, {window[60], window[61], window[62], window[63]}, "0x" + to_hex(Bytes(window.begin() + 60, window.end()))},
        {63, {window[63]}, "\"" + std::string(1, static_cast<char>(window[63])) + "\""},
        {0, Bytes(window.begin(), window.begin() + 16), "\"ABCDE\\x00\\xff\\\"IJKLMNOP\""},
    };
    std::string policy = "policy pay default pass {\n";
    for (std::size_t i = 0; i < matches.size(); ++i) {
        const Match& m = matches[i];
        std::string head = "payload[" + std::to_string(m.off) + ":" + std::to_string(m.bytes.size()) + "]";
        policy += "    eq" + std::to_string(i) + ": count if " + head + " == " + m.text + "\n";
        policy += "    ne" + std::to_string(i) + ": count if " + head + " != " + m.text + "\n";
    }
    policy += "}\n";
    Compiled c = compile_and_load(policy);

    std::vector<std::pair<std::string, Model>> carriers_ = {
        {"ip4 tcp", v4_tcp()}, {"ip6 udp", v6_udp()}, {"ip4 icmp", v4_icmp()}, {"ip6 icmp6", v6_icmp6()}};
    Model opts = v4_tcp();
    opts.tcp_options = {1, 1, 1, 1, 1, 1, 1, 1};
    carriers_.push_back({"ip4 tcp+options", opts});
    Model other = v4_tcp();
    other.l4 = Model::L4::None;
    carriers_.push_back({"ip4 proto 253", other});
    carriers_.push_back({"ip4 tcp middle fragment", tcp_middle_fragment()});
    unsigned runs = 0;
    for (auto& [name, base] : carriers_) {
        bool has_l4 = base.l4 != Model::L4::None && base.frag != Model::Frag::Middle;
        for (std::size_t len : {0, 1, 4, 8, 15, 16, 20, 63, 64, 100}) {
            for (bool flip : {false, true}) {
                Model m = base;
                m.payload = Bytes(window.begin(), window.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(len, 64)));
                while (m.payload.size() < len) m.payload.push_back('z');
                if (flip && !m.payload.empty()) m.payload[std::min<std::size_t>(len - 1, 63)] ^= 0x20;
                std::vector<std::uint64_t> before = rule_packets(*c.lp);
                run(*c.lp, m);
                std::vector<std::uint64_t> after = rule_packets(*c.lp);
                ++runs;
                for (std::size_t i = 0; i < matches.size(); ++i) {
                    const Match& mt = matches[i];
                    bool fits = has_l4 && m.payload.size() >= mt.off + mt.bytes.size();
                    bool equal = fits && std::equal(mt.bytes.begin(), mt.bytes.end(), m.payload.begin() + mt.off);
                    CHECK_MESSAGE((after[2 * i] != before[2 * i]) == equal,
                                  name << ", payload " << len << " bytes" << std::string(flip ? " (last flipped)" : "")
                                       << ": payload[" << mt.off << ":" << mt.bytes.size() << "] == " << mt.text);
                    CHECK_MESSAGE((after[2 * i + 1] != before[2 * i + 1]) == (fits && !equal),
                                  name << ", payload " << len << " bytes" << std::string(flip ? " (last flipped)" : "")
                                       << ": payload[" << mt.off << ":" << mt.bytes.size() << "] != " << mt.text);
                }
            }
        }
    }
    MESSAGE(runs << " payload packets");
}
