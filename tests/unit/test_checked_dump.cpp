// Canonical dump of a checked program: spelling-independent, no paths or positions.
#include <doctest/doctest.h>

#include "checked_dump.hpp"
#include "parser.hpp"
#include "sema.hpp"

using namespace weir;

namespace {

std::string dumped(const std::string& src, const std::string& path = "/tmp/weir-dump-test.weir") {
    SourceManager sm;
    Diagnostics diags;
    FileId id = sm.add(path, src);
    auto file = parse(sm, id, diags);
    REQUIRE_MESSAGE(file, render_text(sm, diags));
    Program p = check(sm, {*file}, diags);
    REQUIRE_MESSAGE(!diags.has_errors(), render_text(sm, diags));
    return dump(p);
}

}  // namespace

TEST_CASE("two spellings of one program dump the same") {
    std::string a = R"(
const web = { 80, 443, 8000-8099 }
set protos : proto = { tcp, udp }
set nets : ip = { 10.0.0.0/8, 2001:db8::/32 }
policy edge default pass {
    web:  pass if tcp.dport in $web and not tcp.flags.rst
    ping: pass if icmp.type == echo-request or (ip.dscp == ef and ip.ttl > 64)
    bad:  drop if ip.src == 192.0.2.0/24 and ip.proto in @protos
    p:    drop if payload[0:4] == "GET "
    nets: drop if ip.dst in @nets
    tally: count
}
test "t" {
    packet tcp 10.0.0.1:1000 -> 10.0.0.2:80 flags syn,ack ttl 9
    expect pass by web
}
)";
    std::string b = R"(
# the same, spelled differently
const web = {0x50, 0x1bb, 8000 - 0x1fa3,}
set protos : proto = {6, 17}
set nets : ip = { 10.0.0.0/8, 2001:DB8:0::/32 }
policy edge default pass {
    web: pass if (tcp.dport in { $web }) and (not tcp.flags.rst)
    ping: pass if (icmp.type == 8) or ip.dscp == 46 and ip.ttl > 0x40
    bad: drop if (ip4.src == 192.0.2.0/24 and ip.proto in @protos)
    p: drop if payload[0:4] == 0x47455420
    nets: drop if ip.dst in @nets
    tally: count
}
test "t" policy edge {
    packet tcp 10.0.0.1:1000 -> 10.0.0.2:0x50 flags ack, syn ttl 0x9
    expect pass by web
}
)";
    std::string da = dumped(a);
    CHECK(da == dumped(b));
    CHECK(da.find("tcp.dport in { 80, 443, 8000-8099 } and not tcp.flags.rst") != std::string::npos);
    CHECK(da.find("icmp.type == echo-request or ip.dscp == ef and ip.ttl > 64") != std::string::npos);
    CHECK(da.find("ip4.src == 192.0.2.0/24") != std::string::npos);
    CHECK(da.find("payload[0:4] == 0x47455420") != std::string::npos);
    CHECK(da.find("set protos : proto = { tcp, udp }") != std::string::npos);
    CHECK(da.find("set nets : ip = { 10.0.0.0/8, 2001:db8::/32 }") != std::string::npos);
    CHECK(da.find("test \"t\" policy edge {") != std::string::npos);
    CHECK(da.find("expect pass by web") != std::string::npos);
    CHECK(da.find("flags syn,ack") != std::string::npos);
}

TEST_CASE("dump keeps element order and parenthesises by precedence") {
    std::string d = dumped(R"(
policy p default drop {
    a: pass if tcp.dport in { 443, 80 } and (udp.dport == 1 or udp.dport == 2)
    b: pass if not (tcp.flags.syn and tcp.flags.ack)
    c: redirect "eth1" if pkt.iface == "eth0"
}
)");
    CHECK(d == "policy p default drop {\n"
               "    a: pass if tcp.dport in { 443, 80 } and (udp.dport == 1 or udp.dport == 2)\n"
               "    b: pass if not (tcp.flags.syn and tcp.flags.ack)\n"
               "    c: redirect \"eth1\" if pkt.iface == \"eth0\"\n"
               "}\n");
}

TEST_CASE("dump has no paths or positions, set files dump their elements") {
    std::string path = std::string(WEIR_TEST_DATA) + "/unit/data/sema/reference.weir";
    SourceManager sm;
    Diagnostics diags;
    std::string err;
    FileId id = sm.load(path, err);
    REQUIRE(id != kNoFile);
    auto file = parse(sm, id, diags);
    REQUIRE(file);
    Program p = check(sm, {*file}, diags);
    REQUIRE(!diags.has_errors());
    std::string d = dump(p);
    CHECK(d.find("admins.txt") == std::string::npos);
    CHECK(d.find("reference.weir") == std::string::npos);
    CHECK(d.find("set admins : ip4 = { 198.51.100.7, 198.51.100.8, 203.0.113.0/28 }") != std::string::npos);
    CHECK(d.find("ssh-admin: pass if tcp.dport == 22 and ip4.src in @admins") != std::string::npos);
    CHECK(d.find("tally: count\n") != std::string::npos);
    CHECK(dump(p, p.policies[0].rules[6].cond) == "icmp.type == echo-request");
}
