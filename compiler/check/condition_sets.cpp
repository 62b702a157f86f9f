// Condition sets, the algebra: intervals, per-field value sets and boxes over the header-state
// model of condition_sets.hpp, with exact emptiness, disjointness and coverage. Turning a rule's
// condition into boxes is condition_sets_dnf.cpp.
#include "condition_sets.hpp"

#include <algorithm>

namespace weir::logic {

namespace {

constexpr u128 kU128Max = ~u128{0};

// ---- header states ------------------------------------------------------------------------

enum class L4 : std::uint8_t { None, Tcp, Udp, Icmp, Icmp6 };

struct State {
    bool eth = true;  // false: a frame shorter than 14 bytes (only pkt.* present)
    bool vlan = false;
    int net = 0;  // 0: no IP header, 4, 6
    L4 l4 = L4::None;
};

constexpr std::array<State, kStateCount> make_states() {
    std::array<State, kStateCount> out{};
    int n = 0;
    out[n++] = State{false, false, 0, L4::None};
    for (bool vlan : {false, true}) {
        out[n++] = State{true, vlan, 0, L4::None};
        for (int net : {4, 6})
            for (L4 l4 : {L4::None, L4::Tcp, L4::Udp, L4::Icmp, L4::Icmp6})
                out[n++] = State{true, vlan, net, l4};
    }
    return out;
}
constexpr auto kStates = make_states();

bool two_variants(FieldId canon) {
    return canon == FieldId::IpSrc || canon == FieldId::IpDst || canon == FieldId::L4Sport ||
           canon == FieldId::L4Dport;
}


// Which variant of the canonical field a packet in state `s` carries, -1 when it has none.
int variant_in(FieldId canon, const State& s) {
    if (canon == FieldId::IpSrc || canon == FieldId::IpDst) return s.net == 0 ? -1 : s.net == 4 ? 0 : 1;
    if (canon == FieldId::L4Sport || canon == FieldId::L4Dport)
        return s.l4 == L4::Tcp ? 0 : s.l4 == L4::Udp ? 1 : -1;
    switch (field(canon).header) {
        case Header::Eth: return s.eth ? 0 : -1;
        case Header::Pkt: return 0;
        case Header::Vlan: return s.vlan ? 0 : -1;
        case Header::Ip: return s.net != 0 ? 0 : -1;
        case Header::Ip4: return s.net == 4 ? 0 : -1;
        case Header::Ip6: return s.net == 6 ? 0 : -1;
        case Header::Tcp: return s.l4 == L4::Tcp ? 0 : -1;
        case Header::Udp: return s.l4 == L4::Udp ? 0 : -1;
        case Header::L4: return s.l4 == L4::Tcp || s.l4 == L4::Udp ? 0 : -1;
        case Header::Icmp: return s.l4 == L4::Icmp ? 0 : -1;
        case Header::Icmp6: return s.l4 == L4::Icmp6 ? 0 : -1;
    }
    return -1;
}

// For every field, the header states in which it is absent (slot 0) or carries variant 0 or 1
// (slots 1, 2), as bit masks over kStates, computed once: the disjointness and cover tests ask
// this for millions of pairs at 10k rules, a field at a time instead of a state at a time.
const std::array<std::uint32_t, 3>& slot_states(FieldId canon) {
    static const auto table = [] {
        std::array<std::array<std::uint32_t, 3>, 256> t{};
        for (std::size_t f = 0; f < t.size(); ++f) t[f] = {(std::uint32_t{1} << kStateCount) - 1, 0, 0};
        for (const FieldDef& d : all_fields()) {
            auto& m = t[static_cast<std::size_t>(d.id)];
            m = {0, 0, 0};
            for (int st = 0; st < kStateCount; ++st)
                m[static_cast<std::size_t>(variant_in(d.id, kStates[static_cast<std::size_t>(st)]) + 1)] |=
                    std::uint32_t{1} << st;
        }
        return t;
    }();
    return table[static_cast<std::size_t>(canon)];
}

bool field_ok(FieldId canon, const FieldSet& s, const State& st) {
    int v = variant_in(canon, st);
    return v < 0 ? s.absent : !s.v[static_cast<std::size_t>(v)].empty();
}

// `s` by value: a set built for the call (a complement) moves in instead of being copied.
void merge_field(Box& b, FieldId canon, FieldSet s) {
    auto it = std::lower_bound(b.fields.begin(), b.fields.end(), canon,
                               [](const auto& p, FieldId f) { return p.first < f; });
    if (it == b.fields.end() || it->first != canon) {
        b.fields.insert(it, {canon, std::move(s)});
        return;
    }
    FieldSet& t = it->second;
    t.absent = t.absent && s.absent;
    for (std::size_t i = 0; i < t.v.size(); ++i) t.v[i] = intersect(t.v[i], s.v[i]);
}

void merge_var(Box& b, int var, bool value) {
    auto it =
        std::lower_bound(b.vars.begin(), b.vars.end(), var, [](const auto& p, int v) { return p.first < v; });
    if (it == b.vars.end() || it->first != var)
        b.vars.insert(it, {var, value});
    else if (it->second != value)
        b.never = true;
}


bool overlap(const Intervals& a, const Intervals& b) {
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::max(a[i].lo, b[j].lo) <= std::min(a[i].hi, b[j].hi)) return true;
        if (a[i].hi < b[j].hi)
            ++i;
        else
            ++j;
    }
    return false;
}

