// Literal conversion: parse_ip, parse_mac, parse_uint and the canonical formatters.
#include <doctest/doctest.h>

#include <vector>

#include "values.hpp"

using namespace weir;

namespace {

ast::Value lit(ast::Value::Kind k, std::string text) {
    ast::Value v;
    v.kind = k;
    v.text = std::move(text);
    v.range = {0, 10, 10 + static_cast<std::uint32_t>(v.text.size())};
    return v;
}

ast::Value v4(std::string t) { return lit(ast::Value::Kind::Ipv4, std::move(t)); }
ast::Value v6(std::string t) { return lit(ast::Value::Kind::Ipv6, std::move(t)); }
ast::Value integer(std::string t) { return lit(ast::Value::Kind::Int, std::move(t)); }

u128 v6addr(std::uint64_t hi, std::uint64_t lo) { return (u128{hi} << 64) | lo; }

}  // namespace

TEST_CASE("parse_ip: IPv4 host and prefix") {
    Diagnostics d;
    auto e = parse_ip(v4("192.0.2.1"), d);
    REQUIRE(e);
    CHECK(e->family == Family::V4);
    CHECK(e->lo == 0xc0000201u);
    CHECK(e->hi == 0xc0000201u);
    CHECK(e->prefix == 32);
    CHECK(e->range == SourceRange{0, 10, 19});

    e = parse_ip(v4("10.0.0.0/8"), d);
    REQUIRE(e);
    CHECK(e->lo == 0x0a000000u);
    CHECK(e->hi == 0x0affffffu);
    CHECK(e->prefix == 8);

    e = parse_ip(v4("0.0.0.0/0"), d);
    REQUIRE(e);
    CHECK(e->lo == 0);
    CHECK(e->hi == 0xffffffffu);
    CHECK(d.list().empty());
}

TEST_CASE("parse_ip: IPv6 host, prefix, /0 and embedded dotted quad") {
    Diagnostics d;
    auto e = parse_ip(v6("2001:db8::1"), d);
    REQUIRE(e);
    CHECK(e->family == Family::V6);
    CHECK(e->lo == v6addr(0x20010db800000000ull, 1));
    CHECK(e->prefix == 128);

    e = parse_ip(v6("2001:db8:bad::/48"), d);
    REQUIRE(e);
    CHECK(e->lo == v6addr(0x20010db80bad0000ull, 0));
    CHECK(e->hi == v6addr(0x20010db80badffffull, ~0ull));
    CHECK(e->prefix == 48);

    e = parse_ip(v6("::/0"), d);
    REQUIRE(e);
    CHECK(e->lo == 0);
    CHECK(e->hi == ~u128{0});

    e = parse_ip(v6("::ffff:192.0.2.1"), d);
    REQUIRE(e);
    CHECK(e->lo == v6addr(0, 0xffffc0000201ull));
    CHECK(d.list().empty());
}

TEST_CASE("parse_ip: host bits set warn and keep the network") {
    Diagnostics d;
    auto e = parse_ip(v4("192.0.2.77/24"), d);
    REQUIRE(e);
    CHECK(e->lo == 0xc0000200u);
    CHECK(e->hi == 0xc00002ffu);
    REQUIRE(d.list().size() == 1);
    CHECK(d.list()[0].severity == Severity::Warning);
    CHECK(d.list()[0].code == "cidr-host-bits");
    CHECK(d.list()[0].message.find("192.0.2.0/24") != std::string::npos);
    CHECK(d.list()[0].range == SourceRange{0, 10, 23});

    Diagnostics d6;
    e = parse_ip(v6("2001:db8::1/32"), d6);
    REQUIRE(e);
    CHECK(e->lo == v6addr(0x20010db800000000ull, 0));
    REQUIRE(d6.list().size() == 1);
    CHECK(d6.list()[0].message.find("2001:db8::/32") != std::string::npos);
}

