// The skeleton of weir_match (weir_abi.h): the planned rules in order; a matching `count` rule
// calls the template's weir_count(slot, pkt->len) and goes on, the first matching terminal rule
// returns weir_decision(slot, action) (slot: the rule's counter slot, PlannedRule::slot), and the policy default returns
// weir_decision(WEIR_RULE_DEFAULT, default action). A matching `log` rule calls
// weir_log(pkt, slot, pkt->len, sample, snap) and goes on. Each rule's code carries the rule's location.
//
// A policy whose code does not fit one BPF function (see the budgets below) is split into
// pieces: runs of consecutive rules, each a global noinline function weir_match_N(pkt, ctx) that
// returns a decision or kNoDecision; weir_match calls them in order and returns the first
// decision, else the default. A policy that fits keeps everything in weir_match (no call: a
// BPF-to-BPF call and its return cost ~7 ns per packet).
//
// Global, not static: the verifier walks a static function as part of its caller, and on its
// first path through straight-line rules it keeps one pending state per branch it passes (the
// other side of each compare), for every rule of every piece on that path; past 8,192
// (BPF_COMPLEXITY_LIMIT_JMP_SEQ) it refuses the program ("The sequence of 8193 jumps is too
// complex", measured at ~1,090 ClassBench acl rules split into static functions). A global
// function is verified once, on its own, from its BTF prototype: `pkt` is then memory of
// sizeof(struct weir_pkt) that may be null, and packet pointers cannot be passed, so a piece
// reads data/data_end from the context (weir_abi.h).
#include <linux/bpf.h>

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

// What a piece returns when none of its rules decided: rule WEIR_RULE_DEFAULT with action 0xff,
// which no rule, classifier entry or default ever returns (actions are WEIR_ACT_*).
constexpr std::uint32_t kNoDecision = 0xffffffffu;
static_assert((WEIR_RULE_DEFAULT << WEIR_DECISION_ACTION_BITS | WEIR_DECISION_ACTION_MASK) == kNoDecision);

// CodegenOptions::unverifiable_rule: one byte read far past the payload without a bounds
// check. Volatile, so the optimizer keeps it; the kernel verifier refuses the program.
void emit_unchecked_read(Ctx& c) {
    llvm::Value* poff = c.load_member(offsetof(weir_pkt, payload_off), 2);
    llvm::Value* at = c.b.CreateAdd(c.b.CreateZExt(poff, c.i(64)), c.c64(70000));
    llvm::Value* p = c.b.CreateGEP(c.b.getInt8Ty(), c.data, at, "unchecked");
    c.b.CreateAlignedLoad(c.i(8), p, llvm::Align(1), /*isVolatile=*/true);
}

// BPF jumps have 16-bit offsets: LLVM's BPF backend cannot emit a function whose branches
// reach further (1,200 straight-line ClassBench rules compile in one function, 1,400 abort in
// LLVM), and the verifier's own rewrites must fit the same range. So the code is estimated from
// the plan (per straight-line atom and rule, per classifier tree level and leaf entry) and each
// function is kept under a budget with room to spare. Calibration, ClassBench acl1_10k's first N
// filters, --plan linear (estimate 48 per rule; xlated / verified: the kernel's counts of the
// whole program):
//     1,000 rules   1 function    48,000 est.   21,802 xlated    71,099 verified
//     1,500         2 functions   72,000        32,376           92,227
//     5,000         6            240,000       109,363          266,939
//     9,761        10            468,528       198,325          463,638
//    16,150        18            775,200       371,521          843,086   (generated acl)
// fw1_10k (9,416 rules, 9 functions): 174,806 xlated, 420,332 verified.
constexpr std::size_t kCodeBudget = 48000;
// The pending states of one function's verification (see above): estimated as the conditional
// branches of its code, which is what the first path passes (measured: 1,000 acl rules, 8,000
// estimated, verify in one function; ~1,090 reach the verifier's 8,192).
constexpr std::size_t kBranchBudget = 8000;
// The whole program: the verifier refuses programs over 1,000,000 instructions
// (BPF_COMPLEXITY_LIMIT_INSNS), of program length and of instructions it processes; the second
// binds (0.99-1.09 verified per estimated instruction above: the budget keeps ~13% spare).
constexpr std::size_t kTotalBudget = 800000;
// The BPF stack is 512 bytes for the whole call chain, each frame rounded up to 32 bytes. A piece
// runs on top of weir_xdp's frame (measured 80 bytes when weir_match calls pieces), so its own
// frame is kept under this; the helpers' keys (lifetime-marked, one slot) add ~16-24 bytes.
constexpr std::size_t kStackBudget = 384;

