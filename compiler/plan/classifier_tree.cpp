// The classifier's cut trees (classifier.hpp): a group's boxes split among trees by the dimension
// where each is narrowest, and each tree cut dimension by dimension into the node and leaf tables.
// Apart from classifier.cpp, which turns conditions into boxes and walks the finished trees: this
// is the planner's search, the other two are what the boxes mean.
#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <set>
#include <unordered_map>

#include "classifier.hpp"

namespace weir {

namespace {

// Bits needed to write v (at least 1).
unsigned bit_width(std::uint64_t v) { return std::max(static_cast<unsigned>(std::bit_width(v)), 1u); }

struct Box {
    std::uint32_t rule;  // index into Plan::rules
    std::uint32_t span;  // first span in ClsTables::boxes
};

class TreeBuilder {
public:
    TreeBuilder(const ClsGroup& g, ClsTree& tree, const ClsParams& p, ClsTables& t, std::vector<Box> boxes)
        : g_(g), tree_(tree), p_(p), t_(t), boxes_(std::move(boxes)), nd_(g.dims.size()),
          ref_budget_(t.refs.size() + std::size_t{p.ref_factor} * boxes_.size() + 4096) {}

    std::uint64_t run() {
        std::vector<std::uint32_t> all(boxes_.size());
        for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = i;
        Region r;
        r.lo.assign(nd_, 0);
        for (std::size_t d = 0; d < nd_; ++d) r.hi.push_back(g_.dims[d].absent);
        return build(all, r, 0);
    }

private:
    // The values a packet that reaches a node can have, per dimension. A node cuts an aligned
    // block of one dimension: the smallest holding every box that does not span the whole
    // region there. Boxes that do span it go to every child, and a packet outside the block
    // lands (by the low bits of its value) in some child where only those boxes can match
    // it; such a child's region in that dimension stays the parent's.
    struct Region {
        std::vector<std::uint64_t> lo, hi;
    };

    const ClsSpan& span(std::uint32_t box, std::size_t d) const { return t_.boxes[boxes_[box].span + d]; }
    bool spans(std::uint32_t box, const Region& r, std::size_t d) const {
        const ClsSpan& s = span(box, d);
        return s.lo <= r.lo[d] && s.hi >= r.hi[d];
    }

    std::uint64_t leaf(const std::vector<std::uint32_t>& list, unsigned depth) {
        tree_.depth = std::max(tree_.depth, depth);
        tree_.max_leaf = std::max<unsigned>(tree_.max_leaf, static_cast<unsigned>(list.size()));
        if (list.empty()) return 0;  // nodes[0]... descriptor 0 = a leaf of no boxes
        if (list.size() > 255) {
            too_big_ = true;
            return 0;
        }
        auto it = leaves_.find(list);
        if (it != leaves_.end()) return cls_leaf(it->second, static_cast<unsigned>(list.size()));
        auto at = static_cast<std::uint32_t>(t_.refs.size());
        for (auto b : list) t_.refs.push_back({boxes_[b].span, boxes_[b].rule});
        leaves_.emplace(list, at);
        ++tree_.leaves;
        return cls_leaf(at, static_cast<unsigned>(list.size()));
    }

    struct Block {
        std::uint64_t lo = 0;
        unsigned bits = 0;
        std::uint64_t hi() const { return bits >= 64 ? ~std::uint64_t{0} : lo + ((std::uint64_t{1} << bits) - 1); }
    };

