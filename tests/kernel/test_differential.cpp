// Differential test: random policies (tests/support/policy_gen.*), compiled through the whole
// pipeline (text -> check -> plan -> codegen -> kernel verifier) and run with BPF_PROG_TEST_RUN
// on packets aimed at them, must decide every packet exactly as the reference interpreter
// (compiler/interp/interp.hpp) decides it on the same frame: the same XDP action AND the same deciding
// rule, the same malformed flag, and, after each policy's packets, the same per-rule, per-verdict
// and default/malformed counters.
//
// Environment (all optional):
//   WEIR_DIFF_SEED=N      the first policy's seed (policy i uses N + i); default: fixed
//   WEIR_DIFF_POLICIES=N  how many policies (default 100)
//   WEIR_DIFF_PACKETS=N   packets per policy (default 10000)
// A mismatch prints the seed, the policy text and the packet as hex: rerun it alone with
// WEIR_DIFF_SEED=<seed> WEIR_DIFF_POLICIES=1.
//
// Kernel and interpreter share weir_parse (bpf-templates/parse.h), so agreeing with each other
// says nothing about the header parser. Every frame is also read by an independent parser
// (tests/support/ref_parse.hpp), and the parsed fields of weir_parse (native, and the kernel's
// own weir_pkt where the last case reads it back) must equal it field by field.
#include <doctest/doctest.h>
#include <net/if.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "bpf.hpp"
#include "classbench.hpp"
#include "codegen.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "loaded_policy.hpp"
#include "parse.h"
#include "plan.hpp"
#include "policy_gen.hpp"
#include "ref_parse.hpp"
#include "ruleset_gen.hpp"
#include "weir_abi.h"
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wmissing-designated-field-initializers"
#include "frames.hpp"
#pragma clang diagnostic pop

using namespace weir;
using namespace weir::test;

namespace {

constexpr std::uint64_t kDefaultSeed = 0x5eed0003;
constexpr std::uint32_t kNoSuchIfindex = 0x7ffffff0;  // what "weirnx0" resolves to: no interface

std::uint64_t env_or(const char* name, std::uint64_t def) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 0) : def;
}

std::uint32_t xdp_action(Verdict v) {
    switch (v) {
        case Verdict::Pass: return WEIR_ACT_PASS;
        case Verdict::Drop: return WEIR_ACT_DROP;
        case Verdict::Tx: return WEIR_ACT_TX;
        case Verdict::Redirect: return WEIR_ACT_REDIRECT;
    }
    return WEIR_ACT_ABORTED;
}

std::string action_name(std::uint32_t a) {
    switch (a) {
        case WEIR_ACT_ABORTED: return "aborted";
        case WEIR_ACT_DROP: return "drop";
        case WEIR_ACT_PASS: return "pass";
        case WEIR_ACT_TX: return "tx";
        case WEIR_ACT_REDIRECT: return "redirect";
    }
    return "?";
}

std::string rule_name(const Policy& pol, int rule) {
    return rule < 0 ? std::string("default")
                    : rule < static_cast<int>(pol.rules.size()) ? pol.rules[static_cast<std::size_t>(rule)].name
                                                                 : "#" + std::to_string(rule);
}

// Where weir_pkt differs from the independent parser's reading of the same frame: one
// "field: reference X, weir_parse Y" per field, only fields of headers the reference found.
std::string parse_differences(const ref::Headers& want, const weir_pkt& got) {
    std::ostringstream out;
    auto field = [&](const char* name, std::uint64_t w, std::uint64_t g) {
        if (w != g) out << "\n    " << name << ": reference " << w << ", weir_parse " << g;
    };
    auto bytes_be = [](auto it, std::size_t n) {
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v = v << 8 | it[i];
        return v;
    };
    std::uint32_t present = 0;
    if (want.ether) present |= WEIR_H_ETH;
    if (want.tagged) present |= WEIR_H_VLAN;
    if (want.ip == 4) present |= WEIR_H_IP4;
    if (want.ip == 6) present |= WEIR_H_IP6;
    switch (want.l4) {
        case ref::L4::Tcp: present |= WEIR_H_TCP; break;
        case ref::L4::Udp: present |= WEIR_H_UDP; break;
        case ref::L4::Icmp: present |= WEIR_H_ICMP; break;
        case ref::L4::Icmp6: present |= WEIR_H_ICMP6; break;
        case ref::L4::None: break;
    }
    field("malformed", want.malformed, got.malformed != 0);
    field("len", want.frame_len, got.len);
    field("present", present, got.present);
    if (want.ether) {
        field("eth_dst", bytes_be(want.mac_dst.begin(), 6), got.eth_dst);
        field("eth_src", bytes_be(want.mac_src.begin(), 6), got.eth_src);
        field("eth_type", want.ethertype, got.eth_type);
    }
    if (want.tagged) {
        field("vlan_id", want.vid, got.vlan_id);
        field("vlan_pcp", want.pcp, got.vlan_pcp);
    }
    if (want.ip) {
        field("ip_version", unsigned(want.ip), got.ip_version);
        field("ip_proto", want.proto, got.ip_proto);
        field("ip_ttl", want.ttl, got.ip_ttl);
        field("ip_dscp", want.dscp, got.ip_dscp);
        field("ip_frag", want.fragment, got.ip_frag);
        // ip.len is 16 bits: an IPv6 payload length over 65495 wraps (weir_parse's behaviour).
        field("ip_len", want.datagram_len & 0xffff, got.ip_len);
    }
    if (want.ip == 4) {
        field("ip4_src", bytes_be(want.src.begin(), 4), got.ip4_src);
        field("ip4_dst", bytes_be(want.dst.begin(), 4), got.ip4_dst);
    }
    if (want.ip == 6) {
        field("ip6_src_hi", bytes_be(want.src.begin(), 8), got.ip6_src_hi);
        field("ip6_src_lo", bytes_be(want.src.begin() + 8, 8), got.ip6_src_lo);
        field("ip6_dst_hi", bytes_be(want.dst.begin(), 8), got.ip6_dst_hi);
        field("ip6_dst_lo", bytes_be(want.dst.begin() + 8, 8), got.ip6_dst_lo);
        field("ip6_flowlabel", want.flow, got.ip6_flowlabel);
    }
    if (want.l4 == ref::L4::Tcp || want.l4 == ref::L4::Udp) {
        field("sport", want.sport, got.sport);
        field("dport", want.dport, got.dport);
    }
    if (want.l4 == ref::L4::Tcp) {
        field("tcp_flags", want.flags, got.tcp_flags);
        field("tcp_window", want.window, got.tcp_window);
    }
    if (want.l4 == ref::L4::Udp) field("udp_len", want.udp_length, got.udp_len);
    if (want.l4 == ref::L4::Icmp || want.l4 == ref::L4::Icmp6) {
        field("icmp_type", want.icmp_type, got.icmp_type);
        field("icmp_code", want.icmp_code, got.icmp_code);
    }
    if (want.l4 != ref::L4::None) {
        field("payload_off", want.payload_at, got.payload_off);
        field("payload_len", want.payload_size, got.payload_len);
    }
    return out.str();
}

