// Verifier logs read back into the policy (runtime/kernel/verifier_log.hpp): the complaint, the BTF
// source lines of the rejected path, the rule they belong to, and the diagnostic built from
// them. The logs are shaped like the kernel's (6.x, log level 1); no kernel is needed here.
#include <doctest/doctest.h>

#include <string>

#include "driver.hpp"
#include "plan.hpp"
#include "verifier_log.hpp"

using namespace weir;

namespace {

constexpr const char* kPolicy = R"(policy edge default drop {
    web:       pass if tcp.dport == 80
    ssh-admin: pass if tcp.dport == 22
               and ip.src == 192.0.2.1
    rest:      drop
}
)";

constexpr const char* kLog = R"(func#0 @0
0: R1=ctx() R10=fp0
; pkt.ifindex = ctx->ingress_ifindex; @ xdp.c:163
5: (61) r1 = *(u32 *)(r6 +12)         ; R1=scalar() R6=ctx()
; web:       pass if tcp.dport == 80 @ edge.weir:2
24: (61) r1 = *(u32 *)(r10 -120)      ; R1=scalar()
29: (16) if w1 == 0x50 goto pc+23     ; R1=scalar()
; and ip.src == 192.0.2.1 @ edge.weir:4
31: (0f) r7 += r1                     ; R7=pkt(id=2,r=0)
32: (07) r7 += 70000                  ; R7=pkt(id=2,off=70000,r=0)
33: (71) r1 = *(u8 *)(r7 +0)
invalid access to packet, off=70000 size=1, R7(id=2,off=70000,r=0)
R7 offset is outside of the packet
processed 33 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2 mark_read 0
)";

struct Fixture {
    std::unique_ptr<Compilation> c = compile_source("/some/dir/edge.weir", kPolicy, CheckOptions{});
    Plan plan;
    Fixture() {
        REQUIRE_MESSAGE(c->ok(), render_text(c->sources, c->diags));
        plan = plan_policy(c->program, 0);
    }
};

}  // namespace

TEST_CASE("parse_verifier_log: complaint, source path, tail") {
    VerifierFailure f = parse_verifier_log(kLog, 5);
    CHECK(f.message == "invalid access to packet, off=70000 size=1, R7(id=2,off=70000,r=0)");
    REQUIRE(f.path.size() == 3);
    CHECK(f.path[0].file == "xdp.c");
    CHECK(f.path[0].line == 163);
    CHECK(f.path[1].text == "web:       pass if tcp.dport == 80");
    CHECK(f.path[2].file == "edge.weir");
    CHECK(f.path[2].line == 4);
    CHECK(f.path[2].text == "and ip.src == 192.0.2.1");
    REQUIRE(f.tail.size() == 5);
    CHECK(f.tail.front() == "32: (07) r7 += 70000                  ; R7=pkt(id=2,off=70000,r=0)");
    CHECK(f.tail.back().rfind("processed 33 insns", 0) == 0);
}

TEST_CASE("parse_verifier_log: a log without instructions keeps its last line") {
    VerifierFailure f = parse_verifier_log("BPF program is too large. Processed 1000001 insn\n"
                                           "processed 1000001 insns (limit 1000000)\n");
    CHECK(f.message == "BPF program is too large. Processed 1000001 insn");
    CHECK(f.path.empty());
    CHECK(parse_verifier_log("").message.empty());
}

TEST_CASE("rules_at_line: by base name and every line of a rule") {
    Fixture fx;
    CHECK(rules_at_line(fx.plan, fx.c->sources, "edge.weir", 2) == std::vector<int>{0});
    CHECK(rules_at_line(fx.plan, fx.c->sources, "edge.weir", 3) == std::vector<int>{1});
    CHECK(rules_at_line(fx.plan, fx.c->sources, "edge.weir", 4) == std::vector<int>{1});
    CHECK(rules_at_line(fx.plan, fx.c->sources, "/elsewhere/edge.weir", 5) == std::vector<int>{2});
    CHECK(rules_at_line(fx.plan, fx.c->sources, "edge.weir", 1).empty());
    CHECK(rules_at_line(fx.plan, fx.c->sources, "other.weir", 2).empty());
}

TEST_CASE("report_verifier_rejection: at the rule of the failing line") {
    Fixture fx;
    Diagnostics diags;
    report_verifier_rejection(fx.plan, fx.c->sources, kLog, "load program 'weir_xdp': Permission denied (-13)", diags);
    REQUIRE(diags.list().size() == 1);
    const Diagnostic& d = diags.list()[0];
    CHECK(d.code == "verifier-rejected");
    CHECK(d.range == fx.c->program.policies[0].rules[1].range);
    CHECK(d.message ==
          "the kernel verifier rejected rule 'ssh-admin': invalid access to packet, off=70000 "
          "size=1, R7(id=2,off=70000,r=0)");
    std::string text = render_text(fx.c->sources, diags);
    CHECK(text.find("/some/dir/edge.weir:3:5: error: the kernel verifier rejected rule 'ssh-admin'") == 0);
    CHECK(text.find("note: verifier log (last 14 lines):\n    func#0 @0\n    0: R1=ctx() R10=fp0\n") != std::string::npos);
    CHECK(text.find("\n    R7 offset is outside of the packet\n") != std::string::npos);
}

TEST_CASE("report_verifier_rejection: outside the rules, at the policy, naming the last rule") {
    Fixture fx;
    std::string log = R"(; web:       pass if tcp.dport == 80 @ edge.weir:2
24: (61) r1 = *(u32 *)(r10 -120)      ; R1=scalar()
; c->packets += 1; @ xdp.c:113
40: (79) r1 = *(u64 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
processed 40 insns (limit 1000000)
)";
    Diagnostics diags;
    report_verifier_rejection(fx.plan, fx.c->sources, log, "", diags);
    REQUIRE(diags.list().size() == 1);
    const Diagnostic& d = diags.list()[0];
    CHECK(d.range == fx.c->program.policies[0].name_range);
    CHECK(d.message == "the kernel verifier rejected policy 'edge' in template code (xdp.c:113): "
                       "R0 invalid mem access 'map_value_or_null'");
    REQUIRE(d.notes.size() == 2);
    CHECK(d.notes[0].range == fx.c->program.policies[0].rules[0].range);
    CHECK(d.notes[0].message == "the last rule evaluated on the rejected path is 'web'");
}

TEST_CASE("report_verifier_rejection: no log, libbpf's message") {
    Fixture fx;
    Diagnostics diags;
    report_verifier_rejection(fx.plan, fx.c->sources, "", "load program 'weir_xdp': Argument list too long (-7)", diags);
    REQUIRE(diags.list().size() == 1);
    CHECK(diags.list()[0].message ==
          "the kernel verifier rejected policy 'edge': load program 'weir_xdp': Argument list too long (-7)");
}
