// Live set edits (runtime/attach/sets.hpp) and counters (runtime/attach/stats.hpp) of a policy attached to the
// host end of a private veth pair, with real frames sent into it by TrafficGen: an edit is seen
// by the very next packet, a batch with a bad element changes nothing, a kernel write failing
// midway is rolled back, an edit killed at any point (fork + $WEIR_INJECT_KILL) is rolled back
// by the next command, live contents survive a swap that keeps the declaration, and the
// counters equal the number of packets (and bytes) sent per rule exactly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attach.hpp"
#include "loaded_policy.hpp"
#include "pins.hpp"
#include "set_journal.hpp"
#include "sets.hpp"
#include "stats.hpp"
#include "test_frames.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "wait.hpp"

using namespace weir;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPolicy = R"(set blocked : ip4 = { 198.18.250.0/24 }
set svc : port = { 7000 }

policy p default pass {
    ssh: drop if tcp.dport == 22
    web: count if tcp.dport == 80
    bad: drop if ip.src in @blocked
    svc: drop if udp.dport in @svc
}
)";

// A test network whose own addresses (198.18.S.0/24 or 198.19.S.0/24, S from the pid) miss the
// fixed addresses these tests put in sets: a peer inside one of them would be dropped by it.
std::unique_ptr<test::TestNet> clear_net() {
    for (;;) {
        auto net = std::make_unique<test::TestNet>();
        const std::uint32_t a = net->peer_ip4();
        const unsigned second = (a >> 16) & 0xff, third = (a >> 8) & 0xff;
        if (second != 18 || (third != 1 && third != 99 && (third < 250 || third > 254))) return net;
    }
}

struct Attached {
    std::unique_ptr<test::TestNet> own_net = clear_net();
    test::TestNet& net = *own_net;
    fs::path dir;
    std::string file;
    traffic::TrafficGen gen = make_gen();

    explicit Attached(const char* policy = kPolicy) {
        char tmpl[] = "/tmp/weir-sets-XXXXXX";
        dir = ::mkdtemp(tmpl);
        file = (dir / "p.weir").string();
        std::ofstream(file) << policy;
        load();
    }
    ~Attached() {
        (void)attach::unload(net.host_if());
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    void load() {
        attach::LoadOptions o;
        o.file = file;
        o.ifname = net.host_if();
        auto r = attach::load(o);
        REQUIRE_MESSAGE(r.ok(), r.message);
    }
    static traffic::TrafficGen make_gen() {
        auto g = traffic::TrafficGen::create();
        REQUIRE_MESSAGE(g, g.error().message);
        return std::move(*g);
    }
    const std::string& dev() const { return net.host_if(); }

    std::vector<unsigned char> udp(std::uint16_t dport, std::size_t len = 60) const {
        return Frame().eth(net.peer_mac(), net.host_mac()).ipv4(net.peer_ip4(), net.host_ip4())
            .udp(40000, dport).pad_to(len).bytes();
    }
    std::vector<unsigned char> tcp(std::uint16_t dport, std::size_t len = 60) const {
        return Frame().eth(net.peer_mac(), net.host_mac()).ipv4(net.peer_ip4(), net.host_ip4())
            .tcp(40000, dport, 0x02).pad_to(len).bytes();
    }
    void send(std::vector<traffic::WeightedFrame> frames, std::uint64_t packets) const {
        traffic::FloodOptions o;
        o.netns = net.netns();
        o.ifname = net.peer_if();
        o.frames = std::move(frames);
        o.packets = packets;
        std::uint64_t before = decided();
        auto r = gen.flood(o);
        REQUIRE_MESSAGE(r, r.error().message);
        REQUIRE(r->packets == packets);
        // Frames sent are not yet decided: wait until the program has seen every one of them.
        REQUIRE(test::wait_until([&] { return decided() >= before + packets; }));
    }
    // Packets the attached program has decided so far (every verdict).
    std::uint64_t decided() const {
        std::uint64_t n = 0;
        for (const auto& [name, c] : snap().verdicts) n += c.packets;
        return n;
    }
    stats::Snapshot snap() const {
        std::vector<stats::Snapshot> s;
        attach::Failure f = stats::read(s, dev());
        REQUIRE_MESSAGE(!f, f.message);
        REQUIRE(s.size() == 1);
        return s[0];
    }
    std::uint64_t rule(const std::string& name) const {
        for (const auto& r : snap().rules)
            if (r.name == name) return r.counter.packets;
        FAIL("no rule " << name);
        return 0;
    }
    sets::EditOutcome edit(sets::Op op, const std::string& set, std::vector<std::string> elems = {},
                           int fail_after = -1) const {
        sets::EditOptions o;
        o.ifname = dev();
        o.set = set;
        o.op = op;
        o.elements = std::move(elems);
        o.fail_after = fail_after;
        return sets::edit(o);
    }
    std::vector<std::string> list(const std::string& set) const {
        auto r = edit(sets::Op::List, set);
        REQUIRE_MESSAGE(r.ok(), r.message);
        return r.elements;
    }
    const pins::SetRecord& record(const pins::PolicyMeta& m, const std::string& set) const {
        for (const auto& s : m.sets)
            if (s.name == set) return s;
        FAIL("no set record " << set);
        throw 0;
    }
    // The pinned program's verdict (BPF_PROG_TEST_RUN) for a UDP frame from `src`.
    std::uint32_t verdict_from(std::uint32_t src) const {
        auto p = pins::open_pinned(dev());
        REQUIRE(p);
        auto frame = Frame().eth().ipv4(src, ip4(198, 18, 0, 1)).udp(40000, 9999).bytes();
        auto r = bpf::test_run(p->prog.get(), frame);
        REQUIRE_MESSAGE(r, r.error().message);
        return r->retval;
    }
    // The descriptor of a hashed IPv4 set, nullopt when the set is in the trie.
    std::optional<weir_set_desc> desc_v4(const std::string& set) const {
        auto p = pins::open_pinned(dev());
        REQUIRE(p);
        SetMaps m = set_maps(TableKind::V4, [&](const char* n) { return p->map(n); });
        REQUIRE(m.hash >= 0);
        auto d = hashed_desc(m, record(meta(), set).id);
        REQUIRE(d);
        return *d;
    }
    pins::PolicyMeta meta() const {
        auto p = pins::open_pinned(dev());
        REQUIRE(p);
        auto m = pins::read_meta(p->meta.get());
        REQUIRE(m);
        REQUIRE(m->current);
        return *m->current;
    }
};

}  // namespace

