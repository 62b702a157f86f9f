// A classifier group (classifier.hpp) as code: the packet's dimension values; per tree (skipped
// when a rule before all of its rules was found) the walk unrolled to the tree's depth (one
// weir_cls_node read per level, cutting the dimension the node names), then the leaf's boxes in
// order, unrolled to the tree's largest leaf, up to the first that holds the packet or belongs
// to a rule after the best one found so far. The best rule's decision (filled in by the loader)
// is returned; no box means the rules after the group decide.
#include <llvm/IR/Constants.h>

#include "codegen_ctx.hpp"
#include "field_access.hpp"
#include "weir_abi.h"

namespace weir::cg {

namespace {

llvm::Function* helper(Ctx& c, const char* name, unsigned args, const Rule& at) {
    llvm::Function* fn = c.mod.getFunction(name);
    if (!fn || fn->arg_size() != args) {
        c.fail(at.range, std::string("internal: the template lacks ") + name);
        return nullptr;
    }
    return fn;
}

// (v >> shift) & 0xff, from a node descriptor.
llvm::Value* byte_at(Ctx& c, llvm::Value* desc, unsigned shift) {
    return c.b.CreateAnd(c.b.CreateLShr(desc, c.c64(shift)), c.c64(0xff));
}

// One classifier group's code: the template helpers it calls and its volatile stack slots (the
// dimension values, the best rule found so far and its leaf entry).
struct ClsCode {
    Ctx& c;
    const ClsGroup& g;
    llvm::Function* node = nullptr;
    llvm::Function* entry_fn = nullptr;
    llvm::Function* decision = nullptr;
    llvm::AllocaInst* slots = nullptr;
    llvm::AllocaInst* best = nullptr;      // the best rule's order; ~0: none
    llvm::AllocaInst* best_ref = nullptr;  // its leaf entry

    llvm::Type* i32() const { return c.i(32); }
    llvm::Type* i64() const { return c.i(64); }
    llvm::Value* slot(std::size_t d) {
        return c.b.CreateConstInBoundsGEP2_64(slots->getAllocatedType(), slots, 0, d);
    }
    llvm::Value* dim(std::size_t d) { return c.b.CreateAlignedLoad(i64(), slot(d), llvm::Align(8), true, "dim"); }
    llvm::Value* load_best() { return c.b.CreateAlignedLoad(i32(), best, llvm::Align(4), true, "best"); }

    // The dimension values, kept in a stack array and read back with volatile loads (see
    // load_member in codegen_fields.cpp: registers stay fresh for the verifier).
    void store_dims() {
        for (std::size_t d = 0; d < g.dims.size(); ++d) {
            const ClsDim& dm = g.dims[d];
            llvm::Value* v = c.c64(dm.absent);
            for (int i = dm.variants - 1; i >= 0; --i) {
                std::uint32_t mask = field_access(dm.vfield[i]).present;
                llvm::Value* val = dm.collapsed[i]
                                       ? static_cast<llvm::Value*>(c.c64(dm.offset[i]))
                                       : c.b.CreateAdd(load_field(c, dm.vfield[i]).lo, c.c64(dm.offset[i]));
                if (mask == 0) {
                    v = val;
                    continue;
                }
                llvm::Value* present = c.load_member(offsetof(weir_pkt, present), 4, "present");
                llvm::Value* has = c.b.CreateICmpNE(c.b.CreateAnd(present, mask), c.b.getInt32(0));
                v = c.b.CreateSelect(has, val, v);
            }
            c.b.CreateAlignedStore(v, slot(d), llvm::Align(8), /*isVolatile=*/true);
        }
    }

