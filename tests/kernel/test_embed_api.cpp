// The embedding API (include/weir/weir.hpp). Without the kernel: compiling from a string and a
// file, structured diagnostics, and refusals that must not touch any interface. With it (root
// only; the cases are skipped otherwise), on the host end of a private veth pair with real
// frames sent into it: the calls the `weir` CLI is built on (attach_file, status_all,
// counters_all and their formatting, edit_set, unload). tests/kernel/embed_test.sh runs the
// example program. Only the fixture (test network, traffic generator) uses internal headers.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <weir/weir.hpp>

#include "bpf_env.hpp"
#include "test_frames.hpp"
#include "test_runner.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "wait.hpp"

namespace wa = weir::api;
namespace fs = std::filesystem;

TEST_CASE("from_string: a good policy compiles, its policies are listed") {
    wa::Policy p = wa::Policy::from_string("/tmp/x/good.weir",
                                           "policy one default pass {\n    ssh: drop if tcp.dport == 22\n}\n"
                                           "policy two default drop {\n    web: pass if tcp.dport == 80\n}\n");
    CHECK(p.ok());
    CHECK_FALSE(p.io_error());
    CHECK(p.errors() == 0);
    CHECK(p.name() == "/tmp/x/good.weir");
    CHECK(p.policy_names() == std::vector<std::string>{"one", "two"});
}

TEST_CASE("from_string: errors are structured records and rendered text") {
    wa::Policy p = wa::Policy::from_string("bad.weir", "policy p default pass {\n    r: drop if ip.nosuch == 1\n}\n");
    REQUIRE_FALSE(p.ok());
    REQUIRE(p.errors() == 1);
    const wa::Diagnostic& d = p.diagnostics().at(0);
    CHECK(d.severity == wa::Severity::Error);
    CHECK(d.code == "unknown-field");
    CHECK(d.where.file == "bad.weir");
    CHECK(d.where.line == 2);
    CHECK(d.where.column == 16);
    CHECK(d.where.end_column == 16 + std::string("ip.nosuch").size());
    CHECK(p.diagnostics_text().find("bad.weir:2:16: error") != std::string::npos);
    CHECK(p.diagnostics_json().find("\"unknown-field\"") != std::string::npos);
}

TEST_CASE("from_file: a missing file is an io error") {
    wa::Policy p = wa::Policy::from_file("/nonexistent/weir/embed.weir");
    CHECK_FALSE(p.ok());
    CHECK(p.io_error());
    CHECK(p.policy_names().empty());
}

const std::string kTwo =
    "policy one default pass {\n    ssh: drop if tcp.dport == 22\n}\n"
    "policy two default drop {\n    web: pass if tcp.dport == 80\n    dns: pass if udp.dport == 53\n}\n"
    "test \"web\" policy two {\n    packet tcp 198.51.100.1:1000 -> 192.0.2.1:80 flags syn\n    expect pass by web\n}\n";

TEST_CASE("emit: each stage's text, the policy chosen by name, errors by step") {
    wa::Policy p = wa::Policy::from_string("two.weir", kTwo);
    REQUIRE(p.ok());
    wa::Policy::Contents c = p.contents();
    CHECK(c.policies == 2);
    CHECK(c.rules == 3);
    CHECK(c.tests == 1);
    auto ast = wa::emit(p, wa::Stage::Ast);
    REQUIRE(ast.ok());
    CHECK(ast->find("dport") != std::string::npos);
    auto checked = wa::emit(p, wa::Stage::Checked);
    REQUIRE(checked.ok());
    CHECK(checked->find("two") != std::string::npos);

    auto several = wa::emit(p, wa::Stage::Plan);  // two policies, none chosen
    CHECK(several.error.step == "select");
    CHECK(several.error.message.find("choose one") != std::string::npos);
    CHECK(wa::emit(p, wa::Stage::Plan, {"nosuch"}).error.step == "select");

    wa::EmitOptions two{"two"};
    auto plan = wa::emit(p, wa::Stage::Plan, two);
    REQUIRE(plan.ok());
    CHECK(plan->find("dns") != std::string::npos);
    CHECK(plan->find("ssh") == std::string::npos);
    auto ir = wa::emit(p, wa::Stage::Ir, two);
    REQUIRE(ir.ok());
    CHECK(ir->find("define") != std::string::npos);
    auto obj = wa::emit(p, wa::Stage::Obj, two);
    REQUIRE(obj.ok());
    CHECK(obj->compare(0, 4, "\x7f" "ELF") == 0);

    wa::Policy bad = wa::Policy::from_string("bad.weir", "policy p default pass {\n    r: drop if ip.nosuch == 1\n}\n");
    CHECK(wa::emit(bad, wa::Stage::Ast).ok());  // it parsed
    CHECK(wa::emit(bad, wa::Stage::Checked).error.step == "compile");
    CHECK(bad.contents().rules == 0);
}

