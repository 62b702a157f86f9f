// Stage 1 tests: the grammar (PEGTL analysis), text -> AST with exact ranges, syntax errors.
#include <doctest/doctest.h>

#include <string>
#include <tao/pegtl/contrib/analyze.hpp>

#include "grammar.hpp"
#include "parser.hpp"

using namespace weir;
using EK = ast::Expr::Kind;
using VK = ast::Value::Kind;

namespace {

struct Parsed {
    SourceManager sm;
    Diagnostics diags;
    std::optional<ast::File> file;

    explicit Parsed(std::string text) {
        FileId id = sm.add("t.weir", std::move(text));
        file = parse(sm, id, diags);
    }
    std::string text(SourceRange r) const { return std::string(sm.text(r)); }
    const ast::Decl& decl(std::size_t i) const { return file->decls.at(i); }
    // "line:col: message" of the single syntax error.
    std::string error() const {
        REQUIRE(diags.list().size() == 1);
        const auto& d = diags.list()[0];
        LineCol lc = sm.line_col(d.range.file, d.range.begin);
        return std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": " + d.message;
    }
    std::string error_token() const { return text(diags.list().at(0).range); }
};

// Parses `policy p default pass { r: drop if COND }` and returns the condition.
struct Cond : Parsed {
    explicit Cond(const std::string& cond) : Parsed("policy p default pass {\n r: drop if " + cond + "\n}\n") {
        REQUIRE_MESSAGE(file.has_value(), render_text(sm, diags));
    }
    const ast::Expr& expr() const { return *std::get<ast::Policy>(decl(0)).rules.at(0).cond; }
};

const char* kReference = R"(include "std/bogons.weir"
const web    = { 80, 443, 8000-8099 }
const office = 198.51.100.0/24
set blocklist : ip  = { 192.0.2.0/24, 2001:db8:bad::/48 }
set admins    : ip4 = file "admins.txt"
policy edge default pass {
    bogons:    drop if ip.src in @bogons
    blocked:   drop if ip.src in @blocklist
    ssh-admin: pass if tcp.dport == 22 and ip.src in @admins
    ssh-other: drop if tcp.dport == 22
    web:       pass if tcp.dport in $web and not tcp.flags.rst
    dns-amp:   drop if udp.sport == 53 and pkt.len > 512
    ping:      pass if icmp.type == echo-request
    tally:     count
    http:      pass if payload[0:4] == "GET " or payload[0:4] == 0x504f5354
    fwd:       redirect "eth1" if vlan.id == 100
}
test "admins may ssh" {
    packet tcp 198.51.100.7:40000 -> 192.0.2.1:22 flags syn
    expect pass by ssh-admin
}
test "v6" policy edge {
    packet udp [2001:db8::1]:5353 -> [2001:db8::2]:53 len 600 vlan 10, 20 payload "x"
    expect drop by dns-amp
    packet hex "02 00 00 00 00 02  02 00 00 00 00 01 08 00"
    expect pass by default
}
)";

}  // namespace

TEST_CASE("grammar has no left recursion or empty loops") {
    CHECK(tao::pegtl::analyze<weir::grammar::file>(-1) == 0);
}

