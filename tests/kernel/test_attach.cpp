// Attached policies (runtime/attach/attach.hpp): load / status / unload on a private veth pair, hot swaps
// that keep counters and set contents, failures that leave the running policy alone, refusals,
// and a load killed with SIGKILL after every step. Packets run through the program the pinned
// link runs (BPF_PROG_TEST_RUN), so the checks are about what the kernel enforces.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "attach.hpp"
#include "codegen.hpp"
#include "loaded_policy.hpp"
#include "maps.hpp"
#include "pins.hpp"
#include "sets.hpp"
#include "test_frames.hpp"
#include "testnet.hpp"
#include "weir_abi.h"

using namespace weir;
namespace fs = std::filesystem;

namespace {

constexpr const char* kA = R"(set blocked : ip4 = { 198.18.7.0/24 }

policy p default pass {
    ssh: drop if tcp.dport == 22
    web: count if tcp.dport == 80
    bad: drop if ip.src in @blocked
}

test "ssh is dropped" {
    packet tcp 198.51.100.1:1000 -> 192.0.2.1:22 flags syn
    expect drop by ssh
}
)";

// ssh removed, telnet added, web and the set kept.
constexpr const char* kB = R"(set blocked : ip4 = { 198.18.7.0/24 }

policy p default pass {
    telnet: drop if tcp.dport == 23
    web:    count if tcp.dport == 80
    bad:    drop if ip.src in @blocked
}

test "telnet is dropped" {
    packet tcp 198.51.100.1:1000 -> 192.0.2.1:23 flags syn
    expect drop by telnet
    packet tcp 198.51.100.1:1000 -> 192.0.2.1:22 flags syn
    expect pass by default
}
)";

// The set redefined.
constexpr const char* kC = R"(set blocked : ip4 = { 198.18.8.0/24 }

policy p default pass {
    telnet: drop if tcp.dport == 23
    web:    count if tcp.dport == 80
    bad:    drop if ip.src in @blocked
}
)";

constexpr const char* kBadCompile = R"(policy p default pass {
    telnet: drop if tcp.dprot == 23
}
)";

// Its own test is wrong: the self-test fails.
constexpr const char* kBadTest = R"(policy p default pass {
    telnet: drop if tcp.dport == 23
}

test "wrong" {
    packet tcp 198.51.100.1:1000 -> 192.0.2.1:23 flags syn
    expect pass
}
)";

struct Dir {
    fs::path path;
    Dir() {
        char tmpl[] = "/tmp/weir-attach-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~Dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
        return (path / name).string();
    }
};

std::uint32_t ip4(int a, int b, int c, int d) { return (a << 24) | (b << 16) | (c << 8) | d; }

std::vector<std::uint8_t> tcp(std::uint16_t dport, std::uint32_t src = ip4(198, 51, 100, 1)) {
    return Frame().eth().ipv4(src, ip4(192, 0, 2, 1)).tcp(1000, dport, 0x02).bytes();
}

attach::LoadOutcome load(const std::string& file, const std::string& dev, attach::Mode mode = attach::Mode::Auto) {
    attach::LoadOptions o;
    o.file = file;
    o.ifname = dev;
    o.mode = mode;
    return attach::load(o);
}

std::vector<attach::Attachment> status_of(const std::string& dev) {
    std::vector<attach::Attachment> all;
    attach::Failure f = attach::status(all, dev);
    REQUIRE_MESSAGE(!f, f.message);
    return all;
}

pins::Meta meta_of(const std::string& dev) {
    auto p = pins::open_pinned(dev);
    REQUIRE(p);
    auto m = pins::read_meta(p->meta.get());
    REQUIRE(m);
    return *m;
}

// The program the pinned link runs.
bpf::Fd live_prog(const std::string& dev) {
    auto link = pins::open_pin(pins::path(dev, pins::kLink));
    REQUIRE(link);
    auto li = pins::link_info(link->get());
    REQUIRE(li);
    auto prog = pins::prog_by_id(li->prog_id);
    REQUIRE(prog);
    return std::move(*prog);
}

