// The XDP template (bpf-templates/xdp.c) linked with match_stub.c, loaded through weir_runtime
// and run with BPF_PROG_TEST_RUN: verdicts, per-rule/verdict/stat counters, the last decision,
// redirect targets, and errors that carry context.
#include <doctest/doctest.h>

#include <cerrno>
#include <span>

#include "bpf.hpp"
#include "frames.hpp"
#include "maps.hpp"
#include "weir_abi.h"

namespace weir::test {
std::span<const unsigned char> xdp_stub_object();
std::span<const unsigned char> bad_probe_object();
}

using namespace weir;
using namespace weir::test;

namespace {

constexpr std::uint32_t kRules = 6;  // match_stub.c's policy

struct Loaded {
    bpf::Object obj;
    int prog, rules, verdicts, stats, redirect, last;
};

Loaded load_stub() {
    auto obj = bpf::Object::open(xdp_stub_object(), "xdp_stub");
    REQUIRE_MESSAGE(obj, obj.error().message);
    REQUIRE(obj->set_max_entries(WEIR_MAP_RULES, kRules));
    REQUIRE(obj->set_max_entries(WEIR_MAP_REDIRECT, kRules));
    auto st = obj->load();
    REQUIRE_MESSAGE(st, st.error().message << "\n" << st.error().log);
    auto fd = [&](std::string_view map) {
        auto r = obj->map_fd(map);
        REQUIRE_MESSAGE(r, r.error().message);
        return *r;
    };
    auto prog = obj->program_fd(WEIR_PROG_XDP);
    REQUIRE(prog);
    int rules = fd(WEIR_MAP_RULES), verdicts = fd(WEIR_MAP_VERDICTS), stats = fd(WEIR_MAP_STATS),
        redirect = fd(WEIR_MAP_REDIRECT), last = fd(WEIR_MAP_LAST);
    return Loaded{std::move(*obj), *prog, rules, verdicts, stats, redirect, last};
}

struct Outcome {
    std::uint32_t retval;
    bpf::LastDecision last;
};

Outcome run(const Loaded& l, const Bytes& packet, std::uint32_t repeat = 1) {
    REQUIRE(bpf::clear_last_decision(l.last));
    auto r = bpf::test_run(l.prog, packet, repeat);
    REQUIRE_MESSAGE(r, r.error().message);
    auto last = bpf::last_decision(l.last);
    REQUIRE_MESSAGE(last, last.error().message);
    return {r->retval, *last};
}

bpf::Counter counter(int map, std::uint32_t key) {
    auto c = bpf::read_counter(map, key);
    REQUIRE_MESSAGE(c, c.error().message);
    return *c;
}

Bytes tcp_to(std::uint16_t dport, const Bytes& payload = {}) {
    return ether(0x0800, ip4({}, tcp({.dport = dport}, payload)));
}
Bytes udp_to(std::uint16_t dport) { return ether(0x0800, ip4({.proto = 17}, udp(999, dport))); }

}  // namespace

TEST_CASE("decisions: verdict, deciding rule and counters") {
    Loaded l = load_stub();
    REQUIRE(bpf::update(l.redirect, 3, std::uint32_t(1)));  // rule 3 -> ifindex 1

    Bytes ssh = tcp_to(22);
    Outcome o = run(l, ssh);
    CHECK(o.retval == WEIR_ACT_DROP);
    CHECK(o.last.rule == 1);
    CHECK(o.last.action == WEIR_ACT_DROP);
    CHECK(o.last.runs == 1);
    CHECK_FALSE(o.last.malformed);
    CHECK(counter(l.rules, 1) == bpf::Counter{1, ssh.size()});

    Bytes ping = ether(0x0800, ip4({.proto = 1}, icmp(8, 0)));
    o = run(l, ping);
    CHECK(o.retval == WEIR_ACT_TX);
    CHECK(o.last.rule == 2);

    Bytes dns = udp_to(53);
    o = run(l, dns);
    CHECK(o.retval == WEIR_ACT_REDIRECT);
    CHECK(o.last.rule == 3);
    CHECK(counter(l.rules, 0) == bpf::Counter{1, dns.size()});  // the count rule
    CHECK(counter(l.rules, 3) == bpf::Counter{1, dns.size()});

    Bytes get = tcp_to(80, text("GET /"));
    o = run(l, get);
    CHECK(o.retval == WEIR_ACT_DROP);
    CHECK(o.last.rule == 4);

    Bytes web = tcp_to(443, text("POST"));
    o = run(l, web);
    CHECK(o.retval == WEIR_ACT_PASS);
    CHECK(o.last.rule == WEIR_RULE_DEFAULT);
    CHECK(counter(l.stats, WEIR_STAT_DEFAULT) == bpf::Counter{1, web.size()});

    CHECK(counter(l.verdicts, WEIR_ACT_DROP) == bpf::Counter{2, ssh.size() + get.size()});
    CHECK(counter(l.verdicts, WEIR_ACT_TX) == bpf::Counter{1, ping.size()});
    CHECK(counter(l.verdicts, WEIR_ACT_REDIRECT) == bpf::Counter{1, dns.size()});
    CHECK(counter(l.verdicts, WEIR_ACT_PASS) == bpf::Counter{1, web.size()});
    CHECK(counter(l.stats, WEIR_STAT_ERROR).packets == 0);
    CHECK(counter(l.stats, WEIR_STAT_MALFORMED).packets == 0);
    CHECK(counter(l.rules, 5).packets == 0);
}

