// Codegen, stage 4: a plan (plan.hpp) -> BPF ELF object bytes (or LLVM IR / BPF assembly text).
// The generated `weir_match` (ABI in bpf-templates/weir_abi.h) is added to the embedded template
// bitcode, which is then verified, optimized with the new pass manager and emitted by the BPF
// TargetMachine into memory, with BTF and line info whose file is the policy source: every
// instruction of a rule carries the rule's line, so verifier messages can be mapped back to rules.
// LLVM types stay inside compiler/codegen*.
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
    // verifier must reject the program (used to test verifier-error mapping). Empty: off; the
    // environment variable WEIR_INJECT_UNVERIFIABLE_RULE sets it for any caller (CLI tests).
    std::string unverifiable_rule;
    // pkt.iface: the ifindex of an interface name, nullopt if there is none. Resolved once, at
    // compile time (the interfaces of the host the program is loaded on); a name that does not
    // resolve, or a policy using pkt.iface without this callback, is a codegen error.
    std::function<std::optional<std::uint32_t>(const std::string&)> ifindex_of;
    // EmitKind::IR only: print the module before optimization (weir_match as generated, next to
    // the template) instead of after it.
    bool unoptimized_ir = false;

    // Isolation (compiler/codegen/codegen_worker.hpp): LLVM runs in a forked worker process with the limits
    // below, so that no policy can take the caller down: an LLVM fatal error (which ends its
    // process), a crash, a memory blow-up or a hang becomes a CodegenResult error. In process
    // (false) saves the fork, about a millisecond (docs/performance.md), for tests and benchmarks
    // that measure codegen itself or want a crash where it happens (the fuzzer). The environment
    // variable WEIR_CODEGEN_IN_PROCESS=1 turns isolation off everywhere (to debug LLVM in a debugger).
    bool isolate = true;
    // Address space the worker may map beyond what it inherits from the caller (RLIMIT_AS), in
    // bytes; 0: no limit. 2 GiB: the largest ClassBench set (fw1_51k) needs ~0.6 GiB.
    std::uint64_t memory_limit = std::uint64_t{2} << 30;
    // CPU time the worker may take, in milliseconds (rounded up to whole seconds); then it is
    // killed. Wall time is limited to 4 times this (at least 4 s), for a worker that waits
    // without using CPU. CPU time, so that a busy host does not fail a slow compile. 0: no limit.
    unsigned time_limit_ms = 60'000;
    // Test hook, isolated only: the worker fails this way instead of compiling. "fatal": an LLVM
    // fatal error; "abort": abort(); "memory": allocates until the memory limit stops it;
    // "hang": spins past the time limit; "stall": sleeps past it. Empty: off; the environment
    // variable WEIR_INJECT_CODEGEN_FAULT sets it for any caller (used by the CLI tests).
    std::string inject_fault;
};

// Why a codegen failed.
enum class CodegenFailure {
    None,         // success
    Error,        // codegen reported an error (an unresolved interface, a backend diagnostic, ...)
    LlvmFatal,    // LLVM stopped with a fatal error (e.g. a jump beyond BPF's 16-bit offsets)
    OutOfMemory,  // the worker reached its memory limit
    Timeout,      // the worker ran past its time limit and was killed
    Crash,        // the worker died of a signal or exited without a result
    Worker,       // the worker could not be started
};

struct CodegenResult {
    std::string error;               // empty on success
    std::vector<std::uint8_t> bytes; // IR or assembly text, or the ELF object
    CodegenFailure failure = CodegenFailure::None;
    bool ok() const { return error.empty(); }
};

CodegenResult codegen(const Plan& plan, const SourceManager& sources, EmitKind kind,
                      const CodegenOptions& opts = {});

// Shadow mode (weir_abi.h, "Shadow mode"): one program that enforces `plan` and also evaluates
// a candidate policy (another compilation) as weir_match_shadow, whose decisions are counted,
// never applied. The candidate's plan must use counter slots disjoint from `plan`'s; its `log`
// rules only count, and its rate limits keep buckets apart from the enforcing policy's.
struct ShadowInput {
    const Plan& plan;
    const SourceManager& sources;
};
CodegenResult codegen_shadow(const Plan& plan, const SourceManager& sources, const ShadowInput& candidate,
                             EmitKind kind, const CodegenOptions& opts = {});

}  // namespace weir