TEST_CASE("the reference policy parses") {
    Parsed p(kReference);
    REQUIRE_MESSAGE(p.file.has_value(), render_text(p.sm, p.diags));
    CHECK(p.diags.list().empty());
    REQUIRE(p.file->decls.size() == 8);

    const auto& inc = std::get<ast::Include>(p.decl(0));
    CHECK(inc.path.kind == VK::String);
    CHECK(inc.path.text == "std/bogons.weir");
    CHECK(p.text(inc.path.range) == "\"std/bogons.weir\"");
    CHECK(p.text(inc.range) == "include \"std/bogons.weir\"");

    const auto& web = std::get<ast::Const>(p.decl(1));
    CHECK(web.name.text == "web");
    CHECK(web.is_set);
    CHECK(p.text(web.set.range) == "{ 80, 443, 8000-8099 }");
    REQUIRE(web.set.items.size() == 3);
    CHECK(web.set.items[2].lo.text == "8000");
    REQUIRE(web.set.items[2].hi.has_value());
    CHECK(web.set.items[2].hi->text == "8099");
    CHECK(p.text(web.set.items[2].range) == "8000-8099");
    CHECK(p.text(web.range) == "const web    = { 80, 443, 8000-8099 }");

    const auto& office = std::get<ast::Const>(p.decl(2));
    CHECK_FALSE(office.is_set);
    CHECK(office.value.lo.kind == VK::Ipv4);
    CHECK(office.value.lo.text == "198.51.100.0/24");

    const auto& bl = std::get<ast::SetDecl>(p.decl(3));
    CHECK(bl.name.text == "blocklist");
    CHECK(bl.type.text == "ip");
    CHECK_FALSE(bl.from_file);
    REQUIRE(bl.items.size() == 2);
    CHECK(bl.items[1].lo.kind == VK::Ipv6);
    CHECK(bl.items[1].lo.text == "2001:db8:bad::/48");

    const auto& adm = std::get<ast::SetDecl>(p.decl(4));
    CHECK(adm.type.text == "ip4");
    CHECK(adm.from_file);
    CHECK(adm.file.text == "admins.txt");
    CHECK(p.text(adm.range) == "set admins    : ip4 = file \"admins.txt\"");

    const auto& pol = std::get<ast::Policy>(p.decl(5));
    CHECK(pol.name.text == "edge");
    CHECK(pol.default_verdict.text == "pass");
    CHECK(p.text(pol.default_verdict.range) == "pass");
    REQUIRE(pol.rules.size() == 10);
    CHECK(p.text(pol.range).starts_with("policy edge default pass {"));
    CHECK(p.text(pol.range).ends_with("== 100\n}"));

    const auto& bogons = pol.rules[0];
    CHECK(bogons.name.text == "bogons");
    CHECK(bogons.action.kind == ast::Action::Kind::Drop);
    CHECK(p.text(bogons.range) == "bogons:    drop if ip.src in @bogons");
    CHECK(bogons.cond->kind == EK::In);
    CHECK(bogons.cond->set->kind == ast::SetRef::Kind::Named);
    CHECK(bogons.cond->set->name.text == "bogons");
    CHECK(p.text(bogons.cond->set->range) == "@bogons");

    const auto& ssh = pol.rules[2];
    CHECK(ssh.name.text == "ssh-admin");
    CHECK(ssh.action.kind == ast::Action::Kind::Pass);
    CHECK(ssh.cond->kind == EK::And);
    CHECK(p.text(ssh.cond->range) == "tcp.dport == 22 and ip.src in @admins");
    REQUIRE(ssh.cond->kids.size() == 2);
    CHECK(ssh.cond->kids[0].kind == EK::Compare);
    CHECK(ssh.cond->kids[0].field.text == "tcp.dport");
    CHECK(ssh.cond->kids[0].rhs.lo.kind == VK::Int);
    CHECK(p.text(ssh.cond->kids[0].range) == "tcp.dport == 22");

    const auto& webr = pol.rules[4];
    REQUIRE(webr.cond->kids.size() == 2);
    CHECK(webr.cond->kids[0].set->kind == ast::SetRef::Kind::Const);
    CHECK(webr.cond->kids[0].set->name.text == "web");
    CHECK(webr.cond->kids[1].kind == EK::Not);
    CHECK(p.text(webr.cond->kids[1].range) == "not tcp.flags.rst");
    CHECK(webr.cond->kids[1].kids.at(0).kind == EK::Test);
    CHECK(webr.cond->kids[1].kids.at(0).field.text == "tcp.flags.rst");

    CHECK(pol.rules[5].cond->kids.at(1).op == ast::CmpOp::Gt);

    const auto& ping = pol.rules[6];
    CHECK(ping.cond->rhs.lo.kind == VK::Symbol);
    CHECK(ping.cond->rhs.lo.text == "echo-request");

    const auto& tally = pol.rules[7];
    CHECK(tally.action.kind == ast::Action::Kind::Count);
    CHECK_FALSE(tally.cond.has_value());
    CHECK(p.text(tally.range) == "tally:     count");

    const auto& http = pol.rules[8];
    REQUIRE(http.cond->kind == EK::Or);
    REQUIRE(http.cond->kids.size() == 2);
    const auto& get = http.cond->kids[0];
    CHECK(get.kind == EK::Payload);
    CHECK(get.payload->offset.text == "0");
    CHECK(get.payload->length.text == "4");
    CHECK(get.payload->bytes.kind == VK::String);
    CHECK(get.payload->bytes.text == "GET ");
    CHECK(p.text(get.range) == "payload[0:4] == \"GET \"");
    CHECK(http.cond->kids[1].payload->bytes.kind == VK::Int);
    CHECK(http.cond->kids[1].payload->bytes.text == "0x504f5354");

    const auto& fwd = pol.rules[9];
    CHECK(fwd.action.kind == ast::Action::Kind::Redirect);
    CHECK(fwd.action.target.text == "eth1");
    CHECK(p.text(fwd.action.range) == "redirect \"eth1\"");

    const auto& t1 = std::get<ast::Test>(p.decl(6));
    CHECK(t1.name.text == "admins may ssh");
    CHECK_FALSE(t1.policy.has_value());
    REQUIRE(t1.probes.size() == 1);
    const auto& pk = t1.probes[0].packet;
    CHECK(pk.proto.text == "tcp");
    CHECK(pk.src->addr.kind == VK::Ipv4);
    CHECK(pk.src->addr.text == "198.51.100.7");
    CHECK(pk.src->port->text == "40000");
    CHECK(p.text(pk.src->range) == "198.51.100.7:40000");
    CHECK(pk.dst->port->text == "22");
    REQUIRE(pk.opts.size() == 1);
    CHECK(pk.opts[0].key.text == "flags");
    CHECK(pk.opts[0].values.at(0).text == "syn");
    CHECK(p.text(pk.range) == "packet tcp 198.51.100.7:40000 -> 192.0.2.1:22 flags syn");
    CHECK(t1.probes[0].expect.verdict.text == "pass");
    CHECK(t1.probes[0].expect.by->text == "ssh-admin");
    CHECK(p.text(t1.probes[0].expect.range) == "expect pass by ssh-admin");

    const auto& t2 = std::get<ast::Test>(p.decl(7));
    CHECK(t2.policy->text == "edge");
    REQUIRE(t2.probes.size() == 2);
    const auto& v6 = t2.probes[0].packet;
    CHECK(v6.src->addr.kind == VK::Ipv6);
    CHECK(v6.src->addr.text == "2001:db8::1");
    CHECK(p.text(v6.src->addr.range) == "2001:db8::1");
    CHECK(v6.src->port->text == "5353");
    CHECK(p.text(v6.src->range) == "[2001:db8::1]:5353");
    REQUIRE(v6.opts.size() == 3);
    CHECK(v6.opts[0].key.text == "len");
    CHECK(v6.opts[1].key.text == "vlan");
    REQUIRE(v6.opts[1].values.size() == 2);
    CHECK(v6.opts[1].values[1].text == "20");
    CHECK(p.text(v6.opts[1].range) == "vlan 10, 20");
    CHECK(v6.opts[2].values.at(0).kind == VK::String);
    const auto& hex = t2.probes[1].packet;
    CHECK(hex.proto.text == "hex");
    CHECK(p.text(hex.proto.range) == "hex");
    CHECK_FALSE(hex.src.has_value());
    CHECK(hex.hex.text == "02 00 00 00 00 02  02 00 00 00 00 01 08 00");
    CHECK(t2.probes[1].expect.by->text == "default");
}

