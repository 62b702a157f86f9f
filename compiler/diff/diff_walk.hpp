// The joint walk over both policies' entries (diff_fdd.cpp) and what its leaves collect
// (diff_leaf.cpp).
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "diff_internal.hpp"

namespace weir::diff::detail {

// One (OLD rule, NEW rule) pair whose verdicts differ: its first confirmed witness, its volume.
inline constexpr int kMaxWitnessAttempts = 8;
// More unaligned entries than this (far from a small edit): the walk covers the whole space.
inline constexpr std::size_t kMaxHulls = 1024;

struct PendingChange {
    Decided before, after;
    double log2_headers = -std::numeric_limits<double>::infinity();
    std::optional<Witness> witness;
    int attempts = 0;
    std::string opaque;  // found where opaque atoms were taken as false: their reason ("payload", ...)
};

struct PendingCounter {
    bool before = false, after = false;
    std::optional<Witness> witness;
    int attempts = 0;
    std::string opaque;
};

// What a leaf found, kept so that a memoized subtree can be replayed elsewhere: a verdict change
// (a, b = the rules, vol = log2 volume), a counter change (a = index into Collector::counter_names)
// or a may-differ region (a = index into Collector::may_records).
struct Event {
    enum class Kind : std::uint8_t { Change, Counter, May } kind = Kind::Change;
    int a = 0, b = 0;
    double vol = 0;
};
using Summary = std::vector<Event>;  // aggregated per key; volumes relative to the subtree's axis

struct Collector {
    std::map<std::pair<int, int>, PendingChange> changes;
    std::map<std::string, PendingCounter> counters;
    // reason -> the rules (side, index) the regions name
    std::map<std::string, std::set<std::pair<bool, int>>> may_differ;
    std::vector<std::string> counter_names;
    std::vector<std::pair<std::string, std::set<std::pair<bool, int>>>> may_records;
    std::uint64_t differing_leaves = 0;
    std::size_t witnessed = 0;  // pairs with a confirmed witness
    bool too_many_axes = false;
};

struct PairHash {
    std::size_t operator()(const std::pair<std::uint64_t, std::uint64_t>& p) const {
        return static_cast<std::size_t>(p.first * 0x9e3779b97f4a7c15ull ^ p.second);
    }
};

struct MemoKey {
    int axis;
    std::uint64_t a, b;
    bool operator==(const MemoKey&) const = default;
};
struct MemoHash {
    std::size_t operator()(const MemoKey& k) const {
        return static_cast<std::size_t>((k.a * 0x9e3779b97f4a7c15ull) ^ (k.b + 0x632be59bd9b4e019ull * static_cast<std::uint64_t>(k.axis + 1)));
    }
};

class Walker {
public:
    Walker(const Side& a, const Side& b, const DiffLimits& lim, Collector& out);
    void run();
    bool aborted() const { return aborted_; }
    std::uint64_t nodes() const { return nodes_; }

private:
    using Cons = std::vector<std::vector<std::pair<int, const logic::Intervals*>>>;
    bool setup_state(int s, std::vector<int>& la, std::vector<int>& lb);
    void prepare(const std::vector<logic::Interval>& dom, const std::vector<int>& order, const std::vector<int>& la,
                 const std::vector<int>& lb);
    bool settled(int d, std::vector<int>& la, std::vector<int>& lb);
    bool focus_walk(const std::vector<int>& la, const std::vector<int>& lb);
    void focus_one(const std::vector<logic::Interval>& dom, const std::vector<int>& ba, const std::vector<int>& bb,
                   const std::vector<int>& la, const std::vector<int>& lb);
    void cut(std::vector<int>& l, const Side& side, const std::vector<std::uint64_t>& mask, int d) const;
    void rec(int d, std::vector<int>& la, std::vector<int>& lb);
    bool same_lists(const std::vector<int>& la, const std::vector<int>& lb, int d) const;
    std::optional<std::pair<Verdict, std::string>> uniform(const Side& side, const std::vector<int>& l,
                                                           const std::vector<std::uint64_t>& mask, int d) const;
    void split(int axis, const std::vector<int>& la, const std::vector<int>& lb);
    void twin_axes(const std::vector<int>& la);
    bool edited(const std::vector<int>& la, const std::vector<int>& lb, int d);
    void mark_pairs(int axis, const std::vector<int>& la, const std::vector<int>& lb);
    void leaf(const std::vector<int>& la, const std::vector<int>& lb);
    void leaf_vars(const std::vector<int>& la, const std::vector<int>& lb);
    void record(const Outcome& oa, const Outcome& ob);
    double volume() const;
    Cell cell() const;

    const Side& a_;
    const Side& b_;
    const DiffLimits& lim_;
    Collector& out_;
    std::chrono::steady_clock::time_point start_;
    bool focus_ = true;
    bool aborted_ = false;
    std::uint64_t nodes_ = 0;
    int state_ = 0;
    std::vector<FieldId> axes_;
    // The state's axes, K_s on each, and per entry the (axis, values) where it is not full on K_s;
    // a walk orders them (axes_, dom_, cons_*) for its box (prepare()).
    std::vector<FieldId> gaxes_;
    std::vector<logic::Interval> gdom_;
    Cons gcons_a_, gcons_b_;
    std::vector<logic::Interval> dom_, path_;
    struct SweepEvent {
        u128 at;
        int side;  // 0: a, 1: b
        int entry;
        bool enter;
    };
    // Scratch per axis, reused: the split's events and the children's lists (lists_*[k + 1] are
    // the lists of a child of a split on axis k).
    std::vector<std::vector<SweepEvent>> events_;
    std::vector<std::vector<int>> lists_a_, lists_b_;
    std::vector<std::vector<char>> act_a_, act_b_;  // per axis: entries in the current interval
    // Twins (Entry::twin) agree on the axes >= agree_a_[i] (A's entry i; kNever: not in this state).
    std::vector<int> agree_a_;
    // Per axis: the entry is half of a twin pair both of whose entries are in the split's lists and
    // agree below it, so the pair counts as edited only where one of the two is live.
    std::vector<std::vector<char>> pair_a_, pair_b_;
    std::vector<std::uint32_t> stamp_a_, stamp_b_;  // scratch: the entries in a list (== stamp_)
    std::uint32_t stamp_ = 0;
    std::vector<std::uint64_t> mask_a_, mask_b_;
    Cons cons_a_, cons_b_;
    std::unordered_map<MemoKey, Summary, MemoHash> memo_;
    std::string leaf_opaque_;  // set while record() runs for a leaf with opaque atoms
    std::vector<Event> log_;  // leaf findings of the subtrees being walked, in order

    double base_volume(int axis) const;
    bool replayable(const Summary& s) const;
    void replay(const Summary& s, double base);
    Summary summarize(std::size_t start, double base) const;
};

}  // namespace weir::diff::detail