std::uint32_t run_live(const std::string& dev, const std::vector<std::uint8_t>& frame) {
    bpf::Fd prog = live_prog(dev);
    auto r = bpf::test_run(prog.get(), frame);
    REQUIRE(r);
    return r->retval;
}

bpf::Counter rule_counter(const std::string& dev, const std::string& rule) {
    pins::Meta m = meta_of(dev);
    REQUIRE(m.current);
    auto p = pins::open_pinned(dev);
    REQUIRE(p);
    auto c = bpf::read_counter(p->map(WEIR_MAP_RULES), m.current->slots.at(rule));
    REQUIRE(c);
    return *c;
}

const pins::SetRecord& set_record(const pins::PolicyMeta& m, const std::string& name) {
    for (const auto& s : m.sets)
        if (s.name == name) return s;
    FAIL("no set " << name);
    throw 0;
}

std::set<std::uint32_t> v4_set_ids(const std::string& dev) {
    auto p = pins::open_pinned(dev);
    REQUIRE(p);
    std::set<std::uint32_t> ids;
    for (const char* name : {WEIR_MAP_SET_V4, WEIR_MAP_SETH_V4}) {  // the trie and the hash
        int fd = p->map(name);
        weir_key_v4 k{}, next{};
        const void* prev = nullptr;
        while (bpf_map_get_next_key(fd, prev, &next) == 0) {
            ids.insert(next.set);
            k = next;
            prev = &k;
        }
    }
    return ids;
}

std::set<std::uint32_t> xdp_ids(unsigned ifindex) {
    bpf_xdp_query_opts q{};
    q.sz = sizeof q;
    std::set<std::uint32_t> ids;
    if (bpf_xdp_query(static_cast<int>(ifindex), 0, &q) == 0)
        for (std::uint32_t id : {q.prog_id, q.drv_prog_id, q.skb_prog_id})
            if (id) ids.insert(id);
    return ids;
}

void unload_quietly(const std::string& dev) { (void)attach::unload(dev); }

}  // namespace

TEST_CASE("load, status, unload") {
    test::TestNet net;
    const std::string dev = net.host_if();
    Dir d;
    auto r = load(d.write("a.weir", kA), dev);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK_FALSE(r.hot_swap);
    CHECK(r.probes == 1);
    for (const char* step : {"compile", "verify", "self-test", "prepare", "attach", "pin", "meta"}) {
        bool seen = false;
        for (const auto& s : r.steps) seen |= s.name == step;
        CHECK_MESSAGE(seen, step);
    }

    auto st = status_of(dev);
    REQUIRE(st.size() == 1);
    CHECK(st[0].enforcing);
    CHECK(st[0].meta.policy == "p");
    CHECK(st[0].meta.mode == "native");
    CHECK(st[0].meta.swaps == 0);
    CHECK(st[0].meta.source == fs::path(d.path / "a.weir").string());
    CHECK(st[0].meta.source_hash.size() == 64);
    CHECK(st[0].meta.prog_tag.size() == 16);
    CHECK(xdp_ids(net.host_ifindex()) == std::set<std::uint32_t>{st[0].meta.prog_id});
    for (const auto& name : pins::shared_maps()) CHECK_MESSAGE(pins::exists(pins::path(dev, name)), name);
    CHECK(pins::exists(pins::path(dev, pins::kLink)));
    CHECK(pins::exists(pins::path(dev, pins::kProg)));
    // Enforcement survives the loading objects: the kernel program drops SSH.
    CHECK(run_live(dev, tcp(22)) == WEIR_ACT_DROP);
    CHECK(run_live(dev, tcp(80)) == WEIR_ACT_PASS);
    CHECK(run_live(dev, tcp(80, ip4(198, 18, 7, 9))) == WEIR_ACT_DROP);

    // Listing every interface includes this one.
    std::vector<attach::Attachment> all;
    REQUIRE_FALSE(attach::status(all));
    bool listed = false;
    for (const auto& a : all) listed |= a.ifname == dev;
    CHECK(listed);

    std::optional<pins::PolicyMeta> removed;
    attach::Failure f = attach::unload(dev, &removed);
    REQUIRE_MESSAGE(!f, f.message);
    REQUIRE(removed);
    CHECK(removed->policy == "p");
    CHECK_FALSE(pins::exists(pins::dir(dev)));
    CHECK(xdp_ids(net.host_ifindex()).empty());
    std::vector<attach::Attachment> none;
    CHECK(attach::status(none, dev).problem == attach::Problem::Environment);
    CHECK(attach::unload(dev).problem == attach::Problem::Environment);
}

