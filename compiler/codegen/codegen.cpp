// codegen(): plan -> weir_match in the template module -> BPF object. The steps live in the
// codegen_*.cpp files (see codegen_ctx.hpp for the map); this file runs them in order, in a
// forked worker unless CodegenOptions::isolate is off (codegen_worker.hpp).
#include "codegen.hpp"

#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>
#include <cstring>
#include <exception>

#include "codegen_ctx.hpp"
#include "codegen_worker.hpp"
#include "weir_abi.h"

namespace weir {

namespace {

// LLVM reports backend errors (e.g. "BPF stack limit exceeded") through the context; the default
// handler would print them and exit the process. Collect them instead.
void collect_llvm_errors(const llvm::DiagnosticInfo* info, void* out) {
    const llvm::DiagnosticInfo& di = *info;
    if (di.getSeverity() != llvm::DS_Error) return;
    auto& text = *static_cast<std::string*>(out);
    llvm::raw_string_ostream os(text);
    if (!text.empty()) os << "; ";
    llvm::DiagnosticPrinterRawOStream printer(os);
    di.print(printer);
}

}  // namespace

namespace cg {

// Defines `fn` (declared by the template: weir_match or weir_match_shadow) as the plan's rules.
bool emit_match(llvm::Module& m, llvm::Function* fn, const Plan& plan, const SourceManager& sources,
                const CodegenOptions& opts, bool shadow, std::string& error) {
    if (!fn || !fn->isDeclaration() || fn->arg_size() != 4 || !fn->getReturnType()->isIntegerTy(32)) {
        error = std::string("internal: the XDP template does not declare `__u32 ") +
                (shadow ? WEIR_FN_MATCH_SHADOW : "weir_match") + "(pkt, data, data_end, ctx)`";
        return false;
    }
    Ctx c(plan, sources, opts, m);
    c.shadow = shadow;
    c.fn = fn;
    c.pkt = fn->getArg(0);
    c.data = fn->getArg(1);
    c.data_end = fn->getArg(2);
    c.xdp = fn->getArg(3);
    c.pkt->setName("pkt");
    c.data->setName("data");
    c.data_end->setName("data_end");
    c.xdp->setName("ctx");

    const Policy& pol = plan.pol();
    // The ranges code is generated for: the policy line, every rule outside a classifier group
    // and each group's first rule (the group's code carries its location).
    std::vector<SourceRange> code{{pol.range.file, pol.range.begin, pol.range.begin}};
    for (std::size_t i = 0; i < plan.rules.size(); ++i) {
        const PlannedRule& r = plan.rules[i];
        if (r.src && (r.group < 0 || plan.groups.at(static_cast<std::size_t>(r.group)).first == i))
            code.push_back(r.src->range);
    }
    c.dbg = std::make_unique<Debug>(m, sources, pol.range.file, code);
    std::uint32_t line = pol.range.valid() && pol.range.file < sources.size()
                             ? sources.line_col(pol.range.file, pol.range.begin).line
                             : 0;
    c.dbg->attach(*fn, line);
    emit_rules(c);
    c.dbg->finalize();
    error = c.error;
    return error.empty();
}

}  // namespace cg

namespace {

bool valid_plan(const Plan& plan) {
    return plan.program && plan.policy >= 0 && static_cast<std::size_t>(plan.policy) < plan.program->policies.size();
}

// `shadow`: the candidate of a shadow program (codegen_shadow), else null.
void generate(const Plan& plan, const SourceManager& sources, EmitKind kind, const CodegenOptions& opts,
              CodegenResult& res, const ShadowInput* shadow = nullptr) {
    if (!valid_plan(plan) || (shadow && !valid_plan(shadow->plan))) {
        res.error = "internal: the plan names no policy";
        return;
    }
    llvm::LLVMContext ctx;
    std::string llvm_errors;
    ctx.setDiagnosticHandlerCallBack(collect_llvm_errors, &llvm_errors);
    std::unique_ptr<llvm::Module> m = cg::load_template(ctx, res.error, shadow != nullptr);
    if (!m) return;
    if (!cg::emit_match(*m, m->getFunction("weir_match"), plan, sources, opts, false, res.error)) return;
    if (shadow) {
        CodegenOptions cand = opts;
        cand.unverifiable_rule.clear();  // the test hook names an enforcing rule
        if (!cg::emit_match(*m, m->getFunction(WEIR_FN_MATCH_SHADOW), shadow->plan, shadow->sources, cand, true,
                            res.error)) {
            res.error = "candidate policy '" + shadow->plan.pol().name + "': " + res.error;
            return;
        }
    }

    cg::internalize_helpers(*m);
    if (!cg::verify(*m, res.error)) return;
    if (!cg::optimize_and_emit(*m, kind, opts, res.bytes, res.error)) res.bytes.clear();
    if (res.error.empty() && !llvm_errors.empty()) {
        res.error = "LLVM: " + llvm_errors;
        res.bytes.clear();
    }
}

CodegenResult in_process(const Plan& plan, const SourceManager& sources, EmitKind kind, const CodegenOptions& opts,
                         const ShadowInput* shadow = nullptr) {
    CodegenResult res;
    try {
        generate(plan, sources, kind, opts, res, shadow);
    } catch (const std::exception& e) {  // e.g. a plan whose indexes do not fit its program
        res.error = std::string("internal: codegen failed: ") + e.what();
        res.bytes.clear();
    }
    if (!res.ok()) res.failure = CodegenFailure::Error;
    return res;
}

bool env_set(const char* name) {
    const char* v = std::getenv(name);
    return v && *v && std::strcmp(v, "0") != 0;
}

CodegenResult run(const Plan& plan, const SourceManager& sources, EmitKind kind, const CodegenOptions& given,
                  const ShadowInput* shadow) {
    CodegenOptions opts = given;
    if (const char* rule = std::getenv("WEIR_INJECT_UNVERIFIABLE_RULE"); rule && *rule && opts.unverifiable_rule.empty())
        opts.unverifiable_rule = rule;
    if (!opts.isolate || env_set("WEIR_CODEGEN_IN_PROCESS")) return in_process(plan, sources, kind, opts, shadow);
    // The child records the interface names it resolves; they are asked again here, so that a
    // callback with side effects (the CLI's placeholder list) sees them in this process.
    CodegenOptions child = opts;
    if (const char* fault = std::getenv("WEIR_INJECT_CODEGEN_FAULT"); fault && *fault && child.inject_fault.empty())
        child.inject_fault = fault;
    std::vector<std::string> asked;
    if (opts.ifindex_of)
        child.ifindex_of = [&asked, &opts](const std::string& name) {
            asked.push_back(name);
            return opts.ifindex_of(name);
        };
    cg::WorkerOutput out = cg::run_in_worker(
        [&] {
            cg::WorkerOutput w;
            w.result = in_process(plan, sources, kind, child, shadow);
            w.asked = std::move(asked);
            return w;
        },
        child);
    if (opts.ifindex_of)
        for (const std::string& name : out.asked) (void)opts.ifindex_of(name);
    return std::move(out.result);
}

}  // namespace

CodegenResult codegen(const Plan& plan, const SourceManager& sources, EmitKind kind, const CodegenOptions& opts) {
    return run(plan, sources, kind, opts, nullptr);
}

CodegenResult codegen_shadow(const Plan& plan, const SourceManager& sources, const ShadowInput& candidate,
                             EmitKind kind, const CodegenOptions& opts) {
    return run(plan, sources, kind, opts, &candidate);
}

}  // namespace weir