struct Totals {
    std::uint64_t policies = 0, packets = 0, mismatches = 0, by_rule = 0, malformed = 0;
    std::uint64_t parse_mismatches = 0;  // weir_parse against tests/support/ref_parse.hpp
    std::uint64_t groups = 0, trees = 0, grouped_rules = 0, by_group = 0;  // classifier plans
    std::map<std::uint32_t, std::uint64_t> actions;
    double compile_s = 0, load_s = 0, run_s = 0, interp_s = 0;
};

using Clock = std::chrono::steady_clock;
double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// One compiled policy: load it, run every frame `next` gives through kernel and interpreter,
// compare decisions and, at the end, counters.
void run_and_compare(const Compilation& comp, const Plan& plan, std::uint32_t lo_ifindex,
                     const std::function<std::optional<GeneratedPacket>()>& next,
                     const std::function<std::string()>& header, Totals& t) {
    const Compilation* c = &comp;
    const Policy& pol = c->program.policies.at(0);
    auto t0 = Clock::now();
    CodegenOptions cg;
    cg.ifindex_of = [&](const std::string& name) -> std::optional<std::uint32_t> {
        if (name == "lo") return lo_ifindex;
        if (name == "weirnx0") return kNoSuchIfindex;
        return std::nullopt;
    };
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, cg);
    REQUIRE_MESSAGE(obj.ok(), header() << "codegen: " << obj.error);
    auto t1 = Clock::now();
    Diagnostics diags;
    auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
    REQUIRE_MESSAGE(lp, header() << render_text(c->sources, diags));
    auto t2 = Clock::now();
    t.compile_s += secs(t0, t1);
    t.load_s += secs(t1, t2);
    for (const auto& g : plan.groups) {
        ++t.groups;
        t.trees += g.trees.size();
        t.grouped_rules += g.count;
    }

    // What the counters must say afterwards, from the interpreter's decisions.
    std::vector<bpf::Counter> rule_counts(pol.rules.size());
    std::map<std::uint32_t, bpf::Counter> verdicts;
    bpf::Counter by_default, malformed;

    unsigned reported = 0;
    double run_s = 0, interp_s = 0;
    for (std::uint64_t i = 0;; ++i) {
        std::optional<GeneratedPacket> gp = next();
        if (!gp) break;
        const GeneratedPacket& p = *gp;
        auto a = Clock::now();
        weir_pkt pkt{};
        weir_parse(p.bytes.data(), p.bytes.data() + p.bytes.size(), &pkt);
        if (std::string d = parse_differences(ref::parse(p.bytes), pkt); !d.empty()) {
            ++t.parse_mismatches;
            if (reported++ < 3)
                FAIL_CHECK(header() << "packet #" << i << " (" << p.kind << "): weir_parse differs from the "
                                    << "independent parser:" << d << "\n  packet hex \"" << to_hex(p.bytes) << "\"");
        }
        Decision want = evaluate(c->program, pol, pkt, p.bytes, "lo");
        auto b = Clock::now();
        auto got = lp->run(p.bytes, lo_ifindex);
        auto e = Clock::now();
        interp_s += secs(a, b);
        run_s += secs(b, e);
        REQUIRE_MESSAGE(got, header() << "test run: " << got.error().message);

        const std::uint64_t len = p.bytes.size();
        std::uint32_t want_action = xdp_action(want.verdict);
        for (int r : want.counted) rule_counts[static_cast<std::size_t>(r)].packets++, rule_counts[static_cast<std::size_t>(r)].bytes += len;
        if (want.rule >= 0) {
            rule_counts[static_cast<std::size_t>(want.rule)].packets++;
            rule_counts[static_cast<std::size_t>(want.rule)].bytes += len;
            ++t.by_rule;
            if (plan.rules[static_cast<std::size_t>(want.rule)].group >= 0) ++t.by_group;
        } else {
            by_default.packets++, by_default.bytes += len;
        }
        if (pkt.malformed) malformed.packets++, malformed.bytes += len, ++t.malformed;
        verdicts[want_action].packets++, verdicts[want_action].bytes += len;
        t.actions[got->action]++;
        ++t.packets;

        if (got->action != want_action || got->rule != want.rule || got->malformed != (pkt.malformed != 0)) {
            ++t.mismatches;
            if (reported++ < 3) {
                FAIL_CHECK(header() << "packet #" << i << " (" << p.kind << "), " << p.bytes.size()
                                    << " bytes:\n  packet hex \"" << to_hex(p.bytes) << "\"\n  kernel: "
                                    << action_name(got->action) << " by " << rule_name(pol, got->rule)
                                    << std::string(got->malformed ? " (malformed)" : "") << "\n  interpreter: "
                                    << action_name(want_action) << " by " << rule_name(pol, want.rule)
                                    << std::string(pkt.malformed ? " (malformed)" : ""));
            }
        }
    }
    t.run_s += run_s;
    t.interp_s += interp_s;
    ++t.policies;

    // Counters: every matching count rule and the deciding rule, per packet.
    for (std::size_t r = 0; r < pol.rules.size(); ++r) {
        auto got = lp->rule_counter(r);
        REQUIRE(got);
        CHECK_MESSAGE(*got == rule_counts[r], header() << "rule " << pol.rules[r].name << ": kernel "
                                                      << got->packets << " packets, interpreter "
                                                      << rule_counts[r].packets);
    }
    for (auto [action, want] : verdicts) {
        auto got = lp->verdict_counter(action);
        REQUIRE(got);
        CHECK_MESSAGE(*got == want, header() << "verdict " << action_name(action));
    }
    auto def = lp->stat_counter(WEIR_STAT_DEFAULT);
    auto mal = lp->stat_counter(WEIR_STAT_MALFORMED);
    auto err = lp->stat_counter(WEIR_STAT_ERROR);
    REQUIRE((def && mal && err));
    CHECK_MESSAGE(*def == by_default, header() << "default counter");
    CHECK_MESSAGE(*mal == malformed, header() << "malformed counter");
    CHECK_MESSAGE(err->packets == 0, header() << "error counter");
}

