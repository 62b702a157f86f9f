// Shadow mode (runtime/attach/shadow.hpp) on the host end of a private veth pair, with a known
// mix of real frames sent by TrafficGen: the transition counts equal exactly what the
// interpreter predicts for the frames sent, nothing the candidate would drop is dropped while it
// runs in shadow, promote makes the candidate enforce, and stop leaves the enforcing policy alone.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <unistd.h>

#include "attach.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "parse.h"
#include "pins.hpp"
#include "shadow.hpp"
#include "stats.hpp"
#include "test_frames.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "wait.hpp"

using namespace weir;
namespace fs = std::filesystem;

namespace {

constexpr const char* kEnforcing = R"(policy enf default pass {
    ssh: drop if tcp.dport == 22
    web: pass if tcp.dport == 80
    dns: count if udp.dport == 53
    old: drop if udp.dport == 7001
}
)";

constexpr const char* kCandidate = R"(policy cand default pass {
    ssh: drop if tcp.dport == 22
    web-block: drop if tcp.dport == 80
    dns-log: log if udp.dport == 53
    geo-block: drop if udp.dport in { 7000, 53 }
}
)";

using Tally = std::map<std::pair<std::string, std::string>, std::uint64_t>;  // (enforcing, candidate) rule

struct Shadowed {
    std::unique_ptr<test::TestNet> own_net = std::make_unique<test::TestNet>();
    test::TestNet& net = *own_net;
    fs::path dir;
    std::string enf_file, cand_file;
    traffic::TrafficGen gen = make_gen();

    Shadowed() {
        char tmpl[] = "/tmp/weir-shadow-XXXXXX";
        dir = ::mkdtemp(tmpl);
        enf_file = (dir / "enf.weir").string();
        cand_file = (dir / "cand.weir").string();
        std::ofstream(enf_file) << kEnforcing;
        std::ofstream(cand_file) << kCandidate;
        attach::LoadOptions o = opts(enf_file);
        auto r = attach::load(o);
        REQUIRE_MESSAGE(r.ok(), r.message);
    }
    ~Shadowed() {
        (void)attach::unload(net.host_if());
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    attach::LoadOptions opts(const std::string& file) const {
        attach::LoadOptions o;
        o.file = file;
        o.ifname = net.host_if();
        return o;
    }
    static traffic::TrafficGen make_gen() {
        auto g = traffic::TrafficGen::create();
        REQUIRE_MESSAGE(g, g.error().message);
        return std::move(*g);
    }
    std::vector<unsigned char> udp(std::uint16_t dport, std::size_t len = 60) const {
        return Frame().eth(net.peer_mac(), net.host_mac()).ipv4(net.peer_ip4(), net.host_ip4())
            .udp(40000, dport).pad_to(len).bytes();
    }
    std::vector<unsigned char> tcp(std::uint16_t dport, std::size_t len = 60) const {
        return Frame().eth(net.peer_mac(), net.host_mac()).ipv4(net.peer_ip4(), net.host_ip4())
            .tcp(40000, dport, 0x02).pad_to(len).bytes();
    }
    // The known mix: frame and packets of each.
    std::vector<std::pair<std::vector<unsigned char>, std::uint64_t>> mix() const {
        return {{tcp(22), 300}, {tcp(80), 1234}, {udp(53), 500}, {udp(7000), 77}, {udp(7001), 40}, {udp(9999), 900}};
    }
    void send() const {
        for (const auto& [frame, n] : mix()) {
            traffic::FloodOptions o;
            o.netns = net.netns();
            o.ifname = net.peer_if();
            o.frames = {{frame, 1}};
            o.packets = n;
            const std::uint64_t before = decided();
            auto r = gen.flood(o);
            REQUIRE_MESSAGE(r, r.error().message);
            REQUIRE(r->packets == n);
            REQUIRE(test::wait_until([&] { return decided() >= before + n; }));
        }
    }
    stats::Snapshot snap() const {
        std::vector<stats::Snapshot> s;
        attach::Failure f = stats::read(s, net.host_if());
        REQUIRE_MESSAGE(!f, f.message);
        REQUIRE(s.size() == 1);
        return s[0];
    }
    std::uint64_t decided() const {
        std::uint64_t n = 0;
        for (const auto& [name, c] : snap().verdicts) n += c.packets;
        return n;
    }
    std::uint64_t verdict(const std::string& v) const {
        for (const auto& [name, c] : snap().verdicts)
            if (name == v) return c.packets;
        return 0;
    }
    pins::PolicyMeta meta() const {
        auto p = pins::open_pinned(net.host_if());
        REQUIRE(p);
        auto m = pins::read_meta(p->meta.get());
        REQUIRE(m);
        REQUIRE(m->current);
        return *m->current;
    }
};

// What the interpreter says each policy does with one frame.
Decision decide(const Compilation& c, const std::vector<unsigned char>& frame) {
    weir_pkt pkt{};
    weir_parse(frame.data(), frame.data() + frame.size(), &pkt);
    return evaluate(c.program, c.program.policies.at(0), pkt, frame, "");
}

std::string rule_name(const Compilation& c, int rule) {
    return rule < 0 ? "default" : c.program.policies.at(0).rules.at(static_cast<std::size_t>(rule)).name;
}

}  // namespace

