#include "test_frames.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace weir {

namespace {

struct EthL {
    MacAddr src, dst;
    std::optional<std::uint16_t> type;
};
struct VlanL {
    std::uint16_t tci;
    std::uint16_t tpid;  // 0: by position
    std::optional<std::uint16_t> type;
};
struct Ip4L {
    std::uint32_t src, dst;
    Ip4Options o;
};
struct Ip6L {
    u128 src, dst;
    Ip6Options o;
};
struct ExtL {
    std::uint8_t type;
    std::vector<std::uint8_t> body;
    std::optional<std::uint8_t> next_header;
};
struct TcpL {
    std::uint16_t sport, dport;
    std::uint8_t flags;
    TcpOptions o;
};
struct UdpL {
    std::uint16_t sport, dport;
    UdpOptions o;
};
struct IcmpL {
    bool v6;
    std::uint8_t type, code;
    IcmpOptions o;
};
struct BytesL {
    std::vector<std::uint8_t> data;
};

constexpr std::uint8_t kProtoIcmp = 1, kProtoIpip = 4, kProtoTcp = 6, kProtoUdp = 17,
                       kProtoIpv6 = 41, kProtoIcmp6 = 58, kProtoExperimental = 253;

void put8(std::vector<std::uint8_t>& b, std::uint8_t v) { b.push_back(v); }
void put16(std::vector<std::uint8_t>& b, std::uint16_t v) {
    b.push_back(static_cast<std::uint8_t>(v >> 8));
    b.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& b, std::uint32_t v) {
    put16(b, static_cast<std::uint16_t>(v >> 16));
    put16(b, static_cast<std::uint16_t>(v));
}
void put128(std::vector<std::uint8_t>& b, u128 v) {
    for (int i = 15; i >= 0; --i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void set16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}
void pad4(std::vector<std::uint8_t>& v) {
    while (v.size() % 4) v.push_back(0);
}

// Sum of 16-bit big-endian words, not yet folded.
std::uint32_t sum_words(std::span<const std::uint8_t> d, std::uint32_t sum) {
    std::size_t i = 0;
    for (; i + 1 < d.size(); i += 2) sum += static_cast<std::uint32_t>(d[i] << 8 | d[i + 1]);
    if (i < d.size()) sum += static_cast<std::uint32_t>(d[i] << 8);
    return sum;
}

}  // namespace

struct Frame::Layer {
    std::variant<EthL, VlanL, Ip4L, Ip6L, ExtL, TcpL, UdpL, IcmpL, BytesL> v;
};

Frame::Frame() = default;
Frame::Frame(const Frame&) = default;
Frame::Frame(Frame&&) noexcept = default;
Frame& Frame::operator=(const Frame&) = default;
Frame& Frame::operator=(Frame&&) noexcept = default;
Frame::~Frame() = default;

std::uint16_t inet_checksum(std::span<const std::uint8_t> data, std::uint32_t sum) {
    std::uint64_t s = sum_words(data, 0);
    s += sum;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return static_cast<std::uint16_t>(~s & 0xffff);
}

Frame& Frame::eth(const MacAddr& src, const MacAddr& dst) {
    layers_.push_back({EthL{src, dst, std::nullopt}});
    return *this;
}

Frame& Frame::vlan(std::uint16_t id, std::uint8_t pcp, std::uint16_t tpid) {
    auto tci = static_cast<std::uint16_t>((pcp & 7) << 13 | (id & 0x0fff));
    layers_.push_back({VlanL{tci, tpid, std::nullopt}});
    return *this;
}

Frame& Frame::ethertype(std::uint16_t type) {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
        if (auto* e = std::get_if<EthL>(&it->v)) {
            e->type = type;
            break;
        }
        if (auto* t = std::get_if<VlanL>(&it->v)) {
            t->type = type;
            break;
        }
    }
    return *this;
}

Frame& Frame::ipv4(std::uint32_t src, std::uint32_t dst, Ip4Options o) {
    layers_.push_back({Ip4L{src, dst, std::move(o)}});
    return *this;
}

Frame& Frame::ipv6(u128 src, u128 dst, Ip6Options o) {
    layers_.push_back({Ip6L{src, dst, std::move(o)}});
    return *this;
}

Frame& Frame::ip6_ext(std::uint8_t type, std::vector<std::uint8_t> body) {
    layers_.push_back({ExtL{type, std::move(body), std::nullopt}});
    return *this;
}