    // The child range [c0, c1] of a box when block `blk` of dimension d is cut into 2^k parts;
    // a box reaching outside the block (within the region) goes to every child.
    std::pair<std::size_t, std::size_t> child_range(std::uint32_t b, const Region& r, std::size_t d, const Block& blk,
                                                    unsigned k) const {
        const std::size_t nch = std::size_t{1} << k;
        if (!inside(b, r, d, blk)) return {0, nch - 1};
        const ClsSpan& s = span(b, d);
        const unsigned cw = blk.bits - k;
        std::uint64_t lo = std::max(s.lo, r.lo[d]) - blk.lo, hi = std::min(s.hi, r.hi[d]) - blk.lo;
        return {std::min<std::size_t>(lo >> cw, nch - 1), std::min<std::size_t>(hi >> cw, nch - 1)};
    }
    bool inside(std::uint32_t b, const Region& r, std::size_t d, const Block& blk) const {
        const ClsSpan& s = span(b, d);
        return std::max(s.lo, r.lo[d]) >= blk.lo && std::min(s.hi, r.hi[d]) <= blk.hi();
    }
    static Block block_of(std::uint64_t lo, std::uint64_t hi) {
        Block blk;
        blk.bits = lo == hi ? 0 : bit_width(lo ^ hi);
        blk.lo = blk.bits >= 64 ? 0 : lo & ~((std::uint64_t{1} << blk.bits) - 1);
        return blk;
    }

    // A cut of a node: 2^k children over block `blk` of dimension d; `max` boxes in the
    // fullest child, `cost` child entries + children.
    struct Cut {
        std::size_t d = 0;
        unsigned k = 0;
        std::size_t max = 0;
        std::size_t cost = ~std::size_t{0};
        Block blk;
    };

    std::uint64_t build(std::vector<std::uint32_t>& list, const Region& r, unsigned depth) {
        for (std::size_t d = 0; d < nd_; ++d)
            if (r.lo[d] > r.hi[d]) return leaf({}, depth);  // no packet gets here
        drop_hidden(list, r);
        if (list.size() <= p_.leaf_size || depth >= p_.max_depth || too_big_ || t_.refs.size() > ref_budget_)
            return leaf(list, depth);
        Cut cut = best_cut(list, r);
        // No cut separates these boxes.
        if (cut.k == 0 || cut.max >= list.size()) return leaf(list, depth);
        return split(list, r, cut, depth);
    }

    // First match: a box holding every packet that reaches the node and any later box holds
    // (their hull within the region) hides them.
    void drop_hidden(std::vector<std::uint32_t>& list, const Region& r) const {
        std::vector<ClsSpan> hull(nd_, ClsSpan{~std::uint64_t{0}, 0});
        for (auto b : list)
            for (std::size_t d = 0; d < nd_; ++d) {
                hull[d].lo = std::min(hull[d].lo, std::max(span(b, d).lo, r.lo[d]));
                hull[d].hi = std::max(hull[d].hi, std::min(span(b, d).hi, r.hi[d]));
            }
        for (std::size_t j = 0; j + 1 < list.size(); ++j) {
            bool all = true;
            for (std::size_t d = 0; d < nd_ && all; ++d)
                all = span(list[j], d).lo <= hull[d].lo && span(list[j], d).hi >= hull[d].hi;
            if (all) {
                list.resize(j + 1);
                break;
            }
        }
    }

    // The blocks of dimension d to try cutting (0, 1 or 2 of them): the one holding every box
    // that does not span the region, and the one holding only those much narrower than that (a
    // /1 among /19s would otherwise leave the /19s no bits to be cut by).
    int blocks_to_cut(const std::vector<std::uint32_t>& list, const Region& r, std::size_t d,
                      Block (&blocks)[2]) const {
        std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
        for (auto b : list) {
            if (spans(b, r, d)) continue;
            lo = std::min(lo, std::max(span(b, d).lo, r.lo[d]));
            hi = std::max(hi, std::min(span(b, d).hi, r.hi[d]));
        }
        if (lo >= hi) return 0;  // nothing to tell apart here
        blocks[0] = block_of(lo, hi);
        std::uint64_t slo = ~std::uint64_t{0}, shi = 0;
        for (auto b : list) {
            if (spans(b, r, d)) continue;
            const std::uint64_t blo = std::max(span(b, d).lo, r.lo[d]), bhi = std::min(span(b, d).hi, r.hi[d]);
            if (bit_width(bhi - blo) + p_.small_bits > blocks[0].bits) continue;
            slo = std::min(slo, blo);
            shi = std::max(shi, bhi);
        }
        const int nblocks = slo < shi && block_of(slo, shi).bits < blocks[0].bits ? 2 : 1;
        if (nblocks == 2) blocks[1] = block_of(slo, shi);
        return nblocks;
    }