TEST_CASE("a name holds inner runs of '-', never a trailing one") {
    Parsed p("const x = { a--b, echo-request - c, $lo-$hi }\n");
    REQUIRE_MESSAGE(p.file.has_value(), render_text(p.sm, p.diags));
    const auto& items = std::get<ast::Const>(p.decl(0)).set.items;
    REQUIRE(items.size() == 3);
    CHECK(items[0].lo.text == "a--b");
    CHECK_FALSE(items[0].hi.has_value());
    CHECK(items[1].lo.text == "echo-request");
    REQUIRE(items[1].hi.has_value());
    CHECK(items[1].hi->text == "c");
    CHECK(items[2].lo.text == "lo");
    REQUIRE(items[2].hi.has_value());
    CHECK(items[2].hi->text == "hi");
}

TEST_CASE("empty files and empty sets") {
    Parsed empty("");
    REQUIRE(empty.file.has_value());
    CHECK(empty.file->decls.empty());

    Parsed only_comments("# nothing here\n\n   # still nothing");
    REQUIRE(only_comments.file.has_value());
    CHECK(only_comments.file->decls.empty());
    CHECK(only_comments.file->comments.size() == 2);

    Parsed p("set none : port = {}\nconst trailing = { 1, 2, }\n");
    REQUIRE(p.file.has_value());
    CHECK(std::get<ast::SetDecl>(p.decl(0)).items.empty());
    CHECK(std::get<ast::Const>(p.decl(1)).set.items.size() == 2);
    CHECK(p.text(std::get<ast::Const>(p.decl(1)).set.range) == "{ 1, 2, }");
}

TEST_CASE("comments are captured with their text, range and own_line") {
    Parsed p("# header\n"
             "policy p default drop { # after brace\n"
             "    # before rule\n"
             "    r: pass if tcp.dport == 22 # trailing\n"
             "    s: pass if udp.dport == 53 and # inside a condition\n"
             "       udp.sport == 53\n"
             "}\n"
             "include \"a#b.weir\" # last, no newline");
    REQUIRE_MESSAGE(p.file.has_value(), render_text(p.sm, p.diags));
    const auto& cs = p.file->comments;
    REQUIRE(cs.size() == 6);
    CHECK(cs[0].text == "# header");
    CHECK(cs[0].own_line);
    CHECK(p.text(cs[0].range) == "# header");
    CHECK(cs[1].text == "# after brace");
    CHECK_FALSE(cs[1].own_line);
    CHECK(cs[2].text == "# before rule");
    CHECK(cs[2].own_line);
    CHECK(cs[3].text == "# trailing");
    CHECK_FALSE(cs[3].own_line);
    CHECK(cs[4].text == "# inside a condition");
    CHECK(cs[5].text == "# last, no newline");
    CHECK(p.text(cs[5].range) == "# last, no newline");
    // '#' inside a string is not a comment.
    CHECK(std::get<ast::Include>(p.decl(1)).path.text == "a#b.weir");
    // Comments never leak into node ranges.
    const auto& pol = std::get<ast::Policy>(p.decl(0));
    CHECK(p.text(pol.rules[0].range) == "r: pass if tcp.dport == 22");
    CHECK(p.text(pol.rules[1].cond->range) == "udp.dport == 53 and # inside a condition\n       udp.sport == 53");
}