Frame& Frame::next_header(std::uint8_t proto) {
    for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
        if (auto* ip = std::get_if<Ip4L>(&it->v)) {
            ip->o.proto = proto;
            break;
        }
        if (auto* ip6 = std::get_if<Ip6L>(&it->v)) {
            ip6->o.next_header = proto;
            break;
        }
        if (auto* x = std::get_if<ExtL>(&it->v)) {
            x->next_header = proto;
            break;
        }
    }
    return *this;
}

Frame& Frame::routing(std::uint8_t segments_left) {
    // Routing type 0 layout without addresses: type, segments left, 4 reserved bytes.
    return ip6_ext(kIp6Routing, {0, segments_left, 0, 0, 0, 0});
}

Frame& Frame::ah(std::uint32_t spi) {
    std::vector<std::uint8_t> body{0, 0};  // reserved
    put32(body, spi);
    put32(body, 1);  // sequence number
    put32(body, 0);  // 4 bytes of ICV (so the header is 16 bytes, a multiple of 8)
    return ip6_ext(kIp6Ah, std::move(body));
}

Frame& Frame::frag6(std::uint16_t offset, bool more, std::uint32_t id) {
    std::vector<std::uint8_t> body;  // after next header and the reserved byte
    put16(body, static_cast<std::uint16_t>((offset & 0x1fff) << 3 | (more ? 1 : 0)));
    put32(body, id);
    return ip6_ext(kIp6Fragment, std::move(body));
}

Frame& Frame::tcp(std::uint16_t sport, std::uint16_t dport, std::uint8_t flags, TcpOptions o) {
    layers_.push_back({TcpL{sport, dport, flags, std::move(o)}});
    return *this;
}

Frame& Frame::udp(std::uint16_t sport, std::uint16_t dport, UdpOptions o) {
    layers_.push_back({UdpL{sport, dport, std::move(o)}});
    return *this;
}

Frame& Frame::icmp(std::uint8_t type, std::uint8_t code, IcmpOptions o) {
    layers_.push_back({IcmpL{false, type, code, std::move(o)}});
    return *this;
}

Frame& Frame::icmp6(std::uint8_t type, std::uint8_t code, IcmpOptions o) {
    layers_.push_back({IcmpL{true, type, code, std::move(o)}});
    return *this;
}

Frame& Frame::payload(std::span<const std::uint8_t> bytes) {
    layers_.push_back({BytesL{{bytes.begin(), bytes.end()}}});
    return *this;
}

Frame& Frame::payload(std::string_view text) {
    layers_.push_back({BytesL{{text.begin(), text.end()}}});
    return *this;
}

Frame& Frame::pad_to(std::size_t frame_len) {
    pad_to_ = frame_len;
    return *this;
}