    // The walk: at each level a leaf goes to `leaf`, an inner node reads its child in the
    // dimension its descriptor names (only those the tree cuts, `cut`, are selected among).
    // Returns the leaf descriptors and the blocks they come from.
    std::vector<std::pair<llvm::Value*, llvm::BasicBlock*>> walk(const ClsTree& tree,
                                                                 const std::vector<std::size_t>& cut,
                                                                 llvm::BasicBlock* leaf) {
        std::vector<std::pair<llvm::Value*, llvm::BasicBlock*>> to_leaf;
        llvm::Value* desc = c.c64(tree.root);
        for (unsigned level = 0; level < tree.depth; ++level) {
            llvm::Value* k = byte_at(c, desc, 48);
            llvm::BasicBlock* inner = c.block("cls.inner");
            to_leaf.emplace_back(desc, c.b.GetInsertBlock());
            c.b.CreateCondBr(c.b.CreateICmpEQ(k, c.c64(0)), leaf, inner);
            c.enter(inner);
            llvm::Value* v = cut.empty() ? static_cast<llvm::Value*>(c.c64(0)) : dim(cut.front());
            if (cut.size() > 1) {
                llvm::Value* which = c.b.CreateLShr(desc, c.c64(56));
                for (std::size_t i = 1; i < cut.size(); ++i)
                    v = c.b.CreateSelect(c.b.CreateICmpEQ(which, c.c64(cut[i])), dim(cut[i]), v);
            }
            llvm::Value* mask = c.b.CreateSub(c.b.CreateShl(c.c64(1), k), c.c64(1));
            llvm::Value* child = c.b.CreateAnd(c.b.CreateLShr(v, byte_at(c, desc, 40)), mask);
            llvm::Value* idx = c.b.CreateTrunc(c.b.CreateAdd(c.b.CreateAnd(desc, c.c64(0xffffffffu)), child), i32());
            desc = c.b.CreateCall(node, {idx}, "node");
        }
        to_leaf.emplace_back(desc, c.b.GetInsertBlock());
        c.b.CreateBr(leaf);
        return to_leaf;
    }

    // Box j of the leaf at `base` (of `count` boxes): if it holds the packet and its rule comes
    // before the best found so far, it becomes the best. Goes on at `next_j` unless it decides.
    void box(unsigned j, llvm::Value* base, llvm::Value* count, const std::vector<std::size_t>& check,
             llvm::BasicBlock* tree_done) {
        llvm::BasicBlock* entry_j = c.block("cls.box");
        llvm::BasicBlock* check_j = c.block("cls.check");
        llvm::BasicBlock* next_j = c.block("cls.next");
        c.b.CreateCondBr(c.b.CreateICmpULT(c.c64(j), count), entry_j, tree_done);
        c.enter(entry_j);
        llvm::Value* at = c.b.CreateAdd(base, c.b.getInt32(j));
        llvm::Value* e = c.b.CreateCall(entry_fn, {at}, "entry");
        llvm::BasicBlock* have_j = c.block("cls.have");
        c.b.CreateCondBr(c.b.CreateIsNull(e), tree_done, have_j);
        c.enter(have_j);
        auto member = [&](llvm::Type* t, std::size_t off, const char* name) {
            llvm::Value* p = c.b.CreateConstInBoundsGEP1_64(c.i(8), e, off);
            return c.b.CreateAlignedLoad(t, p, llvm::Align(t == i64() ? 8 : 4), name);
        };
        llvm::Value* order = member(i32(), offsetof(weir_cls_ref, order), "order");
        c.b.CreateCondBr(c.b.CreateICmpULT(order, load_best()), check_j, tree_done);
        c.enter(check_j);
        for (std::size_t d : check) {
            const std::size_t at_d = offsetof(weir_cls_ref, span) + d * sizeof(weir_cls_span);
            llvm::Value* v = dim(d);
            llvm::Value* lo = member(i64(), at_d + offsetof(weir_cls_span, lo), "lo");
            llvm::Value* hi = member(i64(), at_d + offsetof(weir_cls_span, hi), "hi");
            llvm::Value* hit = c.b.CreateAnd(c.b.CreateICmpULE(lo, v), c.b.CreateICmpULE(v, hi));
            llvm::BasicBlock* more = c.block("cls.dim");
            c.b.CreateCondBr(hit, more, next_j);
            c.enter(more);
        }
        c.b.CreateAlignedStore(order, best, llvm::Align(4), true);
        c.b.CreateAlignedStore(at, best_ref, llvm::Align(4), true);
        c.b.CreateBr(tree_done);
        c.enter(next_j);
    }

