// Hashed address sets (weir_abi.h, "Set tables"): a set with few distinct prefix lengths is
// stored in the per-kind hash and probed once per length; one with more than
// WEIR_SET_HASH_LENS lengths stays in the LPM trie. Either way the program decides exactly like
// the reference interpreter (BPF_PROG_TEST_RUN against interp.cpp on the same frames).
// Live edits of hashed sets are in test_sets_stats.cpp.
#include <doctest/doctest.h>

#include <bpf/bpf.h>

#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "codegen.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "loaded_policy.hpp"
#include "parse.h"
#include "plan.hpp"
#include "test_frames.hpp"
#include "weir_abi.h"

using namespace weir;

namespace {

struct Loaded {
    std::unique_ptr<Compilation> c;
    Plan plan;
    std::unique_ptr<LoadedPolicy> lp;
};

Loaded load(const std::string& text) {
    Loaded out;
    out.c = compile_source("sets.weir", text, CheckOptions{});
    REQUIRE_MESSAGE(out.c->ok(), render_text(out.c->sources, out.c->diags));
    out.plan = plan_policy(out.c->program, 0);
    CodegenResult r = codegen(out.plan, out.c->sources, EmitKind::Obj, CodegenOptions{});
    REQUIRE_MESSAGE(r.ok(), r.error);
    Diagnostics diags;
    out.lp = LoadedPolicy::load(out.plan, out.c->sources, r.bytes, diags, KernelLoadOptions{});
    REQUIRE_MESSAGE(out.lp, render_text(out.c->sources, diags));
    return out;
}

SetMaps maps_of(const Loaded& l, TableKind k) {
    return set_maps(k, [&](const char* n) { return l.lp->map_fd(n); });
}

const SetTable& table(const Loaded& l, const char* set, TableKind k) {
    const SetTable* t = l.plan.table_for(l.c->program.find_set(set), k);
    REQUIRE(t);
    return *t;
}

// Keys of set `id` in a map of `kind`.
std::size_t entries_of(int fd, TableKind kind, std::uint32_t id) {
    std::vector<std::uint8_t> cur(set_table_key_size(kind)), next(cur.size());
    const void* prev = nullptr;
    std::size_t n = 0;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
        std::uint32_t set;
        std::memcpy(&set, next.data() + offsetof(weir_key_v4, set), sizeof set);
        n += set == id;
        cur = next;
        prev = cur.data();
    }
    return n;
}

std::size_t distinct(const std::vector<TablePrefix>& ps) {  // random elements may repeat
    std::set<std::pair<u128, int>> s;
    for (const auto& p : ps) s.insert({p.value, p.len});
    return s.size();
}

// The kernel's verdict and deciding rule equal the interpreter's, for a frame from `src`.
void same_as_interp(const Loaded& l, const std::vector<std::uint8_t>& frame, const std::string& what) {
    weir_pkt pkt{};
    weir_parse(frame.data(), frame.data() + frame.size(), &pkt);
    const Policy& pol = l.c->program.policies.at(0);
    Decision want = evaluate(l.c->program, pol, pkt, frame, "lo");
    auto got = l.lp->run(frame);
    REQUIRE_MESSAGE(got, got.error().message);
    CHECK_MESSAGE(got->rule == want.rule, what);
    CHECK_MESSAGE(got->action == static_cast<std::uint32_t>(want.verdict == Verdict::Drop ? WEIR_ACT_DROP : WEIR_ACT_PASS),
                  what);
}

std::vector<std::uint8_t> v4_from(std::uint32_t src) {
    return Frame().eth().ipv4(src, ip4(198, 18, 0, 1)).udp(40000, 9999).bytes();
}
std::vector<std::uint8_t> v6_from(u128 src) {
    return Frame().eth().ipv6(src, *ip6_from_text("2001:2::1")).udp(40000, 9999).bytes();
}

std::string v4_text(std::uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
           "." + std::to_string(a & 255);
}

}  // namespace

