// Condition sets, conditions to DNF: a checked condition becomes conjunctions of literals, each
// literal the values of one canonical field it allows (or an opaque boolean when those are not
// pinned down), so the algebra of condition_sets.cpp can decide about it.
#include "condition_sets.hpp"

#include "source.hpp"

#include <algorithm>

namespace weir::logic {

namespace {

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


void key_element(std::string& k, const Element& e) {
    k += std::to_string(static_cast<int>(e.family)) + ":" + hex128(e.lo) + "-" + hex128(e.hi) + "/" +
         std::to_string(e.prefix) + ";";
}

}  // namespace

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
                if ((!v4 || !v6) && !(opts_.exact_not_in && v4 != v6)) return std::nullopt;
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
            const bool one_family = def.type == FieldType::IpAny && (per_family[0] == 0) != (per_family[1] == 0);
            each_variant(mask, [&](int i, Intervals& v, u128 max) {
                normalize(v);
                // exact_not_in: a family S does not hold makes `not in S` false (interp's member()).
                if (e.negated && one_family && per_family[static_cast<std::size_t>(i)] == 0) return;
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