TEST_CASE("CRLF line endings") {
    Parsed p("# c\r\nconst a = 1\r\npolicy p default pass {\r\n  r: drop\r\n}\r\n");
    REQUIRE(p.file.has_value());
    CHECK(p.file->decls.size() == 2);
    REQUIRE(p.file->comments.size() == 1);
    CHECK(p.file->comments[0].text == "# c");
}

TEST_CASE("and/or are flattened, precedence is or < and < not") {
    Cond a("tcp.dport == 1 and tcp.dport == 2 and tcp.dport == 3");
    CHECK(a.expr().kind == EK::And);
    CHECK(a.expr().kids.size() == 3);
    CHECK(a.text(a.expr().range) == "tcp.dport == 1 and tcp.dport == 2 and tcp.dport == 3");

    Cond o("ip.frag or tcp.flags.syn or tcp.flags.ack or tcp.flags.fin");
    CHECK(o.expr().kind == EK::Or);
    CHECK(o.expr().kids.size() == 4);
    CHECK(o.expr().kids[3].kind == EK::Test);

    Cond p("ip.frag or tcp.flags.syn and not tcp.flags.ack");
    const auto& e = p.expr();
    REQUIRE(e.kind == EK::Or);
    REQUIRE(e.kids.size() == 2);
    CHECK(e.kids[0].kind == EK::Test);
    REQUIRE(e.kids[1].kind == EK::And);
    CHECK(p.text(e.kids[1].range) == "tcp.flags.syn and not tcp.flags.ack");
    CHECK(e.kids[1].kids[1].kind == EK::Not);
    CHECK(e.kids[1].kids[1].kids[0].field.text == "tcp.flags.ack");

    Cond n("not not ip.frag");
    CHECK(n.expr().kind == EK::Not);
    CHECK(n.expr().kids[0].kind == EK::Not);
    CHECK(n.text(n.expr().kids[0].range) == "not ip.frag");
}

TEST_CASE("parentheses") {
    Cond c("(ip.frag or tcp.flags.syn) and tcp.dport == 22");
    const auto& e = c.expr();
    REQUIRE(e.kind == EK::And);
    const auto& inner = e.kids.at(0);
    CHECK(inner.kind == EK::Or);
    CHECK(inner.parens);
    CHECK(c.text(inner.range) == "(ip.frag or tcp.flags.syn)");
    CHECK_FALSE(e.kids[1].parens);
    // A parenthesised 'and' inside an 'and' stays a separate node.
    Cond d("ip.frag and ( tcp.flags.syn and tcp.flags.ack )");
    REQUIRE(d.expr().kids.size() == 2);
    CHECK(d.expr().kids[1].kind == EK::And);
    CHECK(d.text(d.expr().kids[1].range) == "( tcp.flags.syn and tcp.flags.ack )");
    Cond s("((ip.frag))");
    CHECK(s.expr().kind == EK::Test);
    CHECK(s.expr().parens);
    CHECK(s.text(s.expr().range) == "((ip.frag))");
    CHECK(s.text(s.expr().field.range) == "ip.frag");
}

TEST_CASE("'F not in S' is NotIn, 'not F in S' is Not(In)") {
    Cond a("ip.src not in @blocklist");
    CHECK(a.expr().kind == EK::NotIn);
    CHECK(a.expr().field.text == "ip.src");
    CHECK(a.expr().set->kind == ast::SetRef::Kind::Named);
    CHECK(a.text(a.expr().range) == "ip.src not in @blocklist");

    Cond b("not ip.src in { 10.0.0.0/8, 192.168.0.0/16 }");
    REQUIRE(b.expr().kind == EK::Not);
    const auto& in = b.expr().kids.at(0);
    CHECK(in.kind == EK::In);
    CHECK(in.set->kind == ast::SetRef::Kind::Inline);
    CHECK(in.set->items.size() == 2);
    CHECK(b.text(in.set->range) == "{ 10.0.0.0/8, 192.168.0.0/16 }");
    CHECK(b.text(in.range) == "ip.src in { 10.0.0.0/8, 192.168.0.0/16 }");

    Cond c("tcp.dport not in $web");
    CHECK(c.expr().kind == EK::NotIn);
    CHECK(c.expr().set->kind == ast::SetRef::Kind::Const);
    CHECK(c.expr().set->name.text == "web");
    CHECK(c.text(c.expr().set->name.range) == "web");
    CHECK(c.text(c.expr().set->range) == "$web");
}