TEST_CASE("format_file and fields") {
    char tmpl[] = "/tmp/weir-embed-fmt-XXXXXX";
    fs::path dir = ::mkdtemp(tmpl);
    std::ofstream(dir / "messy.weir") << "policy   p default pass {\n r: drop if tcp.dport==22\n}\n";
    std::ofstream(dir / "bad.weir") << "policy p default pass {\n    r: drop if\n}\n";
    wa::Formatted f = wa::format_file((dir / "messy.weir").string());
    REQUIRE_FALSE(f.error);
    CHECK(f.changed);
    CHECK(f.text == "policy p default pass {\n    r: drop if tcp.dport == 22\n}\n");
    std::ofstream(dir / "clean.weir") << f.text;
    CHECK_FALSE(wa::format_file((dir / "clean.weir").string()).changed);
    wa::Formatted bad = wa::format_file((dir / "bad.weir").string());
    CHECK(bad.error.kind == wa::ErrorKind::Policy);
    CHECK(bad.diagnostics_text.find("bad.weir:3:1: error") != std::string::npos);
    CHECK(wa::format_file((dir / "none.weir").string()).error.kind == wa::ErrorKind::Environment);
    fs::remove_all(dir);

    std::vector<wa::FieldInfo> all = wa::fields();
    auto it = std::find_if(all.begin(), all.end(), [](const wa::FieldInfo& x) { return x.name == "tcp.dport"; });
    REQUIRE(it != all.end());
    CHECK(it->bits == 16);
    CHECK(it->header == "TCP");
    CHECK(it->type == "integer");
}

TEST_CASE("verify_in_kernel: every policy through the verifier, nothing attached") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    wa::Policy p = wa::Policy::from_string("two.weir", kTwo);
    wa::KernelCheck k = wa::verify_in_kernel(p);
    REQUIRE_MESSAGE(k.ok(), k.error.message << k.diagnostics_text);
    REQUIRE(k.verified.size() == 2);
    CHECK(k.verified[1].policy == "two");
    CHECK(k.verified[1].instructions > 0);
    CHECK(k.verified[1].verified_instructions > 0);

    ::setenv("WEIR_INJECT_UNVERIFIABLE_RULE", "web", 1);  // the test hook: web fails the verifier
    wa::KernelCheck v = wa::verify_in_kernel(p);
    ::unsetenv("WEIR_INJECT_UNVERIFIABLE_RULE");
    CHECK_FALSE(v.ok());
    CHECK(v.errors >= 1);
    CHECK(v.verified.size() < 2);  // at least policy two (with web) was rejected
    CHECK(v.diagnostics_text.find("two.weir:") != std::string::npos);
}

TEST_CASE("attach refuses a policy that does not compile, before touching the interface") {
    wa::Policy p = wa::Policy::from_string("bad.weir", "policy p default pass {\n    r: drop if\n}\n");
    REQUIRE_FALSE(p.ok());
    wa::LoadReport r = wa::attach("wte-none0", p);
    CHECK_FALSE(r.ok());
    CHECK(r.error.kind == wa::ErrorKind::Policy);
    CHECK(r.error.step == "compile");
    CHECK(r.steps.empty());
    CHECK_FALSE(r.diagnostics.empty());
    CHECK(r.attachment().ifname() == "wte-none0");
}

TEST_CASE("an Attachment on an interface without weir state reports errors, never throws") {
    wa::Attachment a("wte-none0");
    wa::Policy p = wa::Policy::from_string("ok.weir", "policy p default pass {\n    r: drop if tcp.dport == 1\n}\n");
    REQUIRE(p.ok());
    wa::LoadReport r = a.replace(p);
    CHECK_FALSE(r.ok());
    CHECK(r.error.step == "replace");
    CHECK(r.error.kind == wa::ErrorKind::Environment);
    auto c = a.counters();
    CHECK_FALSE(c.ok());
    CHECK(c.error.kind == wa::ErrorKind::Environment);
    CHECK_FALSE(a.set_list("x").ok());
    CHECK(a.unload());
}

