// `over RATE ...`: builds the limit's key (struct weir_limit_key, weir_abi.h) in one stack slot
// and calls the template's weir_limit_over(key, inc, tau), which holds the bucket arithmetic and
// the compare-and-swap. The same key layout and arithmetic as limits.cpp limit_over() (the
// interpreter): id, tag (bit i: key field i is an IPv6 address), then each field's words, IPv6
// high word first, unused words zero. A key field whose header is missing makes the atom false.
#include <cstddef>

#include "codegen_ctx.hpp"
#include "field_access.hpp"
#include "limits.hpp"
#include "weir_abi.h"

namespace weir::cg {

void emit_limit(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f) {
    const LimitSpec& l = *e.limit;
    llvm::Function* fn = c.mod.getFunction("weir_limit_over");
    if (!fn || fn->arg_size() != 3) {
        c.fail(e.range, "internal: the template lacks weir_limit_over(key, inc, tau)");
        c.b.CreateBr(f);
        return;
    }
    // One key slot per atom, in the entry block (static stack allocation).
    llvm::BasicBlock& entry = c.fn->getEntryBlock();
    llvm::IRBuilder<> eb(&entry, entry.getFirstInsertionPt());
    llvm::AllocaInst* key = eb.CreateAlloca(llvm::ArrayType::get(c.i(64), sizeof(weir_limit_key) / 8), nullptr, "limit.key");
    key->setAlignment(llvm::Align(8));

    auto at = [&](std::size_t offset) { return c.b.CreateConstInBoundsGEP1_64(c.b.getInt8Ty(), key, offset); };
    auto store64 = [&](std::size_t word, llvm::Value* v) {
        c.b.CreateAlignedStore(v, at(offsetof(weir_limit_key, w) + 8 * word), llvm::Align(8));
    };
    c.b.CreateAlignedStore(c.b.getInt32(c.shadow ? l.id | WEIR_SHADOW_LIMIT_TAG : l.id), at(offsetof(weir_limit_key, limit)), llvm::Align(4));
    c.b.CreateAlignedStore(c.b.getInt32(0), at(offsetof(weir_limit_key, tag)), llvm::Align(4));
    for (unsigned w = 0; w < WEIR_LIMIT_KEY_WORDS; ++w) store64(w, c.c64(0));

    std::size_t word = 0;
    for (std::size_t i = 0; i < l.key.size(); ++i) {
        FieldId id = l.key[i];
        const FieldAccess& a = field_access(id);
        if (field(id).type == FieldType::IpAny) {
            // IPv4 if present, else IPv6 (tagged), else the atom is false.
            llvm::BasicBlock* v4 = c.block("key.v4");
            llvm::BasicBlock* not4 = c.block("key.not4");
            llvm::BasicBlock* v6 = c.block("key.v6");
            llvm::BasicBlock* join = c.block("key.done");
            llvm::Value* present = c.load_member(offsetof(weir_pkt, present), 4, "present");
            c.b.CreateCondBr(c.b.CreateICmpNE(c.b.CreateAnd(present, WEIR_H_IP4), c.b.getInt32(0)), v4, not4);
            c.enter(v4);
            store64(word, load_field(c, a.v4).lo);
            c.b.CreateBr(join);
            c.enter(not4);
            guard_present(c, WEIR_H_IP6, f);
            c.b.CreateBr(v6);
            c.enter(v6);
            Val v = load_field(c, a.v6);
            store64(word, v.hi);
            store64(word + 1, v.lo);
            c.b.CreateAlignedStore(c.b.getInt32(1u << i), at(offsetof(weir_limit_key, tag)), llvm::Align(4));
            c.b.CreateBr(join);
            c.enter(join);
            word += 2;
            continue;
        }
        guard_present(c, a.present, f);
        Val v = load_field(c, id);
        if (v.hi) {
            store64(word, v.hi);
            store64(word + 1, v.lo);
        } else {
            store64(word, v.lo);
        }
        word += limit_key_words(id);
    }
    if (word > WEIR_LIMIT_KEY_WORDS) {
        c.fail(e.range, "internal: limit key wider than weir_limit_key");
        c.b.CreateBr(f);
        return;
    }

    llvm::Value* inc = c.c64(l.interval);
    if (l.bytes) {
        llvm::Value* len = load_field(c, FieldId::PktLen).lo;
        llvm::Value* capped = c.b.CreateSelect(c.b.CreateICmpUGT(len, c.c64(65535)), c.c64(65535), len);
        inc = c.b.CreateMul(capped, c.c64(l.interval));
    }
    llvm::FunctionType* ft = fn->getFunctionType();
    llvm::Value* over = c.b.CreateCall(fn, {key, c.b.CreateZExtOrTrunc(inc, ft->getParamType(1)),
                                            c.b.CreateZExtOrTrunc(c.c64(l.tau), ft->getParamType(2))});
    c.b.CreateCondBr(c.b.CreateICmpNE(over, llvm::ConstantInt::get(over->getType(), 0)), t, f);
}

}  // namespace weir::cg