    // The cut: over every dimension, the number of bits within the space budget (child entries
    // + children) that leaves the fewest boxes in the fullest child, then the fewest copies.
    // Dimension by dimension, as HyperCuts does, so boxes that share one field (many rules of
    // one /32 source) are told apart by another. k == 0: no cut.
    Cut best_cut(const std::vector<std::uint32_t>& list, const Region& r) const {
        const std::size_t n = list.size();
        const std::size_t budget = std::size_t{p_.space_factor} * n;
        Cut best;
        best.max = n;
        std::vector<std::int64_t> diff;
        for (std::size_t d = 0; d < nd_; ++d) {
            Block blocks[2] = {};
            const int nblocks = blocks_to_cut(list, r, d, blocks);
            for (int bi = 0; bi < nblocks; ++bi) {
                const Block blk = blocks[bi];
                const unsigned kmax = std::min(blk.bits, p_.max_cut_bits);
                for (unsigned k = 1; k <= kmax; ++k) {
                    const std::size_t nch = std::size_t{1} << k;
                    diff.assign(nch + 1, 0);
                    std::size_t sum = 0;
                    for (auto b : list) {
                        auto [c0, c1] = child_range(b, r, d, blk, k);
                        ++diff[c0];
                        --diff[c1 + 1];
                        sum += c1 - c0 + 1;
                    }
                    if (k > 1 && sum + nch > budget) break;
                    std::int64_t run = 0;
                    std::size_t mx = 0;
                    for (std::size_t c = 0; c < nch; ++c) {
                        run += diff[c];
                        mx = std::max(mx, static_cast<std::size_t>(run));
                    }
                    if (mx < best.max || (mx == best.max && mx < n && sum + nch < best.cost))
                        best = Cut{d, k, mx, sum + nch, blk};
                }
            }
        }
        return best;
    }

    // The inner node of `cut`: its children's boxes, then their subtrees.
    std::uint64_t split(const std::vector<std::uint32_t>& list, const Region& r, const Cut& cut, unsigned depth) {
        const std::size_t d = cut.d;
        const Block blk = cut.blk;
        tree_.cut_dims |= 1u << d;
        const std::size_t nch = std::size_t{1} << cut.k;
        const unsigned cw = blk.bits - cut.k;
        std::vector<std::vector<std::uint32_t>> kids(nch);
        std::vector<char> partial(nch, 0);
        for (auto b : list) {
            auto [c0, c1] = child_range(b, r, d, blk, cut.k);
            for (std::size_t c = c0; c <= c1; ++c) kids[c].push_back(b);
            if (!inside(b, r, d, blk)) continue;
            const ClsSpan& s = span(b, d);
            if (s.lo > blk.lo + (std::uint64_t{c0} << cw)) partial[c0] = 1;
            if (s.hi < blk.lo + (std::uint64_t{c1} << cw) + ((std::uint64_t{1} << cw) - 1)) partial[c1] = 1;
        }
        const auto base = static_cast<std::uint32_t>(t_.nodes.size());
        t_.nodes.resize(t_.nodes.size() + nch, 0);
        tree_.nodes += nch;
        // Packets outside the block land in some child too (aliasing): then every child keeps
        // the whole region of this dimension.
        const bool exact = blk.lo <= r.lo[d] && r.hi[d] <= blk.hi();
        Region cr = r;
        // A child whose boxes are those of the previous child, all covering both children's
        // blocks of dimension d entirely, has the same subtree (cuts below take lower bits).
        std::vector<char> same(nch, 0);
        for (std::size_t c = 1; c < nch; ++c)
            same[c] = !partial[c] && !partial[c - 1] && kids[c] == kids[c - 1] && !exact;
        for (std::size_t c = 0; c < nch; ++c) {
            if (same[c]) {
                t_.nodes[base + c] = t_.nodes[base + c - 1];
                continue;
            }
            if (exact) {
                const std::uint64_t clo = blk.lo + (std::uint64_t{c} << cw);
                const std::uint64_t chi = clo + ((std::uint64_t{1} << cw) - 1);
                cr.lo[d] = std::max(r.lo[d], clo);
                cr.hi[d] = std::min(r.hi[d], chi);
            }
            std::uint64_t desc = build(kids[c], cr, depth + 1);
            t_.nodes[base + c] = desc;
        }
        return cls_inner(base, cw, cut.k, static_cast<unsigned>(d));
    }