TEST_CASE("comparison operators") {
    const std::pair<const char*, ast::CmpOp> ops[] = {
        {"==", ast::CmpOp::Eq}, {"!=", ast::CmpOp::Ne}, {"<", ast::CmpOp::Lt},
        {"<=", ast::CmpOp::Le}, {">", ast::CmpOp::Gt}, {">=", ast::CmpOp::Ge},
    };
    for (const auto& [text, op] : ops) {
        CAPTURE(text);
        Cond c(std::string("pkt.len ") + text + " 100");
        CHECK(c.expr().kind == EK::Compare);
        CHECK(c.expr().op == op);
        CHECK(c.expr().rhs.lo.text == "100");
        // Without spaces too.
        Cond d(std::string("pkt.len") + text + "100");
        CHECK(d.expr().op == op);
    }
    Cond r("tcp.dport == 1024-65535");
    CHECK(r.expr().rhs.hi->text == "65535");
    CHECK(r.text(r.expr().rhs.range) == "1024-65535");
}

TEST_CASE("values are classified lexically, text kept verbatim") {
    struct Case {
        const char* text;
        VK kind;
        const char* value;
    };
    const Case cases[] = {
        {"22", VK::Int, "22"},
        {"0x2a", VK::Int, "0x2a"},
        {"0XFF", VK::Int, "0XFF"},
        {"999", VK::Int, "999"},  // range checks are the checker's job
        {"192.0.2.1", VK::Ipv4, "192.0.2.1"},
        {"10.0.0.0/8", VK::Ipv4, "10.0.0.0/8"},
        {"300.1.2.3", VK::Ipv4, "300.1.2.3"},  // octet > 255: checker
        {"2001:db8::1", VK::Ipv6, "2001:db8::1"},
        {"2001:db8::/32", VK::Ipv6, "2001:db8::/32"},
        {"::", VK::Ipv6, "::"},
        {"::1", VK::Ipv6, "::1"},
        {"fe80::", VK::Ipv6, "fe80::"},
        {"1:2:3:4:5:6:7:8", VK::Ipv6, "1:2:3:4:5:6:7:8"},
        {"1::8", VK::Ipv6, "1::8"},
        {"1:2:3:4:5:6::", VK::Ipv6, "1:2:3:4:5:6::"},
        {"::ffff:192.0.2.1", VK::Ipv6, "::ffff:192.0.2.1"},
        {"64:ff9b::192.0.2.33/96", VK::Ipv6, "64:ff9b::192.0.2.33/96"},
        {"dead:beef::", VK::Ipv6, "dead:beef::"},
        {"00:11:22:aa:bb:CC", VK::Mac, "00:11:22:aa:bb:CC"},
        {"$web", VK::Const, "web"},
        {"echo-request", VK::Symbol, "echo-request"},
        {"ah", VK::Symbol, "ah"},
        {"dead", VK::Symbol, "dead"},
        {"ef", VK::Symbol, "ef"},
        {"redirect", VK::Symbol, "redirect"},
        {"\"eth0\"", VK::String, "eth0"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        Cond e(std::string("x.y == ") + c.text);
        const auto& v = e.expr().rhs.lo;
        CHECK(v.kind == c.kind);
        CHECK(v.text == c.value);
        CHECK(e.text(v.range) == c.text);
        CHECK_FALSE(e.expr().rhs.hi.has_value());
    }
}

TEST_CASE("ranges of addresses and constants") {
    Parsed p("const r = { 10.0.0.1-10.0.0.9, 2001:db8::1 - 2001:db8::ff, $lo-$hi, 0x10-0x20 }\n");
    REQUIRE_MESSAGE(p.file.has_value(), render_text(p.sm, p.diags));
    const auto& items = std::get<ast::Const>(p.decl(0)).set.items;
    REQUIRE(items.size() == 4);
    CHECK(items[0].lo.kind == VK::Ipv4);
    CHECK(items[0].hi->text == "10.0.0.9");
    CHECK(items[1].lo.kind == VK::Ipv6);
    CHECK(items[1].hi->text == "2001:db8::ff");
    CHECK(p.text(items[1].range) == "2001:db8::1 - 2001:db8::ff");
    CHECK(items[2].lo.kind == VK::Const);
    CHECK(items[2].lo.text == "lo");
    CHECK(items[2].hi->text == "hi");
    CHECK(p.text(items[2].hi->range) == "$hi");
    CHECK(items[3].hi->text == "0x20");
}

TEST_CASE("string escapes are unescaped") {
    Parsed p(R"(include "a\"b\\c\n\t\x41\x7e")");
    REQUIRE(p.file.has_value());
    const auto& v = std::get<ast::Include>(p.decl(0)).path;
    CHECK(v.text == "a\"b\\c\n\tA~");
    CHECK(p.text(v.range) == R"("a\"b\\c\n\t\x41\x7e")");
}

TEST_CASE("actions") {
    Parsed p("policy p default drop {\n a: pass\n b: drop\n c: tx if ip.frag\n d: count\n"
             " e: redirect \"veth-1\"\n}\n");
    REQUIRE(p.file.has_value());
    const auto& rules = std::get<ast::Policy>(p.decl(0)).rules;
    REQUIRE(rules.size() == 5);
    CHECK(rules[0].action.kind == ast::Action::Kind::Pass);
    CHECK(rules[1].action.kind == ast::Action::Kind::Drop);
    CHECK(rules[2].action.kind == ast::Action::Kind::Tx);
    CHECK(p.text(rules[2].range) == "c: tx if ip.frag");
    CHECK(rules[3].action.kind == ast::Action::Kind::Count);
    CHECK(rules[4].action.kind == ast::Action::Kind::Redirect);
    CHECK(rules[4].action.target.kind == VK::String);
    CHECK(rules[4].action.target.text == "veth-1");
    CHECK(p.text(rules[4].action.target.range) == "\"veth-1\"");
    CHECK(std::get<ast::Policy>(p.decl(0)).default_verdict.text == "drop");
    // Rule names may look like keywords used elsewhere.
    Parsed q("policy p default pass { pass: pass drop: drop if not ip.frag count: count }");
    REQUIRE(q.file.has_value());
    CHECK(std::get<ast::Policy>(q.decl(0)).rules.size() == 3);
}

TEST_CASE("payload matches") {
    Cond c("payload [ 2 : 3 ] != 0x474554");
    const auto& e = c.expr();
    CHECK(e.kind == EK::Payload);
    CHECK(e.op == ast::CmpOp::Ne);
    CHECK(c.text(e.payload->offset.range) == "2");
    CHECK(c.text(e.payload->length.range) == "3");
    CHECK(e.payload->bytes.kind == VK::Int);
    CHECK(c.text(e.range) == "payload [ 2 : 3 ] != 0x474554");
}

TEST_CASE("test blocks with every packet option") {
    Parsed p(R"(test "all options" policy edge {
    packet tcp 10.0.0.1:1234 -> 10.0.0.2:80 flags syn, ack len 100 ttl 3 vlan 10,20 pcp 5 payload "GET /" window 512 dscp ef iface "eth0" src-mac 02:00:00:00:00:01 dst-mac 02:00:00:00:00:02
    expect drop
    packet icmp 10.0.0.1 -> 10.0.0.2 type echo-request code 0 frag first
    expect tx by r1
    packet icmp6 2001:db8::1 -> [2001:db8::2] type 128 flowlabel 0x12345 payload 0xdeadbeef
    expect redirect by default
    packet ip [::1] -> ::2 proto gre dscp 46
    expect pass
    packet udp [2001:db8::1]:53 -> 192.0.2.1:53
    expect pass
})");
    REQUIRE_MESSAGE(p.file.has_value(), render_text(p.sm, p.diags));
    const auto& t = std::get<ast::Test>(p.decl(0));
    CHECK(t.name.text == "all options");
    CHECK(t.policy->text == "edge");
    CHECK(p.text(t.policy->range) == "edge");
    REQUIRE(t.probes.size() == 5);

    const auto& p0 = t.probes[0].packet;
    std::vector<std::string> keys;
    for (const auto& o : p0.opts) keys.push_back(o.key.text);
    CHECK(keys == std::vector<std::string>{"flags", "len", "ttl", "vlan", "pcp", "payload", "window", "dscp",
                                           "iface", "src-mac", "dst-mac"});
    REQUIRE(p0.opts[0].values.size() == 2);
    CHECK(p0.opts[0].values[1].text == "ack");
    CHECK(p.text(p0.opts[0].range) == "flags syn, ack");
    CHECK(p0.opts[3].values.size() == 2);
    CHECK(p0.opts[5].values[0].kind == VK::String);
    CHECK(p0.opts[5].values[0].text == "GET /");
    CHECK(p0.opts[7].values[0].kind == VK::Symbol);
    CHECK(p0.opts[8].values[0].text == "eth0");
    CHECK(p0.opts[9].values[0].kind == VK::Mac);
    CHECK(p.text(p0.opts[10].range) == "dst-mac 02:00:00:00:00:02");
    CHECK(t.probes[0].expect.verdict.text == "drop");
    CHECK_FALSE(t.probes[0].expect.by.has_value());

    const auto& p1 = t.probes[1].packet;
    CHECK(p1.proto.text == "icmp");
    CHECK_FALSE(p1.src->port.has_value());
    CHECK(p1.opts.at(0).values.at(0).text == "echo-request");
    CHECK(p1.opts.at(2).key.text == "frag");
    CHECK(t.probes[1].expect.verdict.text == "tx");
    CHECK(t.probes[1].expect.by->text == "r1");

    const auto& p2 = t.probes[2].packet;
    CHECK(p2.proto.text == "icmp6");
    CHECK(p2.src->addr.kind == VK::Ipv6);
    CHECK(p.text(p2.src->range) == "2001:db8::1");
    CHECK(p2.dst->addr.text == "2001:db8::2");
    CHECK(p.text(p2.dst->range) == "[2001:db8::2]");
    CHECK(p2.opts.at(1).values.at(0).text == "0x12345");
    CHECK(p2.opts.at(2).values.at(0).kind == VK::Int);
    CHECK(t.probes[2].expect.verdict.text == "redirect");

    const auto& p3 = t.probes[3].packet;
    CHECK(p3.proto.text == "ip");
    CHECK(p3.src->addr.text == "::1");
    CHECK(p3.dst->addr.text == "::2");
    CHECK(p3.opts.at(0).values.at(0).text == "gre");

    const auto& p4 = t.probes[4].packet;
    CHECK(p4.src->addr.kind == VK::Ipv6);
    CHECK(p4.dst->addr.kind == VK::Ipv4);
    CHECK(p.text(p4.range) == "packet udp [2001:db8::1]:53 -> 192.0.2.1:53");
}

