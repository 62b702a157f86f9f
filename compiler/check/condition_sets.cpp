#include "condition_sets.hpp"

#include "source.hpp"

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

// Variants of its canonical field that a field as written can take (bit i: variant i).
unsigned allowed_variants(FieldId f) {
    switch (f) {
        case FieldId::Ip4Src:
        case FieldId::Ip4Dst:
        case FieldId::TcpSport:
        case FieldId::TcpDport: return 1;
        case FieldId::Ip6Src:
        case FieldId::Ip6Dst:
        case FieldId::UdpSport:
        case FieldId::UdpDport: return 2;
        case FieldId::IpSrc:
        case FieldId::IpDst:
        case FieldId::L4Sport:
        case FieldId::L4Dport: return 3;
        default: return 1;
    }
}

bool is_address(FieldType t) {
    return t == FieldType::Ip4 || t == FieldType::Ip6 || t == FieldType::IpAny;
}

constexpr int kAllVariants = -2;
constexpr int kBadElement = -1;

// The variant an element of field `f` belongs to: an address's family picks it; other values
// belong to every variant the field allows.
int element_variant(FieldId f, const Element& e) {
    if (is_address(field(f).type)) {
        if (e.family == Family::V4) return 0;
        if (e.family == Family::V6) return 1;
        return kBadElement;
    }
    return e.family == Family::None ? kAllVariants : kBadElement;
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

std::string hex128(u128 v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    do {
        s.push_back(kDigits[static_cast<unsigned>(v & 0xf)]);
        v >>= 4;
    } while (v != 0);
    std::reverse(s.begin(), s.end());
    return s;
}

void key_element(std::string& k, const Element& e) {
    k += std::to_string(static_cast<int>(e.family)) + ":" + hex128(e.lo) + "-" + hex128(e.hi) + "/" +
         std::to_string(e.prefix) + ";";
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

// ---- conditions to DNF --------------------------------------------------------------------

std::optional<Dnf> Space::dnf(const Expr& e, bool drop_empty, std::size_t cap) {
    drop_empty_ = drop_empty;
    cap_ = cap;
    Dnf out;
    if (!build(e, false, SourceRange{}, out)) return std::nullopt;
    return out;
}

bool Space::build(const Expr& e, bool neg, SourceRange not_range, Dnf& out) {
    out.clear();
    switch (e.kind) {
        case Expr::Kind::True:
            if (!neg) out.push_back(Conj{});
            return true;
        case Expr::Kind::Not:
            if (e.kids.size() != 1) return false;
            return build(e.kids[0], !neg, e.range, out);
        case Expr::Kind::And:
        case Expr::Kind::Or: {
            if (e.kids.empty()) return false;
            bool product = (e.kind == Expr::Kind::And) != neg;
            if (!product) {
                for (const auto& kid : e.kids) {
                    Dnf k;
                    if (!build(kid, neg, SourceRange{}, k)) return false;
                    for (auto& c : k) out.push_back(std::move(c));
                    if (out.size() > cap_) return false;
                }
                return true;
            }
            out.push_back(Conj{});
            for (const auto& kid : e.kids) {
                Dnf k;
                if (!build(kid, neg, SourceRange{}, k)) return false;
                Dnf next;
                for (const auto& a : out) {
                    for (const auto& b : k) {
                        Conj c;
                        c.lits = a.lits;
                        c.lits.insert(c.lits.end(), b.lits.begin(), b.lits.end());
                        c.box = intersect(a.box, b.box);
                        if (drop_empty_ && is_empty(c.box)) continue;
                        next.push_back(std::move(c));
                        if (next.size() > cap_) return false;
                    }
                }
                out = std::move(next);
            }
            return true;
        }
        case Expr::Kind::Compare:
        case Expr::Kind::In:
        case Expr::Kind::Test:
        case Expr::Kind::Payload:
        case Expr::Kind::Limit: {
            lits_.push_back(make_lit(e, neg, not_range.valid() ? not_range : e.range));
            Conj c;
            c.lits.push_back(static_cast<int>(lits_.size() - 1));
            c.box = box_of(lits_.back());
            if (!(drop_empty_ && is_empty(c.box))) out.push_back(std::move(c));
            return true;
        }
    }
    return false;
}

Lit Space::make_lit(const Expr& e, bool neg, SourceRange range) {
    Lit l;
    l.atom = &e;
    l.negated = neg;
    l.range = range;
    l.field = e.field;
    if (auto set = value_set(e)) {
        l.kind = Lit::Kind::Field;
        l.canon = canonical(e.field);
        l.set = neg ? complement(l.canon, *set) : std::move(*set);
    } else {
        l.kind = Lit::Kind::Var;
        l.var = var_id(e);
        l.positive = !neg;
    }
    return l;
}

// The values (of the canonical field) for which the atom is true; nullopt when lint treats the
// atom as an opaque boolean.
std::optional<FieldSet> Space::value_set(const Expr& e) const {
    if (e.kind == Expr::Kind::Payload || e.kind == Expr::Kind::Limit) return std::nullopt;
    const FieldDef& def = field(e.field);
    FieldId canon = canonical(e.field);
    unsigned mask = allowed_variants(e.field);
    FieldSet out;

    auto each_variant = [&](unsigned m, auto&& fn) {
        for (int i = 0; i < variant_count(canon); ++i)
            if (m & (1u << i)) fn(i, out.v[static_cast<std::size_t>(i)], variant_max(canon, i));
    };

    switch (e.kind) {
        case Expr::Kind::Test:
            if (def.type != FieldType::Bool) return std::nullopt;
            out.v[0] = {{1, 1}};
            return out;
        case Expr::Kind::Compare: {
            int ev = element_variant(e.field, e.value);
            if (ev == kBadElement) return std::nullopt;
            if (ev != kAllVariants) mask &= 1u << ev;
            const u128 lo = e.value.lo, hi = e.value.hi;
            if (lo > hi) return std::nullopt;
            bool single = lo == hi;
            bool ok = true;
            each_variant(mask, [&](int, Intervals& v, u128 max) {
                switch (e.op) {
                    case Cmp::Eq:
                        if (lo <= max) v = {{lo, std::min(hi, max)}};
                        break;
                    case Cmp::Ne:
                        v = complement(lo <= max ? Intervals{{lo, std::min(hi, max)}} : Intervals{}, max);
                        break;
                    case Cmp::Lt:
                        if (lo > 0) v = {{0, std::min(lo - 1, max)}};
                        break;
                    case Cmp::Le: v = {{0, std::min(lo, max)}}; break;
                    case Cmp::Gt:
                        if (lo < max) v = {{lo + 1, max}};
                        break;
                    case Cmp::Ge:
                        if (lo <= max) v = {{lo, max}};
                        break;
                }
                if (e.op != Cmp::Eq && e.op != Cmp::Ne && !single) ok = false;
            });
            if (!ok) return std::nullopt;
            return out;
        }
        case Expr::Kind::In: {
            const std::vector<Element>* elems = &e.elems;
            if (e.set >= 0) {
                if (static_cast<std::size_t>(e.set) >= program_.sets.size()) return std::nullopt;
                elems = &program_.sets[static_cast<std::size_t>(e.set)].elems;
            }
            if (def.type == FieldType::IpAny && e.negated) {
                // `ip.src not in S` is exact only when S holds both families: whether it is true
                // for a family S does not mention is not pinned down.
                bool v4 = std::any_of(elems->begin(), elems->end(),
                                      [](const Element& x) { return x.family == Family::V4; });
                bool v6 = std::any_of(elems->begin(), elems->end(),
                                      [](const Element& x) { return x.family == Family::V6; });
                if (!v4 || !v6) return std::nullopt;
            }
            // Sized first: a set of a million addresses is built without regrowing.
            std::array<std::size_t, 2> per_family{};
            for (const auto& x : *elems) ++per_family[x.family == Family::V6 ? 1 : 0];
            each_variant(mask, [&](int i, Intervals& v, u128) {
                v.reserve(is_address(def.type) ? per_family[static_cast<std::size_t>(i)] : elems->size());
                advise_huge_pages(v.data(), v.capacity() * sizeof(Interval));
            });
            for (const auto& x : *elems) {
                int ev = element_variant(e.field, x);
                if (ev == kBadElement || x.lo > x.hi) return std::nullopt;
                unsigned m = ev == kAllVariants ? mask : mask & (1u << ev);
                each_variant(m, [&](int, Intervals& v, u128 max) {
                    if (x.lo <= max) v.push_back({x.lo, std::min(x.hi, max)});
                });
            }
            each_variant(mask, [&](int, Intervals& v, u128 max) {
                normalize(v);
                if (e.negated) v = complement(v, max);
            });
            return out;
        }
        default: return std::nullopt;
    }
}

int Space::var_id(const Expr& e) {
    std::string k = std::to_string(static_cast<int>(e.kind)) + "|" +
                    std::to_string(static_cast<int>(e.field)) + "|" + std::to_string(static_cast<int>(e.op)) +
                    "|" + (e.negated ? "n" : "p") + "|" + std::to_string(e.set) + "|";
    if (e.kind == Expr::Kind::Compare) key_element(k, e.value);
    if (e.kind == Expr::Kind::In && e.set < 0)
        for (const auto& x : e.elems) key_element(k, x);
    // Every `over` is its own state: never the same boolean as another atom.
    if (e.kind == Expr::Kind::Limit) k += "limit@" + std::to_string(reinterpret_cast<std::uintptr_t>(&e));
    if (e.kind == Expr::Kind::Payload) {
        k += std::to_string(e.offset) + "|";
        for (auto byte : e.bytes) k += hex128(byte) + ",";
    }
    auto [it, inserted] = vars_.try_emplace(k, static_cast<int>(vars_.size()));
    return it->second;
}

}  // namespace weir::logic