// --- with the kernel ----------------------------------------------------------------------------

namespace {


// Policy NAME: FIRST, then web (count), bad (a set of both families), svc (a port set).
std::string policy(const std::string& name, const std::string& first) {
    // 203.0.113.0/24: outside 198.18.0.0/15, where a TestNet's own addresses may fall.
    return "set blocked : ip = { 203.0.113.0/24 }\nset svc : port = { 7000 }\n\n"
           "policy " + name + " default pass {\n    " + first + "\n    web: count if tcp.dport == 80\n"
           "    bad: drop if ip.src in @blocked\n    svc: drop if udp.dport in @svc\n}\n";
}

const std::string kPolicyA = policy("pa", "ssh: drop if tcp.dport == 22") +
                             "test \"ssh is dropped\" {\n    packet tcp 198.51.100.1:1000 -> 192.0.2.1:22 flags syn\n"
                             "    expect drop by ssh\n}\n";
const std::string kPolicyB = policy("pb", "telnet: drop if tcp.dport == 23");

// A policy attached from a file to the host end of a private veth pair; frames from the peer.
struct Live {
    weir::test::TestNet net;
    fs::path dir;
    weir::traffic::TrafficGen gen = make_gen();

    Live() {
        char tmpl[] = "/tmp/weir-embed-api-XXXXXX";
        dir = ::mkdtemp(tmpl);
        write("a.weir", kPolicyA);
        write("b.weir", kPolicyB);
    }
    ~Live() {
        (void)wa::Attachment(dev()).unload();
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(dir / name) << text;
        return (dir / name).string();
    }
    std::string path(const std::string& name) const { return (dir / name).string(); }
    const std::string& dev() const { return net.host_if(); }
    wa::Attachment at() const { return wa::Attachment(dev()); }
    wa::LoadReport load(const std::string& name, const wa::AttachOptions& o = {}) const {
        wa::LoadReport r = wa::attach_file(dev(), path(name), {}, o);
        REQUIRE_MESSAGE(r.ok(), r.error.step << ": " << r.error.message << "\n" << r.diagnostics_text);
        return r;
    }
    static weir::traffic::TrafficGen make_gen() {
        auto g = weir::traffic::TrafficGen::create();
        REQUIRE_MESSAGE(g, g.error().message);
        return std::move(*g);
    }
    weir::Frame ip4() const {
        return weir::Frame().eth(net.peer_mac(), net.host_mac()).ipv4(net.peer_ip4(), net.host_ip4());
    }
    std::vector<unsigned char> tcp(std::uint16_t dport, std::size_t len) const {
        return ip4().tcp(40000, dport, 0x02).pad_to(len).bytes();
    }
    std::vector<unsigned char> udp(std::uint16_t dport, std::size_t len) const {
        return ip4().udp(40000, dport).pad_to(len).bytes();
    }
    void send(const std::vector<unsigned char>& frame, std::uint64_t packets) const {
        weir::traffic::FloodOptions o;
        o.netns = net.netns();
        o.ifname = net.peer_if();
        o.frames = {{frame, 1}};
        o.packets = packets;
        std::uint64_t before = decided();
        auto r = gen.flood(o);
        REQUIRE_MESSAGE(r, r.error().message);
        REQUIRE(r->packets == packets);
        // Frames sent are not yet decided: wait until the program has seen every one of them.
        REQUIRE(weir::test::wait_until([&] { return decided() >= before + packets; }));
    }
    // Packets the program has decided so far: every verdict.
    std::uint64_t decided() const {
        std::uint64_t n = 0;
        for (const auto& [verdict, c] : counters().verdicts) n += c.packets;
        return n;
    }
    wa::Counters counters() const {
        auto c = wa::counters_all(dev());
        REQUIRE_MESSAGE(c.ok(), c.error.message);
        REQUIRE(c->size() == 1);
        return c->front();
    }
};

wa::Counter delta(const wa::Counter& now, const wa::Counter& was) {
    return {now.packets - was.packets, now.bytes - was.bytes};
}

bool operator==(const wa::Counter& a, const wa::Counter& b) { return a.packets == b.packets && a.bytes == b.bytes; }

}  // namespace