TEST_CASE("a set of /32s and /24s (/128s and /64s) is hashed and decides like the interpreter") {
    // 198.18.0.0/15 and 2001:2::/48 only. Hosts, networks and a range (/32, /31 pieces).
    std::mt19937 rng(11);
    std::vector<std::uint32_t> hosts, nets;
    std::string text = "set bl : ip = {\n";
    for (int i = 0; i < 200; ++i) {
        hosts.push_back(ip4(198, 18, 0, 0) | (rng() & 0x1ffff));
        text += "  " + v4_text(hosts.back()) + ",\n";
    }
    for (int i = 0; i < 50; ++i) {
        nets.push_back((ip4(198, 18, 0, 0) | (rng() & 0x1ffff)) & ~0xffu);
        text += "  " + v4_text(nets.back()) + "/24,\n";
    }
    text += "  198.19.255.1-198.19.255.6,\n";
    for (int i = 0; i < 40; ++i) text += "  2001:2:0:" + std::to_string(i) + "::" + std::to_string(i + 1) + ",\n";
    for (int i = 0; i < 20; ++i) text += "  2001:2:0:" + std::to_string(100 + i) + "::/64,\n";
    text += "}\npolicy p default pass {\n  blocked: drop if ip.src in @bl\n}\n";
    Loaded l = load(text);

    // Stored in the hash maps, described by the descriptors, nothing in the tries.
    const SetTable& v4 = table(l, "bl", TableKind::V4);
    const SetTable& v6 = table(l, "bl", TableKind::V6);
    SetMaps m4 = maps_of(l, TableKind::V4), m6 = maps_of(l, TableKind::V6);
    REQUIRE(m4.hash >= 0);
    REQUIRE(m6.hash >= 0);
    auto d4 = hashed_desc(m4, v4.id);
    auto d6 = hashed_desc(m6, v6.id);
    REQUIRE(d4);
    REQUIRE(d6);
    REQUIRE(*d4);
    REQUIRE(*d6);
    CHECK(std::vector<std::uint8_t>((*d4)->len, (*d4)->len + (*d4)->n) == std::vector<std::uint8_t>{32, 31, 24});
    CHECK(std::vector<std::uint8_t>((*d6)->len, (*d6)->len + (*d6)->n) == std::vector<std::uint8_t>{128, 64});
    CHECK(entries_of(m4.hash, TableKind::V4, v4.id) == distinct(v4.prefixes));
    CHECK(entries_of(m6.hash, TableKind::V6, v6.id) == distinct(v6.prefixes));
    CHECK(entries_of(m4.trie, TableKind::V4, v4.id) == 0);
    CHECK(entries_of(m6.trie, TableKind::V6, v6.id) == 0);

    // Members, their neighbours, addresses inside the networks, the range's edges, random ones.
    for (std::uint32_t h : hosts)
        for (std::uint32_t a : {h, h - 1, h + 1}) same_as_interp(l, v4_from(a), v4_text(a));
    for (std::uint32_t n : nets)
        for (std::uint32_t a : {n, n + 77, n + 255, n - 1, n + 256}) same_as_interp(l, v4_from(a), v4_text(a));
    for (std::uint32_t a = ip4(198, 19, 255, 0); a <= ip4(198, 19, 255, 7); ++a) same_as_interp(l, v4_from(a), v4_text(a));
    for (int i = 0; i < 200; ++i) {
        std::uint32_t a = ip4(198, 18, 0, 0) | (rng() & 0x1ffff);
        same_as_interp(l, v4_from(a), v4_text(a));
    }
    const u128 base = *ip6_from_text("2001:2::");
    for (int i = 0; i < 130; ++i) {
        u128 net = base | (u128(i) << 64);
        for (u128 a : {net | u128(i + 1), net | u128(i + 2), net, net | (u128(rng()) << 20)})
            same_as_interp(l, v6_from(a), "v6 #" + std::to_string(i));
    }
    // The verdicts themselves, not only agreement.
    CHECK(l.lp->run(v4_from(hosts[0]))->action == WEIR_ACT_DROP);
    CHECK(l.lp->run(v6_from(*ip6_from_text("2001:2:0:105::99")))->action == WEIR_ACT_DROP);
    CHECK(l.lp->run(v6_from(*ip6_from_text("2001:2:0:7fff::1")))->action == WEIR_ACT_PASS);
}

TEST_CASE("a set with more than WEIR_SET_HASH_LENS lengths stays in the trie, exactly") {
    // 10 lengths: /8 ... /32 inside 198.18.0.0/15, and a 32-bit integer set of ranges.
    const char* text = R"(set many : ip4 = { 198.18.0.0/16, 198.19.0.0/17, 198.19.128.0/18, 198.19.192.0/20,
                 198.19.208.0/22, 198.19.212.0/24, 198.19.213.0/26, 198.19.213.64/28,
                 198.19.213.80/30, 198.19.213.84 }
