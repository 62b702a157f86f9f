// The classifier (classifier.hpp): rule conditions as boxes (through lint's exact DNF, so the
// meaning of every field and operator is lint_logic's and the interpreter's, never restated),
// and the cut tree over them.
#include "classifier.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "field_access.hpp"
#include "interp.hpp"
#include "lint_logic.hpp"

namespace weir {

namespace {

constexpr u128 kCollapseAbove = u128{1} << 60;  // variants wider than this are one value

unsigned bit_width(std::uint64_t v) {
    unsigned n = 0;
    while (v) {
        ++n;
        v >>= 1;
    }
    return std::max(n, 1u);
}

}  // namespace

ClsDim make_dim(FieldId canon) {
    ClsDim d;
    d.canon = canon;
    d.variants = logic::variant_count(canon);
    std::uint64_t at = 0;
    for (int i = 0; i < d.variants; ++i) {
        d.vfield[i] = logic::variant_field(canon, i);
        d.offset[i] = at;
        u128 max = logic::variant_max(canon, i);
        d.collapsed[i] = max >= kCollapseAbove;
        at += d.collapsed[i] ? 1 : static_cast<std::uint64_t>(max) + 1;
    }
    d.absent = at;
    d.bits = bit_width(d.absent);
    return d;
}

std::uint64_t dim_value(const ClsDim& d, const weir_pkt& pkt) {
    for (int i = 0; i < d.variants; ++i) {
        auto v = field_value(d.vfield[i], pkt);
        if (!v) continue;
        return d.collapsed[i] ? d.offset[i] : d.offset[i] + static_cast<std::uint64_t>(*v);
    }
    return d.absent;
}

// ---- rule conditions as boxes ----------------------------------------------------------------

struct ClsBoxer::Impl {
    explicit Impl(const Program& p) : program(p) {}
    const Program& program;
    std::map<FieldId, ClsDim> dims;

    const ClsDim& dim(FieldId canon) {
        auto it = dims.find(canon);
        if (it == dims.end()) it = dims.emplace(canon, make_dim(canon)).first;
        return it->second;
    }
};

ClsBoxer::ClsBoxer(const Program& program) : impl_(new Impl(program)) {}
ClsBoxer::~ClsBoxer() { delete impl_; }

namespace {

// Named sets (edited live, so their contents cannot be compiled into a tree), interface names
// (resolved at load time) and payload matches keep a rule out of the classifier.
bool boxable_atoms(const Expr& e) {
    if (e.kind == Expr::Kind::Payload) return false;
    if (e.kind == Expr::Kind::Limit) return false;  // stateful: evaluated in rule order, never boxed
    if (e.kind == Expr::Kind::In && e.set >= 0) return false;
    if ((e.kind == Expr::Kind::Compare || e.kind == Expr::Kind::In || e.kind == Expr::Kind::Test) &&
        field(e.field).type == FieldType::Iface)
        return false;
    return std::all_of(e.kids.begin(), e.kids.end(), boxable_atoms);
}

// The values of one canonical field's FieldSet as spans of its dimension; nullopt if an IPv6
// variant is neither empty nor full.
std::optional<std::vector<ClsSpan>> spans_of(const ClsDim& d, const logic::FieldSet& s) {
    std::vector<ClsSpan> out;
    for (int i = 0; i < d.variants; ++i) {
        const auto& iv = s.v[static_cast<std::size_t>(i)];
        if (iv.empty()) continue;
        if (d.collapsed[i]) {
            u128 max = logic::variant_max(d.canon, i);
            if (iv.size() != 1 || iv[0].lo != 0 || iv[0].hi != max) return std::nullopt;
            out.push_back({d.offset[i], d.offset[i]});
            continue;
        }
        for (const auto& x : iv)
            out.push_back({d.offset[i] + static_cast<std::uint64_t>(x.lo), d.offset[i] + static_cast<std::uint64_t>(x.hi)});
    }
    if (s.absent) out.push_back({d.absent, d.absent});
    // Merge adjacent spans (variants are laid out back to back, absent last).
    std::vector<ClsSpan> merged;
    for (const auto& sp : out) {
        if (!merged.empty() && merged.back().hi + 1 == sp.lo)
            merged.back().hi = sp.hi;
        else
            merged.push_back(sp);
    }
    return merged;
}

}  // namespace

std::optional<RuleBoxes> ClsBoxer::boxes(const Rule& r, std::size_t max_boxes) {
    RuleBoxes out;
    if (!r.has_cond) {
        out.boxes.emplace_back();
        return out;
    }
    if (!boxable_atoms(r.cond)) return std::nullopt;
    // A literal table of its own per rule: rules share no opaque atoms here (a rule with one is
    // not a box), and 100k rules' literals would otherwise all stay alive.
    logic::Space space(impl_->program);
    auto dnf = space.dnf(r.cond, /*drop_empty=*/true, max_boxes);
    if (!dnf) return std::nullopt;
    for (const auto& conj : *dnf) {
        const logic::Box& b = conj.box;
        if (b.never) continue;
        if (!b.vars.empty()) return std::nullopt;
        std::vector<std::vector<std::pair<FieldId, ClsSpan>>> partial{{}};
        for (const auto& [canon, set] : b.fields) {
            auto spans = spans_of(impl_->dim(canon), set);
            if (!spans) return std::nullopt;
            std::vector<std::vector<std::pair<FieldId, ClsSpan>>> next;
            for (const auto& p : partial)
                for (const auto& sp : *spans) {
                    next.push_back(p);
                    next.back().emplace_back(canon, sp);
                }
            partial = std::move(next);
            if (partial.size() + out.boxes.size() > max_boxes) return std::nullopt;
        }
        for (auto& p : partial) out.boxes.push_back(std::move(p));
    }
    return out;
}

// ---- the cut tree ----------------------------------------------------------------------------

namespace {

struct Box {
    std::uint32_t rule;  // index into Plan::rules
    std::uint32_t span;  // first span in ClsTables::boxes
};

class TreeBuilder {
public:
    TreeBuilder(const ClsGroup& g, ClsTree& tree, const ClsParams& p, ClsTables& t, std::vector<Box> boxes)
        : g_(g), tree_(tree), p_(p), t_(t), boxes_(std::move(boxes)), nd_(g.dims.size()) {}