TEST_CASE("syntax errors: one diagnostic, plain words, exact position") {
    struct Case {
        const char* src;
        const char* error;  // line:col: message
        const char* token;  // the text under the caret
    };
    const Case cases[] = {
        {"policy edge default pass {\n    ssh: if tcp.dport == 22\n}\n",
         "2:10: expected an action (pass, drop, tx, count, log, redirect \"IFACE\") after 'ssh:'", "if"},
        {"policy edge default pass {\n    ssh: drop if tcp.dport ==\n}\n", "3:1: expected a value after '=='", "}"},
        {"policy edge default pass {\n    ssh: drop if tcp.dport == 22\n",
         "2:33: expected '}' to close policy 'edge' before the end of the file", ""},
        {"policy edge default pass {\n  a: pass\n  42\n}",
         "3:3: expected a rule (NAME: ACTION [if CONDITION]) or '}' to close policy 'edge'", "42"},
        {"test \"t\" {\n    packet tcp 1.2.3.4:1 -> 5.6.7.8:2\n}\n", "3:1: expected 'expect VERDICT' after the packet",
         "}"},
        {"include \"abc\nconst a = 1\n", "1:9: unterminated string: expected '\"' before the end of the line",
         "\"abc"},
        {"include \"a\\qb\"", "1:11: invalid escape sequence '\\q' in a string (expected \\\", \\\\, \\n, \\t or \\xHH)",
         "\\q"},
        {"const x = 2001:db8:::1\n", "1:11: '2001:db8:::1' is neither an IPv6 address nor a MAC address",
         "2001:db8:::1"},
        {"const y = { 1, 2, !}", "1:19: expected a value or '}' after ','", "!"},
        {"const y = { 1 2 }", "1:15: expected ',' or '}' after '1'", "2"},
        {"policy p default pass { r: drop if (ip.frag or ip.frag }", "1:56: expected ')' to close '('", "}"},
        {"policy p default pass { r: drop if tcp.dport = 22 }",
         "1:46: '=' is not a comparison: use '==' to compare a field with a value", "="},
        {"policy p default pass { r: drop if payload[0 4] == \"x\" }",
         "1:46: expected ':' after the payload offset (payload[OFFSET:LENGTH])", "4"},
        {"policy p default pass { r: drop if ip.frag and }", "1:48: expected a condition after 'and'", "}"},
        {"polcy p", "1:1: expected a declaration (include, const, set, policy, test or alert)", "polcy"},
        {"set s : ip = file\n", "1:18: expected a file name in quotes after 'file', found the end of the file", ""},
        {"test \"x\" { packet tcp [2001:db8::1:53 -> 1.2.3.4 expect pass }",
         "1:39: expected ']' after the IPv6 address", "->"},
        {"test \"x\" { packet tcp 1.2.3.4 > 1.2.3.4 expect pass }",
         "1:31: expected '->' between the source and destination addresses", ">"},
        {"test \"x\" { packet tcp 1.2.3.4 -> 1.2.3.4 flags expect pass }",
         "1:48: expected a value after packet option 'flags'", "expect"},
        {"test \"x\" { packet tcp 1.2.3.4 -> 1.2.3.4 flags syn, expect pass }",
         "1:53: expected a value after ','", "expect"},
        {"test \"x\" { packet foo }", "1:19: expected a protocol (tcp, udp, icmp, icmp6, ip) or 'hex' after 'packet'",
         "foo"},
        {"test \"x\" { }",
         "1:12: expected 'packet' in test \"x\" (a test holds 'packet ...' and 'expect ...' pairs)", "}"},
        {"test \"x\" { packet hex \"00\" expect pass by }", "1:43: expected a rule name or 'default' after 'by'",
         "}"},
        {"test \"x\" { packet hex \"00\" expect allow }",
         "1:35: expected a verdict (pass, drop, tx, redirect) after 'expect'", "allow"},
        {"test \"x\" { packet hex \"00\" expect pass ]",
         "1:40: expected 'packet' or '}' to close test \"x\"", "]"},
        {"policy p default reject { }", "1:18: expected 'pass' or 'drop' after 'default'", "reject"},
        {"policy p { }", "1:10: expected 'default pass' or 'default drop' after 'policy p'", "{"},
        {"policy p default pass { r: drop if ip.src in 1.2.3.4 }",
         "1:46: expected a set ({ ... }, $CONST or @SET) after 'in'", "1.2.3.4"},
        {"policy p default pass { r: redirect eth1 }",
         "1:37: expected an interface name in quotes after 'redirect' (redirect \"eth1\")", "eth1"},
        {"policy p default pass { ssh drop }", "1:29: expected ':' after rule name 'ssh'", "drop"},
        {"const x = 1-", "1:13: expected a value after '-' (a range is written LOW-HIGH), found the end of the file",
         ""},
        {"const x 1", "1:9: expected '=' after 'const x'", "1"},
        // A name never ends in '-', so neither spelling below is the range `dla- - qinq`.
        {"const x = { dla-- qinq }", "1:17: expected a value after '-' (a range is written LOW-HIGH)", "-"},
        {"const x = { dla- - qinq }", "1:18: expected a value after '-' (a range is written LOW-HIGH)", "-"},
        {"policy p default pass {\n  r: pass tcp.dport == 22\n}",
         "2:14: expected ':' after rule name 'tcp'; if 'tcp' starts a condition, write 'if' before it", "."},
        {"set s : ip { 1 }", "1:12: expected '=' after the type of set 's'", "{"},
        {"set s = { 1 }", "1:7: expected ':' and a type after 'set s' (set NAME : TYPE = ...)", "="},
        {"policy p default pass # c\n{ r: drop if # comment\n  tcp.dport == # another\n}\n",
         "4:1: expected a value after '=='", "}"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.src);
        Parsed p(c.src);
        CHECK_FALSE(p.file.has_value());
        REQUIRE(p.diags.list().size() == 1);
        CHECK(p.diags.list()[0].code == "syntax");
        CHECK(p.error() == c.error);
        CHECK(p.error_token() == c.token);
    }
}

