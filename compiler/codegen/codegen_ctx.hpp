// Codegen internals shared by the codegen_*.cpp files (never included outside compiler/codegen*):
// the state of one weir_match being generated, and the function each concern file exposes.
// weir_match is one function, or, when its code is over one BPF function's budgets, a caller of
// pieces weir_match_1..N (codegen_rules.cpp: global functions (pkt, ctx), each verified on its
// own): Ctx::fn, pkt, data and data_end are then the piece being generated and its values (data
// and data_end read from the context), and code that puts slots into "the function's entry
// block" puts them into the piece's (its frame counts on top of weir_xdp's in the 512-byte stack).
//
//   codegen.cpp            the driver: codegen() runs the steps below in order
//   codegen_emit.cpp       template bitcode in; linkage, verify, optimize, BPF object/asm/IR out
//   codegen_debuginfo.cpp  DWARF/BTF: compile unit, files with embedded policy text, locations
//   codegen_rules.cpp      the program skeleton: rules in order, count hooks, decisions, default;
//                          code, stack and total budgets, the split into pieces
//   codegen_fields.cpp     conditions: and/or/not as branches, field loads, compare and test atoms
//   codegen_sets.cpp       `in` / `not in`: inline compare chains and set-table lookups
//   codegen_payload.cpp    payload[OFF:LEN] == / != BYTES, bounds-checked for the verifier
//   codegen_limit.cpp      `over`: rate-limit key on the stack, weir_limit_over (xdp.c)
//   codegen_cls.cpp        classifier groups: dimension values, tree walk, leaf boxes
//
// Conditions are emitted as control flow: emit_cond(e, T, F) ends the current block with
// branches to T when `e` holds and to F when it does not, so `not` swaps the targets and a
// missing header branches straight to the atom's F (which makes `not ATOM` true, exactly as in
// the interpreter).
#pragma once
#include <llvm/IR/DIBuilder.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "codegen.hpp"
#include "plan.hpp"
#include "source.hpp"

namespace weir::cg {

// Debug info of the generated function (codegen_debuginfo.cpp).
class Debug {
public:
    // `code`: the source ranges code is generated for (rules and groups). Only their lines are
    // embedded in the debug info (the others are left empty, so line numbers hold): the BPF
    // backend copies every line of an embedded file into its BTF writer, ~22 MiB for a
    // 100,000-rule file whose rules are almost all in classifier maps, not code.
    Debug(llvm::Module& m, const SourceManager& sources, FileId main_file, const std::vector<SourceRange>& code);
    // A DISubprogram for `fn` (weir_match or one of its pieces), attached to it; the locations
    // made next are in it.
    void attach(llvm::Function& fn, std::uint32_t line);
    // The same for a piece of a split weir_match: a global function __u32 (struct weir_pkt *,
    // struct xdp_md *), with its parameters typed and named for BTF (codegen_rules.cpp).
    void attach_piece(llvm::Function& fn, std::uint32_t line, std::uint64_t pkt_bytes);
    // The locations made next are in `fn`'s DISubprogram (attached before).
    void enter(llvm::Function& fn);
    // The location of the first byte of `r` inside the current function (line 0 if `r` is invalid).
    llvm::DebugLoc at(SourceRange r);
    void finalize() { dib_.finalize(); }

private:
    llvm::DIFile* file(FileId id);
    // The template's struct `name` (its debug info), else one of `bytes` without members.
    llvm::DIType* struct_type(const char* name, std::uint64_t bytes);
    llvm::DIBuilder dib_;
    llvm::Module& mod_;
    bool types_scanned_ = false;
    std::map<std::string, llvm::DIType*> template_structs_;
    const SourceManager& sources_;
    std::map<FileId, llvm::DIFile*> files_;
    std::map<std::pair<llvm::DISubprogram*, FileId>, llvm::DIScope*> scopes_;  // lexical block files per function
    std::map<FileId, std::vector<std::pair<std::uint32_t, std::uint32_t>>> code_lines_;  // [first, last], sorted
    llvm::DICompileUnit* cu_ = nullptr;
    llvm::DISubprogram* sp_ = nullptr;
};

// A field value as the generated code holds it: one i64, or two for 128-bit addresses.
struct Val {
    llvm::Value* lo = nullptr;  // the value, or the low 64 bits of an IPv6 address
    llvm::Value* hi = nullptr;  // the high 64 bits of an IPv6 address, else nullptr
};

struct Ctx {
    Ctx(const Plan& p, const SourceManager& s, const CodegenOptions& o, llvm::Module& m)
        : plan(p), sources(s), opts(o), mod(m), llctx(m.getContext()), b(m.getContext()) {}