TEST_CASE("a shadow counts exactly the interpreter's transitions and enforces nothing") {
    Shadowed s;
    auto enf = compile_file(s.enf_file, CheckOptions{});
    auto cand = compile_file(s.cand_file, CheckOptions{});
    REQUIRE(enf->ok());
    REQUIRE(cand->ok());

    auto r = attach::shadow::start(s.opts(s.cand_file));
    REQUIRE_MESSAGE(r.ok(), r.message);
    pins::PolicyMeta m = s.meta();
    REQUIRE(m.shadow);
    CHECK(m.policy == "enf");
    CHECK(m.shadow->policy == "cand");
    for (const auto& [n, slot] : m.shadow->slots)
        for (const auto& [en, eslot] : m.slots) CHECK(slot != eslot);

    const std::uint64_t drops_before = s.verdict("drop");
    s.send();

    Tally expected;
    std::uint64_t enforced_drops = 0, same = 0;
    for (const auto& [frame, n] : s.mix()) {
        Decision e = decide(*enf, frame), c = decide(*cand, frame);
        if (e.verdict == Verdict::Drop) enforced_drops += n;
        if (e.verdict != c.verdict)
            expected[{rule_name(*enf, e.rule), rule_name(*cand, c.rule)}] += n;
        else
            same += n;
    }
    REQUIRE(expected.size() == 3);  // web -> web-block, default (53, 7000) -> geo-block, old -> default
    // Only the enforcing policy's drops happened.
    CHECK(s.verdict("drop") - drops_before == enforced_drops);

    attach::shadow::Report rep;
    attach::Failure f = attach::shadow::report(s.net.host_if(), rep);
    REQUIRE_MESSAGE(!f, f.message);
    Tally got;
    for (const auto& t : rep.transitions) got[{t.from_rule, t.to_rule}] += t.packets;
    CHECK(got == expected);
    CHECK(rep.lost_packets == 0);
    CHECK(rep.same_packets >= same);  // plus the namespace's own chatter (ARP, ND), decided alike
    for (const auto& t : rep.transitions)
        if (t.from_rule == "web") {
            CHECK(t.from_verdict == "pass");
            CHECK(t.to_rule == "web-block");
            CHECK(t.to_verdict == "drop");
            CHECK(t.packets == 1234);
        }
    std::map<std::string, std::uint64_t> cand_rules(rep.candidate_rules.begin(), rep.candidate_rules.end());
    CHECK(cand_rules["dns-log"] == 500);  // a candidate `log` rule counts, never logs
    CHECK(cand_rules["web-block"] == 1234);

    // Promote: the candidate enforces, the shadow is gone, its drops happen.
    auto p = attach::shadow::promote(s.opts(""));
    REQUIRE_MESSAGE(p.ok(), p.message);
    m = s.meta();
    CHECK(m.policy == "cand");
    CHECK(!m.shadow);
    std::uint64_t cand_drops = 0;
    for (const auto& [frame, n] : s.mix())
        if (decide(*cand, frame).verdict == Verdict::Drop) cand_drops += n;
    const std::uint64_t before = s.verdict("drop");
    s.send();
    CHECK(s.verdict("drop") - before == cand_drops);
    attach::shadow::Report none;
    CHECK(attach::shadow::report(s.net.host_if(), none));  // no shadow now
}