TEST_CASE("parse_ip: errors") {
    Diagnostics d;
    CHECK_FALSE(parse_ip(v4("192.0.2.0/33"), d));
    CHECK_FALSE(parse_ip(v6("2001:db8::/129"), d));
    CHECK_FALSE(parse_ip(v4("256.1.1.1"), d));
    CHECK_FALSE(parse_ip(v4("1.2.3"), d));
    CHECK_FALSE(parse_ip(v6("2001:db8:::1"), d));
    CHECK_FALSE(parse_ip(v4("10.0.0.0/"), d));
    REQUIRE(d.list().size() == 6);
    CHECK(d.list()[0].code == "invalid-prefix");
    CHECK(d.list()[0].message.find("0-32") != std::string::npos);
    CHECK(d.list()[1].code == "invalid-prefix");
    CHECK(d.list()[1].message.find("0-128") != std::string::npos);
    CHECK(d.list()[2].code == "invalid-address");
    CHECK(d.list()[3].code == "invalid-address");
    CHECK(d.list()[4].code == "invalid-address");
    CHECK(d.list()[5].code == "invalid-prefix");
    CHECK(d.errors() == 6);
}

TEST_CASE("parse_mac") {
    Diagnostics d;
    auto e = parse_mac(lit(ast::Value::Kind::Mac, "00:11:22:AA:bb:cc"), d);
    REQUIRE(e);
    CHECK(e->lo == 0x001122aabbccull);
    CHECK(e->family == Family::None);
    CHECK_FALSE(parse_mac(lit(ast::Value::Kind::Mac, "00:11:22:aa:bb"), d));
    CHECK_FALSE(parse_mac(lit(ast::Value::Kind::Mac, "00:11:22:aa:bb:cg"), d));
    CHECK_FALSE(parse_mac(lit(ast::Value::Kind::Mac, "00-11-22-aa-bb-cc"), d));
    REQUIRE(d.list().size() == 3);
    for (const auto& x : d.list()) CHECK(x.code == "invalid-mac");
}

TEST_CASE("parse_uint: decimal, hex, limits") {
    Diagnostics d;
    CHECK(parse_uint(integer("80"), 65535, "port", d) == 80u);
    CHECK(parse_uint(integer("0x50"), 65535, "port", d) == 80u);
    CHECK(parse_uint(integer("0XfF"), 255, "protocol", d) == 255u);
    CHECK(parse_uint(integer("0"), 0, "x", d) == 0u);
    CHECK(parse_uint(integer("65535"), 65535, "port", d) == 65535u);
    CHECK(parse_uint(integer("007"), 10, "x", d) == 7u);
    CHECK(d.list().empty());

    CHECK_FALSE(parse_uint(integer("70000"), 65535, "port", d));
    REQUIRE(d.list().size() == 1);
    CHECK(d.list()[0].code == "out-of-range");
    CHECK(d.list()[0].message == "port 70000 is out of range (0-65535)");

    CHECK_FALSE(parse_uint(integer("99999999999999999999999"), 65535, "port", d));
    CHECK(d.list()[1].code == "out-of-range");
    CHECK_FALSE(parse_uint(integer("0x10000"), 65535, "port", d));
    CHECK(d.list()[2].message == "port 0x10000 is out of range (0-65535)");
    CHECK_FALSE(parse_uint(integer("12ab"), 65535, "port", d));
    CHECK(d.list()[3].code == "invalid-number");
    CHECK_FALSE(parse_uint(integer("0x"), 65535, "port", d));
    CHECK(d.list()[4].code == "invalid-number");
    CHECK_FALSE(parse_uint(integer("0xfg"), 65535, "port", d));
    CHECK(d.list()[5].code == "invalid-number");
}

TEST_CASE("format_ip and format_mac") {
    CHECK(format_ip(Family::V4, 0xc0000201u) == "192.0.2.1");
    CHECK(format_ip(Family::V4, 0) == "0.0.0.0");
    CHECK(format_ip(Family::V6, v6addr(0x20010db800000000ull, 1)) == "2001:db8::1");
    CHECK(format_ip(Family::V6, 0) == "::");
    CHECK(format_mac(0x001122aabbccull) == "00:11:22:aa:bb:cc");
    CHECK(format_mac(0) == "00:00:00:00:00:00");
}

