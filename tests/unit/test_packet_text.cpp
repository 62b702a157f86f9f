// packet_text (compiler/interp/packet_text.*): a printed PacketSpec reads back through the checker
// as the same spec, and frames the readable form cannot say come out as `packet hex`.
#include <doctest/doctest.h>

#include <random>

#include "driver.hpp"
#include "packet_text.hpp"
#include "test_frames.hpp"

using namespace weir;

namespace {

std::optional<PacketSpec> read_back(const std::string& stmt, std::string& errors) {
    std::string text = "policy w default pass {\n}\ntest \"w\" policy w {\n    " + stmt + " expect pass\n}\n";
    CheckOptions opts;
    opts.lint = false;
    auto c = compile_source("w.weir", text, opts);
    for (const auto& d : c->diags.list()) errors += d.message + "; ";
    if (!c->ok() || c->program.tests.empty() || c->program.tests[0].probes.empty()) return std::nullopt;
    return c->program.tests[0].probes[0].packet;
}

// Every member the checker fills in.
std::string mismatch(const PacketSpec& a, const PacketSpec& b) {
    if (a.is_raw != b.is_raw || a.raw != b.raw) return "raw";
    if (!std::equal(a.eth_src, a.eth_src + 6, b.eth_src) || !std::equal(a.eth_dst, a.eth_dst + 6, b.eth_dst)) return "mac";
    if (a.is_raw) return a.iface == b.iface ? "" : "iface";
    if (a.vlans != b.vlans) return "vlans";
    if (a.family != b.family || a.src != b.src || a.dst != b.dst) return "addresses";
    if (a.proto != b.proto || a.sport != b.sport || a.dport != b.dport) return "proto/ports";
    if (a.tcp_flags != b.tcp_flags || a.window != b.window) return "tcp";
    if (a.icmp_type != b.icmp_type || a.icmp_code != b.icmp_code) return "icmp";
    if (a.ttl != b.ttl || a.dscp != b.dscp || a.flowlabel != b.flowlabel) return "ip";
    if (a.frag != b.frag || a.payload != b.payload || a.frame_len != b.frame_len || a.iface != b.iface) return "other";
    return {};
}

PacketSpec random_spec(std::mt19937_64& rng) {
    auto below = [&](std::uint64_t n) { return rng() % n; };
    PacketSpec s;
    s.family = below(2) ? Family::V4 : Family::V6;
    const bool v4 = s.family == Family::V4;
    s.src = v4 ? u128{static_cast<std::uint32_t>(rng())} : (u128{rng()} << 64 | rng());
    s.dst = v4 ? u128{static_cast<std::uint32_t>(rng())} : (u128{rng()} << 64 | rng());
    static const std::uint8_t kProtos[] = {6, 17, 1, 58, 253, 47, 0};
    s.proto = kProtos[below(7)];
    if (s.proto == 6 || s.proto == 17) {
        s.sport = static_cast<std::uint16_t>(rng());
        s.dport = static_cast<std::uint16_t>(rng());
    }
    if (s.proto == 6) {
        s.tcp_flags = static_cast<std::uint8_t>(rng());
        if (below(2)) s.window = static_cast<std::uint16_t>(rng());
    }
    if (s.proto == 58 && !v4) s.icmp_type = 128;
    if ((s.proto == 1 && v4) || (s.proto == 58 && !v4)) {
        if (below(2)) s.icmp_type = static_cast<std::uint8_t>(rng());
        if (below(2)) s.icmp_code = static_cast<std::uint8_t>(rng());
    }
    if (below(2)) s.ttl = static_cast<std::uint8_t>(rng());
    if (below(2)) s.dscp = static_cast<std::uint8_t>(below(64));
    if (!v4 && below(2)) s.flowlabel = static_cast<std::uint32_t>(below(1u << 20));
    for (std::uint64_t i = 0, n = below(3); i < n; ++i) s.vlans.push_back(static_cast<std::uint16_t>(below(4096)));
    if (!s.vlans.empty() && below(2)) s.vlans[0] = static_cast<std::uint16_t>(s.vlans[0] | below(8) << 13);
    if (below(3) == 0)
        for (auto& b : s.eth_src) b = static_cast<std::uint8_t>(rng());
    if (below(3) == 0)
        for (auto& b : s.eth_dst) b = static_cast<std::uint8_t>(rng());
    s.frag = static_cast<PacketSpec::Frag>(below(4));
    for (std::uint64_t i = 0, n = below(3) == 0 ? below(9) : 0; i < n; ++i) s.payload.push_back(static_cast<std::uint8_t>(rng()));
    if (below(3) == 0) s.frame_len = static_cast<std::uint32_t>(200 + below(1000));
    if (below(3) == 0) s.iface = below(2) ? "eth0" : "wd" + std::to_string(below(10));
    return s;
}

}  // namespace

TEST_CASE("packet_text: print then check gives the same spec, over random specs") {
    std::mt19937_64 rng(14);
    for (int i = 0; i < 2000; ++i) {
        PacketSpec s = random_spec(rng);
        std::string stmt = packet_statement(s), errors;
        CAPTURE(stmt);
        auto back = read_back(stmt, errors);
        REQUIRE_MESSAGE(back, errors);
        CHECK(mismatch(s, *back) == "");
    }
}

TEST_CASE("packet_text: the readable form of common packets") {
    PacketSpec s;
    s.src = 0xcb007109;
    s.dst = 0xc0000201;
    s.sport = 40000;
    s.dport = 443;
    s.tcp_flags = 0x12;
    CHECK(packet_statement(s) == "packet tcp 203.0.113.9:40000 -> 192.0.2.1:443 flags syn, ack");
    s.family = Family::V6;
    s.src = u128{0x20010db8} << 96 | 9;
    s.dst = u128{0x20010db8} << 96 | 1;
    s.proto = 17;
    s.tcp_flags = 0;
    CHECK(packet_statement(s) == "packet udp [2001:db8::9]:40000 -> [2001:db8::1]:443");
    s.proto = 58;
    s.icmp_type = 2;
    CHECK(packet_statement(s) == "packet icmp6 2001:db8::9 -> 2001:db8::1 type packet-too-big");
    s.proto = 47;
    CHECK(packet_statement(s) == "packet ip 2001:db8::9 -> 2001:db8::1 proto 47");
}

TEST_CASE("packet_text: hex when the readable form cannot say it") {
    // A PCP on an inner VLAN tag: the checker puts `pcp` on the outer tag only.
    PacketSpec s;
    s.vlans = {10, static_cast<std::uint16_t>(20 | 3 << 13)};
    std::string stmt = packet_statement(s), errors;
    CHECK(stmt.rfind("packet hex \"", 0) == 0);
    auto back = read_back(stmt, errors);
    REQUIRE(back);
    CHECK(back->raw == build_packet(s).bytes);
    // A raw frame (no IP header), with its interface.
    PacketSpec raw;
    raw.is_raw = true;
    raw.raw = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1};
    raw.iface = "eth1";
    stmt = packet_statement(raw);
    CHECK(stmt == "packet hex \"02000000000202000000000108060001\" iface \"eth1\"");
    back = read_back(stmt, errors);
    REQUIRE(back);
    CHECK(mismatch(raw, *back) == "");
}