TEST_CASE("generic mode") {
    test::TestNet net;
    Dir d;
    auto r = load(d.write("a.weir", kA), net.host_if(), attach::Mode::Generic);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(status_of(net.host_if()).at(0).meta.mode == "generic");
    // A swap keeps the mode; asking for another is refused.
    auto s = load(d.write("b.weir", kB), net.host_if(), attach::Mode::Native);
    CHECK(s.problem == attach::Problem::Environment);
    auto s2 = load(d.write("b.weir", kB), net.host_if());
    REQUIRE_MESSAGE(s2.ok(), s2.message);
    CHECK(status_of(net.host_if()).at(0).meta.mode == "generic");
    unload_quietly(net.host_if());
}

TEST_CASE("hot swap: kept rules keep their counters, kept sets their live contents") {
    test::TestNet net;
    const std::string dev = net.host_if();
    Dir d;
    REQUIRE(load(d.write("a.weir", kA), dev).ok());
    for (int i = 0; i < 3; ++i) CHECK(run_live(dev, tcp(80)) == WEIR_ACT_PASS);
    CHECK(run_live(dev, tcp(22)) == WEIR_ACT_DROP);
    CHECK(rule_counter(dev, "web").packets == 3);
    CHECK(rule_counter(dev, "ssh").packets == 1);
    const pins::PolicyMeta a = *meta_of(dev).current;
    // A live edit of the set: 198.18.9.1 joins @blocked.
    {
        sets::EditOptions o;
        o.ifname = dev;
        o.set = "blocked";
        o.op = sets::Op::Add;
        o.elements = {"198.18.9.1"};
        auto e = sets::edit(o);
        REQUIRE_MESSAGE(e.ok(), e.message);
    }
    CHECK(run_live(dev, tcp(80, ip4(198, 18, 9, 1))) == WEIR_ACT_DROP);

    auto r = load(d.write("b.weir", kB), dev);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.hot_swap);
    CHECK(r.replaced == "p");
    CHECK(r.notes.empty());
    const pins::PolicyMeta b = *meta_of(dev).current;
    CHECK(b.swaps == 1);
    CHECK(b.prog_id != a.prog_id);
    CHECK(b.attached_at == a.attached_at);
    CHECK(b.slots.at("web") == a.slots.at("web"));
    CHECK(b.slots.at("bad") == a.slots.at("bad"));
    CHECK(b.slots.at("telnet") != a.slots.at("ssh"));  // the old slot was still counting
    CHECK(rule_counter(dev, "web").packets == 4);       // 3 + the blocked-source packet
    CHECK(rule_counter(dev, "telnet").packets == 0);
    {  // the removed rule's slot was zeroed
        auto p = pins::open_pinned(dev);
        REQUIRE(p);
        CHECK(bpf::read_counter(p->map(WEIR_MAP_RULES), a.slots.at("ssh"))->packets == 0);
    }
    CHECK(run_live(dev, tcp(22)) == WEIR_ACT_PASS);
    CHECK(run_live(dev, tcp(23)) == WEIR_ACT_DROP);
    CHECK(run_live(dev, tcp(80)) == WEIR_ACT_PASS);
    CHECK(rule_counter(dev, "web").packets == 5);
    // The unchanged set kept its id and its live contents.
    CHECK(set_record(b, "blocked").id == set_record(a, "blocked").id);
    CHECK(run_live(dev, tcp(80, ip4(198, 18, 9, 1))) == WEIR_ACT_DROP);

    // Redefining the set: a new id, the declared contents only, the old id's entries gone.
    auto r2 = load(d.write("c.weir", kC), dev);
    REQUIRE_MESSAGE(r2.ok(), r2.message);
    const pins::PolicyMeta c = *meta_of(dev).current;
    CHECK(c.swaps == 2);
    CHECK(set_record(c, "blocked").id != set_record(b, "blocked").id);
    CHECK(v4_set_ids(dev) == std::set<std::uint32_t>{set_record(c, "blocked").id});
    CHECK(run_live(dev, tcp(80, ip4(198, 18, 9, 1))) == WEIR_ACT_PASS);
    CHECK(run_live(dev, tcp(80, ip4(198, 18, 7, 1))) == WEIR_ACT_PASS);
    CHECK(run_live(dev, tcp(80, ip4(198, 18, 8, 1))) == WEIR_ACT_DROP);
    CHECK(rule_counter(dev, "web").packets == 9);
    unload_quietly(dev);
}