TEST_CASE("attach_file: a first load, a dry run, a hot swap, each with a summary") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    Live l;
    std::vector<std::string> seen;
    wa::AttachOptions o;
    o.on_step = [&](const wa::Step& s) { seen.push_back(s.name); };
    wa::LoadReport r = l.load("a.weir", o);
    CHECK(r.summary.find("policy 'pa' attached to '" + l.dev() + "'") == 0);
    CHECK_FALSE(r.hot_swap);
    CHECK(r.policy == "pa");
    CHECK(r.prog_id != 0);
    CHECK(r.probes == 1);
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.front() == "compile");  // compiled as a step of the load
    CHECK(r.steps.size() == seen.size());

    wa::AttachOptions dry;
    dry.dry_run = true;
    wa::LoadReport d = l.load("b.weir", dry);
    CHECK(d.summary == "dry run: policy 'pb' would replace 'pa' on '" + l.dev() + "'");
    CHECK(d.policy.empty());
    CHECK(l.at().status()->policy == "pa");  // nothing changed
    CHECK(l.at().status()->prog_id == r.prog_id);

    wa::LoadReport s = l.load("b.weir");
    CHECK(s.summary == "policy 'pb' replaced 'pa' on '" + l.dev() + "'");
    CHECK(s.hot_swap);
    CHECK(s.replaced == "pa");
    auto st = l.at().status();
    REQUIRE(st.ok());
    CHECK(st->policy == "pb");
    CHECK(st->swaps == 1);
    CHECK(st->source == l.path("b.weir"));
}

TEST_CASE("attach(Policy): what loads is what was checked, even when the file changed since") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    Live l;
    wa::Policy checked = wa::Policy::from_file(l.path("a.weir"));
    REQUIRE(checked.ok());
    // The file now holds another policy: pb, which drops telnet and not ssh.
    l.write("a.weir", kPolicyB);
    CHECK(wa::Policy::from_file(l.path("a.weir")).source_hash() != checked.source_hash());

    wa::LoadReport r = wa::attach(l.dev(), checked);
    REQUIRE_MESSAGE(r.ok(), r.error.step << ": " << r.error.message);
    CHECK(r.policy == "pa");
    CHECK(r.probes == 1);  // pa's own test ran as the self-test
    auto st = l.at().status();
    REQUIRE(st.ok());
    CHECK(st->policy == "pa");
    CHECK(st->source_hash == checked.source_hash());

    // And the kernel program is pa's: ssh is dropped by rule ssh, telnet passes.
    wa::Counters before = l.counters();
    l.send(l.tcp(22, 80), 5);
    l.send(l.tcp(23, 80), 7);
    wa::Counters after = l.counters();
    REQUIRE(after.rule("ssh"));
    CHECK(delta(*after.rule("ssh"), *before.rule("ssh")).packets == 5);
    CHECK(after.rule("telnet") == nullptr);
    CHECK(delta(after.default_decisions, before.default_decisions).packets == 7);
}