// One random policy: generate, compile, plan with `popts`, run `packets` packets.
void run_policy(std::uint64_t seed, std::uint64_t packets, std::uint32_t lo_ifindex, const PlanOptions& popts,
                Totals& t) {
    GenOptions gopts;
    gopts.iface_names = {"lo", "weirnx0"};
    gopts.redirect_iface = "lo";
    GeneratedPolicy g = generate_policy(seed, gopts);
    auto header = [&] {
        return "seed " + std::to_string(seed) + " (rerun: WEIR_DIFF_SEED=" + std::to_string(seed) +
               " WEIR_DIFF_POLICIES=1)\n--- policy ---\n" + g.text + "--------------\n";
    };
    auto t0 = Clock::now();
    CheckOptions copts;
    copts.lint = false;  // warnings do not matter here; test_policy_gen runs the linter
    auto c = compile_source("/tmp/weir-differential/generated.weir", g.text, copts);
    REQUIRE_MESSAGE(c->ok(), header() << render_text(c->sources, c->diags));
    Plan plan = plan_policy(c->program, 0, popts);
    t.compile_s += secs(t0, Clock::now());
    PacketGen gen(g.palette, seed * 0x9e3779b97f4a7c15ull + 1);
    std::uint64_t sent = 0;
    run_and_compare(*c, plan, lo_ifindex,
                    [&]() -> std::optional<GeneratedPacket> {
                        if (sent++ == packets) return std::nullopt;
                        return gen.next();
                    },
                    header, t);
}

void report(const Totals& t, double total) {
    std::ostringstream acts;
    for (auto [a, n] : t.actions) acts << " " << action_name(a) << " " << n;
    MESSAGE("differential: " << t.policies << " policies, " << t.packets << " packets, " << t.mismatches
            << " mismatches; decided by a rule " << (t.packets ? 100.0 * t.by_rule / t.packets : 0)
            << "% (by a classifier tree " << (t.packets ? 100.0 * t.by_group / t.packets : 0) << "%), malformed "
            << (t.packets ? 100.0 * t.malformed / t.packets : 0) << "%; actions:" << acts.str() << "; " << t.groups
            << " classifier groups, " << t.trees << " trees, " << t.grouped_rules << " rules in them");
    MESSAGE("time: " << total << " s total; check+plan+codegen " << t.compile_s << " s, load+verify " << t.load_s
            << " s, kernel runs " << t.run_s << " s (" << (t.packets ? 1e6 * t.run_s / t.packets : 0)
            << " us/packet incl. 3 syscalls), interpreter " << t.interp_s << " s");
}