std::size_t atoms(const Expr& e) {
    std::size_t n = e.kind == Expr::Kind::And || e.kind == Expr::Kind::Or || e.kind == Expr::Kind::Not ||
                            e.kind == Expr::Kind::True
                        ? 0
                        : 1;
    for (const auto& k : e.kids) n += atoms(k);
    return n;
}

// Conditional branches: a header-presence check and a compare per atom, two compares for a range,
// one per element of an inline set, a few for lookups, payload and limits.
std::size_t branches(const Expr& e) {
    std::size_t n = 0;
    switch (e.kind) {
        case Expr::Kind::True: case Expr::Kind::And: case Expr::Kind::Or: case Expr::Kind::Not: break;
        case Expr::Kind::Compare: n = e.value.lo != e.value.hi && e.value.prefix < 0 ? 3 : 2; break;
        case Expr::Kind::In: n = e.set < 0 ? 1 + e.elems.size() : 4; break;
        case Expr::Kind::Test: n = 2; break;
        case Expr::Kind::Payload: case Expr::Kind::Limit: n = 5; break;
    }
    for (const auto& k : e.kids) n += branches(k);
    return n;
}

// Stack slots that live through the whole function: one rate-limit key per `over` atom
// (codegen_limit.cpp; the helpers' own keys have lifetime markers and share one slot).
std::size_t stack_of(const Expr& e) {
    std::size_t n = e.kind == Expr::Kind::Limit ? sizeof(weir_limit_key) : 0;
    for (const auto& k : e.kids) n += stack_of(k);
    return n;
}

// The estimated code and stack of one planned rule: a classifier group counts at its first rule,
// its other rules count nothing (the group is emitted at its first rule, so it is never split).
struct Cost {
    std::size_t insns = 0, stack = 0, branches = 0;
};
Cost cost_of(const Plan& plan, const PlannedRule& pr) {
    Cost k;
    if (pr.group >= 0) {
        const ClsGroup& g = plan.groups.at(static_cast<std::size_t>(pr.group));
        if (&pr != &plan.rules.at(g.first)) return k;
        k.insns += 8 * g.dims.size();
        for (const ClsTree& t : g.trees) k.insns += 12 + 16 * t.depth + t.max_leaf * (8 + 6 * g.dims.size());
        k.stack = 8 * g.dims.size() + 8;  // the dimension values, best and best_ref
        k.branches = k.insns / 3;
    } else if (pr.src && pr.src->has_cond) {
        k.insns = 8 + 10 * atoms(pr.src->cond);
        k.stack = stack_of(pr.src->cond);
        k.branches = branches(pr.src->cond);
    } else {
        k.insns = 8;
    }
    return k;
}

// A run of plan.rules [begin, end) emitted into one function.
struct Piece {
    std::size_t begin = 0, end = 0;
    Cost cost;
    bool fits(const Cost& k) const {
        return cost.insns + k.insns <= kCodeBudget && cost.stack + k.stack <= kStackBudget &&
               cost.branches + k.branches <= kBranchBudget;
    }
    void add(const Cost& k) {
        cost.insns += k.insns;
        cost.stack += k.stack;
        cost.branches += k.branches;
    }
};