    const Plan& plan;
    const SourceManager& sources;
    const CodegenOptions& opts;
    llvm::Module& mod;
    llvm::LLVMContext& llctx;
    llvm::IRBuilder<> b;
    std::unique_ptr<Debug> dbg;
    llvm::Function* fn = nullptr;  // weir_match, or the piece of it being generated
    llvm::Value* pkt = nullptr;
    llvm::Value* data = nullptr;
    llvm::Value* data_end = nullptr;
    llvm::Value* xdp = nullptr;  // struct xdp_md *: weir_match passes it to its pieces
    std::string error;  // the first error ("file:line:col: message"); generation goes on
    // The candidate of a shadow program (weir_match_shadow): `log` rules only count, limit ids
    // carry WEIR_SHADOW_LIMIT_TAG, pieces are named weir_match_shadow_N.
    bool shadow = false;

    llvm::BasicBlock* block(const char* name) { return llvm::BasicBlock::Create(llctx, name, fn); }
    // Continues code generation in `bb`, moved last so the IR reads in evaluation order.
    void enter(llvm::BasicBlock* bb) {
        bb->moveAfter(&fn->back());
        b.SetInsertPoint(bb);
    }
    llvm::IntegerType* i(unsigned bits) { return llvm::IntegerType::get(llctx, bits); }
    llvm::ConstantInt* c64(std::uint64_t v) { return b.getInt64(v); }
    // Records an error at `r` (only the first is kept).
    void fail(SourceRange r, const std::string& msg);
    // Sets the debug location of the instructions created next.
    void at(SourceRange r) { b.SetCurrentDebugLocation(dbg->at(r)); }
    // The address of the weir_pkt member at `offset`.
    llvm::Value* member(std::uint32_t offset);
    // Loads the `bytes`-wide weir_pkt member at `offset` (see codegen_fields.cpp on volatile).
    llvm::Value* load_member(std::uint32_t offset, unsigned bytes, const llvm::Twine& name = "");
};

// codegen_fields.cpp
void emit_cond(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f);
// Continues in a new block when (pkt->present & mask) != 0, branches to `absent` otherwise.
// mask == 0 (always present) emits nothing.
void guard_present(Ctx& c, std::uint32_t mask, llvm::BasicBlock* absent);
// Loads a field (not IpAny) normalized as field_value() gives it: flags 0/1, IPv6 as hi/lo.
// The caller guards its presence.
Val load_field(Ctx& c, FieldId id);
// v within [lo, hi] (i1).
llvm::Value* within(Ctx& c, Val v, u128 lo, u128 hi);
// The ifindex an `pkt.iface` element names (errors through c.fail when unresolvable).
std::uint32_t ifindex_of(Ctx& c, const Element& e);

// codegen_sets.cpp
void emit_in(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f);

// codegen_payload.cpp
void emit_payload(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f);

// codegen_limit.cpp: `over ...`, a call to the template's weir_limit_over with the key built on
// the stack; false when a key field's header is missing.
void emit_limit(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f);

// codegen_cls.cpp: a classifier group's lookup; continues in a new block when no rule of the
// group matches (a match returns the decision).
void emit_classifier(Ctx& c, const ClsGroup& g);

// codegen_rules.cpp: defines the body of weir_match (c.fn, arguments set up, its DISubprogram
// attached), and of the pieces it calls when it is split.
void emit_rules(Ctx& c);

// codegen.cpp: defines `fn` (weir_match, or weir_match_shadow when `shadow`) from `plan`.
bool emit_match(llvm::Module& m, llvm::Function* fn, const Plan& plan, const SourceManager& sources,
                const CodegenOptions& opts, bool shadow, std::string& error);

// codegen_emit.cpp: the template bitcode, its shadow variant when `shadow`.
std::unique_ptr<llvm::Module> load_template(llvm::LLVMContext& ctx, std::string& error, bool shadow = false);
// weir_match and the template's always-inline helpers become internal, weir_match always-inline
// (its pieces stay global and noinline).
void internalize_helpers(llvm::Module& m);
bool verify(llvm::Module& m, std::string& error);
// Optimizes with the new pass manager (O0..O3) and emits `kind` into `out`.
bool optimize_and_emit(llvm::Module& m, EmitKind kind, const CodegenOptions& opts,
                       std::vector<std::uint8_t>& out, std::string& error);

}  // namespace weir::cg