void run_random(const PlanOptions& popts, std::uint64_t default_seed, std::uint64_t default_policies, Totals& t) {
    const std::uint64_t first = env_or("WEIR_DIFF_SEED", default_seed);
    const std::uint64_t policies = env_or("WEIR_DIFF_POLICIES", default_policies);
    const std::uint64_t packets = env_or("WEIR_DIFF_PACKETS", 10000);
    const std::uint32_t lo = if_nametoindex("lo");
    REQUIRE(lo != 0);
    auto start = Clock::now();
    for (std::uint64_t i = 0; i < policies; ++i) {
        CAPTURE(first + i);
        run_policy(first + i, packets, lo, popts, t);
    }
    CHECK(t.mismatches == 0);
    CHECK(t.parse_mismatches == 0);
    CHECK(t.policies == policies);
    report(t, secs(start, Clock::now()));
}

}  // namespace

TEST_CASE("random policies decide like the reference interpreter in the kernel") {
    Totals t;
    run_random(PlanOptions{}, kDefaultSeed, 100, t);
}

// Every run of two or more consecutive boxable rules becomes a classifier group, so the trees
// meet every field, operator and value form the generator writes (the default planner leaves
// runs shorter than 16 rules linear).
TEST_CASE("random policies with the classifier forced on decide like the interpreter in the kernel") {
    PlanOptions popts;
    popts.classifier.min_rules = 2;
    Totals t;
    run_random(popts, kDefaultSeed + 1000000, 60, t);
    CHECK(t.groups > 60);
    CHECK(t.by_group > t.packets / 20);
}

// Large generated rule sets of the three benchmark shapes (tests/support/ruleset_gen.hpp), planned
// by the default planner: every plan shape the classifier makes at size.
TEST_CASE("large rule sets: classifier plans decide like the interpreter in the kernel") {
    const std::uint32_t lo = if_nametoindex("lo");
    REQUIRE(lo != 0);
    Totals t;
    auto start = Clock::now();
    for (RulesetShape shape : kRulesetShapes) {
        for (std::size_t rules : {100, 1000, 20000}) {
            RulesetOptions ro;
            ro.shape = shape;
            ro.rules = rules;
            ro.seed = 7 + rules;
            Ruleset rs = generate_ruleset(ro);
            std::string text = weir_policy_text(rs);
            auto header = [&] {
                return std::string("ruleset ") + ruleset_shape_name(shape) + " of " + std::to_string(rules) +
                       " rules (seed " + std::to_string(ro.seed) + ")\n";
            };
            auto t0 = Clock::now();
            CheckOptions copts;
            copts.lint = false;
            auto c = compile_source("/tmp/weir-differential/ruleset.weir", text, copts);
            REQUIRE_MESSAGE(c->ok(), header() << render_text(c->sources, c->diags));
            Plan plan = plan_policy(c->program, 0);
            t.compile_s += secs(t0, Clock::now());
            CHECK_MESSAGE(plan.strategy == Strategy::Classifier, header());
            TrafficOptions to;
            to.frames = 6000;
            to.seed = rules;
            std::vector<GenFrame> frames = generate_traffic(rs, to);
            std::size_t k = 0;
            run_and_compare(*c, plan, lo,
                            [&]() -> std::optional<GeneratedPacket> {
                                if (k == frames.size()) return std::nullopt;
                                GeneratedPacket p;
                                p.bytes = frames[k].bytes;
                                p.kind = "aimed at rule " + std::to_string(frames[k].target);
                                ++k;
                                return p;
                            },
                            header, t);
        }
    }
    CHECK(t.mismatches == 0);
    CHECK(t.parse_mismatches == 0);
    CHECK(t.by_group > t.packets / 2);
    report(t, secs(start, Clock::now()));
}