// Cuts the plan into pieces, each under the code, branch and stack budgets; a single piece when
// the whole policy fits. An error (located at its rule) when one rule or group alone is over a
// function's budget or the whole program is over kTotalBudget.
std::vector<Piece> cut(Ctx& c) {
    const Plan& plan = c.plan;
    std::vector<Cost> costs;
    costs.reserve(plan.rules.size());
    Piece all{0, plan.rules.size(), {}};
    bool one = true;
    for (const PlannedRule& pr : plan.rules) {
        costs.push_back(cost_of(plan, pr));
        one = one && all.fits(costs.back());
        all.add(costs.back());
    }
    if (one) return {all};

    const std::string fix =
        "Rules that only compare header fields (no named sets, payload, limits or interfaces) go into "
        "classifier trees whose size does not grow with the rules: keep such rules together, or move long "
        "lists of values into sets";
    std::vector<Piece> pieces{Piece{}};
    std::size_t total = 0;
    for (std::size_t i = 0; i < plan.rules.size(); ++i) {
        const PlannedRule& pr = plan.rules[i];
        const Cost& k = costs[i];
        const SourceRange at = pr.src ? pr.src->range : plan.pol().range;
        const std::string name = pr.src ? pr.src->name : std::to_string(pr.rule);
        const bool group = pr.group >= 0;
        if (k.insns > kCodeBudget || k.branches > kBranchBudget) {
            c.fail(at, std::string(group ? "the classifier group starting at rule '" : "rule '") + name +
                           "' needs about " + std::to_string(k.insns) + " instructions and " +
                           std::to_string(k.branches) + " branches, more than one BPF function holds (about " +
                           std::to_string(kCodeBudget) + " instructions, set by BPF's 16-bit jump offsets, and " +
                           std::to_string(kBranchBudget) + " branches, set by the kernel verifier)" +
                           (group ? " (its trees' leaves are unrolled as code)"
                                  : "; split its condition into several rules, or move long lists of values into sets"));
            return {};
        }
        if (k.stack > kStackBudget) {
            c.fail(at, "rule '" + name + "' needs about " + std::to_string(k.stack) +
                           " bytes of BPF stack (each `over` keeps a " + std::to_string(sizeof(weir_limit_key)) +
                           "-byte key), more than a BPF function has (about " + std::to_string(kStackBudget) +
                           " of 512 bytes); split its condition into several rules");
            return {};
        }
        total += k.insns;
        if (total > kTotalBudget) {
            c.fail(at, "policy '" + plan.pol().name +
                           "' is too large for one BPF program: its code reaches about " + std::to_string(total) +
                           " instructions at rule '" + name + "' (limit about " + std::to_string(kTotalBudget) +
                           ", set by the kernel verifier's limit of 1,000,000 instructions per program). " + fix);
            return {};
        }
        if (!pieces.back().fits(k)) {
            pieces.back().end = i;
            pieces.push_back(Piece{i, i, {}});
        }
        pieces.back().add(k);
    }
    pieces.back().end = plan.rules.size();
    return pieces;
}

// Emits plan.rules [p.begin, p.end) into c.fn at the insertion point; the end of the run returns
// `fallthrough`.
void emit_piece(Ctx& c, const Piece& p, llvm::Value* fallthrough, bool& unverifiable_found) {
    const Policy& pol = c.plan.pol();
    llvm::Function* count = c.mod.getFunction("weir_count");
    llvm::Function* log = c.mod.getFunction("weir_log");

    for (std::size_t i = p.begin; i < p.end; ++i) {
        const PlannedRule& pr = c.plan.rules[i];
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
        } else if (r.action.kind == Action::Kind::Log && !c.shadow) {  // a candidate never logs
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
    c.b.CreateRet(fallthrough);
}

// The line of `r` for a DISubprogram (in the policy's file, which is the compile unit's).
std::uint32_t line_of(Ctx& c, SourceRange r) {
    return r.valid() && r.file < c.sources.size() ? c.sources.line_col(r.file, r.begin).line : 0;
}

}  // namespace