    std::uint64_t run() {
        std::vector<std::uint32_t> all(boxes_.size());
        for (std::uint32_t i = 0; i < all.size(); ++i) all[i] = i;
        Region r;
        r.lo.assign(nd_, 0);
        r.bits.resize(nd_);
        for (std::size_t d = 0; d < nd_; ++d) r.bits[d] = g_.dims[d].bits;
        return build(all, r, 0);
    }

private:
    struct Region {
        std::vector<std::uint64_t> lo;
        std::vector<unsigned> bits;
        std::uint64_t hi(std::size_t d) const {
            return bits[d] >= 64 ? ~std::uint64_t{0} : lo[d] + ((std::uint64_t{1} << bits[d]) - 1);
        }
    };

    const ClsSpan& span(std::uint32_t box, std::size_t d) const { return t_.boxes[boxes_[box].span + d]; }

    bool covers(std::uint32_t box, const Region& r) const {
        for (std::size_t d = 0; d < nd_; ++d) {
            const ClsSpan& s = span(box, d);
            if (s.lo > r.lo[d] || s.hi < r.hi(d)) return false;
        }
        return true;
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

    // Narrows each dimension of `r` to the smallest aligned block holding every box's part of
    // it. A packet outside that block matches none of these boxes, wherever the walk sends it
    // (every leaf checks its boxes in full), so cuts may ignore it.
    void narrow(const std::vector<std::uint32_t>& list, Region& r) const {
        if (list.empty()) return;
        for (std::size_t d = 0; d < nd_; ++d) {
            std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
            for (auto b : list) {
                const ClsSpan& s = span(b, d);
                lo = std::min(lo, std::max(s.lo, r.lo[d]));
                hi = std::max(hi, std::min(s.hi, r.hi(d)));
            }
            unsigned nb = lo == hi ? 0 : bit_width(lo ^ hi);
            r.lo[d] = nb >= 64 ? 0 : lo & ~((std::uint64_t{1} << nb) - 1);
            r.bits[d] = nb;
        }
    }

    std::uint64_t build(std::vector<std::uint32_t>& list, const Region& outer, unsigned depth) {
        Region r = outer;
        narrow(list, r);
        // First match: a box covering the whole block hides everything after it.
        for (std::size_t j = 0; j < list.size(); ++j)
            if (covers(list[j], r)) {
                list.resize(j + 1);
                break;
            }
        if (list.size() <= p_.leaf_size || depth >= p_.max_depth || too_big_) return leaf(list, depth);

        // The cut: the most bits within the space budget (child entries + children), as long
        // as cutting more still lowers the fullest child.
        const std::size_t n = list.size();
        const std::size_t budget = std::size_t{p_.space_factor} * n;
        const std::size_t d = tree_.dim;
        unsigned best_k = 0;
        std::size_t best_max = n + 1;
        std::vector<std::int64_t> diff;
        const unsigned kmax = std::min(r.bits[d], p_.max_cut_bits);
        for (unsigned k = 1; k <= kmax; ++k) {
            const std::size_t nch = std::size_t{1} << k;
            const unsigned cw = r.bits[d] - k;
            diff.assign(nch + 1, 0);
            std::size_t sum = 0;
            for (auto b : list) {
                auto [c0, c1] = child_range(span(b, d), r, d, cw, nch);
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
            if (mx < best_max) {
                best_k = k;
                best_max = mx;
            }
        }
        // No cut separates these boxes (they all span the block in this dimension): a leaf.
        if (best_k == 0 || best_max >= n) return leaf(list, depth);

        const std::size_t nch = std::size_t{1} << best_k;
        const unsigned cw = r.bits[d] - best_k;
        std::vector<std::vector<std::uint32_t>> kids(nch);
        std::vector<char> partial(nch, 0);
        for (auto b : list) {
            const ClsSpan& s = span(b, d);
            auto [c0, c1] = child_range(s, r, d, cw, nch);
            for (std::size_t c = c0; c <= c1; ++c) kids[c].push_back(b);
            std::uint64_t first_lo = r.lo[d] + (std::uint64_t{c0} << cw);
            if (s.lo > first_lo) partial[c0] = 1;
            std::uint64_t last_hi = r.lo[d] + (std::uint64_t{c1} << cw) + ((std::uint64_t{1} << cw) - 1);
            if (s.hi < last_hi) partial[c1] = 1;
        }
        const auto base = static_cast<std::uint32_t>(t_.nodes.size());
        t_.nodes.resize(t_.nodes.size() + nch, 0);
        tree_.nodes += nch;
        Region cr = r;
        cr.bits[d] = cw;
        // A child whose boxes are those of the previous child, all covering both children's
        // blocks of dimension d entirely, has the same subtree (cuts below take lower bits).
        std::vector<char> same(nch, 0);
        for (std::size_t c = 1; c < nch; ++c)
            same[c] = !partial[c] && !partial[c - 1] && kids[c] == kids[c - 1];
        for (std::size_t c = 0; c < nch; ++c) {
            if (same[c]) {
                t_.nodes[base + c] = t_.nodes[base + c - 1];
                continue;
            }
            cr.lo[d] = r.lo[d] + (std::uint64_t{c} << cw);
            std::uint64_t desc = build(kids[c], cr, depth + 1);
            t_.nodes[base + c] = desc;
        }
        return cls_inner(base, cw, best_k);
    }

    std::pair<std::size_t, std::size_t> child_range(const ClsSpan& s, const Region& r, std::size_t d, unsigned cw,
                                                    std::size_t nch) const {
        std::uint64_t lo = std::max(s.lo, r.lo[d]) - r.lo[d];
        std::uint64_t hi = std::min(s.hi, r.hi(d)) - r.lo[d];
        std::size_t c0 = static_cast<std::size_t>(lo >> cw), c1 = static_cast<std::size_t>(hi >> cw);
        return {std::min(c0, nch - 1), std::min(c1, nch - 1)};
    }

    const ClsGroup& g_;
    ClsTree& tree_;
    const ClsParams& p_;
    ClsTables& t_;
    std::vector<Box> boxes_;
    std::size_t nd_;
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
    // pieces of one_dimension instead).
    std::vector<std::vector<Box>> per_dim(nd);
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
            per_dim[best].push_back({static_cast<std::uint32_t>(g.first + r), at});
            ++g.boxes;
        }
    }
    for (std::size_t d = 0; d < nd; ++d) {
        if (per_dim[d].empty()) continue;
        ClsTree tree;
        tree.dim = static_cast<unsigned>(d);
        tree.boxes = per_dim[d].size();
        TreeBuilder tb(g, tree, params, tables, std::move(per_dim[d]));
        tree.root = tb.run();
        if (tb.too_big() || tree.max_leaf > params.max_leaf) return rollback();
        g.trees.push_back(tree);
    }
    return true;
}

std::optional<std::uint32_t> cls_classify(const ClsGroup& g, const ClsTables& t, const weir_pkt& pkt) {
    std::vector<std::uint64_t> v;
    for (const auto& d : g.dims) v.push_back(dim_value(d, pkt));
    std::optional<std::uint32_t> best;
    for (const ClsTree& tree : g.trees) {
        std::uint64_t desc = tree.root;
        for (unsigned level = 0; level < tree.depth; ++level) {
            unsigned k = static_cast<unsigned>(desc >> 48) & 0xff;
            if (k == 0) break;
            unsigned shift = static_cast<unsigned>(desc >> 40) & 0xff;
            std::uint64_t idx = (desc & 0xffffffffu) + ((v.at(tree.dim) >> shift) & ((std::uint64_t{1} << k) - 1));
            desc = idx < t.nodes.size() ? t.nodes[idx] : 0;
        }
        unsigned count = static_cast<unsigned>(desc >> 32) & 0xff;  // 0 for an inner node: nothing
        std::uint64_t base = desc & 0xffffffffu;
        for (unsigned j = 0; j < count; ++j) {
            const ClsRef& ref = t.refs.at(base + j);
            if (best && ref.rule >= *best) break;  // leaves are in rule order
            bool in = true;
            for (std::size_t d = 0; d < v.size() && in; ++d) {
                const ClsSpan& s = t.boxes.at(ref.box + d);
                in = s.lo <= v[d] && v[d] <= s.hi;
            }
            if (in) {
                best = ref.rule;
                break;
            }
        }
    }
    return best;
}

}  // namespace weir