namespace {

// Random frames that lean on the header parser's edges: 0-3 VLAN tags, IPv4 with options, bad
// versions and IHLs, every fragment form, IPv6 extension chains of 0-8 headers (first and later
// fragments among them), TCP data offsets 0-15, ICMP over the wrong IP version, L4 protocols
// weir does not parse; then a third are cut short and some have random bytes changed.
Bytes random_edge_frame(std::mt19937_64& rng, std::string& kind) {
    auto below = [&](std::uint64_t n) { return rng() % n; };
    auto random_bytes = [&](std::size_t n) {
        Bytes b(n);
        for (auto& x : b) x = std::uint8_t(rng());
        return b;
    };
    std::vector<Tag> tags(below(10) < 5 ? 0 : below(3) + 1);
    for (Tag& t : tags) t = {below(2) ? std::uint16_t(0x8100) : std::uint16_t(0x88a8), std::uint16_t(rng())};
    kind = "vlan" + std::to_string(tags.size());

    static constexpr std::uint8_t kProtos[] = {6, 6, 6, 17, 17, 17, 1, 58, 47, 50, 59, 132};
    std::uint8_t proto = kProtos[below(std::size(kProtos))];
    Bytes payload = random_bytes(below(48));
    Bytes l4;
    if (proto == 6)
        l4 = tcp({.sport = std::uint16_t(rng()), .dport = std::uint16_t(rng()), .flags = std::uint8_t(rng()),
                  .window = std::uint16_t(rng()), .options = Bytes(4 * below(4), 1),
                  .doff = below(6) == 0 ? int(below(16)) : -1},
                 payload);
    else if (proto == 17) l4 = udp(std::uint16_t(rng()), std::uint16_t(rng()), payload);
    else if (proto == 1 || proto == 58) l4 = icmp(std::uint8_t(rng()), std::uint8_t(rng()), payload);
    else l4 = payload;

    std::uint64_t l3 = below(10);
    Bytes frame;
    if (l3 < 5) {
        static constexpr std::uint16_t kFrag[] = {0, 0, 0x4000, 0x2000, 0x2000 | 1, 7, 0x1fff, 0x8000};
        Ip4 h{.proto = proto, .tos = std::uint8_t(rng()), .ttl = std::uint8_t(rng()),
              .frag = below(8) ? kFrag[below(std::size(kFrag))] : std::uint16_t(rng()),
              .options = Bytes(4 * below(4), 1)};
        if (below(12) == 0) h.ihl = int(below(16));
        if (below(20) == 0) h.version = int(below(16));
        if (below(8) == 0) h.tot_len = int(std::uint16_t(rng()));
        frame = ether(0x0800, ip4(h, l4), tags);
        kind += " ip4 proto " + std::to_string(proto);
    } else if (l3 < 9) {
        static constexpr std::uint8_t kExt[] = {0, 43, 60, 51, 44};
        std::size_t n = below(4) ? below(4) : below(9);
        std::vector<std::uint8_t> types(n);
        for (auto& x : types) x = kExt[below(std::size(kExt))];
        Bytes chain = l4;
        std::uint8_t next = proto;
        for (std::size_t i = n; i-- > 0;) {
            Bytes ext = types[i] == 44 ? ip6_frag(next, below(3) ? 0 : std::uint16_t(below(0x2000)), below(2))
                                       : ip6_ext(types[i], next, std::uint8_t(below(3)));
            chain = ext + chain;
            next = types[i];
        }
        Ip6 h{.nh = next, .tclass = std::uint8_t(rng()), .flowlabel = std::uint32_t(rng()),
              .hops = std::uint8_t(rng())};
        if (below(20) == 0) h.version = int(below(16));
        frame = ether(0x86dd, ip6(h, chain), tags);
        if (below(10) == 0) {  // a payload length the frame does not hold, up to 65535
            std::size_t at = 14 + 4 * tags.size() + 4;
            frame[at] = std::uint8_t(rng());
            frame[at + 1] = std::uint8_t(rng());
        }
        kind += " ip6 ext" + std::to_string(n) + " proto " + std::to_string(proto);
    } else {
        frame = ether(below(2) ? 0x0806 : std::uint16_t(rng()), random_bytes(below(64)), tags);
        kind += " other";
    }
    for (std::size_t i = 0; i < 6; ++i) frame[i] = std::uint8_t(rng());  // destination MAC
    if (below(3) == 0) {
        frame.resize(below(frame.size() + 1));
        kind += " cut@" + std::to_string(frame.size());
    } else if (below(5) == 0) {
        for (std::uint64_t k = below(4) + 1; k-- > 0;) frame[below(frame.size())] = std::uint8_t(rng());
        kind += " flipped";
    }
    return frame;
}

// The kernel's parse of the last frame run: weir_last.pkt on the CPU that ran it.
weir_pkt kernel_pkt(const LoadedPolicy& lp) {
    auto values = bpf::lookup_percpu<weir_last>(lp.map_fd(WEIR_MAP_LAST), 0);
    REQUIRE_MESSAGE(values, values.error().message);
    for (const weir_last& v : *values)
        if (v.runs != 0) return v.pkt;
    FAIL("no CPU ran the frame");
    return {};
}

}  // namespace