// Rate-limit buckets live in the pinned weir_limits table, keyed by an id made from the rule's
// name and the limit's key (docs/operations.md): a swap that keeps both keeps the bucket.
TEST_CASE("hot swap: a kept rate limit keeps its bucket, a renamed one starts full") {
    test::TestNet net;
    const std::string dev = net.host_if();
    Dir d;
    // One token a minute and a burst of 3: the bucket cannot refill during the test.
    REQUIRE(load(d.write("a.weir", "policy p default pass {\n    lim: drop if tcp.dport == 80 and over 1/m burst 3\n}\n"),
                 dev)
                .ok());
    for (int i = 0; i < 3; ++i) CHECK(run_live(dev, tcp(80)) == WEIR_ACT_PASS);
    CHECK(run_live(dev, tcp(80)) == WEIR_ACT_DROP);

    auto r = load(d.write("b.weir",
                          "policy p default pass {\n    telnet: drop if tcp.dport == 23\n"
                          "    lim: drop if tcp.dport == 80 and over 1/m burst 3\n}\n"),
                  dev);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.hot_swap);
    CHECK(run_live(dev, tcp(80)) == WEIR_ACT_DROP);  // still empty: the bucket was kept
    CHECK(run_live(dev, tcp(23)) == WEIR_ACT_DROP);

    r = load(d.write("c.weir", "policy p default pass {\n    lim2: drop if tcp.dport == 80 and over 1/m burst 3\n}\n"),
             dev);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(run_live(dev, tcp(80)) == WEIR_ACT_PASS);  // a new rule name: a new, full bucket
    CHECK(rule_counter(dev, "lim2").packets == 0);
    CHECK_FALSE(attach::unload(dev));
}

TEST_CASE("hot swap: no increment of a kept rule is lost while packets run during the swap") {
    test::TestNet net;
    const std::string dev = net.host_if();
    Dir d;
    REQUIRE(load(d.write("a.weir", kA), dev).ok());
    const auto link = pins::open_pin(pins::path(dev, pins::kLink));
    REQUIRE(link);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> ran{0};
    const auto frame = tcp(80);
    std::thread t([&] {
        while (!stop) {
            auto li = pins::link_info(link->get());
            if (!li) continue;
            auto prog = pins::prog_by_id(li->prog_id);
            if (!prog) continue;  // replaced between the two calls
            if (auto r = bpf::test_run(prog->get(), frame, 1); r && r->retval == WEIR_ACT_PASS) ++ran;
        }
    });
    const std::string b = d.write("b.weir", kB), a = d.write("a.weir", kA);
    for (int i = 0; i < 4; ++i) {
        auto r = load(i % 2 ? a : b, dev);
        CHECK_MESSAGE(r.ok(), r.message);
    }
    stop = true;
    t.join();
    CHECK(ran > 0);
    CHECK(rule_counter(dev, "web").packets == ran.load());
    unload_quietly(dev);
}