TEST_CASE("stop leaves the enforcing policy alone, with its counters") {
    Shadowed s;
    s.send();
    const std::uint64_t web = [&] {
        for (const auto& r : s.snap().rules)
            if (r.name == "web") return r.counter.packets;
        return std::uint64_t{0};
    }();
    CHECK(web == 1234);
    auto r = attach::shadow::start(s.opts(s.cand_file));
    REQUIRE_MESSAGE(r.ok(), r.message);
    auto st = attach::shadow::stop(s.opts(""));
    REQUIRE_MESSAGE(st.ok(), st.message);
    pins::PolicyMeta m = s.meta();
    CHECK(m.policy == "enf");
    CHECK(!m.shadow);
    for (const auto& rr : s.snap().rules)
        if (rr.name == "web") CHECK(rr.counter.packets == 1234);
    auto again = attach::shadow::stop(s.opts(""));
    CHECK(!again.ok());  // nothing to stop
}

TEST_CASE("a candidate with a set the running policy lacks is refused, nothing changes") {
    Shadowed s;
    const std::string other = (s.dir / "sets.weir").string();
    std::ofstream(other) << "set blocked : ip4 = { 198.18.250.0/24 }\npolicy x default pass {\n"
                            "    b: drop if ip.src in @blocked\n}\n";
    const std::uint32_t prog = s.meta().prog_id;
    auto r = attach::shadow::start(s.opts(other));
    CHECK(!r.ok());
    CHECK(r.message.find("blocked") != std::string::npos);
    CHECK(s.meta().prog_id == prog);
    CHECK(!s.meta().shadow);
}

TEST_CASE("redirects compare by interface: the same target is the same decision, another is not") {
    Shadowed s;
    const std::string here = s.net.host_if();
    const std::string enf = (s.dir / "redir-enf.weir").string(), cand = (s.dir / "redir-cand.weir").string();
    std::ofstream(enf) << "policy renf default pass {\n    a: redirect \"" << here << "\" if udp.dport == 5001\n"
                       << "    b: redirect \"" << here << "\" if udp.dport == 5002\n}\n";
    std::ofstream(cand) << "policy rcand default pass {\n    a2: redirect \"" << here << "\" if udp.dport == 5001\n"
                        << "    b2: redirect \"lo\" if udp.dport == 5002\n}\n";
    auto l = attach::load(s.opts(enf));
    REQUIRE_MESSAGE(l.ok(), l.message);
    auto r = attach::shadow::start(s.opts(cand));
    REQUIRE_MESSAGE(r.ok(), r.message);
    for (auto [port, n] : {std::pair{5001, 40}, std::pair{5002, 25}}) {
        traffic::FloodOptions o;
        o.netns = s.net.netns();
        o.ifname = s.net.peer_if();
        o.frames = {{s.udp(static_cast<std::uint16_t>(port)), 1}};
        o.packets = static_cast<std::uint64_t>(n);
        auto f = s.gen.flood(o);
        REQUIRE_MESSAGE(f, f.error().message);
    }
    attach::shadow::Report rep;
    REQUIRE(test::wait_until([&] {
        rep = {};
        if (attach::shadow::report(here, rep)) return false;
        std::uint64_t b2 = 0;
        for (const auto& [name, n] : rep.candidate_rules)
            if (name == "a2" || name == "b2") b2 += n;
        return b2 >= 65;
    }));
    REQUIRE(rep.transitions.size() == 1);
    CHECK(rep.transitions[0].from_rule == "b");
    CHECK(rep.transitions[0].to_rule == "b2");
    CHECK(rep.transitions[0].from_verdict == "redirect");
    CHECK(rep.transitions[0].to_verdict == "redirect");
    CHECK(rep.transitions[0].packets == 25);
}