TEST_CASE("the header parser, in the kernel and native, reads frames as an independent parser does") {
    auto c = compile_source("/tmp/weir-differential/parse.weir",
                            "policy p default pass {\n    web: count if tcp.dport == 80\n}\n", CheckOptions{});
    REQUIRE_MESSAGE(c->ok(), render_text(c->sources, c->diags));
    Plan plan = plan_policy(c->program, 0);
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, CodegenOptions{});
    REQUIRE_MESSAGE(obj.ok(), obj.error);
    Diagnostics diags;
    auto lp = LoadedPolicy::load(plan, c->sources, obj.bytes, diags);
    REQUIRE_MESSAGE(lp, render_text(c->sources, diags));

    std::vector<std::pair<std::string, Bytes>> frames;
    for (const weir::test::Frame& f : sample_frames())
        for (std::size_t len = 0; len <= f.bytes.size(); ++len)
            frames.emplace_back(f.name + " cut@" + std::to_string(len), Bytes(f.bytes.begin(), f.bytes.begin() + len));
    // IPv6 payload lengths whose ip.len (+ 40) does not fit 16 bits.
    for (unsigned plen : {0xffd7u, 0xffd8u, 0xffffu}) {
        Bytes b = ether(0x86dd, ip6({.nh = 17}, udp(1, 2)));
        b[18] = std::uint8_t(plen >> 8);
        b[19] = std::uint8_t(plen);
        frames.emplace_back("ip6 payload length " + std::to_string(plen), std::move(b));
    }
    std::mt19937_64 rng(env_or("WEIR_DIFF_SEED", kDefaultSeed));
    for (int i = 0; i < 20000; ++i) {
        std::string kind;
        Bytes b = random_edge_frame(rng, kind);
        frames.emplace_back("random #" + std::to_string(i) + ": " + kind, std::move(b));
    }

    unsigned failures = 0;
    std::uint64_t malformed = 0, with_l4 = 0, kernel_runs = 0;
    for (const auto& [name, bytes] : frames) {
        ref::Headers want = ref::parse(bytes);
        malformed += want.malformed;
        with_l4 += want.l4 != ref::L4::None;
        weir_pkt native{};
        // An empty vector's data() may be null, and null + 0 compared with null + 14 in the
        // parser's bounds checks is undefined in C++ (fine in BPF): point at a real byte.
        static const unsigned char kNothing = 0;
        const unsigned char* begin = bytes.empty() ? &kNothing : bytes.data();
        weir_parse(begin, begin + bytes.size(), &native);
        std::string diff = parse_differences(want, native);
        std::string kernel_diff;
        if (bytes.size() >= 14) {  // BPF_PROG_TEST_RUN takes no shorter XDP frame
            auto run = lp->run(bytes, 0);
            REQUIRE_MESSAGE(run, run.error().message);
            kernel_diff = parse_differences(want, kernel_pkt(*lp));
            ++kernel_runs;
        }
        if ((!diff.empty() || !kernel_diff.empty()) && failures++ < 10)
            FAIL_CHECK(name << ", " << bytes.size() << " bytes: \"" << to_hex(bytes) << "\""
                            << (diff.empty() ? "" : "\n  native weir_parse:" + diff)
                            << (kernel_diff.empty() ? "" : "\n  kernel weir_parse:" + kernel_diff));
    }
    CHECK(failures == 0);
    MESSAGE("header parser: " << frames.size() << " frames (" << kernel_runs << " run in the kernel), "
                              << malformed << " malformed, " << with_l4 << " with an L4 header, "
                              << failures << " differing from the independent parser");
    // The frames reach every outcome: not all malformed, not all without L4.
    CHECK(malformed > frames.size() / 10);
    CHECK(with_l4 > frames.size() / 6);
}

// Random rule sets shaped like the ClassBench families (bench/classbench.hpp: prefix-heavy acl,
// wildcard-heavy fw, mixed ipc; protocol wildcards and overlapping port ranges in each), one
// filter per rule, planned by the default planner, with headers inside, at the edges of and just
// outside the filters: the kernel decides as the interpreter (run_and_compare), and the
// interpreter as a linear scan of the filters (ClassBench's first match).
// Environment: WEIR_DIFF_SEED (first seed), WEIR_DIFF_CB_SEEDS (seeds per family, default 2),
// WEIR_DIFF_CB_RULES (rules of the first seed, default 1500; the next ones 2/3 of it, and so
// on alternately), WEIR_DIFF_CB_PACKETS (headers per set, default 3000).
TEST_CASE("ClassBench-shaped rule sets decide like the interpreter and a linear scan in the kernel") {
    namespace cb = weir::classbench;
    const std::uint32_t lo = if_nametoindex("lo");
    REQUIRE(lo != 0);
    const std::uint64_t first = env_or("WEIR_DIFF_SEED", kDefaultSeed + 2000000);
    const std::uint64_t seeds = env_or("WEIR_DIFF_CB_SEEDS", 2);
    const std::size_t max_rules = env_or("WEIR_DIFF_CB_RULES", 1500);
    const std::size_t packets = env_or("WEIR_DIFF_CB_PACKETS", 3000);
    for (cb::Family fam : cb::kFamilies) {
        for (std::uint64_t k = 0; k < seeds; ++k) {
            const std::uint64_t seed = first + k;
            const std::size_t n = k % 2 ? max_rules * 2 / 3 : max_rules;
            const std::string label = std::string(cb::family_name(fam)) + " seed " + std::to_string(seed);
            SUBCASE(label.c_str()) {
                std::vector<cb::Rule> rules = cb::generate_rules(fam, n, seed);
                auto header = [&] {
                    return "ClassBench-shaped " + std::string(cb::family_name(fam)) + " set of " + std::to_string(n) +
                           " rules, seed " + std::to_string(seed) + " (rerun: WEIR_DIFF_SEED=" + std::to_string(seed) +
                           " WEIR_DIFF_CB_SEEDS=1 WEIR_DIFF_CB_RULES=" + std::to_string(n) +
                           "; the filters: build/bench/classbench generate " + cb::family_name(fam) + " " +
                           std::to_string(n) + " --seed " + std::to_string(seed) + ")\n";
                };
                CheckOptions copts;
                copts.lint = false;
                auto c = compile_source("/tmp/weir-differential/classbench.weir", cb::policy_text(rules, "classbench"),
                                        copts);
                REQUIRE_MESSAGE(c->ok(), header() << render_text(c->sources, c->diags));
                Plan plan = plan_policy(c->program, 0);
                const Policy& pol = c->program.policies.at(0);
                std::vector<cb::Header> headers = cb::generate_headers(rules, packets, seed);
                std::size_t i = 0, scan_bad = 0, by_rule = 0;
                std::set<int> deciding;
                Totals t;
                run_and_compare(*c, plan, lo,
                                [&]() -> std::optional<GeneratedPacket> {
                                    if (i == headers.size()) return std::nullopt;
                                    const cb::Header& h = headers[i++];
                                    GeneratedPacket p;
                                    p.bytes = cb::frame(h);
                                    p.kind = cb::header_text(h);
                                    weir_pkt pkt{};
                                    weir_parse(p.bytes.data(), p.bytes.data() + p.bytes.size(), &pkt);
                                    Decision d = evaluate(c->program, pol, pkt, p.bytes, "lo");
                                    const int want = cb::first_match(rules, h);
                                    by_rule += want >= 0;
                                    deciding.insert(want);
                                    if (d.rule != want && scan_bad++ < 3)
                                        FAIL_CHECK(header() << "header " << p.kind << ": linear scan "
                                                            << (want < 0 ? std::string("default") : "r" + std::to_string(want))
                                                            << ", interpreter " << rule_name(pol, d.rule));
                                    return p;
                                },
                                header, t);
                CHECK(t.mismatches == 0);
                CHECK(t.parse_mismatches == 0);
                CHECK(scan_bad == 0);
                MESSAGE(label << ": " << n << " rules, " << t.packets << " headers, " << by_rule
                              << " decided by a filter (" << deciding.size() << " different ones), " << t.by_group << " by a classifier tree; mismatches: kernel "
                              << t.mismatches << ", linear scan " << scan_bad << "; " << plan.groups.size()
                              << " classifier groups; codegen " << t.compile_s << " s, load " << t.load_s << " s");
            }
        }
    }
}

