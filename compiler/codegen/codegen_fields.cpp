// Conditions as control flow, field loads and the compare/test atoms. Field locations come from
// field_access.hpp only; the semantics are those of interp.cpp (compare(), matches()).
#include <llvm/IR/Constants.h>

#include "codegen_ctx.hpp"
#include "field_access.hpp"
#include "values.hpp"

namespace weir::cg {

void Ctx::fail(SourceRange r, const std::string& msg) {
    if (!error.empty()) return;
    if (r.valid() && r.file < sources.size()) {
        LineCol lc = sources.line_col(r.file, r.begin);
        error = sources.file(r.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": ";
    }
    error += msg;
}

llvm::Value* Ctx::member(std::uint32_t offset) {
    if (offset == 0) return pkt;
    return b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), pkt, offset);
}

// weir_pkt members are read with volatile loads, once per atom. This is what keeps the kernel
// verifier's work linear in the number of rules: without it the optimizer keeps `present`,
// masked fields and i1 results alive across rules (CSE, hoisting, branches folded into selects),
// each path then carries different known values in registers and spill slots, and the verifier
// cannot prune paths at rule boundaries (measured: 500 simple rules exceed the 1M-instruction
// limit; with volatile loads 1000 rules take 90k, of which ~37k are the parser). Volatile loads
// also keep the short-circuit branches, since they cannot be speculated into selects. A load
// from the stack costs one instruction.
llvm::Value* Ctx::load_member(std::uint32_t offset, unsigned bytes, const llvm::Twine& name) {
    return b.CreateAlignedLoad(i(8 * bytes), member(offset), llvm::Align(bytes), /*isVolatile=*/true, name);
}

void guard_present(Ctx& c, std::uint32_t mask, llvm::BasicBlock* absent) {
    if (mask == 0) return;
    llvm::Value* present = c.load_member(offsetof(weir_pkt, present), 4, "present");
    llvm::Value* has = c.b.CreateICmpNE(c.b.CreateAnd(present, mask), c.b.getInt32(0));
    llvm::BasicBlock* next = c.block("has");
    c.b.CreateCondBr(has, next, absent);
    c.enter(next);
}

Val load_field(Ctx& c, FieldId id) {
    const FieldAccess& a = field_access(id);
    if (a.size == 16) {
        Val v;
        v.hi = c.load_member(a.offset, 8, field(id).name);
        v.lo = c.load_member(a.offset + 8u, 8, field(id).name);
        return v;
    }
    llvm::Value* raw = c.load_member(a.offset, a.size, field(id).name);
    if (a.bit) raw = c.b.CreateICmpNE(c.b.CreateAnd(raw, a.bit), llvm::ConstantInt::get(raw->getType(), 0));
    else if (field(id).type == FieldType::Bool)
        raw = c.b.CreateICmpNE(raw, llvm::ConstantInt::get(raw->getType(), 0));
    return Val{c.b.CreateZExt(raw, c.i(64)), nullptr};
}

