// Condition sets: a checked rule condition (policy.hpp) -> its DNF as boxes of per-field value sets,
// with exact emptiness, disjointness and coverage. Lint and the planner's classifier reason with it.
//
// A condition is normalised to DNF over literals (an atom, or an atom under `not`). Each
// conjunction becomes a Box: per-field value sets plus opaque boolean atoms. The packet model:
//   - a header state: Ethernet header or not (runt frames carry only pkt.*); VLAN tag or not;
//     no IP, IPv4 or IPv6; no L4, TCP, UDP, ICMP or ICMPv6 (an L4 header needs an IP header);
//   - one value per field whose header is present; "header missing" is one more value a field
//     can take, so `not tcp.dport == 22` (true when TCP is absent) is an ordinary value set;
//   - fields that alias share one canonical field with one variant per header: tcp.dport and
//     udp.dport are l4.dport under TCP / UDP; ip4.src and ip6.src are ip.src under IPv4 / IPv6;
//   - payload matches and atoms whose meaning is not pinned down (ip.src `not in` a set of
//     type ip holding one family) are independent booleans, equal when written equally.
// Every real packet is a packet of the model (the model also admits impossible ones, e.g. it
// does not tie ip.proto to the L4 header), so "empty" and "covered" are exact for real packets
// whenever they answer yes. Answers of no may be wrong; lint then stays quiet.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fields.hpp"
#include "policy.hpp"

namespace weir::logic {

// Inclusive [lo, hi].
struct Interval {
    u128 lo = 0, hi = 0;
    bool operator==(const Interval&) const = default;
};
// Sorted, disjoint and not adjacent (normalize() makes it so).
using Intervals = std::vector<Interval>;

void normalize(Intervals& v);
// Lower-case hex digits of `v`, no leading zeros ("0" for 0): part of keys built from values.
std::string hex128(u128 v);
Intervals intersect(const Intervals& a, const Intervals& b);
Intervals complement(const Intervals& a, u128 max);

// Values one canonical field may take: `absent` is "its header is missing"; v[i] the values
// under variant i (ip.src: 0 = IPv4, 1 = IPv6; l4.sport/dport: 0 = TCP, 1 = UDP; others: 0).
struct FieldSet {
    bool absent = false;
    std::array<Intervals, 2> v;
    bool operator==(const FieldSet&) const = default;
};

// The field lint reasons about for a field as written (ip4.src -> ip.src, tcp.dport -> l4.dport).
FieldId canonical(FieldId f);
// Every value of the canonical field `f`, header missing included.
FieldSet full_set(FieldId canon);
FieldSet complement(FieldId canon, const FieldSet& s);
// How many variants the canonical field has (1 or 2), the largest value of variant `variant`,
// and the field as written whose header says that a packet carries that variant
// (ip.src: ip4.src / ip6.src; l4.dport: tcp.dport / udp.dport; others: the field itself).
int variant_count(FieldId canon);
u128 variant_max(FieldId canon, int variant);
FieldId variant_field(FieldId canon, int variant);

// One literal of a DNF.
struct Lit {
    enum class Kind : std::uint8_t { Field, Var };
    Kind kind = Kind::Field;
    FieldId field = FieldId::PktLen;  // Field: as written
    FieldId canon = FieldId::PktLen;  // Field: canonical
    FieldSet set;                     // Field: the values that satisfy the literal
    int var = -1;                     // Var: id of the opaque atom
    bool positive = true;             // Var: required true (false: under `not`)
    bool negated = false;             // under an odd number of `not`
    const Expr* atom = nullptr;       // the atom
    SourceRange range;                // the atom, or the `not` directly around it
};

// A conjunction as per-field constraints. A field not listed takes any value; so does a var.
struct Box {
    std::vector<std::pair<FieldId, FieldSet>> fields;  // sorted by canonical field
    std::vector<std::pair<int, bool>> vars;            // sorted by var id
    bool never = false;                                // a var required both ways
};

Box box_of(const Lit& l);
void constrain(Box& b, const Lit& l);
Box intersect(const Box& a, const Box& b);
// Bit i set: some packet of header state i is in the box (see kStateCount).
std::uint32_t state_mask(const Box& b);
bool is_empty(const Box& b);
// No packet is in both.
bool disjoint(const Box& a, const Box& b);
// The same, given each box's state_mask (computed once per box, asked about many pairs).
bool disjoint(const Box& a, std::uint32_t mask_a, const Box& b, std::uint32_t mask_b);
inline constexpr int kStateCount = 23;

// Header state i of the model, as state_mask numbers them: Ethernet or not (a runt frame), a VLAN
// tag or not, no IP (0), IPv4 or IPv6, and the L4 header.
enum class L4Header : std::uint8_t { None, Tcp, Udp, Icmp, Icmp6 };
struct HeaderState {
    bool eth = true;
    bool vlan = false;
    int net = 0;
    L4Header l4 = L4Header::None;
};
HeaderState header_state(int i);
// Which variant of canonical field `canon` a packet in state `i` carries, -1 when its header is absent.
int state_variant(FieldId canon, int i);

// Is every packet of `a` (whose state_mask is `mask_a`) in `b`? Exact, without case splits:
// covered(a, {b}) for one box.
bool within(const Box& a, std::uint32_t mask_a, const Box& b);
// Is every packet of `a` in one of `bs`? `budget` counts the case splits; when it runs out the
// answer is false (unknown). Exact otherwise.
bool covered(const Box& a, std::span<const Box* const> bs, long& budget);

struct Conj {
    std::vector<int> lits;  // indices into Space::lit()
    Box box;
};
using Dnf = std::vector<Conj>;

// Off by default (lint). exact_not_in: `ip.src not in S` with S of one family is a field set
// (false for the other family, as the interpreter has it) instead of an opaque atom; right for a
// snapshot of the sets (a diff), not for a policy whose sets may gain the other family live.
struct SpaceOptions {
    bool exact_not_in = false;
};

// Literal table and opaque-atom ids for the conditions of one program.
class Space {
public:
    explicit Space(const Program& program, SpaceOptions opts = {}) : program_(program), opts_(opts) {}
    // The DNF of `e`: nullopt if it has more than `cap` conjunctions. Empty conjunctions are
    // left out when `drop_empty` (an empty result then means "never true").
    std::optional<Dnf> dnf(const Expr& e, bool drop_empty = true, std::size_t cap = 64);
    const Lit& lit(int i) const { return lits_.at(static_cast<std::size_t>(i)); }

private:
    bool build(const Expr& e, bool neg, SourceRange not_range, Dnf& out);
    Lit make_lit(const Expr& e, bool neg, SourceRange range);
    std::optional<FieldSet> value_set(const Expr& e) const;
    int var_id(const Expr& e);

    const Program& program_;
    SpaceOptions opts_;
    std::vector<Lit> lits_;
    std::map<std::string, int> vars_;
    bool drop_empty_ = true;
    std::size_t cap_ = 64;
};

}  // namespace weir::logic
