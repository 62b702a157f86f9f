// The classifier (compiler/plan/classifier.hpp): rule conditions as boxes, trees built over them, and
// the plan's reference walk (cls_classify, what the generated code does) deciding every packet
// exactly as the interpreter does, on random policies of every field and operator
// (tests/support/policy_gen.*) with the classifier forced onto every run of 2+ boxable rules,
// and on large generated rule sets.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "classifier.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "parse.h"
#include "plan.hpp"
#include "plan_dump.hpp"
#include "plan_walk.hpp"
#include "policy_gen.hpp"

using namespace weir;
using namespace weir::test;

namespace {

std::unique_ptr<Compilation> compile(const std::string& text) {
    CheckOptions o;
    o.lint = false;
    auto c = compile_source("/tmp/weir-classifier/t.weir", text, o);
    REQUIRE_MESSAGE(c->ok(), render_text(c->sources, c->diags));
    return c;
}

PlanOptions forced() {
    PlanOptions o;
    o.classifier.min_rules = 2;
    return o;
}

}  // namespace

TEST_CASE("dimensions lay out variants back to back with `absent` last") {
    ClsDim sport = make_dim(FieldId::L4Sport);
    CHECK(sport.variants == 2);
    CHECK(sport.offset[0] == 0);
    CHECK(sport.offset[1] == 65536);
    CHECK(sport.absent == 131072);
    CHECK(sport.bits == 18);
    ClsDim src = make_dim(FieldId::IpSrc);
    CHECK(src.offset[1] == (std::uint64_t{1} << 32));
    CHECK(src.collapsed[1]);
    CHECK(src.absent == (std::uint64_t{1} << 32) + 1);
    ClsDim syn = make_dim(FieldId::TcpFlagSyn);
    CHECK(syn.absent == 2);
}

TEST_CASE("conditions become boxes, named sets, payloads and partial IPv6 ranges do not") {
    auto c = compile(R"(set s : ip4 = { 198.18.0.0/15 }
policy p default pass {
    a: drop if tcp.dport == 22 or udp.dport in { 53, 5353 }
    b: drop if ip.src in @s
    c: drop if payload[0:2] == 0x1234
    d: drop if ip.src == 2001:2::/48
    e: drop if not tcp.dport == 22
    f: drop if ip.src != 198.18.0.0/15 and ip.proto == udp
}
)");
    ClsBoxer boxer(c->program);
    const auto& rules = c->program.policies[0].rules;
    auto a = boxer.boxes(rules[0], 64);
    REQUIRE(a);
    CHECK(a->boxes.size() == 3);  // tcp 22, udp 53, udp 5353
    CHECK_FALSE(boxer.boxes(rules[1], 64));
    CHECK_FALSE(boxer.boxes(rules[2], 64));
    CHECK_FALSE(boxer.boxes(rules[3], 64));
    auto e = boxer.boxes(rules[4], 64);
    REQUIRE(e);
    CHECK(e->boxes.size() == 2);  // below 22, and above 22 up to `absent`
    auto f = boxer.boxes(rules[5], 64);
    REQUIRE(f);
    CHECK(f->boxes.size() == 2);  // two IPv4 ranges around the /15, with the protocol
}

TEST_CASE("small policies stay linear, long runs of boxable rules become groups") {
    std::string text = "policy p default pass {\n    ssh: pass if tcp.dport == 22\n";
    for (int i = 0; i < 40; ++i) text += "    b" + std::to_string(i) + ": drop if ip.src == 198.18." + std::to_string(i) + ".0/24\n";
    text += "    late: drop if payload[0:1] == 0x01\n}\n";
    auto c = compile(text);
    Plan lin = plan_policy(c->program, 0, [] {
        PlanOptions o;
        o.mode = PlanOptions::Mode::Linear;
        return o;
    }());
    CHECK(lin.strategy == Strategy::Linear);
    CHECK(lin.groups.empty());
    Plan p = plan_policy(c->program, 0);
    CHECK(p.strategy == Strategy::Classifier);
    REQUIRE(p.groups.size() == 1);
    CHECK(p.groups[0].first == 0);
    CHECK(p.groups[0].count == 41);  // ssh and b0..b39; `late` is a payload match
    CHECK(p.rules[41].group == -1);
    std::string dump = dump_plan(p);
    CHECK(dump.find("strategy classifier") != std::string::npos);
    CHECK(dump.find("tree on ip.src") != std::string::npos);
    CHECK(dump.find("tree on l4.dport") != std::string::npos);

    auto few = compile("policy p default pass {\n    a: drop if tcp.dport == 1\n    b: drop if tcp.dport == 2\n}\n");
    CHECK(plan_policy(few->program, 0).strategy == Strategy::Linear);
}

TEST_CASE("first match across trees: an earlier wide rule beats a later narrow one") {
    std::string text = "policy p default pass {\n";
    text += "    web: pass if tcp.dport == 443\n";  // tree on l4.dport
    for (int i = 0; i < 30; ++i)
        text += "    h" + std::to_string(i) + ": drop if ip.src == 198.18.0." + std::to_string(i) + "\n";  // tree on ip.src
    text += "}\n";
    auto c = compile(text);
    Plan p = plan_policy(c->program, 0);
    REQUIRE(p.groups.size() == 1);
    CHECK(p.groups[0].trees.size() == 2);
    weir_pkt pkt{};
    pkt.present = WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_TCP;
    pkt.ip_version = 4;
    pkt.ip_proto = 6;
    pkt.ip4_src = 0xc6120005;  // 198.18.0.5
    pkt.dport = 443;
    auto r = cls_classify(p.groups[0], p.cls, pkt);
    REQUIRE(r);
    CHECK(p.rules[*r].src->name == "web");
    pkt.dport = 80;
    r = cls_classify(p.groups[0], p.cls, pkt);
    REQUIRE(r);
    CHECK(p.rules[*r].src->name == "h5");
}

