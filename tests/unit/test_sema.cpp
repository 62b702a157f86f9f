// The checker: names, values, consts, sets, rewrites, tests; every error code with its range.
#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <sstream>

#include "parser.hpp"
#include "sema.hpp"

using namespace weir;

namespace {

const std::string kData = std::string(WEIR_TEST_DATA) + "/unit/data/sema/";

struct Checked {
    SourceManager sm;
    Diagnostics diags;
    Program prog;
    bool parsed = false;

    // The first diagnostic with `code`; fails the test if there is none.
    const Diagnostic& diag(const std::string& code) const {
        for (const auto& d : diags.list())
            if (d.code == code) return d;
        FAIL("no diagnostic '" << code << "' in:\n" << render_text(sm, diags));
        static Diagnostic none;
        return none;
    }
    std::size_t count(const std::string& code) const {
        std::size_t n = 0;
        for (const auto& d : diags.list()) n += d.code == code;
        return n;
    }
    std::string text(SourceRange r) const { return std::string(sm.text(r)); }
    std::string at(const std::string& code) const { return text(diag(code).range); }
    std::string all() const { return render_text(sm, diags); }
};

// Adds `src` under `path` (set files resolve next to it), parses and checks it.
std::unique_ptr<Checked> check_text(const std::string& src, const std::string& path = kData + "inline.weir") {
    auto c = std::make_unique<Checked>();
    FileId id = c->sm.add(path, src);
    auto file = parse(c->sm, id, c->diags);
    c->parsed = file.has_value();
    if (!file) {
        FAIL_CHECK("parse failed:\n" << c->all());
        return c;
    }
    c->prog = check(c->sm, {*file}, c->diags);
    return c;
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A policy with one rule `r: drop if COND`, plus extra declarations before it.
std::unique_ptr<Checked> rule(const std::string& cond, const std::string& before = "") {
    return check_text(before + "\npolicy p default pass {\n    r: drop if " + cond + "\n}\n");
}

const Expr& cond(const Checked& c, std::size_t rule_i = 0) { return c.prog.policies.at(0).rules.at(rule_i).cond; }

}  // namespace

TEST_CASE("reference policy checks clean and has the expected shape") {
    auto c = check_text(slurp(kData + "reference.weir"), kData + "reference.weir");
    REQUIRE(c->parsed);
    CHECK_MESSAGE(c->diags.list().empty(), c->all());
    const Program& p = c->prog;

    REQUIRE(p.sets.size() == 3);
    CHECK(p.sets[0].name == "bogons");
    CHECK(p.sets[0].elems.size() == 2);
    CHECK(p.sets[1].name == "blocklist");
    CHECK(p.sets[1].elems[1].family == Family::V6);
    CHECK(p.sets[1].elems[1].prefix == 48);
    CHECK(p.sets[2].name == "admins");
    CHECK(p.sets[2].type == SetType::Ip4);
    CHECK(p.sets[2].from_file);
    REQUIRE(p.sets[2].elems.size() == 3);
    CHECK(p.sets[2].elems[0].lo == 0xc6336407u);  // 198.51.100.7
    CHECK(p.sets[2].elems[2].prefix == 28);

    REQUIRE(p.policies.size() == 1);
    const Policy& edge = p.policies[0];
    CHECK(edge.name == "edge");
    CHECK(edge.default_verdict == Verdict::Pass);
    CHECK(edge.sets == std::vector<int>{0, 1, 2});
    REQUIRE(edge.rules.size() == 8);

    const Rule& bogons = edge.rules[0];
    CHECK(bogons.action.kind == Action::Kind::Drop);
    CHECK(bogons.cond.kind == Expr::Kind::In);
    CHECK(bogons.cond.set == 0);
    CHECK(bogons.cond.field == FieldId::IpSrc);  // an `ip` set may mix families

    const Expr& ssh = edge.rules[2].cond;
    REQUIRE(ssh.kind == Expr::Kind::And);
    CHECK(ssh.kids[0].kind == Expr::Kind::Compare);
    CHECK(ssh.kids[0].field == FieldId::TcpDport);
    CHECK(ssh.kids[0].value.lo == 22);
    CHECK(ssh.kids[1].field == FieldId::Ip4Src);  // @admins is ip4
    CHECK(ssh.kids[1].set == 2);

    const Expr& web = edge.rules[4].cond;
    REQUIRE(web.kind == Expr::Kind::And);
    CHECK(web.kids[0].kind == Expr::Kind::In);
    CHECK(web.kids[0].set == -1);
    REQUIRE(web.kids[0].elems.size() == 3);
    CHECK(web.kids[0].elems[2].lo == 8000);
    CHECK(web.kids[0].elems[2].hi == 8099);
    CHECK(web.kids[1].kind == Expr::Kind::Not);
    CHECK(web.kids[1].kids[0].kind == Expr::Kind::Test);
    CHECK(web.kids[1].kids[0].field == FieldId::TcpFlagRst);

    const Expr& dns = edge.rules[5].cond;
    CHECK(dns.kids[1].field == FieldId::PktLen);
    CHECK(dns.kids[1].op == Cmp::Gt);
    CHECK(dns.kids[1].value.lo == 512);

    CHECK(edge.rules[6].cond.field == FieldId::IcmpType);
    CHECK(edge.rules[6].cond.value.lo == 8);
    CHECK(edge.rules[7].action.kind == Action::Kind::Count);
    CHECK_FALSE(edge.rules[7].has_cond);
    CHECK(edge.rules[7].cond.kind == Expr::Kind::True);
    CHECK(c->text(edge.rules[7].name_range) == "tally");

    REQUIRE(p.tests.size() == 1);
    const TestCase& t = p.tests[0];
    CHECK(t.name == "admins may ssh");
    CHECK(t.policy == 0);
    REQUIRE(t.probes.size() == 1);
    const PacketSpec& pk = t.probes[0].packet;
    CHECK(pk.family == Family::V4);
    CHECK(pk.proto == 6);
    CHECK(pk.src == 0xc6336407u);
    CHECK(pk.dst == 0xc0000201u);
    CHECK(pk.sport == 40000);
    CHECK(pk.dport == 22);
    CHECK(pk.tcp_flags == 0x02);
    CHECK(t.probes[0].expect == Verdict::Pass);
    CHECK(t.probes[0].by_rule == 2);
    CHECK_FALSE(t.probes[0].by_default);
}

TEST_CASE("reference policy with admins as an inline set") {
    std::string src = slurp(kData + "reference.weir");
    auto pos = src.find("file \"admins.txt\"");
    REQUIRE(pos != std::string::npos);
    src.replace(pos, 17, "{ 198.51.100.7, 198.51.100.8 }");
    auto c = check_text(src, "/nonexistent/reference.weir");
    CHECK_MESSAGE(c->diags.list().empty(), c->all());
    CHECK(c->prog.sets.at(2).elems.size() == 2);
}

TEST_CASE("duplicate names share one namespace") {
    auto c = check_text("const a = 1\nset a : port = { 1 }\npolicy a default pass { }\n");
    CHECK(c->count("duplicate-name") == 2);
    const auto& d = c->diag("duplicate-name");
    CHECK(c->text(d.range) == "a");
    CHECK(c->sm.line_col(d.range.file, d.range.begin).line == 2);
    REQUIRE(d.notes.size() == 1);
    CHECK(d.notes[0].message == "first defined here");
    CHECK(c->sm.line_col(d.notes[0].range.file, d.notes[0].range.begin).line == 1);
}

TEST_CASE("rule names: unique per policy, not 'default'") {
    auto c = check_text(
        "policy p default pass {\n  x: pass\n  x: drop\n}\npolicy q default drop {\n  x: pass\n}\n");
    CHECK(c->count("duplicate-rule") == 1);
    const auto& d = c->diag("duplicate-rule");
    CHECK(c->sm.line_col(d.range.file, d.range.begin).line == 3);
    REQUIRE(d.notes.size() == 1);
    CHECK(c->sm.line_col(d.notes[0].range.file, d.notes[0].range.begin).line == 2);

    SourceManager sm;
    Diagnostics diags;
    FileId id = sm.add("t.weir", "policy p default pass {\n  default: pass\n}\n");
    auto f = parse(sm, id, diags);
    if (f) {  // the parser may already refuse it; if not, the checker must
        check(sm, {*f}, diags);
        bool found = false;
        for (const auto& x : diags.list())
            if (x.code == "reserved-name") {
                found = true;
                CHECK(sm.text(x.range) == "default");
            }
        CHECK(found);
    } else {
        CHECK(diags.has_errors());
    }
}

TEST_CASE("unknown field suggests the closest name") {
    auto c = rule("tcp.dprt == 22");
    CHECK(c->at("unknown-field") == "tcp.dprt");
    CHECK(c->diag("unknown-field").message.find("did you mean 'tcp.dport'?") != std::string::npos);
}

TEST_CASE("symbols per field table") {
    auto c = rule("icmp.type == echo-requst or icmp6.type == echo-request or ip.proto == udp or eth.type == ipv6 "
                  "or ip.dscp == af41");
    CHECK(c->at("unknown-symbol") == "echo-requst");
    CHECK(c->diag("unknown-symbol").message.find("did you mean 'echo-request'") != std::string::npos);
    CHECK(c->diag("unknown-symbol").message.find("valid names include") != std::string::npos);
    CHECK(c->diags.errors() == 1);
    const Expr& e = cond(*c);
    CHECK(e.kids[1].value.lo == 128);
    CHECK(e.kids[2].value.lo == 17);
    CHECK(e.kids[3].value.lo == 0x86dd);
    CHECK(e.kids[4].value.lo == 34);

    auto n = rule("tcp.dport == ssh");
    CHECK(n->at("unknown-symbol") == "ssh");
}

TEST_CASE("boolean fields are tested bare only") {
    auto c = rule("tcp.flags.syn == 1");
    CHECK(c->at("flag-compare") == "tcp.flags.syn == 1");
    auto d = rule("tcp.dport");
    CHECK(d->at("not-a-flag") == "tcp.dport");
    auto ok = rule("tcp.flags.syn and not ip.frag");
    CHECK_MESSAGE(ok->diags.list().empty(), ok->all());
    CHECK(cond(*ok).kids[0].kind == Expr::Kind::Test);
    CHECK(cond(*ok).kids[1].kids[0].field == FieldId::IpFrag);
}

TEST_CASE("ordering operators: Int fields and single values only") {
    auto c = rule("ip4.src < 10.0.0.1");
    CHECK(c->at("invalid-operator") == "ip4.src < 10.0.0.1");
    auto r = rule("tcp.dport < 10-20");
    CHECK(r->at("invalid-operator") == "10-20");
    auto ok = rule("tcp.dport >= 1024 and ip.ttl <= 0x40");
    CHECK_MESSAGE(ok->diags.list().empty(), ok->all());
    CHECK(cond(*ok).kids[1].value.lo == 64);
    CHECK(cond(*ok).kids[1].op == Cmp::Le);
}

TEST_CASE("ranges: inverted and out of range") {
    auto c = rule("tcp.dport == 9-1");
    CHECK(c->at("inverted-range") == "9-1");
    auto o = rule("tcp.dport == 70000");
    CHECK(o->at("out-of-range") == "70000");
    CHECK(o->diag("out-of-range").message == "tcp.dport 70000 is out of range (0-65535)");
    auto v = rule("vlan.id == 4096");
    CHECK(v->diag("out-of-range").message == "vlan.id 4096 is out of range (0-4095)");
    auto s = rule("ip.proto == tcp-udp");  // one symbol, not a range
    CHECK(s->count("unknown-symbol") == 1);
    auto ok = rule("tcp.dport == 8000-8099");
    CHECK(ok->diags.list().empty());
    CHECK(cond(*ok).value.lo == 8000);
    CHECK(cond(*ok).value.hi == 8099);
}

TEST_CASE("ip.src/ip.dst rewrite by literal family") {
    auto c = check_text(
        "set v4 : ip4 = { 10.0.0.0/8 }\nset any : ip = { 10.0.0.0/8 }\n"
        "policy p default pass {\n"
        "  a: drop if ip.src == 10.0.0.1\n"
        "  b: drop if ip.dst == 2001:db8::/32\n"
        "  c: drop if ip.src in { 10.0.0.0/8, 192.0.2.1 }\n"
        "  d: drop if ip.dst not in { 2001:db8::/32, ::1 }\n"
        "  e: drop if ip.src in { 10.0.0.0/8, 2001:db8::/32 }\n"
        "  f: drop if ip.src in @v4\n"
        "  g: drop if ip.src in @any\n"
        "}\n");
    CHECK_MESSAGE(c->diags.list().empty(), c->all());
    const auto& r = c->prog.policies.at(0).rules;
    CHECK(r[0].cond.field == FieldId::Ip4Src);
    CHECK(r[1].cond.field == FieldId::Ip6Dst);
    CHECK(r[1].cond.value.prefix == 32);
    CHECK(r[2].cond.field == FieldId::Ip4Src);
    CHECK(r[3].cond.field == FieldId::Ip6Dst);
    CHECK(r[3].cond.negated);
    CHECK(r[4].cond.field == FieldId::IpSrc);
    CHECK(r[5].cond.field == FieldId::Ip4Src);
    CHECK(r[6].cond.field == FieldId::IpSrc);
}

TEST_CASE("type mismatches") {
    auto c = rule("ip4.src == 2001:db8::1");
    CHECK(c->at("type-mismatch") == "2001:db8::1");
    CHECK(c->diag("type-mismatch").message == "ip4.src is an IPv4 address; 2001:db8::1 is IPv6");
    auto m = rule("eth.src == 80");
    CHECK(m->at("type-mismatch") == "80");
    auto p = rule("tcp.dport == 192.0.2.1");
    CHECK(p->diag("type-mismatch").message.find("192.0.2.1 is an IPv4 address") != std::string::npos);
    auto ok = rule("eth.src == 02:00:5e:00:53:01 and pkt.iface == \"eth0\"");
    CHECK_MESSAGE(ok->diags.list().empty(), ok->all());
    CHECK(cond(*ok).kids[0].value.lo == 0x02005e005301ull);
}

TEST_CASE("interface names") {
    auto c = rule("pkt.iface == \"this-name-is-too-long\"");
    CHECK(c->at("invalid-iface") == "\"this-name-is-too-long\"");
    auto r = check_text("policy p default pass {\n  out: redirect \"\"\n}\n");
    CHECK(r->at("invalid-iface") == "\"\"");
    auto ok = check_text("policy p default pass {\n  out: redirect \"eth1\" if tcp.dport == 80\n}\n");
    CHECK(ok->diags.list().empty());
    CHECK(ok->prog.policies[0].rules[0].action.kind == Action::Kind::Redirect);
    CHECK(ok->prog.policies[0].rules[0].action.ifname == "eth1");
}

TEST_CASE("consts: converted at each use, spliced, errors noted at the use") {
    auto c = rule("tcp.dport in { $web, 9000 } or udp.dport in $one or ip.src == $office",
                  "const web = { 80, 443, 8000-8099 }\nconst one = 53\nconst office = 198.51.100.0/24\n");
    CHECK_MESSAGE(c->diags.list().empty(), c->all());
    const Expr& e = cond(*c);
    CHECK(e.kids[0].elems.size() == 4);
    CHECK(e.kids[0].elems[3].lo == 9000);
    REQUIRE(e.kids[1].elems.size() == 1);
    CHECK(e.kids[1].elems[0].lo == 53);
    CHECK(e.kids[2].field == FieldId::Ip4Src);
    CHECK(e.kids[2].value.prefix == 24);

    auto bad = rule("tcp.dport in $p", "const p = { 80, 70000 }\n");
    const auto& d = bad->diag("out-of-range");
    CHECK(bad->text(d.range) == "70000");
    REQUIRE(d.notes.size() == 1);
    CHECK(d.notes[0].message == "used here");
    CHECK(bad->text(d.notes[0].range) == "$p");

    // Same const used by two fields: it is converted per field.
    auto two = rule("ip.proto == $x or tcp.dport == $x", "const x = 300\n");
    CHECK(two->count("out-of-range") == 1);
    CHECK(two->diag("out-of-range").message.find("ip.proto") != std::string::npos);

    auto nested = rule("tcp.dport in $outer", "const inner = { 99999 }\nconst outer = { $inner, 1 }\n");
    const auto& n = nested->diag("out-of-range");
    REQUIRE(n.notes.size() == 2);
    CHECK(nested->text(n.notes[0].range) == "$inner");
    CHECK(nested->text(n.notes[1].range) == "$outer");
}

TEST_CASE("consts: set used with ==, unknown, cycles") {
    auto c = rule("tcp.dport == $web", "const web = { 80, 443 }\n");
    CHECK(c->at("set-compare") == "$web");
    CHECK(c->diag("set-compare").message.find("in $web") != std::string::npos);
    auto u = rule("tcp.dport == $wbe", "const web = 80\n");
    CHECK(u->at("unknown-const") == "$wbe");
    CHECK(u->diag("unknown-const").message.find("did you mean 'web'") != std::string::npos);
    auto cyc = rule("tcp.dport in $a", "const a = { $b }\nconst b = { $a }\n");
    CHECK(cyc->count("const-cycle") == 1);
    auto unused = check_text("const junk = 99999999\n");  // untyped until used
    CHECK(unused->diags.list().empty());
}

TEST_CASE("named sets: types, elements, compatibility") {
    auto c = check_text(
        "set ports : port = { 22, 70000, 8000-8099 }\n"
        "set v4 : ip4 = { 10.0.0.1, 2001:db8::1 }\n"
        "set protos : proto = { tcp, 17, 1-2 }\n"
        "set macs : mac = { 02:00:00:00:00:01 }\n"
        "set weird : ipv4 = { 1 }\n"
        "policy p default pass {\n"
        "  a: drop if tcp.dport in @ports\n"
        "  b: drop if tcp.dport in @v4\n"
        "  c: drop if ip.proto in @protos\n"
        "  d: drop if eth.src not in @macs\n"
        "  e: drop if ip6.src in @v4\n"
        "  f: drop if tcp.dport in @nope\n"
        "  g: drop if tcp.window in @ports\n"
        "}\n");
    CHECK(c->at("out-of-range") == "70000");
    CHECK(c->diag("out-of-range").message == "port 70000 is out of range (0-65535)");
    CHECK(c->count("unknown-set-type") == 1);
    CHECK(c->at("unknown-set-type") == "ipv4");
    CHECK(c->at("unknown-set") == "@nope");
    std::size_t mism = 0;
    for (const auto& d : c->diags.list()) {
        if (d.code != "type-mismatch") continue;
        ++mism;
        std::string t = c->text(d.range);
        CHECK((t == "2001:db8::1" || t == "@v4" || t == "@ports"));
    }
    CHECK(mism == 4);  // element 2001:db8::1, b, e, g
    const auto& sets = c->prog.sets;
    CHECK(sets[0].elems.size() == 2);  // the bad element is dropped, the rest kept
    CHECK(sets[2].elems.size() == 3);
    CHECK(sets[2].elems[0].lo == 6);
    CHECK(c->prog.policies[0].rules[2].cond.set == 2);
    CHECK(c->prog.policies[0].rules[3].cond.negated);
}

TEST_CASE("set files: relative path, comments, ranges, errors point into the file") {
    auto c = check_text("set p : port = file \"ports.txt\"\nset bad : ip = file \"bad_line3.txt\"\n"
                        "set gone : ip = file \"nope.txt\"\n");
    CHECK(c->prog.sets[0].elems.size() == 3);
    CHECK(c->prog.sets[0].elems[1].lo == 8000);
    CHECK(c->prog.sets[0].elems[1].hi == 8099);
    CHECK(c->prog.sets[0].elems[2].lo == 80);
    CHECK(c->prog.sets[0].file == kData + "ports.txt");

    const auto& d = c->diag("invalid-address");
    CHECK(c->sm.file(d.range.file).path == kData + "bad_line3.txt");
    LineCol lc = c->sm.line_col(d.range.file, d.range.begin);
    CHECK(lc.line == 3);
    CHECK(lc.col == 1);
    CHECK(c->text(d.range) == "10.0.0.300");
    CHECK(render_text(c->sm, d).find("bad_line3.txt:3:1: error") != std::string::npos);
    CHECK(c->prog.sets[1].elems.size() == 2);  // keeps going after the bad line

    CHECK(c->at("set-file-unreadable") == "\"nope.txt\"");
}

TEST_CASE("payload matches") {
    auto c = rule("payload[60:8] == \"abcdefgh\"");
    CHECK(c->at("payload-bounds") == "60:8");
    auto z = rule("payload[0:0] == \"\"");
    CHECK(z->count("payload-bounds") == 1);
    auto l = rule("payload[0:4] == \"GE\"");
    CHECK(l->at("payload-length") == "\"GE\"");
    auto h = rule("payload[0:2] == 0x474");
    CHECK(h->at("invalid-hex") == "0x474");
    auto ok = rule("payload[0:4] == \"GET \" or payload[2:2] != 0x4745");
    CHECK_MESSAGE(ok->diags.list().empty(), ok->all());
    CHECK(cond(*ok).kids[0].bytes == std::vector<std::uint8_t>{'G', 'E', 'T', ' '});
    CHECK(cond(*ok).kids[1].offset == 2);
    CHECK(cond(*ok).kids[1].op == Cmp::Ne);
    CHECK(cond(*ok).kids[1].bytes == std::vector<std::uint8_t>{0x47, 0x45});
}

TEST_CASE("tests: policy binding") {
    auto two = check_text("policy a default pass { }\npolicy b default pass { }\n"
                          "test \"t\" {\n  packet udp 10.0.0.1 -> 10.0.0.2\n  expect pass\n}\n");
    const auto& d = two->diag("ambiguous-test-policy");
    CHECK(two->text(d.range) == "\"t\"");
    CHECK(d.notes.size() == 2);
    auto none = check_text("test \"t\" {\n  packet udp 10.0.0.1 -> 10.0.0.2\n  expect pass\n}\n");
    CHECK(none->count("ambiguous-test-policy") == 1);
    auto named = check_text("policy a default pass { }\npolicy b default drop { }\n"
                            "test \"t\" policy b {\n  packet udp 10.0.0.1 -> 10.0.0.2\n  expect drop by default\n}\n"
                            "test \"u\" policy c {\n  packet udp 10.0.0.1 -> 10.0.0.2\n  expect drop\n}\n");
    CHECK(named->prog.tests.at(0).policy == 1);
    CHECK(named->prog.tests[0].probes[0].by_default);
    CHECK(named->at("unknown-policy") == "c");
    auto dup = check_text("policy a default pass { }\n"
                          "test \"t\" {\n  packet udp 10.0.0.1 -> 10.0.0.2\n  expect pass\n}\n"
                          "test \"t\" {\n  packet udp 10.0.0.1 -> 10.0.0.2\n  expect pass\n}\n");
    CHECK(dup->at("duplicate-test") == "\"t\"");
}

TEST_CASE("tests: expect by rule") {
    const std::string pol =
        "policy p default pass {\n  tally: count\n  block: drop if tcp.dport == 23\n}\n";
    auto c = check_text(pol +
                        "test \"a\" {\n  packet tcp 10.0.0.1:1 -> 10.0.0.2:23\n  expect pass by block\n"
                        "  packet tcp 10.0.0.1:1 -> 10.0.0.2:23\n  expect drop by blok\n"
                        "  packet tcp 10.0.0.1:1 -> 10.0.0.2:23\n  expect pass by tally\n"
                        "  packet tcp 10.0.0.1:1 -> 10.0.0.2:22\n  expect drop by default\n}\n");
    const auto& m = c->diag("expect-mismatch");
    CHECK(c->text(m.range) == "pass");
    REQUIRE(m.notes.size() == 1);
    CHECK(c->sm.line_col(m.notes[0].range.file, m.notes[0].range.begin).line == 3);
    CHECK(c->at("unknown-rule") == "blok");
    CHECK(c->diag("unknown-rule").message.find("did you mean 'block'") != std::string::npos);
    CHECK(c->at("expect-count-rule") == "tally");
    CHECK(c->count("expect-mismatch") == 2);  // the `by default` one too
    CHECK(c->prog.tests[0].probes[0].by_rule == 1);
}

TEST_CASE("tests: packet options") {
    auto ok = check_text(
        "policy p default pass { }\n"
        "test \"opts\" {\n"
        "  packet tcp [2001:db8::1]:1000 -> 2001:db8::2 flags syn, ack window 0x100 ttl 3 dscp ef flowlabel 7 "
        "vlan 10, 20 pcp 5 payload \"hi\" len 200 iface \"eth0\" src-mac 02:00:00:00:00:09 frag first\n"
        "  expect pass\n"
        "  packet icmp6 2001:db8::1 -> 2001:db8::2 type echo-reply code 0\n  expect pass\n"
        "  packet icmp 10.0.0.1 -> 10.0.0.2 type destination-unreachable code 3\n  expect pass\n"
        "  packet ip 10.0.0.1 -> 10.0.0.2 proto gre\n  expect pass\n"
        "  packet hex \"0011 2233\" iface \"eth1\"\n  expect pass\n"
        "}\n");
    CHECK_MESSAGE(ok->diags.list().empty(), ok->all());
    const auto& pr = ok->prog.tests.at(0).probes;
    REQUIRE(pr.size() == 5);
    const PacketSpec& a = pr[0].packet;
    CHECK(a.family == Family::V6);
    CHECK(a.sport == 1000);
    CHECK(a.tcp_flags == 0x12);
    CHECK(a.window == 256);
    CHECK(a.ttl == 3);
    CHECK(a.dscp == 46);
    CHECK(a.flowlabel == 7);
    CHECK(a.vlans == std::vector<std::uint16_t>{static_cast<std::uint16_t>((5 << 13) | 10), 20});
    CHECK(a.payload == std::vector<std::uint8_t>{'h', 'i'});
    CHECK(a.frame_len == 200u);
    CHECK(a.iface == "eth0");
    CHECK(a.eth_src[5] == 9);
    CHECK(a.frag == PacketSpec::Frag::First);
    CHECK(pr[1].packet.proto == 58);
    CHECK(pr[1].packet.icmp_type == 129);
    CHECK(pr[2].packet.icmp_type == 3);
    CHECK(pr[2].packet.icmp_code == 3);
    CHECK(pr[3].packet.proto == 47);
    CHECK(pr[4].packet.is_raw);
    CHECK(pr[4].packet.raw == std::vector<std::uint8_t>{0x00, 0x11, 0x22, 0x33});
    CHECK(pr[4].packet.iface == "eth1");
}

TEST_CASE("tests: packet errors") {
    auto c = check_text(
        "policy p default pass { }\n"
        "test \"bad\" {\n"
        "  packet tcp 10.0.0.1 -> 2001:db8::2\n  expect pass\n"
        "  packet icmp 10.0.0.1:5 -> 10.0.0.2\n  expect pass\n"
        "  packet udp 10.0.0.1 -> 10.0.0.2 flags syn\n  expect pass\n"
        "  packet udp 10.0.0.1 -> 10.0.0.2 vlan 5000\n  expect pass\n"
        "  packet udp 10.0.0.1 -> 10.0.0.2 colour red\n  expect pass\n"
        "  packet hex \"abc\"\n  expect pass\n"
        "  packet tcp 10.0.0.1 -> 10.0.0.2 flags syn, bogus\n  expect pass\n"
        "}\n");
    CHECK(c->at("packet-family-mismatch") == "2001:db8::2");
    CHECK(c->at("packet-port") == "5");
    CHECK(c->at("option-not-applicable") == "flags");
    CHECK(c->at("out-of-range") == "5000");
    CHECK(c->at("unknown-option") == "colour");
    CHECK(c->at("invalid-hex") == "\"abc\"");
    CHECK(c->at("unknown-symbol") == "bogus");
}

TEST_CASE("many errors are reported in one run") {
    auto c = check_text(
        "policy p default pass {\n"
        "  a: drop if tcp.dprt == 1\n"
        "  b: drop if tcp.dport == 70000\n"
        "  c: drop if ip4.src == ::1\n"
        "  d: drop if tcp.dport in @missing\n"
        "}\n"
        "policy q default drop {\n"
        "  e: drop if icmp.type == nope\n"
        "}\n");
    CHECK(c->diags.errors() == 5);
}
