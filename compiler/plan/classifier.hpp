// The multi-field classifier of the planner: a run of consecutive terminal rules whose
// conditions are unions of boxes over packet fields becomes one decision tree held in maps, so
// the cost per packet depends on the tree's depth and leaf size, not on the number of rules.
//
// Dimensions. A dimension is one canonical field of the packet model of condition_sets.hpp
// (ip.src stands for ip4.src and ip6.src, l4.dport for tcp.dport and udp.dport) encoded as one 64-bit
// value per packet: variant i's value lies at offset(i) + value, a variant too wide for 64 bits
// (IPv6 addresses) is collapsed into the single value offset(i), and "the header is missing" is
// the value `absent` (the largest). A rule's condition, as its exact DNF, becomes boxes: one
// interval per dimension each. Rules that use named sets (editable live), interface names,
// payload matches or atoms the DNF keeps opaque, or IPv6 address ranges that are not all-or-nothing,
// are not boxes and stay straight-line code.
//
// The trees. Each box is put in the tree of the dimension where it is narrowest (relative to
// the dimension's range), so one group has up to one tree per dimension, each cutting only its
// own dimension: a box is copied only where it spans blocks of that dimension, never because it
// is wide in another one (measured: cutting every dimension in one tree, as HiCuts does,
// copied wide boxes into millions of nodes for 10k mixed 5-tuple rules). Every node of a tree
// covers an aligned block of values; an inner node cuts its block into 2^k equal parts by k bits
// of the value, a leaf lists the boxes (in rule order) that meet its block, at most a few.
// Per packet: the dimension values; per tree one array lookup per level, then the leaf's boxes
// in order up to the first that holds the packet; the lowest rule found over the trees decides
// (first match). Leaves with the same boxes are shared, and so are sibling subtrees whose boxes
// all span both siblings; a box that covers a whole block hides every later box there. A group
// of one dimension is built over the disjoint pieces on which one rule matches first instead of
// the rules' (overlapping) spans.
//
// Map layout (bpf-templates/weir_abi.h): weir_cls_nodes[i] is a node descriptor (u64),
// weir_cls_refs[i] = {box, rule order, decision}, weir_cls_boxes[box + d] = {lo, hi} of
// dimension d. The roots' descriptors are constants in the generated code.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fields.hpp"
#include "policy.hpp"
#include "weir_pkt.h"

namespace weir {

// One dimension: a canonical field (condition_sets.hpp) and how its variants are laid out.
struct ClsDim {
    FieldId canon = FieldId::PktLen;
    int variants = 1;
    FieldId vfield[2] = {FieldId::PktLen, FieldId::PktLen};  // the field that says variant i is present
    std::uint64_t offset[2] = {0, 0};                          // where variant i's values start
    bool collapsed[2] = {false, false};                        // wider than 64 bits: one value
    std::uint64_t absent = 0;                                  // the value of a packet without the field
    unsigned bits = 1;                                         // values fit in `bits` bits
};
ClsDim make_dim(FieldId canon);
// The value of dimension `d` for a parsed packet.
std::uint64_t dim_value(const ClsDim& d, const weir_pkt& pkt);

// Node descriptor (u64): bits 0-31 base, 32-39 box count (leaf), 40-47 shift, 48-55 k (the number
// of bits cut; 0 = leaf), 56-63 the dimension cut (index into ClsGroup::dims). Inner: child i's
// descriptor is nodes[base + i], the child of value v of that dimension is
// i = (v >> shift) & (2^k - 1). Leaf: refs[base .. base + count).
constexpr std::uint64_t cls_leaf(std::uint32_t refs, unsigned count) {
    return std::uint64_t{refs} | (std::uint64_t{count} << 32);
}
constexpr std::uint64_t cls_inner(std::uint32_t base, unsigned shift, unsigned k, unsigned dim) {
    return std::uint64_t{base} | (std::uint64_t{shift} << 40) | (std::uint64_t{k} << 48) |
           (std::uint64_t{dim} << 56);
}

struct ClsRef {
    std::uint32_t box = 0;   // index of the box's first span in ClsTables::boxes
    std::uint32_t rule = 0;  // index into Plan::rules: its order, and (loader) its decision
};
struct ClsSpan {
    std::uint64_t lo = 0, hi = 0;
};

// One tree: cuts dimension `dim` of its group only.
struct ClsTree {
    unsigned dim = 0;         // index into ClsGroup::dims: the boxes narrowest there are in this tree
    unsigned cut_dims = 0;    // bit d: some node cuts dimension d
    std::uint32_t min_rule = 0;  // the first rule (index into Plan::rules) with a box in the tree
    std::uint64_t root = 0;   // descriptor of the root
    unsigned depth = 0;       // inner levels on the longest path (lookups per packet)
    unsigned max_leaf = 0;    // boxes in the largest leaf
    std::size_t boxes = 0, nodes = 0, leaves = 0;
};

// One classifier group: plan rules [first, first + count), all terminal and boxable.
struct ClsGroup {
    std::size_t first = 0, count = 0;
    std::vector<ClsDim> dims;     // in the order the leaves check them (most selective first)
    std::vector<ClsTree> trees;
    std::size_t boxes = 0;
};

// Everything the classifier groups of one plan put into maps (shared by the groups).
struct ClsTables {
    std::vector<std::uint64_t> nodes{0};  // nodes[0]: an empty leaf (what a failed lookup reads)
    std::vector<ClsRef> refs;
    std::vector<ClsSpan> boxes;           // group by group, box by box, dimension by dimension
};

struct ClsParams {
    std::size_t min_rules = 16;   // fewer consecutive boxable rules stay straight-line code
    unsigned max_dims = 8;
    unsigned leaf_size = 4;       // a node with at most this many boxes is a leaf
    unsigned max_leaf = 255;      // a group with a larger leaf in some tree is split in two
    unsigned space_factor = 4;    // cut budget: child entries + children <= factor * boxes
    unsigned small_bits = 8;      // a box wider than 2^-small_bits of the used range is "wide"
    unsigned ref_factor = 16;     // a tree's leaf entries <= factor * its boxes (+ 4096)
    unsigned max_cut_bits = 16;
    unsigned max_depth = 12;
    std::size_t max_boxes_per_rule = 64;
};

// A rule's condition as boxes over `dims` (dimensions are appended as the rule needs them), or
// nullopt when it is not boxable. Each box has one [lo, hi] per dimension in `dims` at the time of
// the call; boxes made before a dimension was added are widened by the caller (full_span).
struct RuleBoxes {
    std::vector<std::vector<std::pair<FieldId, ClsSpan>>> boxes;  // per box: constrained dims only
};
class ClsBoxer {
public:
    explicit ClsBoxer(const Program& program);
    ~ClsBoxer();
    ClsBoxer(const ClsBoxer&) = delete;
    ClsBoxer& operator=(const ClsBoxer&) = delete;
    std::optional<RuleBoxes> boxes(const Rule& r, std::size_t max_boxes);

private:
    struct Impl;
    Impl* impl_;
};

// Builds the trees of one group over `rule_boxes` (per rule of the group, in order) into
// `tables`. Returns false (tables unchanged) when a tree's largest leaf exceeds params.max_leaf.
bool build_group(ClsGroup& g, const std::vector<RuleBoxes>& rule_boxes, const ClsParams& params,
                 ClsTables& tables);

// The reference walk of a group's trees (what the generated code does): the index into
// Plan::rules of the first rule of the group matching the packet, or nullopt. For tests.
std::optional<std::uint32_t> cls_classify(const ClsGroup& g, const ClsTables& t, const weir_pkt& pkt);

}  // namespace weir
