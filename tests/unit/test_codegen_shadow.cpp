// Shadow programs (compiler/codegen/codegen.hpp codegen_shadow, weir_abi.h "Shadow mode"): the
// candidate becomes weir_match_shadow beside weir_match, counts but never logs, keeps its rate
// limits apart, and a program without a shadow has none of it.
#include <doctest/doctest.h>

#include <string>

#include "codegen.hpp"
#include "driver.hpp"
#include "plan.hpp"
#include "weir_abi.h"

using namespace weir;

namespace {

std::shared_ptr<const Compilation> check(const std::string& path, const std::string& text) {
    CheckOptions opts;
    opts.lint = false;
    auto c = compile_source(path, text, opts);
    REQUIRE(c->ok());
    return c;
}

std::string text(const CodegenResult& r) { return std::string(r.bytes.begin(), r.bytes.end()); }

// The body of function `name` in IR text ("" if it is not defined there).
std::string body(const std::string& ir, const std::string& name) {
    auto at = ir.find("@" + name + "(");
    while (at != std::string::npos && ir.rfind("define", at) < ir.rfind('\n', at)) at = ir.find("@" + name + "(", at + 1);
    if (at == std::string::npos) return {};
    return ir.substr(at, ir.find("\n}\n", at) - at);
}

struct Pair {
    std::shared_ptr<const Compilation> enf = check("/tmp/weir-sh/enf.weir", R"(policy enf default pass {
    ssh: drop if tcp.dport == 22
    web-log: log if tcp.dport == 80
}
)");
    std::shared_ptr<const Compilation> cand = check("/tmp/weir-sh/cand.weir", R"(policy cand default drop {
    dns-log: log if udp.dport == 53
    flood: drop if udp.dport == 123 and over 10/s
    web: pass if tcp.dport == 80
}
)");
    Plan plan = plan_policy(enf->program, 0);
    Plan cplan = [&] {
        PlanOptions lin;
        lin.mode = PlanOptions::Mode::Linear;
        Plan p = plan_policy(cand->program, 0, lin);
        for (PlannedRule& pr : p.rules) pr.slot = 100 + static_cast<std::uint32_t>(pr.rule);
        return p;
    }();
    CodegenResult shadow(EmitKind kind, bool unoptimized = false) const {
        CodegenOptions o;
        o.isolate = false;
        o.unoptimized_ir = unoptimized;
        CodegenResult r = codegen_shadow(plan, enf->sources, {cplan, cand->sources}, kind, o);
        REQUIRE_MESSAGE(r.ok(), r.error);
        return r;
    }
};

}  // namespace

TEST_CASE("the candidate is weir_match_shadow: its log rules count, its limits are tagged") {
    Pair p;
    const std::string ir = text(p.shadow(EmitKind::IR, /*unoptimized=*/true));
    const std::string enf = body(ir, "weir_match"), cand = body(ir, WEIR_FN_MATCH_SHADOW);
    REQUIRE(!enf.empty());
    REQUIRE(!cand.empty());
    CHECK(enf.find("@weir_log(") != std::string::npos);   // the enforcing policy logs
    CHECK(cand.find("@weir_log(") == std::string::npos);  // the candidate never does
    CHECK(cand.find("@weir_count(i32 100") != std::string::npos);  // dns-log counts in its slot
    CHECK(cand.find("@weir_limit_over(") != std::string::npos);
    // flood's limit id, tagged, is stored into its key (its untagged id is the enforcing side's).
    std::uint32_t id = 0;
    for (const Expr& k : p.cand->program.policies[0].rules[1].cond.kids)
        if (k.kind == Expr::Kind::Limit) id = k.limit->id;
    REQUIRE(id != 0);
    const auto tagged = static_cast<std::int32_t>(id | WEIR_SHADOW_LIMIT_TAG);
    CHECK(cand.find("store i32 " + std::to_string(tagged)) != std::string::npos);
    // Decisions carry the candidate's slots: web (rule 2, slot 102) passes.
    CHECK(cand.find("i32 " + std::to_string(weir_decision(102, WEIR_ACT_PASS))) != std::string::npos);
}

TEST_CASE("a shadow program has the shadow maps, a program alone has none") {
    Pair p;
    CodegenOptions o;
    o.isolate = false;
    const std::string alone = text(codegen(p.plan, p.enf->sources, EmitKind::IR, o));
    const std::string both = text(p.shadow(EmitKind::IR));
    CHECK(alone.find(WEIR_MAP_SHADOW_TX) == std::string::npos);
    CHECK(both.find(WEIR_MAP_SHADOW_TX) != std::string::npos);
    CHECK(both.find(WEIR_MAP_SHADOW_STATS) != std::string::npos);
    CHECK(!p.shadow(EmitKind::Obj).bytes.empty());
}
