// The classifier (classifier.hpp): rule conditions as boxes (through the exact DNF of
// condition_sets.hpp, so the meaning of every field and operator is never restated here), and the
// walk of a finished tree. The cut trees themselves are built in classifier_tree.cpp.
#include "classifier.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <memory>

#include "condition_sets.hpp"
#include "field_access.hpp"

namespace weir {

namespace {

constexpr u128 kCollapseAbove = u128{1} << 60;  // variants wider than this are one value

// Bits needed to write v (at least 1).
unsigned bit_width(std::uint64_t v) { return std::max(static_cast<unsigned>(std::bit_width(v)), 1u); }

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
        const logic::FieldSet* proto = nullptr;
        for (const auto& [canon, set] : b.fields)
            if (canon == FieldId::IpProto) proto = &set;
        std::vector<std::vector<std::pair<FieldId, ClsSpan>>> partial{{}};
        bool never = false;
        for (const auto& [canon, given] : b.fields) {
            logic::FieldSet set = given;
            if (proto && (canon == FieldId::L4Sport || canon == FieldId::L4Dport)) {
                // A TCP (UDP) port is present only when the protocol is 6 (17): lint's model does
                // not tie the two, so `ip.proto == 6 and l4.dport == 80` would keep a UDP box no
                // packet can fall in, and double the boxes of every such rule.
                static constexpr std::uint8_t kVariantProto[2] = {6, 17};
                for (std::size_t i = 0; i < 2; ++i) {
                    bool in = false;
                    for (const auto& iv : proto->v[0]) in = in || (iv.lo <= kVariantProto[i] && kVariantProto[i] <= iv.hi);
                    if (!in) set.v[i].clear();
                }
                if (!set.absent && set.v[0].empty() && set.v[1].empty()) never = true;
            }
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
        if (never) continue;
        for (auto& p : partial) out.boxes.push_back(std::move(p));
    }
    return out;
}

std::optional<std::uint32_t> cls_classify(const ClsGroup& g, const ClsTables& t, const weir_pkt& pkt) {
    std::vector<std::uint64_t> v;
    for (const auto& d : g.dims) v.push_back(dim_value(d, pkt));
    std::optional<std::uint32_t> best;
    for (const ClsTree& tree : g.trees) {
        if (best && *best < tree.min_rule) continue;
        std::uint64_t desc = tree.root;
        for (unsigned level = 0; level < tree.depth; ++level) {
            unsigned k = static_cast<unsigned>(desc >> 48) & 0xff;
            if (k == 0) break;
            unsigned shift = static_cast<unsigned>(desc >> 40) & 0xff;
            unsigned dim = static_cast<unsigned>(desc >> 56);
            std::uint64_t idx = (desc & 0xffffffffu) + ((v.at(dim) >> shift) & ((std::uint64_t{1} << k) - 1));
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