TEST_CASE("attach_file: failures name their step and leave the running policy") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    Live l;
    wa::LoadReport first = l.load("a.weir");

    // Does not compile: step compile, diagnostics (coloured on request), nothing changed.
    l.write("bad.weir", "policy p default pass {\n    r: drop if ip.nosuch == 1\n}\n");
    wa::AttachOptions color;
    color.color = true;
    wa::LoadReport bad = wa::attach_file(l.dev(), l.path("bad.weir"), {}, color);
    CHECK_FALSE(bad.ok());
    CHECK(bad.error.kind == wa::ErrorKind::Policy);
    CHECK(bad.error.step == "compile");
    CHECK(bad.summary.empty());
    REQUIRE_FALSE(bad.diagnostics.empty());
    CHECK(bad.diagnostics[0].code == "unknown-field");
    CHECK(bad.diagnostics_text.find("\033[") != std::string::npos);
    wa::LoadReport plain = wa::attach_file(l.dev(), l.path("bad.weir"));
    CHECK(plain.diagnostics_text.find("\033[") == std::string::npos);
    CHECK(plain.diagnostics_text.find(l.path("bad.weir") + ":2:16: error") != std::string::npos);

    // An unreadable file: the environment.
    wa::LoadReport missing = wa::attach_file(l.dev(), l.path("nosuch.weir"));
    CHECK_FALSE(missing.ok());
    CHECK(missing.error.kind == wa::ErrorKind::Environment);

    // The verifier rejects a rule (the test hook, $WEIR_INJECT_UNVERIFIABLE_RULE): step verify,
    // the old program keeps running.
    ::setenv("WEIR_INJECT_UNVERIFIABLE_RULE", "telnet", 1);
    wa::LoadReport v = wa::attach_file(l.dev(), l.path("b.weir"));
    ::unsetenv("WEIR_INJECT_UNVERIFIABLE_RULE");
    CHECK_FALSE(v.ok());
    CHECK(v.error.kind == wa::ErrorKind::Policy);
    CHECK(v.error.step == "verify");
    auto st = l.at().status();
    REQUIRE(st.ok());
    CHECK(st->policy == "pa");
    CHECK(st->prog_id == first.prog_id);
    CHECK(st->enforcing);

    // A failing self-test: located at its packet statement.
    l.write("selftest.weir", kPolicyB + "test \"wrong\" {\n    packet tcp 198.51.100.1:1000 -> "
                                                     "192.0.2.1:22 flags syn\n    expect drop by telnet\n}\n");
    wa::LoadReport t = wa::attach_file(l.dev(), l.path("selftest.weir"));
    CHECK_FALSE(t.ok());
    CHECK(t.error.step == "self-test");
    REQUIRE(t.self_test_failures.size() == 1);
    CHECK(t.self_test_failures[0].test == "wrong");
    CHECK(t.self_test_failures[0].where.file == l.path("selftest.weir"));
    CHECK(t.self_test_failures[0].where.line == 11);
    CHECK(l.at().status()->prog_id == first.prog_id);
}

TEST_CASE("LogReader: records of a log rule, summarized and as JSON, none without a policy") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    Live l;
    auto none = wa::LogReader::open(l.dev());
    CHECK(none.error.kind == wa::ErrorKind::Environment);
    l.write("log.weir", "policy pl default pass {\n    seen: log snap 64 if udp.dport == 7777\n}\n");
    l.load("log.weir");
    auto reader = wa::LogReader::open(l.dev());
    REQUIRE_MESSAGE(reader.ok(), reader.error.message);
    l.send(l.udp(7777, 120), 3);
    std::vector<wa::LogRecord> got;
    for (int i = 0; i < 50 && got.size() < 3; ++i) {
        auto n = reader.value->poll(100, [&](const wa::LogRecord& r) {
            got.push_back(r);
            return true;
        });
        REQUIRE_MESSAGE(n.ok(), n.error.message);
    }
    REQUIRE(got.size() == 3);
    CHECK(got[0].rule == "seen");
    CHECK(got[0].verdict == "pass");
    CHECK(got[0].len == 120);
    CHECK(got[0].data.size() == 64);
    CHECK(wa::log_summary(got[0]).find("seen pass") != std::string::npos);
    CHECK(nlohmann::json::parse(wa::log_json(got[0]))["rule"] == "seen");
    CHECK(wa::log_snap_max() >= 64);
}

