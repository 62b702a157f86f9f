// The LLVM side of codegen: the embedded template bitcode in, the finished module out as a BPF
// ELF object, assembly or IR text, in memory. One BPF TargetMachine (triple bpfel, the
// template's CPU), the new pass manager for optimization (with the BPF target's own IR passes
// registered by the TargetMachine), the legacy pass manager for the backend (the only way LLVM 19
// emits objects).
//
// Optimization is targeted: the template was already optimized by clang at -O2 when it was
// built, and only weir_xdp changes when weir_match is inlined into it. So opt_level 1 and 2 run
// the always-inliner, then LLVM's function simplification pipeline on weir_xdp alone (and on the
// pieces of a split weir_match, codegen_rules.cpp), then drop
// the inlined helpers; the parser and the rest of the template are left as
// clang made them. opt_level 3 runs the full per-module O3 pipeline over everything (slower,
// no better code for these programs), 0 only inlines. See docs/performance.md.
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/Transforms/IPO/AlwaysInliner.h>
#include <llvm/Transforms/IPO/GlobalDCE.h>

#include <mutex>
#include <string>
#include <utility>

#include "codegen_ctx.hpp"
#include "templates.hpp"
#include "weir_abi.h"

#ifndef WEIR_BPF_CPU
#error "WEIR_BPF_CPU (the templates' -mcpu) must be defined by the build"
#endif

namespace weir::cg {

namespace {

constexpr const char* kTriple = "bpfel";

void init_bpf_target() {
    static std::once_flag once;
    std::call_once(once, [] {
        LLVMInitializeBPFTargetInfo();
        LLVMInitializeBPFTarget();
        LLVMInitializeBPFTargetMC();
        LLVMInitializeBPFAsmPrinter();
    });
}

std::unique_ptr<llvm::TargetMachine> make_target(int opt_level, std::string& error) {
    init_bpf_target();
    std::string why;
    const llvm::Target* target = llvm::TargetRegistry::lookupTarget(kTriple, why);
    if (!target) {
        error = "no BPF target in this LLVM: " + why;
        return nullptr;
    }
    // The backend always optimizes: the template's parser fits the 512-byte BPF stack only when
    // the backend colors its stack slots (opt_level only chooses the IR pipeline).
    llvm::CodeGenOptLevel level = opt_level >= 3 ? llvm::CodeGenOptLevel::Aggressive : llvm::CodeGenOptLevel::Default;
    std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
        kTriple, WEIR_BPF_CPU, "", llvm::TargetOptions(), std::nullopt, std::nullopt, level));
    if (!tm) error = "cannot create the BPF target machine (cpu " WEIR_BPF_CPU ")";
    return tm;
}

// Runs a function pipeline on the function named `name` and on the pieces weir_match was split
// into (weir_match_N, codegen_rules.cpp) only (the others are left untouched).
class OnlyFunction : public llvm::PassInfoMixin<OnlyFunction> {
public:
    OnlyFunction(std::string name, llvm::FunctionPassManager fpm) : name_(std::move(name)), fpm_(std::move(fpm)) {}
    llvm::PreservedAnalyses run(llvm::Function& fn, llvm::FunctionAnalysisManager& fam) {
        if (fn.isDeclaration() || (fn.getName() != name_ && !fn.getName().starts_with("weir_match_")))
            return llvm::PreservedAnalyses::all();
        return fpm_.run(fn, fam);
    }
    static bool isRequired() { return true; }

private:
    std::string name_;
    llvm::FunctionPassManager fpm_;
};

// opt_level 1-2: what adding weir_match to the already optimized template needs. The BPF
// target's callbacks run where the default pipeline runs them (pipeline start: CO-RE and static
// offset handling; early simplification: BPFAdjustOpt, which keeps InstCombine from merging
// bounds checks into forms the verifier cannot follow; peephole and late scalar passes inside
// the function simplification pipeline).
llvm::ModulePassManager targeted_pipeline(llvm::PassBuilder& pb, llvm::OptimizationLevel level) {
    llvm::ModulePassManager mpm;
    pb.invokePipelineStartEPCallbacks(mpm, level);
    // Lifetime markers let the backend give the key slots of the many inlined map lookups one
    // stack slot (without them 150 classifier lookups overflow the 512-byte BPF stack).
    mpm.addPass(llvm::AlwaysInlinerPass(/*InsertLifetimeIntrinsics=*/true));
    pb.invokePipelineEarlySimplificationEPCallbacks(mpm, level);
    mpm.addPass(llvm::createModuleToFunctionPassAdaptor(
        OnlyFunction(WEIR_PROG_XDP, pb.buildFunctionSimplificationPipeline(level, llvm::ThinOrFullLTOPhase::None))));
    mpm.addPass(llvm::GlobalDCEPass());  // the inlined internal helpers and weir_match
    return mpm;
}