bool cover_rec(const Box& a, std::span<const Box* const> bs, std::size_t i, long& budget) {
    if (--budget < 0) return false;
    if (is_empty(a)) return true;
    if (i == bs.size()) return false;
    const Box& b = *bs[i];
    if (disjoint(a, b)) return cover_rec(a, bs, i + 1, budget);
    // a minus b, as disjoint pieces: a ∩ b1 ∩ … ∩ b(k-1) ∩ ¬bk for each constraint bk of b.
    // cur is not narrowed after the last constraint: nothing reads it (and copying a field of a
    // million intervals for nothing is what made rules over large sets slow to lint).
    Box cur = a;
    std::size_t left = b.fields.size() + b.vars.size();
    for (const auto& [f, s] : b.fields) {
        Box piece = cur;
        merge_field(piece, f, complement(f, s));
        if (!cover_rec(piece, bs, i + 1, budget)) return false;
        if (--left > 0) merge_field(cur, f, s);
    }
    for (const auto& [v, value] : b.vars) {
        Box piece = cur;
        merge_var(piece, v, !value);
        if (!cover_rec(piece, bs, i + 1, budget)) return false;
        if (--left > 0) merge_var(cur, v, value);
    }
    return true;
}

}  // namespace

HeaderState header_state(int i) {
    const State& s = kStates.at(static_cast<std::size_t>(i));
    return HeaderState{s.eth, s.vlan, s.net, static_cast<L4Header>(s.l4)};
}

int state_variant(FieldId canon, int i) {
    return variant_in(canon, kStates.at(static_cast<std::size_t>(i)));
}

// ---- intervals ----------------------------------------------------------------------------

void normalize(Intervals& v) {
    std::erase_if(v, [](const Interval& x) { return x.lo > x.hi; });
    auto by_lo = [](const Interval& a, const Interval& b) { return a.lo < b.lo; };
    if (!std::is_sorted(v.begin(), v.end(), by_lo)) std::sort(v.begin(), v.end(), by_lo);
    // Merged in place: a set of a million elements is not copied.
    std::size_t n = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const Interval x = v[i];
        if (n > 0 && (v[n - 1].hi == kU128Max || x.lo <= v[n - 1].hi + 1)) {
            v[n - 1].hi = std::max(v[n - 1].hi, x.hi);
            continue;
        }
        v[n++] = x;
    }
    v.resize(n);
}

Intervals intersect(const Intervals& a, const Intervals& b) {
    Intervals out;
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        u128 lo = std::max(a[i].lo, b[j].lo);
        u128 hi = std::min(a[i].hi, b[j].hi);
        if (lo <= hi) out.push_back({lo, hi});
        if (a[i].hi < b[j].hi)
            ++i;
        else
            ++j;
    }
    return out;
}

Intervals complement(const Intervals& a, u128 max) {
    Intervals out;
    out.reserve(a.size() + 1);
    u128 next = 0;  // smallest value not yet accounted for
    for (const auto& x : a) {
        if (x.lo > max) break;
        if (x.lo > next) out.push_back({next, x.lo - 1});
        if (x.hi >= max) return out;
        next = x.hi + 1;
    }
    out.push_back({next, max});
    return out;
}

// ---- field sets ---------------------------------------------------------------------------

int variant_count(FieldId canon) {
    return two_variants(canon) ? 2 : 1;
}

u128 variant_max(FieldId canon, int variant) {
    if (canon == FieldId::IpSrc || canon == FieldId::IpDst)
        return variant == 0 ? u128{0xffffffffu} : kU128Max;
    if (field(canon).type == FieldType::Iface) return kU128Max;  // the packed name (values.hpp)
    return u128{field_max(field(canon))};
}

FieldId variant_field(FieldId canon, int variant) {
    switch (canon) {
        case FieldId::IpSrc: return variant == 0 ? FieldId::Ip4Src : FieldId::Ip6Src;
        case FieldId::IpDst: return variant == 0 ? FieldId::Ip4Dst : FieldId::Ip6Dst;
        case FieldId::L4Sport: return variant == 0 ? FieldId::TcpSport : FieldId::UdpSport;
        case FieldId::L4Dport: return variant == 0 ? FieldId::TcpDport : FieldId::UdpDport;
        default: return canon;
    }
}

