// The diff engine's private parts: entries (diff_entries.cpp), the joint walk (diff_fdd.cpp) and
// witnesses (diff_witness.cpp).
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "condition_sets.hpp"
#include "diff.hpp"
#include "interp.hpp"

namespace weir::diff::detail {

// An opaque atom by content, so the two programs agree on it: "L..." a rate limit (by LimitSpec
// id, rate and key), "P..." a payload match, "O..." anything else the algebra cannot pin down.
struct VarLit {
    std::string key;
    bool value = true;  // the value the conjunction requires
    bool operator==(const VarLit&) const = default;
    bool operator<(const VarLit& o) const { return key != o.key ? key < o.key : value < o.value; }
};

// One conjunction of one rule's DNF: packets in `box` (vars aside) that also satisfy `vars`.
struct Entry {
    int rule = -1;
    bool terminal = true;
    Verdict verdict = Verdict::Pass;      // terminal entries: the rule's verdict
    const std::string* ifname = nullptr;  // the rule's redirect target ("" unless redirect)
    logic::Box box;              // vars emptied: they live in `vars`
    std::vector<VarLit> vars;    // sorted
    std::uint32_t states = 0;    // header states with packets in box ∩ K_s
    bool aligned = false;        // its rule has an identical, same-order rule on the other side
    // The other side's entry this unaligned one may stand in for where their boxes agree: both are
    // their rule's only entry, the only unaligned rule between the same aligned neighbours, with
    // the same action (and name, if counting) and opaque atoms. -1: none.
    int twin = -1;
    std::uint64_t zobrist = 0;   // random, for the live-set signatures
    // Not a rule: the hull of an unaligned entry (add_hulls), a box the focused walk covers. Both
    // sides hold the same hulls in the same order after their rules' entries.
    bool hull = false;
};

struct Side {
    const Program* program = nullptr;
    const Policy* policy = nullptr;
    std::string file;
    std::vector<Entry> entries;     // rule order, then the hulls (add_hulls)
    std::size_t rule_entries = 0;   // entries [0, rule_entries) are the rules'
    std::vector<int> too_large;     // rules whose DNF is over the cap
    std::vector<std::uint64_t> rule_hash;  // per rule: content (action, boxes, vars)
};

// Steps 0 and 1: conditions to entries; the rules of both sides aligned by content.
Side build_side(const DiffInput& in, std::size_t dnf_cap, std::uint64_t seed);
void align(Side& a, Side& b);
// After align(): every unaligned entry's hull (per field, per variant, the interval from its least
// to its greatest value) appended to both sides, unless there are more than `cap`.
void add_hulls(Side& a, Side& b, std::size_t cap);

// K_s: the values field `canon` takes in header state `s` (empty: the state carries no such
// header, or the state is impossible). Full range unless parse.h ties the field to the state.
logic::Intervals state_domain(FieldId canon, int s);
// States a packet can really be in (the runt-frame state and IPv6 with ICMP, IPv4 with ICMPv6 never
// reach rules / never occur).
bool state_possible(int s);

Decided decided_of(const Side& side, int rule);

// One point of a leaf: the state and one interval per canonical field (absent fields left out).
struct Cell {
    int state = 0;
    std::vector<std::pair<FieldId, logic::Interval>> fields;
};

// What a side does with one packet: the decision and the names of the rules that count it.
struct Outcome {
    Decided decided;
    std::vector<std::string> counted;  // sorted, unique
};

// §2: a frame in `cell` whose decisions are `before` / `after`, confirmed with the interpreter.
std::optional<Witness> make_witness(const Cell& cell, const Side& a, const Side& b, const Outcome& before,
                                    const Outcome& after);

double log2_add(double a, double b);  // log2(2^a + 2^b), with -inf as the empty volume

}  // namespace weir::diff::detail
