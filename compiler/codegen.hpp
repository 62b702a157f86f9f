// Stage 4: plan -> LLVM IR -> BPF ELF object, in process. The generated `weir_match` (ABI in
// bpf-templates/weir_abi.h) is added to the embedded template bitcode, which is then verified,
// optimized with the new pass manager and emitted by the BPF TargetMachine into memory, with BTF
// and line info whose file is the policy source: every instruction of a rule carries the rule's
// line, so verifier messages can be mapped back to rules. LLVM types stay inside compiler/codegen*.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "plan.hpp"
#include "source.hpp"

namespace weir {

enum class EmitKind { IR, Asm, Obj };

struct CodegenOptions {
    int opt_level = 2;
    // Test hook: the rule of this name reads the packet without a bounds check, so the kernel
    // verifier must reject the program (used to test verifier-error mapping). Empty: off.
    std::string unverifiable_rule;
};

struct CodegenResult {
    std::string error;               // empty on success
    std::vector<std::uint8_t> bytes; // IR or assembly text, or the ELF object
    bool ok() const { return error.empty(); }
};

CodegenResult codegen(const Plan& plan, const SourceManager& sources, EmitKind kind,
                      const CodegenOptions& opts = {});

}  // namespace weir