FieldId canonical(FieldId f) {
    switch (f) {
        case FieldId::Ip4Src:
        case FieldId::Ip6Src: return FieldId::IpSrc;
        case FieldId::Ip4Dst:
        case FieldId::Ip6Dst: return FieldId::IpDst;
        case FieldId::TcpSport:
        case FieldId::UdpSport: return FieldId::L4Sport;
        case FieldId::TcpDport:
        case FieldId::UdpDport: return FieldId::L4Dport;
        default: return f;
    }
}

FieldSet full_set(FieldId canon) {
    FieldSet s;
    s.absent = true;
    for (int i = 0; i < variant_count(canon); ++i)
        s.v[static_cast<std::size_t>(i)] = {{0, variant_max(canon, i)}};
    return s;
}

FieldSet complement(FieldId canon, const FieldSet& s) {
    FieldSet out;
    out.absent = !s.absent;
    for (int i = 0; i < variant_count(canon); ++i) {
        auto k = static_cast<std::size_t>(i);
        out.v[k] = complement(s.v[k], variant_max(canon, i));
    }
    return out;
}

// ---- boxes --------------------------------------------------------------------------------

Box box_of(const Lit& l) {
    Box b;
    constrain(b, l);
    return b;
}

void constrain(Box& b, const Lit& l) {
    if (l.kind == Lit::Kind::Field)
        merge_field(b, l.canon, l.set);
    else
        merge_var(b, l.var, l.positive);
}

Box intersect(const Box& a, const Box& b) {
    Box out = a;
    for (const auto& [f, s] : b.fields) merge_field(out, f, s);
    for (const auto& [v, value] : b.vars) merge_var(out, v, value);
    out.never = out.never || b.never;
    return out;
}

std::uint32_t state_mask(const Box& b) {
    if (b.never) return 0;
    std::uint32_t mask = 0;
    for (int i = 0; i < kStateCount; ++i) {
        const State& st = kStates[static_cast<std::size_t>(i)];
        bool ok = std::all_of(b.fields.begin(), b.fields.end(),
                              [&](const auto& p) { return field_ok(p.first, p.second, st); });
        if (ok) mask |= std::uint32_t{1} << i;
    }
    return mask;
}

bool is_empty(const Box& b) {
    if (b.never) return true;
    for (const State& st : kStates) {
        bool ok = std::all_of(b.fields.begin(), b.fields.end(),
                              [&](const auto& p) { return field_ok(p.first, p.second, st); });
        if (ok) return false;
    }
    return true;
}

bool disjoint(const Box& a, const Box& b) {
    if (a.never || b.never) return true;
    // Quick answer first: one field whose value sets do not meet at all.
    auto i = a.fields.begin();
    auto j = b.fields.begin();
    while (i != a.fields.end() && j != b.fields.end()) {
        if (i->first < j->first) {
            ++i;
        } else if (j->first < i->first) {
            ++j;
        } else {
            const FieldSet& x = i->second;
            const FieldSet& y = j->second;
            if (!(x.absent && y.absent) && !overlap(x.v[0], y.v[0]) && !overlap(x.v[1], y.v[1])) return true;
            ++i;
            ++j;
        }
    }
    // is_empty(intersect(a, b)) without building the intersection: the boxes of a rule that uses
    // a set of a million addresses are not copied for every question.
    for (const auto& [v, value] : a.vars) {
        auto it = std::lower_bound(b.vars.begin(), b.vars.end(), v, [](const auto& p, int x) { return p.first < x; });
        if (it != b.vars.end() && it->first == v && it->second != value) return true;
    }
    for (const State& st : kStates) {
        bool ok = true;
        auto p = a.fields.begin();
        auto q = b.fields.begin();
        while (ok && (p != a.fields.end() || q != b.fields.end())) {
            if (q == b.fields.end() || (p != a.fields.end() && p->first < q->first)) {
                ok = field_ok(p->first, p->second, st);
                ++p;
            } else if (p == a.fields.end() || q->first < p->first) {
                ok = field_ok(q->first, q->second, st);
                ++q;
            } else {
                int var = variant_in(p->first, st);
                ok = var < 0 ? p->second.absent && q->second.absent
                             : overlap(p->second.v[static_cast<std::size_t>(var)], q->second.v[static_cast<std::size_t>(var)]);
                ++p;
                ++q;
            }
        }
        if (ok) return false;
    }
    return true;
}