void optimize(llvm::Module& m, llvm::TargetMachine& tm, int opt_level) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(&tm);  // registers the BPF target's IR passes
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm;
    if (opt_level <= 0)
        mpm = pb.buildO0DefaultPipeline(llvm::OptimizationLevel::O0);
    else if (opt_level <= 2)
        mpm = targeted_pipeline(pb, opt_level == 1 ? llvm::OptimizationLevel::O1 : llvm::OptimizationLevel::O2);
    else
        mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(m, mam);
}

void put_text(const std::string& text, std::vector<std::uint8_t>& out) { out.assign(text.begin(), text.end()); }

}  // namespace

std::unique_ptr<llvm::Module> load_template(llvm::LLVMContext& ctx, std::string& error, bool shadow) {
    auto bytes = shadow ? xdp_shadow_template_bitcode() : xdp_template_bitcode();
    llvm::StringRef data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    auto m = llvm::parseBitcodeFile(llvm::MemoryBufferRef(data, "xdp.bc"), ctx);
    if (!m) {
        error = "the embedded XDP template does not parse: " + llvm::toString(m.takeError());
        return nullptr;
    }
    return std::move(*m);
}

void internalize_helpers(llvm::Module& m) {
    for (llvm::Function& fn : m) {
        if (fn.isDeclaration()) continue;
        bool match = fn.getName() == "weir_match" || fn.getName() == WEIR_FN_MATCH_SHADOW;
        if (match) {
            fn.removeFnAttr(llvm::Attribute::NoInline);
            fn.removeFnAttr(llvm::Attribute::OptimizeNone);
            fn.addFnAttr(llvm::Attribute::AlwaysInline);
        }
        // The template's lookup and count hooks are external only so that they survive in the
        // bitcode; the entry point and the separately verified parser stay global.
        if (match || (fn.hasFnAttribute(llvm::Attribute::AlwaysInline) && fn.getName() != WEIR_PROG_XDP))
            fn.setLinkage(llvm::GlobalValue::InternalLinkage);
    }
}

bool verify(llvm::Module& m, std::string& error) {
    std::string text;
    llvm::raw_string_ostream os(text);
    bool broken_debug = false;
    if (llvm::verifyModule(m, &os, &broken_debug) || broken_debug) {
        error = "internal: generated code does not verify: " + os.str();
        return false;
    }
    return true;
}

bool optimize_and_emit(llvm::Module& m, EmitKind kind, const CodegenOptions& opts,
                       std::vector<std::uint8_t>& out, std::string& error) {
    std::unique_ptr<llvm::TargetMachine> tm = make_target(opts.opt_level, error);
    if (!tm) return false;
    m.setTargetTriple(kTriple);
    m.setDataLayout(tm->createDataLayout());

    if (kind == EmitKind::IR && opts.unoptimized_ir) {
        std::string text;
        llvm::raw_string_ostream os(text);
        m.print(os, nullptr);
        put_text(os.str(), out);
        return true;
    }
    optimize(m, *tm, opts.opt_level);
    if (kind == EmitKind::IR) {
        std::string text;
        llvm::raw_string_ostream os(text);
        m.print(os, nullptr);
        put_text(os.str(), out);
        return true;
    }
    llvm::SmallVector<char, 0> buffer;
    llvm::raw_svector_ostream os(buffer);
    llvm::legacy::PassManager pm;
    auto type = kind == EmitKind::Obj ? llvm::CodeGenFileType::ObjectFile : llvm::CodeGenFileType::AssemblyFile;
    if (tm->addPassesToEmitFile(pm, os, nullptr, type)) {
        error = "the BPF target cannot emit this file type";
        return false;
    }
    pm.run(m);
    out.assign(buffer.begin(), buffer.end());
    return true;
}

}  // namespace weir::cg
