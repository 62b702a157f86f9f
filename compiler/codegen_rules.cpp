// The skeleton of weir_match (weir_abi.h): the planned rules in order; a matching `count` rule
// calls the template's weir_count(slot, pkt->len) and goes on, the first matching terminal rule
// returns weir_decision(slot, action) (slot: the rule's counter slot, PlannedRule::slot), and the policy default returns
// weir_decision(WEIR_RULE_DEFAULT, default action). A matching `log` rule calls
// weir_log(pkt, slot, pkt->len, sample, snap) and goes on. Each rule's code carries the rule's location.
#include <optional>

#include "codegen_ctx.hpp"
#include "field_access.hpp"
#include "weir_abi.h"

namespace weir::cg {

static_assert(kLogSnapMax == WEIR_LOG_SNAP_MAX, "the checker's snap bound is the ring record's");

namespace {

llvm::Value* decision(Ctx& c, std::uint32_t rule, std::uint32_t action) {
    return c.b.getInt32((rule << WEIR_DECISION_ACTION_BITS) | (action & WEIR_DECISION_ACTION_MASK));
}

// CodegenOptions::unverifiable_rule: one byte read far past the payload without a bounds
// check. Volatile, so the optimizer keeps it; the kernel verifier refuses the program.
void emit_unchecked_read(Ctx& c) {
    llvm::Value* poff = c.load_member(offsetof(weir_pkt, payload_off), 2);
    llvm::Value* at = c.b.CreateAdd(c.b.CreateZExt(poff, c.i(64)), c.c64(70000));
    llvm::Value* p = c.b.CreateGEP(c.b.getInt8Ty(), c.data, at, "unchecked");
    c.b.CreateAlignedLoad(c.i(8), p, llvm::Align(1), /*isVolatile=*/true);
}

// BPF jumps have 16-bit offsets: LLVM's BPF backend cannot emit a function whose branches
// reach further (measured: 1,200 straight-line ClassBench rules, ~64,000 instructions, compile;
// 1,400 abort in LLVM), and the verifier's own rewrites must fit the same range. So the code is
// estimated from the plan (per straight-line atom and rule, per classifier tree level and leaf
// entry, calibrated on those policies) and kept under a budget with room to spare.
constexpr std::size_t kCodeBudget = 48000;

std::size_t atoms(const Expr& e) {
    std::size_t n = e.kind == Expr::Kind::And || e.kind == Expr::Kind::Or || e.kind == Expr::Kind::Not ||
                            e.kind == Expr::Kind::True
                        ? 0
                        : 1;
    for (const auto& k : e.kids) n += atoms(k);
    return n;
}

// The first rule at which the estimated code passes the budget, with the estimate there.
std::optional<std::pair<const PlannedRule*, std::size_t>> over_budget(const Plan& plan) {
    std::size_t insns = 0;
    for (const PlannedRule& pr : plan.rules) {
        if (pr.group >= 0) {
            const ClsGroup& g = plan.groups.at(static_cast<std::size_t>(pr.group));
            if (&pr != &plan.rules.at(g.first)) continue;
            insns += 8 * g.dims.size();
            for (const ClsTree& t : g.trees) insns += 12 + 16 * t.depth + t.max_leaf * (8 + 6 * g.dims.size());
        } else {
            insns += 8 + 10 * (pr.src && pr.src->has_cond ? atoms(pr.src->cond) : 0);
        }
        if (insns > kCodeBudget) return std::make_pair(&pr, insns);
    }
    return std::nullopt;
}

}  // namespace

void emit_rules(Ctx& c) {
    if (auto over = over_budget(c.plan)) {
        const PlannedRule& pr = *over->first;
        c.fail(pr.src->range,
               "policy '" + c.plan.pol().name + "' is too large for one BPF program: its code reaches about " +
                   std::to_string(over->second) + " instructions at rule '" + pr.src->name + "' (limit about " +
                   std::to_string(kCodeBudget) +
                   ", set by BPF's 16-bit jump offsets). Rules that only compare header fields (no named sets, "
                   "payload, limits or interfaces) go into classifier trees whose size does not grow with the "
                   "rules: keep such rules together, or move long lists of values into sets");
        return;
    }
    c.b.SetInsertPoint(c.block("entry"));
    const Policy& pol = c.plan.pol();
    llvm::Function* count = c.mod.getFunction("weir_count");
    llvm::Function* log = c.mod.getFunction("weir_log");
    bool unverifiable_found = c.opts.unverifiable_rule.empty();

    for (const PlannedRule& pr : c.plan.rules) {
        if (pr.group >= 0) {  // a classifier group: emitted once, at its first rule
            const ClsGroup& g = c.plan.groups.at(static_cast<std::size_t>(pr.group));
            if (&pr == &c.plan.rules.at(g.first)) emit_classifier(c, g);
            continue;
        }
        const Rule& r = pr.src ? *pr.src : pol.rules.at(static_cast<std::size_t>(pr.rule));
        const std::uint32_t index = pr.slot;  // counter slot (plan.hpp): the rule index unless reassigned
        if (pr.rule < 0 || index >= WEIR_MAX_RULES) {
            c.fail(r.range, "internal: rule " + std::to_string(pr.rule) + " has counter slot " +
                                std::to_string(index) + ", out of range");
            continue;
        }
        c.at(r.range);
        if (r.name == c.opts.unverifiable_rule) {
            emit_unchecked_read(c);
            unverifiable_found = true;
        }
        std::string tag = "r" + std::to_string(index);
        llvm::BasicBlock* match = c.block((tag + ".match").c_str());
        llvm::BasicBlock* next = c.block((tag + ".next").c_str());
        emit_cond(c, r.cond, match, next);

        c.enter(match);
        c.at(r.range);
        if (pr.terminal) {
            c.b.CreateRet(decision(c, index, pr.action));
        } else if (r.action.kind == Action::Kind::Log) {
            if (!log || log->arg_size() != 5) {
                c.fail(r.range, "internal: the template lacks weir_log(pkt, rule, bytes, sample, snap)");
            } else {
                llvm::FunctionType* ft = log->getFunctionType();
                llvm::Value* len = c.b.CreateZExtOrTrunc(load_field(c, FieldId::PktLen).lo, ft->getParamType(2));
                c.b.CreateCall(log, {c.pkt, c.b.getInt32(index), len, c.b.getInt32(r.action.log_sample),
                                     c.b.getInt32(r.action.log_snap)});
            }
            c.b.CreateBr(next);
        } else if (!count || count->arg_size() != 2) {
            c.fail(r.range, "internal: the template lacks weir_count(rule, bytes)");
            c.b.CreateBr(next);
        } else {
            llvm::Value* len = load_field(c, FieldId::PktLen).lo;
            len = c.b.CreateZExtOrTrunc(len, count->getFunctionType()->getParamType(1));
            c.b.CreateCall(count, {c.b.getInt32(index), len});
            c.b.CreateBr(next);
        }
        c.enter(next);
    }
    c.at(pol.range);
    c.b.CreateRet(decision(c, WEIR_RULE_DEFAULT, c.plan.default_action));
    if (!unverifiable_found) c.fail(pol.range, "unverifiable_rule: no rule named '" + c.opts.unverifiable_rule + "'");
}

}  // namespace weir::cg