TEST_CASE("syntax error notes point at the opening bracket") {
    Parsed p("policy edge default pass {\n  a: pass\n");
    REQUIRE(p.diags.list().size() == 1);
    const auto& d = p.diags.list()[0];
    REQUIRE(d.notes.size() == 1);
    CHECK(d.notes[0].message == "policy 'edge' starts here");
    CHECK(p.text(d.notes[0].range) == "{");
    CHECK(p.sm.line_col(d.notes[0].range.file, d.notes[0].range.begin).col == 26);
    // At the end of the file the error sits right after the last token.
    CHECK(p.sm.line_col(d.range.file, d.range.begin).line == 2);
    CHECK(p.sm.line_col(d.range.file, d.range.begin).col == 10);
    CHECK(d.range.begin == d.range.end);

    Parsed q("policy p default pass { r: drop if (ip.frag }");
    REQUIRE(q.diags.list().at(0).notes.size() == 1);
    CHECK(q.text(q.diags.list()[0].notes[0].range) == "(");

    Parsed t("test \"x\" {\n packet hex \"00\"\n expect pass\n");
    REQUIRE(t.diags.list().size() == 1);
    CHECK(t.diags.list()[0].message == "expected '}' to close test \"x\" before the end of the file");
    CHECK(t.diags.list()[0].notes.at(0).message == "test \"x\" starts here");
}

