// For kernel tests: a policy text compiled through the whole pipeline (check, plan, codegen) and
// loaded with LoadedPolicy, failing the test with the diagnostics when a step fails.
#pragma once
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "codegen.hpp"
#include "driver.hpp"
#include "loaded_policy.hpp"
#include "plan.hpp"

namespace weir::test {

struct CompiledPolicy {
    std::unique_ptr<Compilation> c;
    Plan plan;
    std::vector<std::uint8_t> elf;
};

// Policy 0 of `text` (displayed as `name`), compiled to an object.
inline CompiledPolicy compile_policy(const std::string& text, const std::string& name = "policy.weir") {
    CompiledPolicy out;
    out.c = compile_source(name, text, CheckOptions{});
    REQUIRE_MESSAGE(out.c->ok(), render_text(out.c->sources, out.c->diags));
    out.plan = plan_policy(out.c->program, 0);
    CodegenResult r = codegen(out.plan, out.c->sources, EmitKind::Obj, CodegenOptions{});
    REQUIRE_MESSAGE(r.ok(), r.error);
    out.elf = std::move(r.bytes);
    return out;
}

// Loads it into the kernel, sharing the maps of `reuse` (weir_abi.h name -> fd).
inline std::unique_ptr<LoadedPolicy> load_policy(const CompiledPolicy& c,
                                                 std::vector<std::pair<std::string, int>> reuse = {}) {
    Diagnostics diags;
    KernelLoadOptions lo;
    lo.reuse_maps = std::move(reuse);
    auto lp = LoadedPolicy::load(c.plan, c.c->sources, c.elf, diags, lo);
    REQUIRE_MESSAGE(lp, render_text(c.c->sources, diags));
    return lp;
}

}  // namespace weir::test