TEST_CASE("a swap to a policy with more rules than slots grows weir_rules and keeps counters") {
    test::TestNet net;
    const std::string dev = net.host_if();
    Dir d;
    REQUIRE(load(d.write("a.weir", kA), dev).ok());
    CHECK(meta_of(dev).current->rule_capacity == 256);
    for (int i = 0; i < 2; ++i) run_live(dev, tcp(80));
    std::string big = "policy p default pass {\n    web: count if tcp.dport == 80\n";
    for (int i = 0; i < 300; ++i) big += "    r" + std::to_string(i) + ": drop if udp.dport == " + std::to_string(1000 + i) + "\n";
    big += "}\n";
    auto r = load(d.write("big.weir", big), dev);
    REQUIRE_MESSAGE(r.ok(), r.message);
    CHECK(r.notes.empty());
    CHECK(meta_of(dev).current->rule_capacity == 1024);
    CHECK(rule_counter(dev, "web").packets == 2);
    run_live(dev, tcp(80));
    CHECK(rule_counter(dev, "web").packets == 3);
    auto p = pins::open_pinned(dev);
    REQUIRE(p);
    CHECK(*pins::map_max_entries(p->map(WEIR_MAP_RULES)) == 1024);
    unload_quietly(dev);
}

TEST_CASE("a policy that fails to compile, verify or self-test never replaces the running one") {
    test::TestNet net;
    const std::string dev = net.host_if();
    Dir d;
    REQUIRE(load(d.write("a.weir", kA), dev).ok());
    const std::uint32_t prog = meta_of(dev).current->prog_id;
    auto unchanged = [&] {
        pins::Meta m = meta_of(dev);
        CHECK_FALSE(m.pending);
        CHECK(m.current->prog_id == prog);
        CHECK(m.current->swaps == 0);
        CHECK(run_live(dev, tcp(22)) == WEIR_ACT_DROP);
        CHECK(status_of(dev).at(0).enforcing);
    };

    SUBCASE("compile") {
        auto r = load(d.write("bad.weir", kBadCompile), dev);
        CHECK(r.problem == attach::Problem::Policy);
        CHECK(r.failed_step == "compile");
        CHECK(r.message.find("untouched") != std::string::npos);
        unchanged();
    }
    SUBCASE("verify") {
        attach::LoadOptions o;
        o.file = d.write("b.weir", kB);
        o.ifname = dev;
        o.unverifiable_rule = "telnet";
        auto r = attach::load(o);
        CHECK(r.problem == attach::Problem::Policy);
        CHECK(r.failed_step == "verify");
        CHECK(r.kernel_diags.errors() > 0);
        unchanged();
    }
    SUBCASE("self-test") {
        auto r = load(d.write("badtest.weir", kBadTest), dev);
        CHECK(r.problem == attach::Problem::Policy);
        CHECK(r.failed_step == "self-test");
        CHECK(r.message == "self-test failed (1 of 1 probes): the running policy 'p' is untouched");
        REQUIRE(r.probe_failures.size() == 1);
        CHECK(r.probe_failures[0].actual == "drop by telnet");
        unchanged();
    }
    SUBCASE("dry run") {
        attach::LoadOptions o;
        o.file = d.write("b.weir", kB);
        o.ifname = dev;
        o.dry_run = true;
        auto r = attach::load(o);
        CHECK_MESSAGE(r.ok(), r.message);
        CHECK(r.hot_swap);
        CHECK_FALSE(r.now);
        unchanged();
    }
    unload_quietly(dev);
}