TEST_CASE("status_all: every pinned detail of one interface") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    Live l;
    wa::LoadReport r = l.load("a.weir");
    auto all = wa::status_all(l.dev());
    REQUIRE_MESSAGE(all.ok(), all.error.message);
    REQUIRE(all->size() == 1);
    const wa::Status& s = all->front();
    CHECK(s.ifname == l.dev());
    CHECK(s.ifindex == unsigned(l.net.host_ifindex()));
    CHECK(s.enforcing);
    CHECK(s.prog_id == r.prog_id);
    CHECK(s.prog_tag.size() == 16);
    CHECK(s.prog_tag.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(s.rules == std::vector<std::string>{"ssh", "web", "bad", "svc"});
    REQUIRE(s.rule_slots.size() == 4);
    CHECK(s.rule_capacity >= 4);
    for (const auto& [rule, slot] : s.rule_slots) CHECK(slot < s.rule_capacity);
    CHECK(fs::is_directory(s.pins));
    // `blocked` is of both families: one set, two tables.
    CHECK(s.sets.size() == 2);
    std::vector<std::string> kinds;
    for (const auto& t : s.tables) kinds.push_back(t.name + "/" + t.kind);
    CHECK(kinds == std::vector<std::string>{"blocked/v4", "blocked/v6", "svc/port"});
    for (const auto& t : s.tables) {
        CHECK(t.named);
        CHECK(t.id != 0);
        CHECK(t.live_edits == 0);
        CHECK(t.edited_at == 0);
    }

    // The whole list has it too; an interface without state is an error.
    auto every = wa::status_all();
    REQUIRE(every.ok());
    bool listed = false;
    for (const auto& x : *every) listed = listed || x.ifname == l.dev();
    CHECK(listed);
    auto none = wa::status_all("wte-nosuch0");
    CHECK_FALSE(none.ok());
    CHECK(none.error.kind == wa::ErrorKind::Environment);
    CHECK(none.error.message == "no interface named 'wte-nosuch0'");
}

TEST_CASE("edit_set: the four operations, seen by the next packet and recorded") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    Live l;
    l.load("a.weir");
    wa::Attachment a = l.at();
    const auto probe = l.udp(9999, 60);

    wa::SetEdit add = a.edit_set(wa::SetOp::Add, "svc", {"9999", "7000"});
    REQUIRE_MESSAGE(add.ok(), add.error.message);
    CHECK(add.set_type == "port");
    CHECK(add.written == 1);
    CHECK(add.unchanged == 1);
    wa::Counters c0 = l.counters();
    l.send(probe, 5);
    CHECK(delta(*l.counters().rule("svc"), *c0.rule("svc")) == wa::Counter{5, 5 * 60});

    wa::SetEdit list = a.edit_set(wa::SetOp::List, "svc");
    CHECK(list.elements == std::vector<std::string>{"7000", "9999"});

    wa::SetEdit del = a.edit_set(wa::SetOp::Del, "svc", {"9999"});
    CHECK(del.ok());
    CHECK(del.written == 1);
    wa::Counters c1 = l.counters();
    l.send(probe, 3);
    CHECK(delta(*l.counters().rule("svc"), *c1.rule("svc")) == wa::Counter{0, 0});

    wa::SetEdit flush = a.edit_set(wa::SetOp::Flush, "blocked");
    CHECK(flush.ok());
    CHECK(flush.written == 1);
    CHECK(a.edit_set(wa::SetOp::List, "blocked").elements.empty());

    // Status records the edits per table.
    auto st = a.status();
    REQUIRE(st.ok());
    for (const auto& t : st->tables) {
        if (t.name == "svc") CHECK(t.live_edits == 2);
        if (t.name == "svc") CHECK(t.edited_at > 0);
    }

    // A bad element: nothing written, a diagnostic, coloured on request; step names the op.
    wa::SetEdit bad = a.edit_set(wa::SetOp::Add, "svc", {"8080", "ssh"}, true);
    CHECK_FALSE(bad.ok());
    CHECK(bad.error.kind == wa::ErrorKind::Policy);
    CHECK(bad.error.step == "set add");
    CHECK_FALSE(bad.diagnostics.empty());
    CHECK(bad.diagnostics_text.find("\033[") != std::string::npos);
    CHECK(a.edit_set(wa::SetOp::List, "svc").elements == std::vector<std::string>{"7000"});
    CHECK(std::string(wa::set_op_name(wa::SetOp::Flush)) == "flush");
    CHECK(std::string(wa::set_op_name(wa::SetOp::Del)) == "del");
}

