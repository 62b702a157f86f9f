// `FIELD in S` / `FIELD not in S`: small inline sets as compare chains, the others (named sets,
// and inline sets the planner moved into tables) as calls to the template's weir_in_* lookup
// functions with the set's table id. Semantics as interp.cpp member(): false when the field's
// header is missing, also for `not in`; ip.src/ip.dst compare each element with the address of
// its own family, and `not in` needs the header of the families the set holds.
#include <optional>

#include "codegen_ctx.hpp"
#include "field_access.hpp"

namespace weir::cg {

namespace {

const char* lookup_function(TableKind k) {
    switch (k) {
        case TableKind::V4: return "weir_in_v4";
        case TableKind::V6: return "weir_in_v6";
        case TableKind::Port: return "weir_in_port";
        case TableKind::Proto: return "weir_in_proto";
        case TableKind::Mac: return "weir_in_mac";
    }
    return "";
}

// weir_in_KIND(table id, value) != 0, branching to `found` / `missing`.
void emit_lookup(Ctx& c, const Expr& e, int table, Val v, llvm::BasicBlock* found, llvm::BasicBlock* missing) {
    if (table < 0 || static_cast<std::size_t>(table) >= c.plan.tables.size()) {
        c.fail(e.range, "internal: the plan has no set table for this `in`");
        c.b.CreateBr(missing);
        return;
    }
    const SetTable& st = c.plan.tables[static_cast<std::size_t>(table)];
    llvm::Function* fn = c.mod.getFunction(lookup_function(st.kind));
    std::size_t values = st.kind == TableKind::V6 ? 2 : 1;
    if (!fn || fn->arg_size() != 1 + values) {
        c.fail(e.range, std::string("internal: the template lacks ") + lookup_function(st.kind));
        c.b.CreateBr(missing);
        return;
    }
    llvm::SmallVector<llvm::Value*, 3> args{c.b.getInt32(st.id)};
    if (values == 2) {
        if (!v.hi) {
            c.fail(e.range, "internal: an IPv6 table looked up with a narrower field");
            c.b.CreateBr(missing);
            return;
        }
        args.push_back(v.hi);
    }
    args.push_back(v.lo);
    for (std::size_t k = 1; k < args.size(); ++k)
        args[k] = c.b.CreateZExtOrTrunc(args[k], fn->getFunctionType()->getParamType(static_cast<unsigned>(k)));
    llvm::Value* hit = c.b.CreateCall(fn, args);
    c.b.CreateCondBr(c.b.CreateICmpNE(hit, llvm::ConstantInt::get(hit->getType(), 0)), found, missing);
}

// Compares v with each element (of `family`, if given) in turn: the first hit branches to `found`.
void emit_chain(Ctx& c, const std::vector<Element>& elems, std::optional<Family> family, Val v,
                llvm::BasicBlock* found, llvm::BasicBlock* missing) {
    for (const Element& el : elems) {
        if (family && el.family != *family) continue;
        llvm::BasicBlock* next = c.block("in.next");
        c.b.CreateCondBr(within(c, v, el.lo, el.hi), found, next);
        c.enter(next);
    }
    c.b.CreateBr(missing);
}

}  // namespace

void emit_in(Ctx& c, const Expr& e, llvm::BasicBlock* t, llvm::BasicBlock* f) {
    const Program& prog = *c.plan.program;
    const std::vector<Element>& elems = e.set >= 0 ? prog.sets.at(static_cast<std::size_t>(e.set)).elems : e.elems;
    auto lk = c.plan.lookups.find(&e);
    const InPlan* lookup = lk != c.plan.lookups.end() ? &lk->second : nullptr;
    const FieldDef& def = field(e.field);
    if (!lookup && e.set >= 0 && def.type != FieldType::Iface) {
        c.fail(e.range, "internal: the plan has no lookup for set '" + prog.sets[static_cast<std::size_t>(e.set)].name + "'");
        c.b.CreateBr(f);
        return;
    }
    llvm::BasicBlock* found = e.negated ? f : t;
    llvm::BasicBlock* missing = e.negated ? t : f;

    if (def.type == FieldType::Iface) {  // no table kind holds interface names: always inline
        llvm::Value* ifindex = load_field(c, e.field).lo;
        for (const Element& el : elems) {
            std::uint32_t index = ifindex_of(c, el);
            llvm::BasicBlock* next = c.block("in.next");
            c.b.CreateCondBr(c.b.CreateICmpEQ(ifindex, c.c64(index)), found, next);
            c.enter(next);
        }
        c.b.CreateBr(missing);
        return;
    }

    if (def.type == FieldType::IpAny) {
        const FieldAccess& a = field_access(e.field);
        bool v4 = false, v6 = false;
        for (const Element& el : elems) {
            v4 = v4 || el.family == Family::V4;
            v6 = v6 || el.family == Family::V6;
        }
        if (e.negated)
            guard_present(c, v4 && !v6 ? WEIR_H_IP4 : v6 && !v4 ? WEIR_H_IP6 : WEIR_H_IP, f);
        for (Family fam : {Family::V4, Family::V6}) {
            FieldId id = fam == Family::V4 ? a.v4 : a.v6;
            int table = lookup ? (fam == Family::V4 ? lookup->v4_table : lookup->v6_table) : -1;
            if (lookup ? table < 0 : !(fam == Family::V4 ? v4 : v6)) continue;
            llvm::BasicBlock* other = c.block("in.family");
            guard_present(c, field_access(id).present, other);
            Val v = load_field(c, id);
            if (lookup) emit_lookup(c, e, table, v, found, other);
            else emit_chain(c, elems, fam, v, found, other);
            c.enter(other);
        }
        c.b.CreateBr(missing);
        return;
    }

    guard_present(c, field_access(e.field).present, f);
    Val v = load_field(c, e.field);
    if (lookup) {
        int table = lookup->table;
        if (table < 0) table = def.type == FieldType::Ip6 ? lookup->v6_table : lookup->v4_table;
        emit_lookup(c, e, table, v, found, missing);
        return;
    }
    emit_chain(c, elems, std::nullopt, v, found, missing);  // as member(): every element, any family
}

}  // namespace weir::cg
