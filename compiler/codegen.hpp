// Stage 4: plan -> LLVM IR -> BPF ELF object, in process. The generated `weir_match` (ABI in
// bpf-templates/weir_abi.h) is added to the embedded template bitcode, which is then verified,
// optimized with the new pass manager and emitted by the BPF TargetMachine into memory, with BTF
// and line info whose file is the policy source: every instruction of a rule carries the rule's
// line, so verifier messages can be mapped back to rules. LLVM types stay inside compiler/codegen*.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
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
    // pkt.iface: the ifindex of an interface name, nullopt if there is none. Resolved once, at
    // compile time (the interfaces of the host the program is loaded on); a name that does not
    // resolve, or a policy using pkt.iface without this callback, is a codegen error.
    std::function<std::optional<std::uint32_t>(const std::string&)> ifindex_of;
    // EmitKind::IR only: print the module before optimization (weir_match as generated, next to
    // the template) instead of after it.
    bool unoptimized_ir = false;
};

struct CodegenResult {
    std::string error;               // empty on success
    std::vector<std::uint8_t> bytes; // IR or assembly text, or the ELF object
    bool ok() const { return error.empty(); }
};

CodegenResult codegen(const Plan& plan, const SourceManager& sources, EmitKind kind,
                      const CodegenOptions& opts = {});

}  // namespace weir