namespace {

llvm::Value* within64(Ctx& c, llvm::Value* v, std::uint64_t lo, std::uint64_t hi) {
    if (lo == hi) return c.b.CreateICmpEQ(v, c.c64(lo));
    if (lo == 0) return c.b.CreateICmpULE(v, c.c64(hi));
    return c.b.CreateICmpULE(c.b.CreateSub(v, c.c64(lo)), c.c64(hi - lo));
}

// v >= k (ge) or v <= k (!ge), unsigned, 64 or 128 bits.
llvm::Value* ordered(Ctx& c, Val v, u128 k, bool ge) {
    auto cmp = [&](llvm::Value* x, std::uint64_t y) {
        return ge ? c.b.CreateICmpUGE(x, c.c64(y)) : c.b.CreateICmpULE(x, c.c64(y));
    };
    if (!v.hi) return cmp(v.lo, lo64(k));
    llvm::Value* beyond = ge ? c.b.CreateICmpUGT(v.hi, c.c64(hi64(k))) : c.b.CreateICmpULT(v.hi, c.c64(hi64(k)));
    llvm::Value* same = c.b.CreateICmpEQ(v.hi, c.c64(hi64(k)));
    return c.b.CreateOr(beyond, c.b.CreateAnd(same, cmp(v.lo, lo64(k))));
}

void emit_compare(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f) {
    FieldId id = e.field;
    const FieldDef& def = field(id);
    if (def.type == FieldType::IpAny) {  // the checker resolves these; kept for hand-made programs
        const FieldAccess& a = field_access(id);
        id = e.value.family == Family::V4 ? a.v4 : e.value.family == Family::V6 ? a.v6 : FieldId::Count_;
        if (id == FieldId::Count_) {
            c.b.CreateBr(f);
            return;
        }
    }
    if (def.type == FieldType::Iface) {
        if (e.op != Cmp::Eq && e.op != Cmp::Ne) {
            c.fail(e.range, "pkt.iface compares only with == and !=");
            c.b.CreateBr(f);
            return;
        }
        std::uint32_t ifindex = ifindex_of(c, e.value);
        llvm::Value* is = within64(c, load_field(c, id).lo, ifindex, ifindex);
        c.b.CreateCondBr(is, e.op == Cmp::Eq ? t : f, e.op == Cmp::Eq ? f : t);
        return;
    }
    guard_present(c, field_access(id).present, f);
    Val v = load_field(c, id);
    llvm::Value* cond = nullptr;
    bool invert = false;
    switch (e.op) {
        case Cmp::Eq: cond = within(c, v, e.value.lo, e.value.hi); break;
        case Cmp::Ne: cond = within(c, v, e.value.lo, e.value.hi); invert = true; break;
        case Cmp::Lt: cond = ordered(c, v, e.value.lo, true); invert = true; break;
        case Cmp::Le: cond = ordered(c, v, e.value.lo, false); break;
        case Cmp::Gt: cond = ordered(c, v, e.value.lo, false); invert = true; break;
        case Cmp::Ge: cond = ordered(c, v, e.value.lo, true); break;
    }
    c.b.CreateCondBr(cond, invert ? f : t, invert ? t : f);
}

void emit_test(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f) {
    guard_present(c, field_access(e.field).present, f);
    Val v = load_field(c, e.field);
    llvm::Value* set = c.b.CreateICmpNE(v.lo, c.c64(0));
    if (v.hi) set = c.b.CreateOr(set, c.b.CreateICmpNE(v.hi, c.c64(0)));
    c.b.CreateCondBr(set, t, f);
}

}  // namespace

llvm::Value* within(Ctx& c, Val v, u128 lo, u128 hi) {
    if (!v.hi) {  // a 64-bit value: elements beyond 64 bits only occur in unchecked programs
        if (hi64(lo) != 0) return c.b.getFalse();
        return within64(c, v.lo, lo64(lo), hi64(hi) != 0 ? ~std::uint64_t{0} : lo64(hi));
    }
    if (hi64(lo) == hi64(hi))  // a /64 or longer prefix, or a range inside one /64
        return c.b.CreateAnd(c.b.CreateICmpEQ(v.hi, c.c64(hi64(lo))), within64(c, v.lo, lo64(lo), lo64(hi)));
    if (lo64(lo) == 0 && lo64(hi) == ~std::uint64_t{0})  // a prefix of at most 64 bits
        return within64(c, v.hi, hi64(lo), hi64(hi));
    return c.b.CreateAnd(ordered(c, v, lo, true), ordered(c, v, hi, false));
}

std::uint32_t ifindex_of(Ctx& c, const Element& e) {
    std::string name = iface_name(e);
    if (!c.opts.ifindex_of) {
        c.fail(e.range, "pkt.iface \"" + name +
                            "\" needs interface indexes, and none were given (CodegenOptions::ifindex_of)");
        return 0;
    }
    std::optional<std::uint32_t> index = c.opts.ifindex_of(name);
    if (!index) {
        c.fail(e.range, "pkt.iface: no interface named \"" + name + "\" on this host");
        return 0;
    }
    return *index;
}

void emit_cond(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f) {
    switch (e.kind) {
        case Expr::Kind::True: c.b.CreateBr(t); return;
        case Expr::Kind::And:
        case Expr::Kind::Or: {
            bool all = e.kind == Expr::Kind::And;
            if (e.kids.empty()) {
                c.b.CreateBr(all ? t : f);
                return;
            }
            for (std::size_t k = 0; k + 1 < e.kids.size(); ++k) {
                llvm::BasicBlock* next = c.block(all ? "and" : "or");
                emit_cond(c, e.kids[k], all ? next : t, all ? f : next);
                c.enter(next);
            }
            emit_cond(c, e.kids.back(), t, f);
            return;
        }
        case Expr::Kind::Not:
            if (e.kids.empty()) c.b.CreateBr(t);
            else emit_cond(c, e.kids.front(), f, t);
            return;
        case Expr::Kind::Compare: c.at(e.range); emit_compare(c, e, t, f); return;
        case Expr::Kind::Test: c.at(e.range); emit_test(c, e, t, f); return;
        case Expr::Kind::In: c.at(e.range); emit_in(c, e, t, f); return;
        case Expr::Kind::Payload: c.at(e.range); emit_payload(c, e, t, f); return;
        case Expr::Kind::Limit: c.at(e.range); emit_limit(c, e, t, f); return;
    }
    c.b.CreateBr(f);
}

}  // namespace weir::cg