TEST_CASE("refusals: unknown interface, foreign XDP program, bpffs") {
    Dir d;
    const std::string a = d.write("a.weir", kA);
    auto r = load(a, "weir-no-such0");
    CHECK(r.problem == attach::Problem::Environment);
    CHECK(r.message == "no interface named 'weir-no-such0'");

    test::TestNet net;
    {  // someone else's program, attached without a link
        auto c = compile_file(a, {});
        REQUIRE(c->ok());
        Plan plan = plan_policy(c->program, 0);
        auto obj = codegen(plan, c->sources, EmitKind::Obj);
        REQUIRE(obj.ok());
        Diagnostics diags;
        auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
        REQUIRE(lp);
        REQUIRE(bpf_xdp_attach(net.host_ifindex(), lp->program_fd(), XDP_FLAGS_DRV_MODE, nullptr) == 0);
        auto f = load(a, net.host_if());
        CHECK(f.problem == attach::Problem::Environment);
        CHECK(f.message.find("another XDP program") != std::string::npos);
        CHECK_FALSE(pins::exists(pins::dir(net.host_if())));
        bpf_xdp_detach(net.host_ifindex(), XDP_FLAGS_DRV_MODE, nullptr);
    }
    {  // a pin root that is not on a bpf filesystem
        ::setenv("WEIR_PIN_ROOT", (d.path / "pins").c_str(), 1);
        auto f = load(a, net.host_if());
        ::unsetenv("WEIR_PIN_ROOT");
        CHECK(f.problem == attach::Problem::Environment);
        CHECK(f.message.find("bpf filesystem") != std::string::npos);
    }
    CHECK(xdp_ids(net.host_ifindex()).empty());
}

TEST_CASE("kill -9 after every step of a swap leaves one valid policy that later commands handle") {
    test::TestNet net;
    const std::string dev = net.host_if();
    Dir d;
    // The swap redefines @blocked: both outcomes must leave exactly one set id in the table.
    const std::string a = d.write("a.weir", kA), b = d.write("c.weir", kC);
    const auto& points = attach::inject_points();
    auto point_index = [&](const std::string& p) {
        return std::find(points.begin(), points.end(), p) - points.begin();
    };
    const auto swapped_from = point_index("after-link-update");

    for (bool first_load : {false, true}) {
        for (const std::string& point : points) {
            CAPTURE(point);
            CAPTURE(first_load);
            if (!first_load) REQUIRE(load(a, dev).ok());
            pid_t pid = ::fork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                attach::LoadOptions o;
                o.file = b;
                o.ifname = dev;
                o.inject_kill = point;
                (void)attach::load(o);
                ::_exit(0);  // not reached when the point is reached
            }
            int wst = 0;
            REQUIRE(::waitpid(pid, &wst, 0) == pid);
            REQUIRE(WIFSIGNALED(wst));
            CHECK(WTERMSIG(wst) == SIGKILL);

            const bool new_runs = point_index(point) >= swapped_from;
            std::vector<attach::Attachment> st;
            attach::Failure f = attach::status(st, first_load && !new_runs ? std::string() : dev);
            REQUIRE_MESSAGE(!f, f.message);
            std::vector<attach::Attachment> mine;
            for (auto& x : st)
                if (x.ifname == dev) mine.push_back(x);
            if (first_load && !new_runs) {
                // Nothing was attached before and nothing is now.
                CHECK(mine.empty());
                CHECK_FALSE(pins::exists(pins::dir(dev)));
                CHECK(xdp_ids(net.host_ifindex()).empty());
                continue;
            }
            REQUIRE(mine.size() == 1);
            CHECK(mine[0].enforcing);
            pins::Meta m = meta_of(dev);
            CHECK_FALSE(m.pending);  // status resolved it
            REQUIRE(m.current);
            CHECK(xdp_ids(net.host_ifindex()) == std::set<std::uint32_t>{m.current->prog_id});
            CHECK(live_prog(dev).get() >= 0);
            if (new_runs) {
                CHECK(m.current->slots.count("telnet"));
                CHECK(run_live(dev, tcp(23)) == WEIR_ACT_DROP);
                CHECK(run_live(dev, tcp(22)) == WEIR_ACT_PASS);
            } else {
                CHECK(m.current->slots.count("ssh"));
                CHECK(run_live(dev, tcp(22)) == WEIR_ACT_DROP);
                CHECK(run_live(dev, tcp(23)) == WEIR_ACT_PASS);
            }
            // Exactly the current policy's set ids are in the tables.
            CHECK(v4_set_ids(dev) == std::set<std::uint32_t>{set_record(*m.current, "blocked").id});
            // A later load works.
            auto again = load(a, dev);
            CHECK_MESSAGE(again.ok(), again.message);
            CHECK(run_live(dev, tcp(22)) == WEIR_ACT_DROP);
            unload_quietly(dev);
        }
    }
}