TEST_CASE("set edits are seen by the next packet") {
    Attached a;
    const std::string peer = a.net.peer_ip4_text();
    const auto probe = a.udp(9999);
    CHECK(a.list("blocked") == std::vector<std::string>{"198.18.250.0/24"});

    a.send({{probe, 1}}, 1);
    CHECK(a.rule("bad") == 0);

    auto r = a.edit(sets::Op::Add, "blocked", {peer});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.written() == 1);
    a.send({{probe, 1}}, 1);
    CHECK(a.rule("bad") == 1);
    CHECK(a.record(a.meta(), "blocked").live_edits == 1);
    CHECK(a.record(a.meta(), "blocked").edited_at > 0);

    r = a.edit(sets::Op::Del, "blocked", {peer});
    REQUIRE_MESSAGE(r.ok(), r.message);
    a.send({{probe, 1}}, 1);
    CHECK(a.rule("bad") == 1);
    CHECK(a.list("blocked") == std::vector<std::string>{"198.18.250.0/24"});

    // Ports: the set matches the next packet to its new element.
    a.send({{a.udp(7001), 1}}, 1);
    CHECK(a.rule("svc") == 0);
    r = a.edit(sets::Op::Add, "svc", {"7001-7003"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(a.list("svc") == std::vector<std::string>{"7000-7003"});
    a.send({{a.udp(7001), 1}}, 1);
    CHECK(a.rule("svc") == 1);

    // Flush empties the set: nothing matches any more.
    r = a.edit(sets::Op::Flush, "svc");
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.written() == 3);  // 7000, then 7001 and 7002/15 from 7001-7003
    CHECK(a.list("svc").empty());
    a.send({{a.udp(7000), 1}}, 1);
    CHECK(a.rule("svc") == 1);
}