TEST_CASE("counters_all: per rule packets and bytes, verdicts, malformed, formatted") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    Live l;
    l.load("a.weir");
    wa::Counters before = l.counters();
    CHECK(before.policy == "pa");
    CHECK(before.default_verdict == "pass");
    CHECK(before.time > 0);
    l.send(l.tcp(22, 64), 7);
    l.send(l.tcp(80, 100), 11);
    l.send(l.udp(7000, 128), 5);
    l.send(l.tcp(22, 60), 1);
    weir::Frame broken = l.ip4().tcp(40000, 443, 0x02).pad_to(60);
    std::vector<unsigned char> malformed = broken.bytes();
    malformed[14] = 0x44;  // IPv4 header length 16 bytes: invalid
    l.send(malformed, 3);
    wa::Counters now = l.counters();

    std::vector<std::string> order;
    for (const auto& r : now.rules) order.push_back(r.name + ":" + r.action);
    CHECK(order == std::vector<std::string>{"ssh:drop", "web:count", "bad:drop", "svc:drop"});
    auto status = l.at().status();
    REQUIRE(status.ok());
    for (const auto& r : now.rules) CHECK(r.slot == status->rule_slots.at(r.name));
    CHECK(delta(*now.rule("ssh"), *before.rule("ssh")) == wa::Counter{8, 7 * 64 + 60});
    CHECK(delta(*now.rule("web"), *before.rule("web")) == wa::Counter{11, 11 * 100});
    CHECK(delta(*now.rule("svc"), *before.rule("svc")) == wa::Counter{5, 5 * 128});
    CHECK(delta(*now.rule("bad"), *before.rule("bad")) == wa::Counter{0, 0});
    CHECK(now.rule("nosuch") == nullptr);
    CHECK(delta(now.malformed, before.malformed) == wa::Counter{3, 3 * 60});
    CHECK(delta(now.verdicts.at("drop"), before.verdicts.at("drop")).packets == 8 + 5);
    CHECK(delta(now.verdicts.at("pass"), before.verdicts.at("pass")).packets == 11 + 3);
    CHECK(delta(now.default_decisions, before.default_decisions).packets == 11 + 3);
    CHECK(now.taken > before.taken);

    // The whole list has it; an interface without state is an error.
    auto every = wa::counters_all();
    REQUIRE(every.ok());
    bool listed = false;
    for (const auto& x : *every) listed = listed || x.ifname == l.dev();
    CHECK(listed);
    CHECK_FALSE(wa::counters_all("wte-nosuch0").ok());

    // `weir stats` formatting: the table (with rates when given an earlier reading) and JSON.
    std::vector<wa::Counters> n{now}, b{before};
    const std::string table = wa::counters_table(n);
    CHECK(table.find(l.dev() + ": policy 'pa'") == 0);
    CHECK(table.find("ssh") < table.find("web"));
    CHECK(table.find("pps") == std::string::npos);
    CHECK(table.find("malformed " + std::to_string(now.malformed.packets)) != std::string::npos);
    CHECK(wa::counters_table(n, &b).find("pps") != std::string::npos);
    CHECK(wa::counters_table({}) == "no weir policy is attached\n");
    auto j = nlohmann::json::parse(wa::counters_json(now));
    CHECK(j["interface"] == l.dev());
    CHECK(j["rules"][0]["rule"] == "ssh");
    CHECK(j["rules"][0]["packets"] == now.rules[0].counter.packets);
    CHECK(j["rules"][0]["slot"] == now.rules[0].slot);
    CHECK(j["verdicts"]["drop"]["packets"] == now.verdicts.at("drop").packets);
    CHECK(j["time"] == now.time);
    CHECK_FALSE(j.contains("interval"));
    auto jr = nlohmann::json::parse(wa::counters_json(now, &before, 2));
    CHECK(jr["interval"].get<double>() > 0);
    CHECK(jr["rules"][1]["pps"].get<double>() > 0);  // web
}

TEST_CASE("unload and interfaces: says which policy it removed, and twice is an error") {
    if (std::string why = weir::test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why);
    Live l;
    l.load("a.weir");
    const std::string pins = l.at().status()->pins;
    auto listed = [&] {
        auto names = wa::interfaces();
        REQUIRE_MESSAGE(names.ok(), names.error.message);
        return std::find(names->begin(), names->end(), l.dev()) != names->end();
    };
    CHECK(listed());
    std::string removed = "unchanged";
    wa::Error e = l.at().unload(&removed);
    CHECK_FALSE(e);
    CHECK(removed == "pa");
    CHECK_FALSE(fs::exists(pins));
    CHECK_FALSE(listed());
    CHECK_FALSE(wa::status_all(l.dev()).ok());
    wa::Error again = l.at().unload(&removed);
    CHECK(again);
    CHECK(again.kind == wa::ErrorKind::Environment);
    CHECK(again.step == "unload");
    CHECK(again.message == "no weir policy on '" + l.dev() + "'");
}
