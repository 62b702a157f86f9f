// Printing a PacketSpec as a test block's `packet` statement; sema_testblocks.cpp reads it back.
#include "packet_text.hpp"

#include "fields.hpp"
#include "test_frames.hpp"
#include "values.hpp"

namespace weir {

namespace {

std::string endpoint(const PacketSpec& s, u128 addr, std::uint16_t port, bool with_port) {
    std::string a = format_ip(s.family, addr);
    if (!with_port) return a;
    if (s.family == Family::V6) a = "[" + a + "]";
    return a + ":" + std::to_string(port);
}

std::string symbol_or_number(SymbolTable t, std::uint32_t v) {
    std::string_view name = symbol_name(t, v);
    return name.empty() ? std::to_string(v) : std::string(name);
}

u128 mac_value(const std::uint8_t (&m)[6]) {
    u128 v = 0;
    for (auto b : m) v = v << 8 | b;
    return v;
}

std::string flags_text(std::uint8_t flags) {
    std::string out;
    for (const Symbol& s : symbols(SymbolTable::TcpFlag)) {
        if (s.value == 0 || (s.value & (s.value - 1)) != 0 || !(flags & s.value)) continue;
        out += (out.empty() ? "" : ", ") + std::string(s.name);
        flags = static_cast<std::uint8_t>(flags & ~s.value);
    }
    if (flags != 0) out += (out.empty() ? "" : ", ") + std::to_string(flags);
    return out;
}

std::string hex_bytes(std::span<const std::uint8_t> b) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (auto x : b) {
        out += kDigits[x >> 4];
        out += kDigits[x & 0xf];
    }
    return out;
}

// Protocol keyword for the spec: tcp, udp, icmp (IPv4), icmp6 (IPv6), else ip.
std::string proto_word(const PacketSpec& s) {
    if (s.proto == 6) return "tcp";
    if (s.proto == 17) return "udp";
    if (s.proto == 1 && s.family == Family::V4) return "icmp";
    if (s.proto == 58 && s.family == Family::V6) return "icmp6";
    return "ip";
}

}  // namespace

std::string packet_hex_statement(std::span<const std::uint8_t> frame, const std::string& iface) {
    std::string out = "packet hex \"" + hex_bytes(frame) + "\"";
    if (!iface.empty()) out += " iface " + quote_string(iface);
    return out;
}

std::string packet_statement(const PacketSpec& s) {
    if (s.is_raw) return packet_hex_statement(s.raw, s.iface);
    // The checker puts `pcp` on the outer tag only: an inner tag with a PCP has no readable form.
    for (std::size_t i = 1; i < s.vlans.size(); ++i)
        if (s.vlans[i] >> 12) {
            BuiltPacket b = build_packet(s);
            if (b.ok()) return packet_hex_statement(b.bytes, s.iface);
        }
    const std::string proto = proto_word(s);
    const bool ports = proto == "tcp" || proto == "udp";
    const bool icmp = proto == "icmp" || proto == "icmp6";
    std::string out = "packet " + proto + " " + endpoint(s, s.src, s.sport, ports) + " -> " +
                      endpoint(s, s.dst, s.dport, ports);
    auto opt = [&](const std::string& key, const std::string& value) { out += " " + key + " " + value; };
    if (proto == "ip" && s.proto != 253) opt("proto", std::to_string(s.proto));
    if (proto == "tcp" && s.tcp_flags != 0) opt("flags", flags_text(s.tcp_flags));
    if (proto == "tcp" && s.window != 65535) opt("window", std::to_string(s.window));
    if (icmp) {
        SymbolTable types = proto == "icmp" ? field(FieldId::IcmpType).symbols : field(FieldId::Icmp6Type).symbols;
        std::uint8_t def_type = proto == "icmp" ? 8 : 128;
        if (s.icmp_type != def_type) opt("type", symbol_or_number(types, s.icmp_type));
        if (s.icmp_code != 0) opt("code", std::to_string(s.icmp_code));
    }
    if (s.ttl != 64) opt("ttl", std::to_string(s.ttl));
    if (s.dscp != 0) opt("dscp", std::to_string(s.dscp));
    if (s.family == Family::V6 && s.flowlabel != 0) opt("flowlabel", std::to_string(s.flowlabel));
    if (!s.vlans.empty()) {
        std::string ids;
        for (auto t : s.vlans) ids += (ids.empty() ? "" : ", ") + std::to_string(t & 0x0fff);
        opt("vlan", ids);
        if (s.vlans.front() >> 13) opt("pcp", std::to_string(s.vlans.front() >> 13));
    }
    static constexpr std::uint8_t kSrc[6] = {0x02, 0, 0, 0, 0, 0x01}, kDst[6] = {0x02, 0, 0, 0, 0, 0x02};
    if (!std::equal(s.eth_src, s.eth_src + 6, kSrc)) opt("src-mac", format_mac(mac_value(s.eth_src)));
    if (!std::equal(s.eth_dst, s.eth_dst + 6, kDst)) opt("dst-mac", format_mac(mac_value(s.eth_dst)));
    if (s.frag == PacketSpec::Frag::First) opt("frag", "first");
    if (s.frag == PacketSpec::Frag::Middle) opt("frag", "middle");
    if (s.frag == PacketSpec::Frag::Last) opt("frag", "last");
    if (!s.payload.empty()) opt("payload", "0x" + hex_bytes(s.payload));
    if (s.frame_len) opt("len", std::to_string(*s.frame_len));
    if (!s.iface.empty()) opt("iface", quote_string(s.iface));
    return out;
}

}  // namespace weir