void emit_rules(Ctx& c) {
    std::vector<Piece> pieces = cut(c);
    if (pieces.empty()) return;
    const Policy& pol = c.plan.pol();
    bool unverifiable_found = c.opts.unverifiable_rule.empty();
    llvm::Value* by_default = decision(c, WEIR_RULE_DEFAULT, c.plan.default_action);
    if (pieces.size() == 1) {
        c.b.SetInsertPoint(c.block("entry"));
        emit_piece(c, pieces.front(), by_default, unverifiable_found);
    } else {
        llvm::Function* match = c.fn;
        llvm::Value *pkt = c.pkt, *data = c.data, *data_end = c.data_end, *xdp = c.xdp;
        llvm::Type* ptr = c.pkt->getType();
        auto* type = llvm::FunctionType::get(c.i(32), {ptr, ptr}, false);
        std::vector<llvm::Function*> fns;
        for (std::size_t i = 0; i < pieces.size(); ++i) {
            // BTF function names must be C identifiers: no '.'.
            llvm::Function* fn = llvm::Function::Create(type, llvm::GlobalValue::ExternalLinkage,
                                                        (c.shadow ? "weir_match_shadow_" : "weir_match_") + std::to_string(i + 1),
                                                        c.mod);
            fn->addFnAttr(llvm::Attribute::NoInline);
            fn->addFnAttr(llvm::Attribute::NoUnwind);
            c.dbg->attach_piece(*fn, line_of(c, pol.range), sizeof(weir_pkt));
            c.fn = fn;
            c.pkt = fn->getArg(0);
            c.xdp = fn->getArg(1);
            c.pkt->setName("pkt");
            c.xdp->setName("ctx");
            c.b.SetInsertPoint(c.block("entry"));
            c.at(pol.range);
            // The verifier makes a global function check its pointer arguments for null.
            llvm::BasicBlock* body = c.block("body");
            llvm::BasicBlock* none = c.block("null");
            c.b.CreateCondBr(c.b.CreateIsNull(c.pkt), none, body);
            c.enter(none);
            c.b.CreateRet(c.b.getInt32(kNoDecision));
            c.enter(body);
            // data and data_end as weir_xdp reads them (struct xdp_md: data, data_end, u32 each).
            auto frame_ptr = [&](std::size_t offset, const char* name) {
                llvm::Value* at = c.b.CreateConstInBoundsGEP1_64(c.b.getInt8Ty(), c.xdp, offset);
                llvm::Value* v = c.b.CreateAlignedLoad(c.i(32), at, llvm::Align(4), name);
                return c.b.CreateIntToPtr(c.b.CreateZExt(v, c.i(64)), ptr, name);
            };
            c.data = frame_ptr(offsetof(xdp_md, data), "data");
            c.data_end = frame_ptr(offsetof(xdp_md, data_end), "data_end");
            emit_piece(c, pieces[i], c.b.getInt32(kNoDecision), unverifiable_found);
            fns.push_back(fn);
        }
        // weir_match: each piece in order, the first decision wins.
        c.fn = match;
        c.pkt = pkt, c.data = data, c.data_end = data_end, c.xdp = xdp;
        c.dbg->enter(*match);
        c.b.SetInsertPoint(c.block("entry"));
        for (std::size_t i = 0; i < fns.size(); ++i) {
            const PlannedRule& first = c.plan.rules.at(pieces[i].begin);
            c.at(first.src ? first.src->range : pol.range);
            llvm::Value* d = c.b.CreateCall(fns[i], {c.pkt, c.xdp}, "d");
            llvm::BasicBlock* decided = c.block("decided");
            llvm::BasicBlock* next = c.block("next");
            c.b.CreateCondBr(c.b.CreateICmpNE(d, c.b.getInt32(kNoDecision)), decided, next);
            c.enter(decided);
            c.b.CreateRet(d);
            c.enter(next);
        }
        c.at(pol.range);
        c.b.CreateRet(by_default);
    }
    if (!unverifiable_found) c.fail(pol.range, "unverifiable_rule: no rule named '" + c.opts.unverifiable_rule + "'");
}

}  // namespace weir::cg