TEST_CASE("limit is a reserved action") {
    Parsed l("policy p default pass {\n  r: limit 10/s\n}\n");
    REQUIRE(l.diags.list().size() == 1);
    CHECK(l.diags.list()[0].code == "reserved");
    CHECK(l.error() == "2:6: 'limit' is not an action: a rate limit is a condition, e.g. 'drop if tcp.dport == 443 and over 100/s'");
    CHECK(l.error_token() == "limit");

}

TEST_CASE("log: options in any order, as written, `sample:` after a bare log is a rule") {
    Parsed p("policy p default pass {\n  a: log if ip.frag\n  b: log snap 64 sample 1/10 if tcp.dport == 80\n"
             "  c: log\n  sample: count\n  snap: pass\n}\n");
    REQUIRE(p.file);
    REQUIRE(p.diags.list().empty());
    const auto& rules = std::get<ast::Policy>(p.decl(0)).rules;
    REQUIRE(rules.size() == 5);
    CHECK(rules[0].action.kind == ast::Action::Kind::Log);
    CHECK(rules[0].action.log_sample.empty());
    CHECK(rules[0].cond.has_value());
    REQUIRE(rules[1].action.log_sample.size() == 1);
    CHECK(rules[1].action.log_sample[0].num.text == "1");
    CHECK(rules[1].action.log_sample[0].value.text == "10");
    REQUIRE(rules[1].action.log_snap.size() == 1);
    CHECK(rules[1].action.log_snap[0].value.text == "64");
    CHECK(rules[2].action.kind == ast::Action::Kind::Log);
    CHECK(rules[3].name.text == "sample");
    CHECK(rules[4].name.text == "snap");

    Parsed slash("policy p default pass { r: log sample 1 10 }");
    CHECK(slash.error() == "1:41: expected '/' in 'sample 1/N' (log sample 1/100)");
    Parsed snap("policy p default pass { r: log snap if ip.frag }");
    CHECK(snap.error() == "1:37: expected a byte count after 'snap' (log snap 128)");
}