// @blocked (one /24) is hashed; live edits keep every decision exact: a new length is listed
// after its entries, a deleted last element of a length leaves a harmless probe, a ninth length
// moves the set into the trie, a flush makes it hashed again.
TEST_CASE("hashed sets: live adds of new lengths, del, more lengths than the hash takes, flush") {
    Attached a;
    auto lens = [&] {
        auto d = a.desc_v4("blocked");
        REQUIRE(d);
        return std::set<int>(d->len, d->len + d->n);
    };
    auto drops = [&](std::uint32_t src) { return a.verdict_from(src) == WEIR_ACT_DROP; };
    CHECK(lens() == std::set<int>{24});
    CHECK(drops(ip4(198, 18, 250, 9)));
    CHECK_FALSE(drops(ip4(198, 18, 251, 7)));

    auto r = a.edit(sets::Op::Add, "blocked", {"198.18.251.7"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(lens() == std::set<int>{24, 32});
    CHECK(drops(ip4(198, 18, 251, 7)));
    CHECK_FALSE(drops(ip4(198, 18, 251, 8)));
    CHECK(drops(ip4(198, 18, 250, 9)));

    // A range: /32, /31, /31, /32.
    r = a.edit(sets::Op::Add, "blocked", {"198.18.252.1-198.18.252.6"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.written() == 4);
    CHECK(lens() == std::set<int>{24, 31, 32});
    for (std::uint32_t i = 0; i <= 7; ++i) CHECK(drops(ip4(198, 18, 252, i)) == (i >= 1 && i <= 6));

    // The last /32 goes: its length may stay listed, nothing matches it any more.
    r = a.edit(sets::Op::Del, "blocked", {"198.18.251.7", "198.18.252.1", "198.18.252.6"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK_FALSE(drops(ip4(198, 18, 251, 7)));
    CHECK_FALSE(drops(ip4(198, 18, 252, 1)));
    CHECK(drops(ip4(198, 18, 252, 2)));
    CHECK(a.list("blocked") == std::vector<std::string>{"198.18.250.0/24", "198.18.252.2/31", "198.18.252.4/31"});

    // Up to WEIR_SET_HASH_LENS lengths stay hashed; one more moves the set into the trie.
    r = a.edit(sets::Op::Add, "blocked",
               {"198.18.253.0/25", "198.18.253.128/26", "198.18.253.192/27", "198.18.253.224/28", "198.18.253.240/29"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(lens().size() == WEIR_SET_HASH_LENS);
    r = a.edit(sets::Op::Add, "blocked", {"198.18.253.248/30", "198.18.254.1"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.written() == 2);
    CHECK_FALSE(a.desc_v4("blocked"));
    const std::vector<std::string> all = {"198.18.250.0/24",   "198.18.252.2/31",   "198.18.252.4/31",
                                          "198.18.253.0/25",   "198.18.253.128/26", "198.18.253.192/27",
                                          "198.18.253.224/28", "198.18.253.240/29", "198.18.253.248/30",
                                          "198.18.254.1"};
    CHECK(a.list("blocked") == all);
    for (std::uint32_t i = 0; i < 256; ++i) CHECK(drops(ip4(198, 18, 253, i)) == (i < 252));
    CHECK(drops(ip4(198, 18, 254, 1)));
    CHECK_FALSE(drops(ip4(198, 18, 254, 2)));
    CHECK(drops(ip4(198, 18, 250, 200)));
    CHECK(drops(ip4(198, 18, 252, 3)));
    // The trie set takes dels as before.
    r = a.edit(sets::Op::Del, "blocked", {"198.18.254.1"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK_FALSE(drops(ip4(198, 18, 254, 1)));

    // Flush: empty, and hashed again for what comes next.
    r = a.edit(sets::Op::Flush, "blocked");
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(a.list("blocked").empty());
    CHECK(lens().empty());
    CHECK_FALSE(drops(ip4(198, 18, 250, 9)));
    CHECK_FALSE(drops(ip4(198, 18, 253, 9)));
    REQUIRE(a.edit(sets::Op::Add, "blocked", {"198.18.250.0/24"}).ok());
    CHECK(lens() == std::set<int>{24});
    CHECK(drops(ip4(198, 18, 250, 9)));
}

TEST_CASE("a batch with a bad element changes nothing") {
    Attached a;
    const std::string peer = a.net.peer_ip4_text();
    auto r = a.edit(sets::Op::Add, "blocked", {peer, "198.18.251.0/24", "2001:db8::1", "ssh"});
    CHECK_FALSE(r.ok());
    CHECK(r.problem == attach::Problem::Policy);
    REQUIRE(r.diags.errors() == 2);
    // The diagnostics point at the bad elements on the command line.
    const auto& d0 = r.diags.list()[0];
    CHECK(d0.code == "type-mismatch");
    CHECK(r.sources.text(d0.range) == "2001:db8::1");
    CHECK(r.sources.file(d0.range.file).path == "<command line>");
    CHECK(r.sources.text(r.diags.list()[1].range) == "ssh");
    CHECK(a.list("blocked") == std::vector<std::string>{"198.18.250.0/24"});
    a.send({{a.udp(9999), 1}}, 1);
    CHECK(a.rule("bad") == 0);
    CHECK(a.record(a.meta(), "blocked").live_edits == 0);

    // del of an element that is not there: nothing deleted, not even the ones that are.
    REQUIRE(a.edit(sets::Op::Add, "blocked", {peer}).ok());
    r = a.edit(sets::Op::Del, "blocked", {peer, "198.18.99.1"});
    CHECK_FALSE(r.ok());
    REQUIRE(r.diags.errors() == 1);
    CHECK(r.diags.list()[0].code == "element-not-in-set");
    CHECK(r.sources.text(r.diags.list()[0].range) == "198.18.99.1");
    CHECK(a.list("blocked").size() == 2);

    // Unknown set.
    r = a.edit(sets::Op::Add, "blocke", {peer});
    CHECK(r.problem == attach::Problem::Policy);
    REQUIRE(r.diags.errors() == 1);
    CHECK(r.diags.list()[0].code == "unknown-set");

    // Host bits: a warning, the network is added.
    r = a.edit(sets::Op::Add, "blocked", {"198.18.252.7/24"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    REQUIRE(r.diags.warnings() == 1);
    CHECK(r.diags.list()[0].code == "cidr-host-bits");
    auto l = a.list("blocked");
    CHECK(std::find(l.begin(), l.end(), "198.18.252.0/24") != l.end());
}

// An `ip` set that rules only look up by IPv4 fields gets no IPv6 table in the program, so an
// IPv6 element could never match: the whole batch is refused, IPv4 elements in it included.
TEST_CASE("an element of a family the running program never looks up is refused: set-table-unused") {
    Attached a(R"(set peers : ip = { 198.18.250.0/24 }

policy p default pass {
    v4only: drop if ip4.src in @peers
}
)");
    const std::string peer = a.net.peer_ip4_text();
    auto r = a.edit(sets::Op::Add, "peers", {peer, "2001:2:0:ff::7"});
    CHECK_FALSE(r.ok());
    CHECK(r.problem == attach::Problem::Policy);
    REQUIRE(r.diags.errors() == 1);
    const auto& d = r.diags.list()[0];
    CHECK(d.code == "set-table-unused");
    CHECK(r.sources.text(d.range) == "2001:2:0:ff::7");
    CHECK(a.list("peers") == std::vector<std::string>{"198.18.250.0/24"});
    a.send({{a.udp(9999), 1}}, 1);
    CHECK(a.rule("v4only") == 0);

    // The IPv4 element alone is written, and the next packet from the peer meets it.
    r = a.edit(sets::Op::Add, "peers", {peer});
    REQUIRE_MESSAGE(r.ok(), r.message);
    a.send({{a.udp(9999), 1}}, 1);
    CHECK(a.rule("v4only") == 1);
}

TEST_CASE("a kernel write failing midway is rolled back") {
    Attached a;
    const auto before = a.list("blocked");
    auto r = a.edit(sets::Op::Add, "blocked", {"198.18.1.1", "198.18.1.2", "198.18.1.3"}, /*fail_after=*/2);
    CHECK(r.problem == attach::Problem::Environment);
    CHECK(r.message.find("nothing changed") != std::string::npos);
    CHECK(a.list("blocked") == before);
    REQUIRE(a.edit(sets::Op::Add, "blocked", {"198.18.1.1", "198.18.1.2"}).ok());
    r = a.edit(sets::Op::Flush, "blocked", {}, /*fail_after=*/2);
    CHECK_FALSE(r.ok());
    CHECK(a.list("blocked").size() == 3);
    r = a.edit(sets::Op::Del, "blocked", {"198.18.1.1", "198.18.1.2"}, /*fail_after=*/1);
    CHECK_FALSE(r.ok());
    CHECK(a.list("blocked").size() == 3);
}

// What a set is, as the next command and the next packet see it.
struct SetState {
    std::vector<std::string> elements;
    std::optional<weir_set_desc> desc;
    std::uint32_t live_edits = 0;
    std::int64_t edited_at = 0;
    std::vector<bool> drops;
    bool operator==(const SetState& o) const {
        const bool same_desc = desc.has_value() == o.desc.has_value() &&
                               (!desc || std::memcmp(&*desc, &*o.desc, sizeof *desc) == 0);
        return elements == o.elements && same_desc && live_edits == o.live_edits && edited_at == o.edited_at &&
               drops == o.drops;
    }
};

SetState state_of(const Attached& a) {
    SetState s;
    s.elements = a.list("blocked");
    s.desc = a.desc_v4("blocked");
    s.live_edits = a.record(a.meta(), "blocked").live_edits;
    s.edited_at = a.record(a.meta(), "blocked").edited_at;
    for (std::uint32_t src : {ip4(198, 18, 250, 9), ip4(198, 18, 251, 7), ip4(198, 18, 252, 3), ip4(198, 18, 253, 9),
                              ip4(198, 18, 253, 100), ip4(198, 18, 254, 1), ip4(198, 18, 254, 3)})
        s.drops.push_back(a.verdict_from(src) == WEIR_ACT_DROP);
    return s;
}

// Runs `what` in a child with $WEIR_INJECT_KILL=point: it must die by SIGKILL there.
template <typename F>
void killed_at(const std::string& point, F what) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::setenv("WEIR_INJECT_KILL", point.c_str(), 1);
        what();
        ::_exit(3);
    }
    int st = 0;
    REQUIRE(::waitpid(pid, &st, 0) == pid);
    REQUIRE_MESSAGE((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL), point << ": the edit was not killed");
}

// Pins and lock folder of this process's own, for the kill tests: any weir command that lists
// every interface (another test's `status`, run in parallel) recovers each one it lists, and
// would roll back this test's interrupted edit before this test's own next command does.
struct PrivateState {
    std::string root = "/sys/fs/bpf/weir-setkill-" + std::to_string(::getpid());
    std::string run = "/tmp/weir-setkill-run-" + std::to_string(::getpid());
    PrivateState() {
        auto st = pins::ensure_bpffs();  // mounts /sys/fs/bpf if needed, before the root moves
        REQUIRE_MESSAGE(st, st.error().message);
        ::setenv("WEIR_PIN_ROOT", root.c_str(), 1);
        ::setenv("WEIR_RUN_DIR", run.c_str(), 1);
    }
    ~PrivateState() {
        ::unsetenv("WEIR_PIN_ROOT");
        ::unsetenv("WEIR_RUN_DIR");
        std::error_code ec;
        fs::remove_all(root, ec);
        fs::remove_all(run, ec);
    }
};

bool has_note(const std::vector<std::string>& notes, const std::string& text) {
    for (const auto& n : notes)
        if (n.find(text) != std::string::npos) return true;
    return false;
}

TEST_CASE("a set edit killed at any point is rolled back by the next command") {
    PrivateState own;
    Attached a;
    REQUIRE(a.edit(sets::Op::Add, "blocked", {"198.18.251.7", "198.18.252.0/25"}).ok());
    const SetState before = state_of(a);
    REQUIRE(before.desc);  // hashed: /24, /25, /32
    const std::string journal = sets::journal::path(a.dev());
    struct Edit {
        sets::Op op;
        std::vector<std::string> elems;
    };
    const std::vector<Edit> edits = {
        {sets::Op::Add, {"198.18.254.1-198.18.254.6", "198.18.253.9"}},  // new lengths: descriptor
        {sets::Op::Add, {"198.18.253.0/26", "198.18.253.64/27", "198.18.253.96/28", "198.18.253.112/29",
                         "198.18.253.120/30", "198.18.253.124/31"}},  // nine lengths: into the trie
        {sets::Op::Del, {"198.18.251.7", "198.18.250.0/24"}},
        {sets::Op::Flush, {}},
    };
    for (const auto& e : edits)
        for (const char* point : {"set-after-journal", "set-after-entries", "set-after-desc", "set-after-meta"}) {
            CAPTURE(weir::api::set_op_name(e.op));
            CAPTURE(point);
            killed_at(point, [&] { (void)a.edit(e.op, "blocked", e.elems); });
            CHECK(fs::exists(journal));
            // The next command (here a list) rolls it back first.
            auto r = a.edit(sets::Op::List, "blocked");
            REQUIRE_MESSAGE(r.ok(), r.message);
            CHECK(has_note(r.notes, "rolled back an interrupted set edit of @blocked (" + std::string(weir::api::set_op_name(e.op))));
            CHECK_FALSE(fs::exists(journal));
            CHECK(state_of(a) == before);
        }

    // `weir status` recovers too; so does a rollback killed midway, run again.
    killed_at("set-after-entries", [&] { (void)a.edit(edits[0].op, "blocked", edits[0].elems); });
    std::vector<attach::Attachment> st;
    REQUIRE_FALSE(attach::status(st, a.dev()));
    REQUIRE(st.size() == 1);
    CHECK(has_note(st[0].notes, "rolled back an interrupted set edit of @blocked (add, 2 elements)"));
    CHECK(state_of(a) == before);
    killed_at("set-after-desc", [&] { (void)a.edit(edits[1].op, "blocked", edits[1].elems); });
    CHECK_FALSE(a.desc_v4("blocked"));  // the edit got as far as the trie
    killed_at("set-rollback-after-3", [&] { (void)a.edit(sets::Op::List, "blocked"); });
    CHECK(fs::exists(journal));
    auto r = a.edit(sets::Op::List, "blocked");
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(has_note(r.notes, "rolled back an interrupted set edit of @blocked (add, 6 elements)"));
    CHECK(state_of(a) == before);

    // Not killed, the same edits apply and leave no journal.
    for (const auto& e : edits) {
        auto done = a.edit(e.op, "blocked", e.elems);
        CHECK_MESSAGE(done.ok(), done.message);
        CHECK_FALSE(fs::exists(journal));
    }
    CHECK(a.list("blocked").empty());
}

TEST_CASE("a killed edit of an ip set rolls back both its tables") {
    PrivateState own;
    Attached a(R"(set both : ip = { 198.18.250.0/24, 2001:2:0:ff::/64 }
policy p default pass {
    r: drop if ip.src in @both
}
)");
    const auto before = a.list("both");
    REQUIRE(before.size() == 2);
    for (const char* point : {"set-after-entries", "set-after-meta"}) {
        CAPTURE(point);
        killed_at(point, [&] { (void)a.edit(sets::Op::Add, "both", {"198.18.251.1", "2001:2:0:fe::1", "2001:2:0:fd::/48"}); });
        auto r = a.edit(sets::Op::List, "both");
        REQUIRE_MESSAGE(r.ok(), r.message);
        CHECK(has_note(r.notes, "rolled back an interrupted set edit of @both (add, 3 elements)"));
        CHECK(r.elements == before);
        killed_at(point, [&] { (void)a.edit(sets::Op::Flush, "both"); });
        CHECK(a.list("both") == before);
    }
    CHECK(a.meta().sets.size() == 2);  // a v4 and a v6 table
    for (const auto& s : a.meta().sets) CHECK(s.live_edits == 0);
}

TEST_CASE("del in a trie set is exact: an element inside a stored prefix is not in the set") {
    Attached a;
    // Nine lengths: the set is in the trie.
    REQUIRE(a.edit(sets::Op::Add, "blocked",
                   {"198.18.253.0/25", "198.18.253.128/26", "198.18.253.192/27", "198.18.253.224/28",
                    "198.18.253.240/29", "198.18.253.248/30", "198.18.253.252/31", "198.18.254.1"})
                .ok());
    REQUIRE_FALSE(a.desc_v4("blocked"));
    const auto before = a.list("blocked");
    auto r = a.edit(sets::Op::Del, "blocked", {"198.18.250.7"});
    CHECK(r.problem == attach::Problem::Policy);
    REQUIRE(r.diags.errors() == 1);
    CHECK(r.diags.list()[0].code == "element-not-in-set");
    CHECK(a.list("blocked") == before);
    CHECK(a.verdict_from(ip4(198, 18, 250, 7)) == WEIR_ACT_DROP);
    // Added, the host is an entry of its own beside its /24, and goes again alone.
    r = a.edit(sets::Op::Add, "blocked", {"198.18.250.7"});
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.written() == 1);
    REQUIRE(a.edit(sets::Op::Del, "blocked", {"198.18.250.7"}).ok());
    CHECK(a.list("blocked") == before);
    // The first and the last key of the trie are found exactly too.
    REQUIRE(a.edit(sets::Op::Del, "blocked", {before.front(), before.back()}).ok());
    CHECK(a.list("blocked").size() == before.size() - 2);
    CHECK(a.edit(sets::Op::Del, "blocked", {before.front()}).problem == attach::Problem::Policy);
}

TEST_CASE("live contents and the edit record survive a swap that keeps the declaration") {
    Attached a;
    const std::string peer = a.net.peer_ip4_text();
    REQUIRE(a.edit(sets::Op::Add, "blocked", {peer}).ok());
    const std::uint32_t id = a.record(a.meta(), "blocked").id;
    a.load();  // the same file: a hot swap
    CHECK(a.meta().swaps == 1);
    CHECK(a.record(a.meta(), "blocked").id == id);
    CHECK(a.record(a.meta(), "blocked").live_edits == 1);
    CHECK(a.list("blocked").size() == 2);
    a.send({{a.udp(9999), 1}}, 1);
    CHECK(a.rule("bad") == 1);
}

TEST_CASE("stats match the packets sent per rule exactly") {
    Attached a;
    const auto f_ssh = a.tcp(22, 64), f_web = a.tcp(80, 100), f_svc = a.udp(7000, 128), f_def = a.udp(9999, 200);
    const std::uint64_t n_ssh = 1000, n_web = 2000, n_svc = 3000, n_def = 500;
    const stats::Snapshot before = a.snap();
    a.send({{f_ssh, 2}, {f_web, 4}, {f_svc, 6}, {f_def, 1}}, n_ssh + n_web + n_svc + n_def);
    const stats::Snapshot s = a.snap();

    std::vector<std::string> order;
    for (const auto& r : s.rules) order.push_back(r.name);
    CHECK(order == std::vector<std::string>{"ssh", "web", "bad", "svc"});
    auto delta = [&](const std::string& name) {
        bpf::Counter now, was;
        for (const auto& r : s.rules)
            if (r.name == name) now = r.counter;
        for (const auto& r : before.rules)
            if (r.name == name) was = r.counter;
        return bpf::Counter{now.packets - was.packets, now.bytes - was.bytes};
    };
    // XDP sees the whole Ethernet frame as sent (no FCS): bytes = packets x frame length.
    CHECK(delta("ssh") == bpf::Counter{n_ssh, n_ssh * 64});
    CHECK(delta("web") == bpf::Counter{n_web, n_web * 100});
    CHECK(delta("bad") == bpf::Counter{0, 0});
    CHECK(delta("svc") == bpf::Counter{n_svc, n_svc * 128});
    CHECK(s.default_decisions.packets - before.default_decisions.packets == n_web + n_def);
    CHECK(s.default_decisions.bytes - before.default_decisions.bytes == n_web * 100 + n_def * 200);
    CHECK(s.verdict("drop").packets - before.verdict("drop").packets == n_ssh + n_svc);
    CHECK(s.verdict("pass").packets - before.verdict("pass").packets == n_web + n_def);
    CHECK(s.verdict("drop").bytes - before.verdict("drop").bytes == n_ssh * 64 + n_svc * 128);
    CHECK(s.malformed.packets == before.malformed.packets);
    CHECK(s.default_verdict == "pass");

    // Rates over the interval, the table and the JSON.
    const stats::Rate rt = stats::rate(s.rules[0].counter, &before.rules[0].counter, 2.0);
    CHECK(rt.valid);
    CHECK(rt.pps == doctest::Approx(n_ssh / 2.0));
    CHECK(rt.bps == doctest::Approx(n_ssh * 64 * 8 / 2.0));
    std::vector<stats::Snapshot> now{s}, was{before};
    const std::string table = stats::format_table(now, &was);
    CHECK(table.find("ssh") < table.find("web"));
    CHECK(table.find("pps") != std::string::npos);
    auto j = nlohmann::json::parse(stats::to_json(s));
    CHECK(j["interface"] == a.dev());
    CHECK(j["rules"][0]["rule"] == "ssh");
    CHECK(j["rules"][0]["action"] == "drop");
    CHECK(j["rules"][3]["packets"].get<std::uint64_t>() == s.rules[3].counter.packets);
    CHECK(j["verdicts"]["drop"]["packets"].get<std::uint64_t>() == s.verdict("drop").packets);
}