TEST_CASE("repeated test runs count every repetition") {
    Loaded l = load_stub();
    Bytes ssh = tcp_to(22);
    Outcome o = run(l, ssh, 10);
    CHECK(o.retval == WEIR_ACT_DROP);
    CHECK(o.last.runs == 10);
    CHECK(counter(l.rules, 1) == bpf::Counter{10, 10 * ssh.size()});
}

TEST_CASE("malformed packets are counted and still run through the rules") {
    Loaded l = load_stub();
    Bytes bad = ether(0x0800, ip4({}, tcp({.dport = 22, .doff = 4})));  // TCP absent
    Outcome o = run(l, bad);
    CHECK(o.retval == WEIR_ACT_PASS);
    CHECK(o.last.rule == WEIR_RULE_DEFAULT);
    CHECK(o.last.malformed);
    CHECK(counter(l.stats, WEIR_STAT_MALFORMED) == bpf::Counter{1, bad.size()});

    Bytes runt = Bytes(14, 0);  // an Ethernet header with EtherType 0: well formed, no IP
    o = run(l, runt);
    CHECK_FALSE(o.last.malformed);
}

TEST_CASE("errors abort: redirect without a target, an unknown action") {
    Loaded l = load_stub();
    Outcome o = run(l, udp_to(53));  // weir_redirect[3] was never set
    CHECK(o.retval == WEIR_ACT_ABORTED);
    CHECK(o.last.rule == 3);
    CHECK(o.last.action == WEIR_ACT_ABORTED);

    o = run(l, tcp_to(9));  // match_stub returns action 9
    CHECK(o.retval == WEIR_ACT_ABORTED);
    CHECK(o.last.rule == 5);
    CHECK(counter(l.stats, WEIR_STAT_ERROR).packets == 2);
    CHECK(counter(l.verdicts, WEIR_ACT_ABORTED).packets == 2);
}

TEST_CASE("runtime errors carry context") {
    SUBCASE("open") {
        const unsigned char junk[] = {1, 2, 3, 4};
        auto obj = bpf::Object::open(junk, "junk");
        REQUIRE_FALSE(obj);
        CHECK(obj.error().message.starts_with("open BPF object 'junk': "));
        CHECK(obj.error().code < 0);
    }
    SUBCASE("unknown map") {
        auto obj = bpf::Object::open(xdp_stub_object(), "xdp_stub");
        REQUIRE(obj);
        auto st = obj->set_max_entries("nope", 3);
        REQUIRE_FALSE(st);
        CHECK(st.error().code == -ENOENT);
        CHECK(st.error().message.find("'nope'") != std::string::npos);
    }
    SUBCASE("verifier rejection names the program and carries the log") {
        auto obj = bpf::Object::open(bad_probe_object(), "bad_probe");
        REQUIRE(obj);
        auto st = obj->load();
        REQUIRE_FALSE(st);
        CHECK(st.error().message == "load program 'bad_probe': Permission denied (-13)");
        CHECK(st.error().log.find("invalid access to packet") != std::string::npos);
        auto fd = obj->program_fd("bad_probe");
        CHECK_FALSE(fd);
    }
    SUBCASE("the verifier log on success, when asked for") {
        auto obj = bpf::Object::open(xdp_stub_object(), "xdp_stub");
        REQUIRE(obj);
        REQUIRE(obj->load(/*log_always=*/true));
        CHECK(obj->log(WEIR_PROG_XDP).find("processed") != std::string::npos);
    }
    SUBCASE("a test run of a packet the kernel refuses") {
        Loaded l = load_stub();
        Bytes tiny(4, 0);
        auto r = bpf::test_run(l.prog, tiny);
        REQUIRE_FALSE(r);
        CHECK(r.error().message == "test run of a 4-byte packet: Invalid argument (-22)");
    }
}