    const ClsGroup& g_;
    ClsTree& tree_;
    const ClsParams& p_;
    ClsTables& t_;
    std::vector<Box> boxes_;
    std::size_t nd_;
    std::size_t ref_budget_;  // past it, nodes become leaves: bounds the copies of wide boxes
    bool too_big_ = false;

    struct ListHash {
        std::size_t operator()(const std::vector<std::uint32_t>& v) const {
            std::size_t h = v.size();
            for (auto x : v) h = h * 1000003u ^ x;
            return h;
        }
    };
    std::unordered_map<std::vector<std::uint32_t>, std::uint32_t, ListHash> leaves_;

public:
    bool too_big() const { return too_big_; }
};

}  // namespace

namespace {

// One dimension: instead of the rules' spans, the disjoint pieces of the line on each of which
// one rule matches first (at most 2n+1 of them). A leaf then never holds two pieces a packet
// could both be in, so it stays small however the rules' ranges overlap (a 10,000-rule services
// set had leaves of 16 overlapping spans), and the walk checks one span per piece. `out` is in
// rule order, as leaves must be.
void one_dimension(ClsGroup& g, const std::vector<RuleBoxes>& rule_boxes, ClsTables& tables, std::vector<Box>& out) {
    constexpr std::uint64_t kMax = ~std::uint64_t{0};
    struct Event {
        std::uint64_t at;
        bool start;
        std::uint32_t rule;
    };
    std::vector<Event> events;
    for (std::size_t r = 0; r < rule_boxes.size(); ++r) {
        const auto rule = static_cast<std::uint32_t>(g.first + r);
        for (const auto& box : rule_boxes[r].boxes) {
            ClsSpan sp{0, g.dims[0].absent};
            for (const auto& [canon, s] : box) sp = s;  // at most one: the group's one dimension
            events.push_back({sp.lo, true, rule});
            if (sp.hi != kMax) events.push_back({sp.hi + 1, false, rule});
        }
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
    std::multiset<std::uint32_t> active;
    struct Piece {
        ClsSpan span;
        std::uint32_t rule;
    };
    std::vector<Piece> pieces;
    for (std::size_t i = 0; i < events.size();) {
        const std::uint64_t at = events[i].at;
        for (; i < events.size() && events[i].at == at; ++i) {
            if (events[i].start) active.insert(events[i].rule);
            else active.erase(active.find(events[i].rule));
        }
        if (active.empty()) continue;
        const std::uint64_t end = i < events.size() ? events[i].at - 1 : kMax;
        const std::uint32_t rule = *active.begin();
        if (!pieces.empty() && pieces.back().rule == rule && pieces.back().span.hi + 1 == at)
            pieces.back().span.hi = end;
        else
            pieces.push_back({{at, end}, rule});
    }
    std::stable_sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.rule < b.rule; });
    for (const Piece& p : pieces) {
        out.push_back({p.rule, static_cast<std::uint32_t>(tables.boxes.size())});
        tables.boxes.push_back(p.span);
    }
    g.boxes += pieces.size();
}

// How narrow a span is in its dimension: log2 of the share it covers of the range the group's
// boxes use there (<= 0). The used range, not the whole field: in rules that all live inside one
// /15, a /20 is wide.
double narrowness(const ClsSpan& s, const ClsSpan& used) {
    double used_width = std::log2(static_cast<double>(used.hi - used.lo) + 1.0);
    return std::log2(static_cast<double>(s.hi - s.lo) + 1.0) - used_width;
}

}  // namespace