TEST_CASE("one dimension: overlapping ranges become disjoint pieces, one rule each") {
    // 40 nested and overlapping port ranges: as spans, every one would meet the middle ports.
    std::string text = "policy p default pass {\n";
    for (int i = 0; i < 40; ++i)
        text += "    r" + std::to_string(i) + ": " + (i % 2 ? "drop" : "pass") + " if tcp.dport == " +
                std::to_string(1000 + 10 * i) + "-" + std::to_string(2000 - 10 * i) + "\n";
    text += "    late: drop if tcp.dport == 1500\n";  // hidden by r0: no piece of its own
    text += "}\n";
    auto c = compile(text);
    Plan p = plan_policy(c->program, 0);
    REQUIRE(p.groups.size() == 1);
    const ClsGroup& g = p.groups[0];
    REQUIRE(g.dims.size() == 1);
    CHECK(g.boxes == 1);  // r0 covers all the others: one piece, [1000, 2000]
    // The pieces are disjoint, and the walk decides every port as the rules do.
    for (std::uint32_t port = 990; port <= 2010; ++port) {
        weir_pkt pkt{};
        pkt.present = WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_TCP;
        pkt.ip_version = 4;
        pkt.ip_proto = 6;
        pkt.dport = static_cast<std::uint16_t>(port);
        auto r = cls_classify(g, p.cls, pkt);
        if (port < 1000 || port > 2000) {
            CHECK_FALSE(r);
        } else {
            REQUIRE(r);
            CHECK(p.rules[*r].src->name == "r0");
        }
    }
    // Staggered ranges: 2n pieces at most, a leaf of at most a few.
    std::string text2 = "policy q default pass {\n";
    for (int i = 0; i < 40; ++i)
        text2 += "    s" + std::to_string(i) + ": drop if udp.dport == " + std::to_string(100 * i) + "-" +
                 std::to_string(100 * i + 250) + "\n";
    text2 += "}\n";
    auto c2 = compile(text2);
    Plan q = plan_policy(c2->program, 0);
    REQUIRE(q.groups.size() == 1);
    CHECK(q.groups[0].boxes <= 2 * 40 + 1);
    CHECK(q.groups[0].trees.at(0).max_leaf <= 4);
    for (std::uint32_t port = 0; port <= 4300; port += 7) {
        weir_pkt pkt{};
        pkt.present = WEIR_H_ETH | WEIR_H_IP4 | WEIR_H_UDP;
        pkt.ip_version = 4;
        pkt.ip_proto = 17;
        pkt.dport = static_cast<std::uint16_t>(port);
        auto r = cls_classify(q.groups[0], q.cls, pkt);
        int want = -1;  // the first rule whose range holds the port
        for (int i = 0; i < 40 && want < 0; ++i)
            if (100u * i <= port && port <= 100u * i + 250) want = i;
        CAPTURE(port);
        if (want < 0) {
            CHECK_FALSE(r);
        } else {
            REQUIRE(r);
            CHECK(q.rules[*r].src->name == "s" + std::to_string(want));
        }
    }
}

TEST_CASE("random policies: the classifier plan decides like the interpreter") {
    std::size_t grouped = 0, trees = 0, packets = 0, by_group = 0;
    for (std::uint64_t seed = 1; seed <= 300; ++seed) {
        GenOptions go;
        go.min_rules = 4;
        go.max_rules = 60;
        GeneratedPolicy g = generate_policy(0xc1a55000 + seed, go);
        auto c = compile(g.text);
        const Policy& pol = c->program.policies.at(0);
        Plan p = plan_policy(c->program, 0, forced());
        for (const auto& gr : p.groups) {
            grouped += gr.count;
            trees += gr.trees.size();
        }
        PacketGen gen(g.palette, seed);
        for (int i = 0; i < 2000; ++i) {
            GeneratedPacket pk = gen.next();
            weir_pkt pkt{};
            weir_parse(pk.bytes.data(), pk.bytes.data() + pk.bytes.size(), &pkt);
            Decision want = evaluate(c->program, pol, pkt, pk.bytes, "lo");
            int got = plan_decides(p, c->program, pkt, pk.bytes);
            ++packets;
            if (got >= 0 && p.rules[static_cast<std::size_t>(got)].group >= 0) ++by_group;
            if (got != want.rule) {
                FAIL("seed " << 0xc1a55000 + seed << " packet " << i << " (" << pk.kind << "): plan decides rule " << got
                             << ", interpreter " << want.rule << "\n"
                             << g.text << dump_plan(p));
            }
        }
    }
    MESSAGE(grouped << " rules in groups, " << trees << " trees, " << by_group << " of " << packets
                    << " packets decided by a tree");
    CHECK(grouped > 1000);  // the forced classifier really took most boxable runs
    CHECK(by_group > packets / 20);
}