set few : ip4 = { 198.19.240.0/24, 198.19.241.1 }
policy p default pass {
    few:  drop if ip.src in @few
    many: drop if ip.src in @many
}
)";
    Loaded l = load(text);
    const SetTable& many = table(l, "many", TableKind::V4);
    const SetTable& few = table(l, "few", TableKind::V4);
    SetMaps m = maps_of(l, TableKind::V4);
    REQUIRE(prefix_lengths(many.prefixes).size() > WEIR_SET_HASH_LENS);
    auto dm = hashed_desc(m, many.id);
    auto df = hashed_desc(m, few.id);
    REQUIRE(dm);
    REQUIRE(df);
    CHECK_FALSE(*dm);
    CHECK(*df);
    CHECK(entries_of(m.trie, TableKind::V4, many.id) == distinct(many.prefixes));
    CHECK(entries_of(m.hash, TableKind::V4, many.id) == 0);
    CHECK(entries_of(m.hash, TableKind::V4, few.id) == 2);

    std::mt19937 rng(5);
    for (int i = 0; i < 2000; ++i) {
        std::uint32_t a = ip4(198, 18, 0, 0) | (rng() & 0x1ffff);
        same_as_interp(l, v4_from(a), v4_text(a));
    }
    for (std::uint32_t a = ip4(198, 19, 213, 60); a <= ip4(198, 19, 213, 90); ++a) same_as_interp(l, v4_from(a), v4_text(a));
    for (std::uint32_t a : {ip4(198, 19, 240, 0), ip4(198, 19, 240, 255), ip4(198, 19, 241, 1), ip4(198, 19, 241, 2)})
        same_as_interp(l, v4_from(a), v4_text(a));
}

TEST_CASE("a set that finds the hash full goes to the trie, and stays exact") {
    // The private load sizes each of the kind's maps to the plan's 19 IPv4 prefixes: the hash
    // holds @few's 10, the trie @many's 9.
    const char* text = R"(set few : ip4 = { 198.18.1.0/24, 198.18.2.0/24, 198.18.3.0/24, 198.18.4.0/24, 198.18.5.0/24,
                198.18.6.1, 198.18.6.2, 198.18.6.3, 198.18.6.4, 198.18.6.5 }
set many : ip4 = { 198.19.0.0/16, 198.18.128.0/17, 198.18.64.0/18, 198.18.32.0/19, 198.18.16.0/20,
                 198.18.8.0/21, 198.18.7.0/25, 198.18.7.128/26, 198.18.7.192/27 }
policy p default pass {
    few:  drop if ip.src in @few
    many: drop if ip.src in @many
}
)";
    Loaded l = load(text);
    SetMaps m = maps_of(l, TableKind::V4);
    REQUIRE(*hashed_desc(m, table(l, "few", TableKind::V4).id));
    REQUIRE_FALSE(*hashed_desc(m, table(l, "many", TableKind::V4).id));

    // A new set of 10 hosts (one length): 20 entries do not fit the hash, 19 fit the trie.
    SetTable t;
    t.kind = TableKind::V4;
    t.id = 77;
    t.name = "extra";
    for (std::uint32_t i = 0; i < 10; ++i) t.prefixes.push_back({ip4(198, 18, 9, 10 + i), 32});
    auto st = fill_set_table(m, t);
    REQUIRE_MESSAGE(st, st.error().message);
    auto d = hashed_desc(m, t.id);
    REQUIRE(d);
    CHECK_FALSE(*d);
    CHECK(entries_of(m.hash, TableKind::V4, t.id) == 0);
    CHECK(entries_of(m.trie, TableKind::V4, t.id) == 10);
    for (std::uint32_t i = 0; i < 24; ++i) {
        auto in = set_member(m, TableKind::V4, t.id, ip4(198, 18, 9, i));
        REQUIRE(in);
        CHECK(*in == (i >= 10 && i < 20));
    }
    // The sets already there are untouched.
    CHECK(entries_of(m.hash, TableKind::V4, table(l, "few", TableKind::V4).id) == 10);
    same_as_interp(l, v4_from(ip4(198, 18, 6, 3)), "198.18.6.3");
    same_as_interp(l, v4_from(ip4(198, 18, 7, 200)), "198.18.7.200");
}