namespace {

// Code over one BPF function's budget (codegen_rules.cpp) is split into global BPF functions:
//   straight-line: 1,500 ClassBench-shaped rules forced linear, with a `count` rule before every
//     50th filter (counting what that filter would match);
//   mixed: the same filters planned by the default planner, every 20th with a payload atom
//     added (`and payload[0:1] != 0xff`: UDP and ICMP frames here carry a payload), so
//     that runs of 19 boxable rules become classifier groups between straight-line rules that
//     read the frame: groups and payload reads inside the functions.
// The kernel decides and counts every header as the interpreter does, and the interpreter
// decides as a linear scan of the filters (with the payload atom where it was added).
void check_split(bool linear) {
    namespace cb = weir::classbench;
    const std::uint32_t lo = if_nametoindex("lo");
    REQUIRE(lo != 0);
    const std::size_t n = 1500;
    const std::uint64_t seed = kDefaultSeed + 3000000;
    std::vector<cb::Rule> rules = cb::generate_rules(cb::Family::Acl, n, seed);
    std::istringstream in(cb::policy_text(rules, "classbench"));
    std::string text, line;
    std::size_t counts = 0, filters = 0, payload = 0;
    std::map<int, int> filter_of;  // the policy's rule index -> the filter's index (-1: a count rule)
    while (std::getline(in, line)) {
        const std::size_t colon = line.find(": drop if ");
        const std::size_t name = line.find_first_not_of(' ');
        if (colon != std::string::npos && name != std::string::npos && line[name] == 'r') {
            if (linear && filters % 50 == 0) {
                text += line.substr(0, name) + "c" + line.substr(name + 1, colon - name - 1) + ": count if " +
                        line.substr(colon + 10) + "\n";
                filter_of[int(counts + filters)] = -1;
                ++counts;
            }
            if (!linear && filters % 20 == 19) {
                line += " and payload[0:1] != 0xff";
                ++payload;
            }
            filter_of[int(counts + filters)] = int(filters);
            ++filters;
        }
        text += line + "\n";
    }
    REQUIRE(filters == n);
    REQUIRE((linear ? counts : payload) > 20);
    auto header = [&] {
        return "ClassBench-shaped acl set of " + std::to_string(n) + " rules, seed " + std::to_string(seed) +
               (linear ? ", straight-line, with " + std::to_string(counts) + " count rules\n"
                       : ", planned, with " + std::to_string(payload) + " payload rules\n");
    };
    CheckOptions copts;
    copts.lint = false;
    auto c = compile_source("/tmp/weir-differential/split.weir", text, copts);
    REQUIRE_MESSAGE(c->ok(), header() << render_text(c->sources, c->diags));
    const Policy& pol = c->program.policies.at(0);
    PlanOptions popts;
    if (linear) popts.mode = PlanOptions::Mode::Linear;
    Plan plan = plan_policy(c->program, 0, popts);
    CHECK(plan.groups.empty() == linear);

    // Split: weir_match calls the functions (weir_match itself is inlined into weir_xdp).
    CodegenResult ir = codegen(plan, c->sources, EmitKind::IR, CodegenOptions{});
    REQUIRE_MESSAGE(ir.ok(), header() << ir.error);
    std::istringstream irt(std::string(ir.bytes.begin(), ir.bytes.end()));
    std::size_t pieces = 0, matches = 0;
    for (std::string l; std::getline(irt, l);) {
        if (l.rfind("define ", 0) != 0) continue;
        pieces += l.find("@weir_match_") != std::string::npos;
        matches += l.find("@weir_match(") != std::string::npos;
    }
    CHECK_MESSAGE(pieces >= 2, header() << pieces << " pieces");
    CHECK(matches == 0);

    std::vector<cb::Header> headers = cb::generate_headers(rules, 4000, seed);
    std::size_t i = 0, scan_bad = 0, counted = 0;
    Totals t;
    run_and_compare(*c, plan, lo,
                    [&]() -> std::optional<GeneratedPacket> {
                        if (i == headers.size()) return std::nullopt;
                        const cb::Header& h = headers[i++];
                        GeneratedPacket p;
                        p.bytes = cb::frame(h);
                        p.kind = cb::header_text(h);
                        weir_pkt pkt{};
                        weir_parse(p.bytes.data(), p.bytes.data() + p.bytes.size(), &pkt);
                        Decision d = evaluate(c->program, pol, pkt, p.bytes, "lo");
                        counted += !d.counted.empty();
                        const std::size_t at = pkt.payload_off & WEIR_PAYLOAD_OFF_MASK;
                        const bool pay = pkt.payload_len >= 1 && at < p.bytes.size() && p.bytes[at] != 0xff;
                        int want = -1;
                        for (std::size_t r = 0; r < rules.size() && want < 0; ++r)
                            if (cb::matches(rules[r], h) && (linear || r % 20 != 19 || pay)) want = int(r);
                        const int got = d.rule < 0 ? -1 : filter_of.at(d.rule);
                        if (got != want && scan_bad++ < 3)
                            FAIL_CHECK(header() << "header " << p.kind << ": linear scan filter " << want
                                                << ", interpreter " << rule_name(pol, d.rule));
                        return p;
                    },
                    header, t);
    CHECK(t.mismatches == 0);
    CHECK(scan_bad == 0);
    CHECK(t.by_rule > t.packets / 2);
    if (linear) CHECK(counted > 0);
    else CHECK(t.by_group > t.packets / 2);
    MESSAGE(std::string(linear ? "straight-line" : "mixed") << ": " << pol.rules.size() << " rules in " << pieces
                      << " functions, " << plan.groups.size() << " classifier groups, " << t.packets << " headers, "
                      << t.by_rule << " decided by a rule, " << counted << " counted; codegen " << t.compile_s
                      << " s, load " << t.load_s << " s");
}

}  // namespace