namespace {

// Serializing a Frame: headers first with lengths and checksums zero unless given explicitly,
// then lengths, then L4 checksums (they cover the lengths), then IPv4 header checksums.
using Layers = std::span<const Frame::Layer>;
using Bytes = std::vector<std::uint8_t>;

const Frame::Layer* layer_at(Layers ls, std::size_t i) { return i < ls.size() ? &ls[i] : nullptr; }

// The EtherType an Ethernet header or VLAN tag at i writes.
std::uint16_t ethertype_after(Layers ls, std::size_t i, std::optional<std::uint16_t> explicit_type) {
    if (explicit_type) return *explicit_type;
    const Frame::Layer* l = layer_at(ls, i + 1);
    if (!l) return kExperimentalEtherType;
    if (auto* t = std::get_if<VlanL>(&l->v)) {
        if (t->tpid) return t->tpid;
        const Frame::Layer* after = layer_at(ls, i + 2);
        return after && std::holds_alternative<VlanL>(after->v) ? 0x88a8 : 0x8100;
    }
    if (std::holds_alternative<Ip4L>(l->v)) return 0x0800;
    if (std::holds_alternative<Ip6L>(l->v)) return 0x86dd;
    return kExperimentalEtherType;
}

// The IP protocol / next header a layer at i announces.
std::uint8_t proto_after(Layers ls, std::size_t i, std::uint8_t none) {
    const Frame::Layer* l = layer_at(ls, i + 1);
    if (!l) return none;
    if (std::holds_alternative<Ip4L>(l->v)) return kProtoIpip;
    if (std::holds_alternative<Ip6L>(l->v)) return kProtoIpv6;
    if (auto* e = std::get_if<ExtL>(&l->v)) return e->type;
    if (std::holds_alternative<TcpL>(l->v)) return kProtoTcp;
    if (std::holds_alternative<UdpL>(l->v)) return kProtoUdp;
    if (auto* c = std::get_if<IcmpL>(&l->v)) return c->v6 ? kProtoIcmp6 : kProtoIcmp;
    return none;
}

void put_ip4(Bytes& b, const Ip4L& ip, std::uint8_t next_proto) {
    auto opts = ip.o.options;
    pad4(opts);
    auto ihl = ip.o.ihl.value_or(static_cast<std::uint8_t>((20 + opts.size()) / 4));
    put8(b, static_cast<std::uint8_t>(0x40 | (ihl & 0x0f)));
    put8(b, static_cast<std::uint8_t>(ip.o.dscp << 2 | (ip.o.ecn & 3)));
    put16(b, ip.o.total_len.value_or(0));
    put16(b, ip.o.id);
    put16(b, static_cast<std::uint16_t>((ip.o.df ? 0x4000 : 0) | (ip.o.mf ? 0x2000 : 0) |
                                        (ip.o.frag_offset & 0x1fff)));
    put8(b, ip.o.ttl);
    put8(b, ip.o.proto.value_or(next_proto));
    put16(b, ip.o.checksum.value_or(0));
    put32(b, ip.src);
    put32(b, ip.dst);
    b.insert(b.end(), opts.begin(), opts.end());
}

void put_ip6(Bytes& b, const Ip6L& ip6, std::uint8_t next_proto) {
    std::uint8_t tc = static_cast<std::uint8_t>(ip6.o.dscp << 2 | (ip6.o.ecn & 3));
    put32(b, 6u << 28 | std::uint32_t{tc} << 20 | (ip6.o.flowlabel & 0xfffff));
    put16(b, ip6.o.payload_len.value_or(0));
    put8(b, ip6.o.next_header.value_or(next_proto));
    put8(b, ip6.o.hop_limit);
    put128(b, ip6.src);
    put128(b, ip6.dst);
}

void put_ext(Bytes& b, const ExtL& x, std::uint8_t next_proto) {
    std::vector<std::uint8_t> body = x.body;
    while ((body.size() + 2) % 8 || body.size() < 6) body.push_back(0);
    std::size_t total = body.size() + 2;
    std::uint8_t len_byte = 0;
    if (x.type == kIp6Ah)
        len_byte = static_cast<std::uint8_t>(total / 4 - 2);
    else if (x.type != kIp6Fragment)
        len_byte = static_cast<std::uint8_t>(total / 8 - 1);
    put8(b, x.next_header.value_or(next_proto));
    put8(b, len_byte);
    b.insert(b.end(), body.begin(), body.end());
}

void put_tcp(Bytes& b, const TcpL& t) {
    auto opts = t.o.options;
    pad4(opts);
    auto doff = t.o.data_offset.value_or(static_cast<std::uint8_t>((20 + opts.size()) / 4));
    put16(b, t.sport);
    put16(b, t.dport);
    put32(b, t.o.seq);
    put32(b, t.o.ack);
    put8(b, static_cast<std::uint8_t>(doff << 4));
    put8(b, t.flags);
    put16(b, t.o.window);
    put16(b, t.o.checksum.value_or(0));
    put16(b, t.o.urgent);
    b.insert(b.end(), opts.begin(), opts.end());
}

// The header (or payload) of layer i, lengths and checksums zero unless given explicitly.
void put_layer(Bytes& b, Layers ls, std::size_t i) {
    const auto& v = ls[i].v;
    if (auto* e = std::get_if<EthL>(&v)) {
        b.insert(b.end(), e->dst.begin(), e->dst.end());
        b.insert(b.end(), e->src.begin(), e->src.end());
        put16(b, ethertype_after(ls, i, e->type));
    } else if (auto* t = std::get_if<VlanL>(&v)) {
        // The TPID was written by the previous layer; the tag is TCI + the next EtherType.
        put16(b, t->tci);
        put16(b, ethertype_after(ls, i, t->type));
    } else if (auto* ip = std::get_if<Ip4L>(&v)) {
        put_ip4(b, *ip, proto_after(ls, i, kProtoExperimental));
    } else if (auto* ip6 = std::get_if<Ip6L>(&v)) {
        put_ip6(b, *ip6, proto_after(ls, i, kIp6NoNext));
    } else if (auto* x = std::get_if<ExtL>(&v)) {
        put_ext(b, *x, proto_after(ls, i, kIp6NoNext));
    } else if (auto* tcp = std::get_if<TcpL>(&v)) {
        put_tcp(b, *tcp);
    } else if (auto* u = std::get_if<UdpL>(&v)) {
        put16(b, u->sport);
        put16(b, u->dport);
        put16(b, u->o.len.value_or(0));
        put16(b, u->o.checksum.value_or(0));
    } else if (auto* c = std::get_if<IcmpL>(&v)) {
        put8(b, c->type);
        put8(b, c->code);
        put16(b, c->o.checksum.value_or(0));
        put32(b, c->o.rest);
    } else if (auto* p = std::get_if<BytesL>(&v)) {
        b.insert(b.end(), p->data.begin(), p->data.end());
    }
}

// IPv4 total length, IPv6 payload length and UDP length, unless given; `end` ends every datagram.
void fill_lengths(Bytes& b, Layers ls, std::span<const std::size_t> start, std::size_t end) {
    for (std::size_t i = 0; i < ls.size(); ++i) {
        const auto& v = ls[i].v;
        std::size_t s = start[i];
        if (auto* ip = std::get_if<Ip4L>(&v)) {
            if (!ip->o.total_len) set16(b, s + 2, static_cast<std::uint16_t>(end - s));
        } else if (auto* ip6 = std::get_if<Ip6L>(&v)) {
            if (!ip6->o.payload_len) set16(b, s + 4, static_cast<std::uint16_t>(end - s - 40));
        } else if (auto* u = std::get_if<UdpL>(&v)) {
            if (!u->o.len) set16(b, s + 4, static_cast<std::uint16_t>(end - s));
        }
    }
}

// The pseudo-header sum of the IP header nearest before layer i (0 if there is none).
std::uint32_t pseudo_header_sum(const Bytes& b, Layers ls, std::span<const std::size_t> start, std::size_t i,
                                std::uint8_t proto, std::uint32_t l4len) {
    std::uint32_t sum = 0;
    for (std::size_t j = i; j-- > 0;) {
        std::size_t ips = start[j];
        if (std::holds_alternative<Ip4L>(ls[j].v)) {
            sum = sum_words({b.data() + ips + 12, 8}, 0);
            sum += proto;
            sum += l4len;
            break;
        }
        if (std::holds_alternative<Ip6L>(ls[j].v)) {
            sum = sum_words({b.data() + ips + 8, 32}, 0);
            sum += l4len >> 16;
            sum += l4len & 0xffff;
            sum += proto;
            break;
        }
    }
    return sum;
}

void fill_l4_checksums(Bytes& b, Layers ls, std::span<const std::size_t> start, std::size_t end) {
    for (std::size_t i = 0; i < ls.size(); ++i) {
        const auto& v = ls[i].v;
        std::size_t csum_at = 0;
        bool pseudo = true;
        std::uint8_t proto = 0;
        if (auto* t = std::get_if<TcpL>(&v)) {
            if (t->o.checksum) continue;
            csum_at = 16, proto = kProtoTcp;
        } else if (auto* u = std::get_if<UdpL>(&v)) {
            if (u->o.checksum) continue;
            csum_at = 6, proto = kProtoUdp;
        } else if (auto* c = std::get_if<IcmpL>(&v)) {
            if (c->o.checksum) continue;
            csum_at = 2, proto = c->v6 ? kProtoIcmp6 : kProtoIcmp, pseudo = c->v6;
        } else {
            continue;
        }
        std::size_t s = start[i];
        auto l4len = static_cast<std::uint32_t>(end - s);
        std::uint32_t sum = pseudo ? pseudo_header_sum(b, ls, start, i, proto, l4len) : 0;
        std::uint16_t csum = inet_checksum({b.data() + s, end - s}, sum);
        if (proto == kProtoUdp && csum == 0) csum = 0xffff;  // 0 means "no checksum"
        set16(b, s + csum_at, csum);
    }
}

void fill_ip4_checksums(Bytes& b, Layers ls, std::span<const std::size_t> start, std::size_t end) {
    for (std::size_t i = 0; i < ls.size(); ++i) {
        auto* ip = std::get_if<Ip4L>(&ls[i].v);
        if (!ip || ip->o.checksum) continue;
        std::size_t s = start[i];
        std::size_t hlen = 20 + (ip->o.options.size() + 3) / 4 * 4;
        set16(b, s + 10, inet_checksum({b.data() + s, std::min(hlen, end - s)}));
    }
}

}  // namespace