    void tree(const ClsTree& tree) {
        const std::size_t nd = g.dims.size();
        llvm::BasicBlock* leaf = c.block("cls.leaf");
        llvm::BasicBlock* tree_done = c.block("cls.tree_done");
        // A rule found in an earlier tree that comes before every rule of this one decides.
        if (&tree != &g.trees.front()) {
            llvm::BasicBlock* walk_bb = c.block("cls.walk");
            c.b.CreateCondBr(c.b.CreateICmpULT(load_best(), c.b.getInt32(tree.min_rule)), tree_done, walk_bb);
            c.enter(walk_bb);
        }
        std::vector<std::size_t> cut;
        for (std::size_t d = 0; d < nd; ++d)
            if (tree.cut_dims & (1u << d)) cut.push_back(d);
        auto to_leaf = walk(tree, cut, leaf);

        // The leaf: its boxes in rule order, up to the first holding the packet or the first
        // of a rule after the best found so far.
        c.enter(leaf);
        llvm::PHINode* leaf_desc = c.b.CreatePHI(i64(), static_cast<unsigned>(to_leaf.size()), "leaf");
        for (auto& [v, bb] : to_leaf) leaf_desc->addIncoming(v, bb);
        // An inner descriptor (a tree deeper than its walk, which the planner never makes) has
        // count 0: nothing matches.
        llvm::Value* count = byte_at(c, leaf_desc, 32);
        llvm::Value* base = c.b.CreateTrunc(leaf_desc, i32());
        // The dimensions the tree cuts last: the walk already brought the packet to a cell
        // of them that the leaf's boxes overlap, so they are the least likely to reject.
        std::vector<std::size_t> check;
        for (std::size_t d = 0; d < nd; ++d)
            if (!(tree.cut_dims & (1u << d))) check.push_back(d);
        check.insert(check.end(), cut.begin(), cut.end());
        for (unsigned j = 0; j < tree.max_leaf; ++j) box(j, base, count, check, tree_done);
        c.b.CreateBr(tree_done);
        c.enter(tree_done);
    }
};

}  // namespace

void emit_classifier(Ctx& c, const ClsGroup& g) {
    const Rule& first = *c.plan.rules.at(g.first).src;
    c.at(first.range);
    ClsCode cc{c, g};
    cc.node = helper(c, "weir_cls_node", 1, first);
    cc.entry_fn = helper(c, "weir_cls_entry", 1, first);
    cc.decision = helper(c, "weir_cls_decision", 1, first);
    llvm::BasicBlock* done = c.block("cls.none");
    if (!cc.node || !cc.entry_fn || !cc.decision) {
        c.b.CreateBr(done);
        c.enter(done);
        return;
    }
    llvm::IRBuilder<> entry(&c.fn->getEntryBlock(), c.fn->getEntryBlock().begin());
    cc.slots = entry.CreateAlloca(llvm::ArrayType::get(cc.i64(), g.dims.size()), nullptr, "cls.dims");
    cc.store_dims();
    cc.best = entry.CreateAlloca(cc.i32(), nullptr, "cls.best");
    cc.best_ref = entry.CreateAlloca(cc.i32(), nullptr, "cls.best_ref");
    c.b.CreateAlignedStore(c.b.getInt32(~0u), cc.best, llvm::Align(4), true);
    c.b.CreateAlignedStore(c.b.getInt32(0), cc.best_ref, llvm::Align(4), true);
    for (const ClsTree& tree : g.trees) cc.tree(tree);

    // A rule found: its decision; none: the rules after the group.
    llvm::BasicBlock* found = c.block("cls.found");
    c.b.CreateCondBr(c.b.CreateICmpNE(cc.load_best(), c.b.getInt32(~0u)), found, done);
    c.enter(found);
    llvm::Value* at = c.b.CreateAlignedLoad(cc.i32(), cc.best_ref, llvm::Align(4), true, "best_ref");
    c.b.CreateRet(c.b.CreateCall(cc.decision, {at}, "decision"));
    c.enter(done);
}

}  // namespace weir::cg