TEST_CASE("straight-line code split into BPF functions decides and counts like the interpreter in the kernel") {
    check_split(true);
}

TEST_CASE("classifier groups and payload rules split into BPF functions decide like the interpreter in the kernel") {
    check_split(false);
}

// Each `over` keeps a 56-byte key on the stack for the whole function: twelve of them are over
// what one BPF function may have on top of weir_xdp's frame (512 bytes for the call chain), so
// the rules are split by stack (codegen_rules.cpp) instead of failing in LLVM, and still decide
// like the interpreter (rates no packet here reaches: every packet goes through every limit).
TEST_CASE("rules with many rate limits are split by stack and decide like the interpreter in the kernel") {
    namespace cb = weir::classbench;
    const std::uint32_t lo = if_nametoindex("lo");
    REQUIRE(lo != 0);
    std::string text = "policy limits default pass {\n";
    for (int i = 1; i <= 12; ++i)
        text += "    l" + std::to_string(i) + ": drop if tcp.dport == " + std::to_string(i) + " and over " +
                std::to_string(1000000 + i) + "/s per ip.src\n";
    text += "    last: drop if tcp.dport == 13\n}\n";
    auto header = [&] { return "--- policy ---\n" + text + "--------------\n"; };
    CheckOptions copts;
    copts.lint = false;
    auto c = compile_source("/tmp/weir-differential/limits.weir", text, copts);
    REQUIRE_MESSAGE(c->ok(), header() << render_text(c->sources, c->diags));
    Plan plan = plan_policy(c->program, 0);
    CodegenResult ir = codegen(plan, c->sources, EmitKind::IR, CodegenOptions{});
    REQUIRE_MESSAGE(ir.ok(), header() << ir.error);
    std::istringstream irt(std::string(ir.bytes.begin(), ir.bytes.end()));
    std::size_t pieces = 0;
    for (std::string l; std::getline(irt, l);) pieces += l.rfind("define ", 0) == 0 && l.find("@weir_match_") != std::string::npos;
    CHECK_MESSAGE(pieces >= 2, header() << pieces << " pieces");
    std::uint16_t port = 0;
    Totals t;
    run_and_compare(*c, plan, lo,
                    [&]() -> std::optional<GeneratedPacket> {
                        if (++port > 14) return std::nullopt;
                        cb::Header h;
                        h.src = 0xc6120001u + port;
                        h.dst = 0xc6120101u;
                        h.sport = 40000;
                        h.dport = port;
                        h.proto = 6;
                        GeneratedPacket p;
                        p.bytes = cb::frame(h);
                        p.kind = "tcp dport " + std::to_string(port);
                        return p;
                    },
                    header, t);
    CHECK(t.mismatches == 0);
    CHECK(t.packets == 14);
    CHECK(t.by_rule == 1);  // `last`; the limits are never over
}