std::vector<std::uint8_t> Frame::bytes() const {
    Bytes b;
    std::vector<std::size_t> start(layers_.size());
    for (std::size_t i = 0; i < layers_.size(); ++i) {
        start[i] = b.size();
        put_layer(b, layers_, i);
    }
    const std::size_t end = b.size();  // end of every IP datagram (padding comes after)
    fill_lengths(b, layers_, start, end);
    fill_l4_checksums(b, layers_, start, end);
    fill_ip4_checksums(b, layers_, start, end);
    if (b.size() < pad_to_) b.resize(pad_to_, 0);
    return b;
}

namespace {

Frame spec_frame(const PacketSpec& spec, const std::vector<std::uint8_t>& payload) {
    Frame f;
    MacAddr src, dst;
    std::memcpy(src.data(), spec.eth_src, 6);
    std::memcpy(dst.data(), spec.eth_dst, 6);
    f.eth(src, dst);
    for (std::size_t i = 0; i < spec.vlans.size(); ++i) {
        std::uint16_t tci = spec.vlans[i];
        std::uint16_t tpid = i + 1 < spec.vlans.size() ? 0x88a8 : 0x8100;
        f.vlan(tci & 0x0fff, static_cast<std::uint8_t>(tci >> 13), tpid);
    }
    using Frag = PacketSpec::Frag;
    bool more = spec.frag == Frag::First || spec.frag == Frag::Middle;
    std::uint16_t offset = spec.frag == Frag::Middle ? kMiddleFragOffset
                           : spec.frag == Frag::Last ? kLastFragOffset
                                                     : 0;
    if (spec.family == Family::V4) {
        Ip4Options o;
        o.ttl = spec.ttl;
        o.dscp = spec.dscp;
        o.mf = more;
        o.frag_offset = offset;
        o.proto = spec.proto;
        f.ipv4(static_cast<std::uint32_t>(spec.src), static_cast<std::uint32_t>(spec.dst), std::move(o));
    } else if (spec.family == Family::V6) {
        Ip6Options o;
        o.hop_limit = spec.ttl;
        o.dscp = spec.dscp;
        o.flowlabel = spec.flowlabel;
        f.ipv6(spec.src, spec.dst, std::move(o));
        if (spec.frag != Frag::None) f.frag6(offset, more);
        f.next_header(spec.proto);
    }
    if (spec.family != Family::None) {
        switch (spec.proto) {
            case 6: {
                TcpOptions o;
                o.window = spec.window;
                f.tcp(spec.sport, spec.dport, spec.tcp_flags, std::move(o));
                break;
            }
            case 17: f.udp(spec.sport, spec.dport); break;
            case 1: f.icmp(spec.icmp_type, spec.icmp_code); break;
            case 58: f.icmp6(spec.icmp_type, spec.icmp_code); break;
            default: break;
        }
    }
    if (!payload.empty()) f.payload(payload);
    return f;
}

}  // namespace

