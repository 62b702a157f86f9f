// Shadow mode (runtime/attach/shadow.hpp) on the host end of a private veth pair, with a known
// mix of real frames sent by TrafficGen: the transition counts equal exactly what the
// interpreter predicts for the frames sent, nothing the candidate would drop is dropped while it
// runs in shadow, promote makes the candidate enforce, and stop leaves the enforcing policy alone.
// A candidate's own sets (absent from the enforcing policy, or with other contents) get their own
// tables: the enforcing policy's stay as they were, and stop leaves no entries of the candidate's.
#include <bpf/bpf.h>
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "attach.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "loaded_policy.hpp"
#include "parse.h"
#include "pins.hpp"
#include "shadow.hpp"
#include "stats.hpp"
#include "test_frames.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "wait.hpp"
#include "weir_abi.h"

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
    // UDP from `src` (host order), which the peer need not own: XDP sees the frame as sent.
    std::vector<unsigned char> udp_from(std::uint32_t src, std::uint16_t dport = 9999) const {
        return Frame().eth(net.peer_mac(), net.host_mac()).ipv4(src, net.host_ip4()).udp(40000, dport).pad_to(60).bytes();
    }
    void send() const { send(mix()); }
    void send(const std::vector<std::pair<std::vector<unsigned char>, std::uint64_t>>& frames) const {
        for (const auto& [frame, n] : frames) {
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

namespace {

// Set addresses below are outside what TestNet gives its ends (.1 and .2 of a /24 of
// 198.18.0.0/15, 2001:2:0:S::/64), so no chatter of the namespace falls into them.

// The set ids that have entries (trie or hash) or a hashed descriptor in the pinned tables of `kind`.
std::set<std::uint32_t> ids_in_maps(const Shadowed& s, TableKind kind) {
    auto p = pins::open_pinned(s.net.host_if());
    REQUIRE(p);
    const SetMaps m = set_maps(kind, [&](const char* n) { return p->map(n); });
    std::set<std::uint32_t> ids;
    const std::size_t ks = set_table_key_size(kind);
    for (int fd : {m.trie, m.hash}) {
        if (fd < 0) continue;
        std::vector<unsigned char> cur(ks), next(ks);
        const void* prev = nullptr;
        while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
            std::uint32_t id;
            std::memcpy(&id, next.data() + offsetof(weir_key_v4, set), sizeof id);
            ids.insert(id);
            cur = next;
            prev = cur.data();
        }
    }
    if (m.desc >= 0)
        for (std::uint32_t slot = 0; slot < WEIR_SET_DESC_SLOTS; ++slot) {
            weir_set_desc d{};
            if (bpf_map_lookup_elem(m.desc, &slot, &d) == 0 && d.hashed) ids.insert(d.set);
        }
    return ids;
}

const pins::SetRecord* record(const std::vector<pins::SetRecord>& sets, const std::string& name, TableKind kind) {
    for (const auto& r : sets)
        if (r.name == name && r.kind == kind) return &r;
    return nullptr;
}

std::string prepare_detail(const attach::LoadOutcome& r) {
    for (const auto& st : r.steps)
        if (st.name == "prepare") return st.detail;
    return "";
}

}  // namespace

TEST_CASE("a candidate brings a set the running policy lacks: filled for it, kept by promote, dropped by stop") {
    Shadowed s;  // the enforcing policy has no set
    const std::string geo = (s.dir / "geo.weir").string();
    std::ofstream(geo) << "set geo : ip = { 198.19.250.64/27, 2001:2:1:fa::/64 }\npolicy cand default pass {\n"
                          "    ssh: drop if tcp.dport == 22\n    geo-block: drop if ip.src in @geo\n}\n";
    const std::uint32_t in_geo = ip4(198, 19, 250, 77), elsewhere = ip4(198, 19, 251, 77);
    const std::vector<std::pair<std::vector<unsigned char>, std::uint64_t>> frames = {
        {s.udp_from(in_geo), 321}, {s.udp_from(elsewhere), 123}};
    REQUIRE(s.meta().sets.empty());

    auto r = attach::shadow::start(s.opts(geo));
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(prepare_detail(r).find("2 set tables filled") != std::string::npos);
    pins::PolicyMeta m = s.meta();
    REQUIRE(m.shadow);
    CHECK(m.sets.empty());
    const pins::SetRecord* v4 = record(m.shadow->sets, "geo", TableKind::V4);
    const pins::SetRecord* v6 = record(m.shadow->sets, "geo", TableKind::V6);
    REQUIRE(v4);
    REQUIRE(v6);
    const std::uint32_t id4 = v4->id, id6 = v6->id;
    CHECK(ids_in_maps(s, TableKind::V4).count(id4));
    CHECK(ids_in_maps(s, TableKind::V6).count(id6));

    const std::uint64_t drops = s.verdict("drop");
    s.send(frames);
    CHECK(s.verdict("drop") == drops);  // enforcing nothing
    attach::shadow::Report rep;
    attach::Failure f = attach::shadow::report(s.net.host_if(), rep);
    REQUIRE_MESSAGE(!f, f.message);
    Tally got;
    for (const auto& t : rep.transitions) got[{t.from_rule, t.to_rule}] += t.packets;
    CHECK(got == Tally{{{"default", "geo-block"}, 321}});

    // Stop: the candidate's tables go, the ids are not handed out again.
    auto st = attach::shadow::stop(s.opts(""));
    REQUIRE_MESSAGE(st.ok(), st.message);
    CHECK(!ids_in_maps(s, TableKind::V4).count(id4));
    CHECK(!ids_in_maps(s, TableKind::V6).count(id6));
    CHECK(s.meta().next_set_id[static_cast<int>(TableKind::V4)] > id4);

    // Again, then promote: the promoted policy keeps the candidate's tables (nothing refilled).
    r = attach::shadow::start(s.opts(geo));
    REQUIRE_MESSAGE(r.ok(), r.message);
    m = s.meta();
    REQUIRE(m.shadow);
    REQUIRE(record(m.shadow->sets, "geo", TableKind::V4));
    const std::uint32_t again4 = record(m.shadow->sets, "geo", TableKind::V4)->id;
    CHECK(again4 != id4);
    auto p = attach::shadow::promote(s.opts(""));
    REQUIRE_MESSAGE(p.ok(), p.message);
    CHECK(prepare_detail(p).find("0 set tables filled") != std::string::npos);
    m = s.meta();
    CHECK(m.policy == "cand");
    CHECK(!m.shadow);
    REQUIRE(record(m.sets, "geo", TableKind::V4));
    CHECK(record(m.sets, "geo", TableKind::V4)->id == again4);
    const std::uint64_t before = s.verdict("drop");
    s.send(frames);
    CHECK(s.verdict("drop") - before == 321);  // the set enforces now
}

TEST_CASE("a candidate's own contents of a set the running policy has leave the running set alone") {
    Shadowed s;
    const std::string enf = (s.dir / "enf-set.weir").string(), cand = (s.dir / "cand-set.weir").string();
    std::ofstream(enf) << "set blocked : ip4 = { 198.19.250.64/27 }\npolicy x default pass {\n"
                          "    b: drop if ip.src in @blocked\n}\n";
    std::ofstream(cand) << "set blocked : ip4 = { 198.19.251.64/27 }\npolicy y default pass {\n"
                           "    b: drop if ip.src in @blocked\n}\n";
    auto l = attach::load(s.opts(enf));
    REQUIRE_MESSAGE(l.ok(), l.message);
    const std::uint32_t enf_id = record(s.meta().sets, "blocked", TableKind::V4)->id;
    const std::vector<std::pair<std::vector<unsigned char>, std::uint64_t>> frames = {
        {s.udp_from(ip4(198, 19, 250, 77)), 210}, {s.udp_from(ip4(198, 19, 251, 77)), 120}};

    auto r = attach::shadow::start(s.opts(cand));
    REQUIRE_MESSAGE(r.ok(), r.message);
    pins::PolicyMeta m = s.meta();
    REQUIRE(m.shadow);
    REQUIRE(record(m.sets, "blocked", TableKind::V4));
    CHECK(record(m.sets, "blocked", TableKind::V4)->id == enf_id);
    REQUIRE(record(m.shadow->sets, "blocked", TableKind::V4));
    const std::uint32_t cand_id = record(m.shadow->sets, "blocked", TableKind::V4)->id;
    CHECK(cand_id != enf_id);

    const std::uint64_t drops = s.verdict("drop");
    s.send(frames);
    CHECK(s.verdict("drop") - drops == 210);  // the running set's contents, unchanged
    attach::shadow::Report rep;
    attach::Failure f = attach::shadow::report(s.net.host_if(), rep);
    REQUIRE_MESSAGE(!f, f.message);
    Tally got;
    for (const auto& t : rep.transitions) got[{t.from_rule, t.to_rule}] += t.packets;
    CHECK(got == Tally{{{"b", "default"}, 210}, {{"default", "b"}, 120}});

    auto st = attach::shadow::stop(s.opts(""));
    REQUIRE_MESSAGE(st.ok(), st.message);
    const auto ids = ids_in_maps(s, TableKind::V4);
    CHECK(!ids.count(cand_id));
    CHECK(ids.count(enf_id));
    const std::uint64_t before = s.verdict("drop");
    s.send(frames);
    CHECK(s.verdict("drop") - before == 210);
}

TEST_CASE("kill -9 at every step of a shadow start with its own set: recovery keeps exactly the sets in use") {
    Shadowed s;
    const std::string geo = (s.dir / "geo.weir").string();
    std::ofstream(geo) << "set geo : ip = { 198.19.250.64/27, 2001:2:1:fa::/64 }\npolicy cand default pass {\n"
                          "    geo-block: drop if ip.src in @geo\n}\n";
    for (const std::string& point : attach::inject_points()) {
        CAPTURE(point);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            attach::LoadOptions o = s.opts(geo);
            o.inject_kill = point;
            (void)attach::shadow::start(o);
            ::_exit(0);  // not reached when the point is reached
        }
        int wst = 0;
        REQUIRE(::waitpid(pid, &wst, 0) == pid);
        CHECK(WIFSIGNALED(wst));
        std::vector<attach::Attachment> st;
        attach::Failure f = attach::status(st, s.net.host_if());  // recovers
        REQUIRE_MESSAGE(!f, f.message);
        const pins::PolicyMeta m = s.meta();
        CHECK(m.policy == "enf");
        for (TableKind k : {TableKind::V4, TableKind::V6}) {
            std::set<std::uint32_t> in_use;
            for (const auto& r : m.sets)
                if (r.kind == k) in_use.insert(r.id);
            if (m.shadow)
                for (const auto& r : m.shadow->sets)
                    if (r.kind == k) in_use.insert(r.id);
            CHECK(ids_in_maps(s, k) == in_use);
            CHECK(in_use.size() == (m.shadow ? 1u : 0u));
        }
        if (m.shadow) {
            auto stop = attach::shadow::stop(s.opts(""));
            REQUIRE_MESSAGE(stop.ok(), stop.message);
            CHECK(ids_in_maps(s, TableKind::V4).empty());
        }
    }
}