TEST_CASE("format_element: canonical text per type") {
    Diagnostics d;
    auto net = parse_ip(v6("2001:DB8:0:0::/32"), d);
    REQUIRE(net);
    CHECK(format_element(*net, FieldType::IpAny, SymbolTable::None) == "2001:db8::/32");
    auto host = parse_ip(v4("192.0.2.1"), d);
    CHECK(format_element(*host, FieldType::Ip4, SymbolTable::None) == "192.0.2.1");
    auto cidr = parse_ip(v4("192.0.2.9/24"), d);  // warns, keeps the network
    CHECK(format_element(*cidr, FieldType::Ip4, SymbolTable::None) == "192.0.2.0/24");

    Element range;
    range.family = Family::V4;
    range.lo = 0x0a000001;
    range.hi = 0x0a000005;
    range.prefix = -1;
    CHECK(format_element(range, FieldType::Ip4, SymbolTable::None) == "10.0.0.1-10.0.0.5");

    Element n;
    n.lo = n.hi = 8;
    CHECK(format_element(n, FieldType::Int, SymbolTable::IcmpType) == "echo-request");
    CHECK(format_element(n, FieldType::Int, SymbolTable::None) == "8");
    n.lo = n.hi = 46;
    CHECK(format_element(n, FieldType::Int, SymbolTable::Dscp) == "ef");
    n.lo = n.hi = 200;  // no name for 200
    CHECK(format_element(n, FieldType::Int, SymbolTable::Proto) == "200");
    n.lo = 8000;
    n.hi = 8099;
    CHECK(format_element(n, FieldType::Int, SymbolTable::None) == "8000-8099");
    n.lo = 1;
    n.hi = 17;  // ranges are always numeric
    CHECK(format_element(n, FieldType::Int, SymbolTable::Proto) == "1-17");

    Element mac;
    mac.lo = mac.hi = 0x020000000001ull;
    CHECK(format_element(mac, FieldType::Mac, SymbolTable::None) == "02:00:00:00:00:01");
}

TEST_CASE("interface names pack into an element") {
    Element e = iface_element("eth0");
    CHECK(e.lo == e.hi);
    CHECK(iface_name(e) == "eth0");
    CHECK(iface_name(iface_element("fifteen-bytes-x")) == "fifteen-bytes-x");
    CHECK_FALSE(iface_element("eth0") == iface_element("eth1"));
    CHECK(format_element(e, FieldType::Iface, SymbolTable::None) == "\"eth0\"");
    CHECK(quote_string("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\x01\"");
}

TEST_CASE("element_token: names and ranges split as the grammar does") {
    auto name = element_token("echo-request", 0, 0);
    REQUIRE(name);
    CHECK(name->lo.kind == ast::Value::Kind::Symbol);
    CHECK(name->lo.text == "echo-request");
    CHECK_FALSE(name->hi);
    auto range = element_token("1000 - 2000", 0, 0);
    REQUIRE(range);
    CHECK(range->lo.text == "1000");
    REQUIRE(range->hi);
    CHECK(range->hi->text == "2000");
    // A trailing '-' is a range missing its high end, not a name.
    CHECK_FALSE(element_token("tcp-", 0, 0));
    CHECK_FALSE(element_token("-", 0, 0));
}

TEST_CASE("parse_ip_plain: the set-file fast path reads what parse_ip reads, or declines") {
    auto full = [](const std::string& text) -> std::optional<Element> {
        Diagnostics d;
        ast::Value v;
        v.text = text;
        auto e = parse_ip(v, d);
        if (!d.list().empty()) return std::nullopt;  // a warning or an error: the full path's job
        return e;
    };
    for (std::string t : {"192.0.2.7", "0.0.0.0", "255.255.255.255", "198.18.0.0/15", "10.0.0.0/8", "0.0.0.0/0",
                          "1.2.3.4/32", "2001:db8::1", "2001:db8::/32", "::", "::/0", "::ffff:192.0.2.1",
                          "2001:2:0:0:0:0:0:1/128", "fe80::/10"}) {
        CAPTURE(t);
        auto fast = parse_ip_plain(t);
        auto slow = full(t);
        REQUIRE(fast);
        REQUIRE(slow);
        CHECK(fast->family == slow->family);
        CHECK(fast->lo == slow->lo);
        CHECK(fast->hi == slow->hi);
        CHECK(fast->prefix == slow->prefix);
    }
    // Declined: errors, host bits set (a warning), spellings left to the full path, non-addresses.
    for (const std::string& t : std::vector<std::string>{"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4/33", "1.2.3.4/", "1.2.3.4/024",
                          "1.2.3.4/-1", "192.0.2.1/24", "1.2.3.4 ", " 1.2.3.4", "1.2.3.4-1.2.3.9", "2001:db8::1/129",
                          "2001:db8::1/64", "2001:db8:::1", "tcp", "80", "02:00:5e:00:53:01", "1.2.3.4/3x",
                          std::string(100, '1') + ":"}) {
        CAPTURE(t);
        CHECK_FALSE(parse_ip_plain(t));
    }
}