BuiltPacket build_packet(const PacketSpec& spec) {
    BuiltPacket out;
    if (spec.is_raw) {
        out.bytes = spec.raw;
        if (spec.frame_len) {
            if (*spec.frame_len < out.bytes.size()) {
                out.error = fmt::format("len {} is shorter than the {} bytes of the hex frame",
                                        *spec.frame_len, out.bytes.size());
                out.bytes.clear();
                return out;
            }
            out.bytes.resize(*spec.frame_len, 0);
        }
        return out;
    }
    const std::size_t headers = spec_frame(spec, {}).bytes().size();
    const std::size_t natural = headers + spec.payload.size();
    std::vector<std::uint8_t> payload = spec.payload;
    if (spec.frame_len) {
        if (*spec.frame_len < headers) {
            out.error = fmt::format("len {} is shorter than the {} bytes of this packet's headers",
                                    *spec.frame_len, headers);
            return out;
        }
        if (*spec.frame_len < natural) {
            out.error = fmt::format("len {} is shorter than the {} bytes of this packet's headers "
                                    "and its {}-byte payload",
                                    *spec.frame_len, natural, spec.payload.size());
            return out;
        }
        payload.resize(*spec.frame_len - headers, 0);
    }
    std::size_t eth = 14 + 4 * spec.vlans.size();
    if (spec.family != Family::None && headers + payload.size() - eth > 65535) {
        out.error = fmt::format("the IP datagram would be {} bytes, more than the 65535 IP allows",
                                headers + payload.size() - eth);
        return out;
    }
    out.bytes = spec_frame(spec, payload).bytes();
    return out;
}

std::optional<std::uint32_t> ip4_from_text(std::string_view text) {
    std::string s(text);
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
    return ntohl(a.s_addr);
}

std::optional<u128> ip6_from_text(std::string_view text) {
    std::string s(text);
    in6_addr a{};
    if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
    u128 v = 0;
    for (unsigned char byte : a.s6_addr) v = v << 8 | byte;
    return v;
}

}  // namespace weir