bool build_group(ClsGroup& g, const std::vector<RuleBoxes>& rule_boxes, const ClsParams& params, ClsTables& tables) {
    const std::size_t nodes0 = tables.nodes.size(), refs0 = tables.refs.size(), boxes0 = tables.boxes.size();
    auto rollback = [&] {
        tables.nodes.resize(nodes0);
        tables.refs.resize(refs0);
        tables.boxes.resize(boxes0);
        return false;
    };

    // Dimensions: every canonical field some box constrains, most distinct spans first, and the
    // range those spans use (spans that leave the field free do not count).
    std::map<FieldId, std::vector<std::pair<std::uint64_t, std::uint64_t>>> seen;
    for (const auto& rb : rule_boxes)
        for (const auto& box : rb.boxes)
            for (const auto& [canon, sp] : box) seen[canon].emplace_back(sp.lo, sp.hi);
    struct Candidate {
        std::size_t distinct;
        FieldId canon;
        ClsSpan used;
    };
    std::vector<Candidate> order;
    for (auto& [canon, v] : seen) {
        std::sort(v.begin(), v.end());
        ClsSpan used{v.front().first, 0};
        for (const auto& sp : v) used.hi = std::max(used.hi, sp.second);
        order.push_back({static_cast<std::size_t>(std::unique(v.begin(), v.end()) - v.begin()), canon, used});
    }
    std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.distinct > b.distinct; });
    g.dims.clear();
    g.trees.clear();
    std::vector<ClsSpan> used;
    std::map<FieldId, std::size_t> index;
    for (const auto& o : order) {
        index[o.canon] = g.dims.size();
        g.dims.push_back(make_dim(o.canon));
        used.push_back(o.used);
    }
    if (g.dims.empty()) {  // rules without conditions
        g.dims.push_back(make_dim(FieldId::PktLen));
        used.push_back({0, g.dims[0].absent});
    }
    const std::size_t nd = g.dims.size();

    // The boxes, each in the tree of the dimension where it is narrowest (one dimension: the
    // pieces of one_dimension instead); boxes that are wide even there (more than
    // 2^-small_bits of the range used) in a second tree of that dimension, as CutSplit
    // separates small from big fields: a /1 next to /32s would otherwise make every cut of
    // the /32s copy it, or stop the cuts.
    std::vector<std::vector<Box>> per_dim(2 * nd);
    if (nd == 1) one_dimension(g, rule_boxes, tables, per_dim[0]);
    for (std::size_t r = 0; nd > 1 && r < rule_boxes.size(); ++r) {
        for (const auto& box : rule_boxes[r].boxes) {
            auto at = static_cast<std::uint32_t>(tables.boxes.size());
            for (const auto& dim : g.dims) tables.boxes.push_back({0, dim.absent});
            for (const auto& [canon, sp] : box) tables.boxes[at + index.at(canon)] = sp;
            std::size_t best = 0;
            for (std::size_t d = 1; d < nd; ++d)
                if (narrowness(tables.boxes[at + d], used[d]) < narrowness(tables.boxes[at + best], used[best]))
                    best = d;
            const bool wide = narrowness(tables.boxes[at + best], used[best]) > -double(params.small_bits);
            per_dim[2 * best + (wide ? 1 : 0)].push_back({static_cast<std::uint32_t>(g.first + r), at});
            ++g.boxes;
        }
    }
    for (std::size_t d = 0; d < per_dim.size(); ++d) {
        if (per_dim[d].empty()) continue;
        ClsTree tree;
        tree.dim = static_cast<unsigned>(d / 2);
        tree.boxes = per_dim[d].size();
        tree.min_rule = per_dim[d].front().rule;
        for (const Box& b : per_dim[d]) tree.min_rule = std::min(tree.min_rule, b.rule);
        TreeBuilder tb(g, tree, params, tables, std::move(per_dim[d]));
        tree.root = tb.run();
        if (tb.too_big() || tree.max_leaf > params.max_leaf) return rollback();
        g.trees.push_back(tree);
    }
    // The tree holding the earliest rules first: a rule found there lets the walk skip every
    // tree whose first rule comes later.
    std::stable_sort(g.trees.begin(), g.trees.end(),
                     [](const ClsTree& a, const ClsTree& b) { return a.min_rule < b.min_rule; });
    return true;
}

}  // namespace weir