TEST_CASE("weir_meta keeps a candidate's set records, and a record without them still reads") {
    pins::Meta m;
    m.current.emplace();
    m.current->policy = "enf";
    pins::ShadowMeta sh;
    sh.policy = "cand";
    sh.default_verdict = "pass";
    pins::SetRecord r;
    r.name = "geo";
    r.kind = TableKind::V6;
    r.ordinal = 1;
    r.id = 42;
    r.hash = "abc";
    r.type = "ip";
    sh.sets.push_back(r);
    m.current->shadow = sh;
    auto back = pins::meta_from_json(pins::to_json(m));
    REQUIRE_MESSAGE(back, back.error().message);
    REQUIRE(back->current->shadow);
    REQUIRE(back->current->shadow->sets.size() == 1);
    const pins::SetRecord& b = back->current->shadow->sets[0];
    CHECK((b.name == "geo" && b.kind == TableKind::V6 && b.ordinal == 1 && b.id == 42 && b.hash == "abc" && b.type == "ip"));

    std::string old = pins::to_json(m);
    const std::size_t at = old.find(",\"sets\":[{\"edited_at\"", old.find("\"shadow\""));
    REQUIRE(at != std::string::npos);
    old.erase(at, old.find(']', at) + 1 - at);  // as weir wrote it before candidates had sets
    auto older = pins::meta_from_json(old);
    REQUIRE_MESSAGE(older, older.error().message);
    REQUIRE(older->current->shadow);
    CHECK(older->current->shadow->sets.empty());
    CHECK(older->current->shadow->policy == "cand");
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