bool disjoint(const Box& a, std::uint32_t mask_a, const Box& b, std::uint32_t mask_b) {
    if (a.never || b.never) return true;
    std::uint32_t states = mask_a & mask_b;
    if (states == 0) return true;
    for (const auto& [v, value] : a.vars) {
        auto it = std::lower_bound(b.vars.begin(), b.vars.end(), v, [](const auto& p, int x) { return p.first < x; });
        if (it != b.vars.end() && it->first == v && it->second != value) return true;
    }
    // A state both boxes allow stays allowed by the intersection unless a field both constrain
    // has no value in common there: per common field, which variants (or "absent") meet.
    auto p = a.fields.begin();
    auto q = b.fields.begin();
    while (p != a.fields.end() && q != b.fields.end() && states != 0) {
        if (p->first < q->first) {
            ++p;
        } else if (q->first < p->first) {
            ++q;
        } else {
            const auto& slots = slot_states(p->first);
            std::uint32_t keep = 0;
            if (p->second.absent && q->second.absent) keep |= slots[0];
            if (overlap(p->second.v[0], q->second.v[0])) keep |= slots[1];
            if (overlap(p->second.v[1], q->second.v[1])) keep |= slots[2];
            states &= keep;
            ++p;
            ++q;
        }
    }
    return states == 0;
}

namespace {

// Every interval of `a` inside one of `b` (both normalized).
bool subset(const Intervals& a, const Intervals& b) {
    std::size_t j = 0;
    for (const auto& x : a) {
        while (j < b.size() && b[j].hi < x.lo) ++j;
        if (j == b.size() || b[j].lo > x.lo || b[j].hi < x.hi) return false;
    }
    return true;
}

}  // namespace

bool within(const Box& a, std::uint32_t mask_a, const Box& b) {
    // As cover_rec splits it: a minus b is the union of the pieces a ∩ b1 ∩ … ∩ b(k-1) ∩ ¬bk,
    // one per constraint bk of b; a is within b when every piece is empty. A piece is empty when
    // no header state allows it; in a state, each field of b decides by the variant (or absence)
    // the state gives it: its values in a meet bj (j < k), or leave bk (j = k).
    if (a.never || mask_a == 0) return true;
    if (b.never) return false;
    struct Slots {
        FieldId canon;
        std::array<bool, 3> meet, leave;  // slot 0: absent, 1 + i: variant i
    };
    // Asked millions of times at 10k rules: the scratch vector is kept, not reallocated.
    static thread_local std::vector<Slots> cons;
    cons.clear();
    auto p = a.fields.begin();
    for (const auto& [f, bs] : b.fields) {
        while (p != a.fields.end() && p->first < f) ++p;
        const FieldSet* as = p != a.fields.end() && p->first == f ? &p->second : nullptr;
        Slots s{f, {}, {}};
        s.meet[0] = as ? as->absent && bs.absent : bs.absent;
        s.leave[0] = as ? as->absent && !bs.absent : !bs.absent;
        for (int v = 0; v < variant_count(f); ++v) {
            const auto k = static_cast<std::size_t>(v);
            if (as) {
                s.meet[k + 1] = overlap(as->v[k], bs.v[k]);
                s.leave[k + 1] = !subset(as->v[k], bs.v[k]);
            } else {
                s.meet[k + 1] = !bs.v[k].empty();
                // Normalized: b leaves nothing out only as the one interval [0, max].
                const Intervals& x = bs.v[k];
                s.leave[k + 1] = !(x.size() == 1 && x.front().lo == 0 && x.front().hi >= variant_max(f, v));
            }
        }
        cons.push_back(s);
    }
    // Field pieces: states where a is non-empty, every earlier field meets and field k leaves.
    std::uint32_t all_meet = mask_a;  // states where a ∩ b1 ∩ … ∩ b(k-1) is non-empty
    for (const Slots& s : cons) {
        const auto& slots = slot_states(s.canon);
        std::uint32_t leave = 0, meet = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            if (s.leave[k]) leave |= slots[k];
            if (s.meet[k]) meet |= slots[k];
        }
        if (all_meet & leave) return false;  // a non-empty piece
        all_meet &= meet;
    }
    if (all_meet == 0) return true;  // a ∩ (b's fields) is empty: nothing left for the vars
    // Var pieces: cur ∩ (var k negated), cur = a ∩ b's fields ∩ b's earlier vars.
    for (const auto& [v, value] : b.vars) {
        auto it = std::lower_bound(a.vars.begin(), a.vars.end(), v, [](const auto& x, int y) { return x.first < y; });
        const bool a_has = it != a.vars.end() && it->first == v;
        if (!a_has || it->second != value) return false;  // the piece with var v negated is non-empty
    }
    return true;
}

bool covered(const Box& a, std::span<const Box* const> bs, long& budget) {
    return cover_rec(a, bs, 0, budget);
}

}  // namespace weir::logic
