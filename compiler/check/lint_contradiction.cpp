// Lint, contradictions: a rule whose condition no packet satisfies. The warning names the
// smallest reason found (one impossible condition, two that exclude each other, headers no
// packet has together) and points at the conditions involved.
#include <optional>
#include <string>

#include "lint_internal.hpp"

namespace weir::lint_detail {

namespace {

// Why a conjunction is empty: lits[first] alone, or lits[first] with lits[second].
struct Conflict {
    enum class Kind { Single, Headers, Values, Negation, Many };
    Kind kind = Kind::Many;
    int first = -1;
    int second = -1;
};

std::string_view lit_field_name(const Lit& l) {
    if (l.atom && l.atom->kind == Expr::Kind::Limit) return "over";
    return l.atom && l.atom->kind == Expr::Kind::Payload ? std::string_view("payload") : field(l.field).name;
}

// The header a literal needs, as words ("a TCP header"); empty when it needs none.
std::string_view needed_header(const Lit& l) {
    if (l.kind != Lit::Kind::Field || l.set.absent) return {};
    bool v0 = !l.set.v[0].empty(), v1 = !l.set.v[1].empty();
    if (l.canon == FieldId::IpSrc || l.canon == FieldId::IpDst)
        return v0 && !v1 ? "an IPv4 header" : v1 && !v0 ? "an IPv6 header" : "an IP header";
    if (l.canon == FieldId::L4Sport || l.canon == FieldId::L4Dport)
        return v0 && !v1 ? "a TCP header" : v1 && !v0 ? "a UDP header" : "a TCP or UDP header";
    switch (field(l.field).header) {
        case Header::Vlan: return "a VLAN tag";
        case Header::Ip: return "an IP header";
        case Header::Ip4: return "an IPv4 header";
        case Header::Ip6: return "an IPv6 header";
        case Header::Tcp: return "a TCP header";
        case Header::Udp: return "a UDP header";
        case Header::L4: return "a TCP or UDP header";
        case Header::Icmp: return "an ICMP header";
        case Header::Icmp6: return "an ICMPv6 header";
        case Header::Eth:
        case Header::Pkt: return {};
    }
    return {};
}

bool is_named_set_use(const Lit& l) {
    return l.atom && l.atom->kind == Expr::Kind::In && l.atom->set >= 0;
}

// The smallest explanation of why the conjunction `c` is empty.
Conflict explain(const Space& space, const Conj& c) {
    const auto n = c.lits.size();
    for (std::size_t i = 0; i < n; ++i)
        if (logic::is_empty(logic::box_of(space.lit(c.lits[i]))))
            return {Conflict::Kind::Single, c.lits[i], -1};
    for (std::size_t j = 1; j < n; ++j) {
        const Lit& b = space.lit(c.lits[j]);
        for (std::size_t i = 0; i < j; ++i) {
            const Lit& a = space.lit(c.lits[i]);
            Box both = logic::box_of(a);
            logic::constrain(both, b);
            if (!logic::is_empty(both)) continue;
            Conflict k{Conflict::Kind::Values, c.lits[i], c.lits[j]};
            if (a.kind == Lit::Kind::Var || b.kind == Lit::Kind::Var)
                k.kind = Conflict::Kind::Negation;
            else if ((logic::state_mask(logic::box_of(a)) & logic::state_mask(logic::box_of(b))) == 0 &&
                     !needed_header(a).empty() && !needed_header(b).empty())
                k.kind = Conflict::Kind::Headers;
            return k;
        }
    }
    return {Conflict::Kind::Many, n ? c.lits[0] : -1, -1};
}

}  // namespace

// Reports a rule whose condition is never true; returns the code of the warning that says so
// ("empty-set" when the empty set's own warning does).
const char* Linter::report_contradiction(const Rule& rule, Space& space) {
    const std::string what = "rule '" + rule.name + "' can never match: ";
    auto all = space.dnf(rule.cond, /*drop_empty=*/false);
    if (!all || all->empty()) {
        auto& d = diags_.warning("contradiction", cond_loc(rule), what + "no packet satisfies its condition");
        d.notes.push_back({rule_loc(rule), "in rule '" + rule.name + "'"});
        return "contradiction";
    }
    // The first alternative not explained by an empty named set (empty-set says that already).
    std::optional<Conflict> why;
    for (const auto& c : *all) {
        Conflict k = explain(space, c);
        if (k.kind == Conflict::Kind::Single && is_named_set_use(space.lit(k.first))) continue;
        why = k;
        break;
    }
    if (!why) return "empty-set";
    const Lit* a = why->first >= 0 ? &space.lit(why->first) : nullptr;
    const Lit* b = why->second >= 0 ? &space.lit(why->second) : nullptr;
    const std::string fa = a ? std::string(lit_field_name(*a)) : std::string();
    const std::string fb = b ? std::string(lit_field_name(*b)) : std::string();

    if (all->size() > 1) {
        auto& d = diags_.warning("contradiction", cond_loc(rule),
                                 what + "every alternative of its condition is contradictory");
        if (a && b) {
            d.notes.push_back({a->range, "for example, this condition on " + fa + " ..."});
            d.notes.push_back({b->range, "... excludes this one on " + fb});
        } else if (a) {
            d.notes.push_back({a->range, "for example, this condition is never true"});
        }
        return "contradiction";
    }

    switch (why->kind) {
        case Conflict::Kind::Single: {
            const Expr& atom = *a->atom;
            bool empty_inline =
                atom.kind == Expr::Kind::In && atom.set < 0 && atom.elems.empty() && !a->negated;
            auto& d = diags_.warning("contradiction", cond_loc(rule),
                                     empty_inline ? what + "'" + fa + " in {}' tests an empty set"
                                                  : what + "no value of " + fa + " satisfies this condition");
            d.notes.push_back(
                {a->range, empty_inline ? "the empty set is here" : "this condition is never true"});
            return "contradiction";
        }
        case Conflict::Kind::Headers: {
            auto& d = diags_.warning("contradiction", b->range,
                                     what + "no packet has both " + std::string(needed_header(*a)) + " (" +
                                         fa + ") and " + std::string(needed_header(*b)) + " (" + fb + ")");
            d.notes.push_back({a->range, fa + " needs " + std::string(needed_header(*a)) + " here"});
            return "contradiction";
        }
        case Conflict::Kind::Values: {
            std::string msg = fa == fb ? "the two conditions on " + fa + " exclude each other"
                                       : "the conditions on " + fa + " and " + fb + " exclude each other";
            auto& d = diags_.warning("contradiction", b->range, what + msg);
            d.notes.push_back({a->range, "conflicting condition on " + fa + " here"});
            return "contradiction";
        }
        case Conflict::Kind::Negation: {
            auto& d =
                diags_.warning("contradiction", b->range, what + "it requires a condition and its negation");
            d.notes.push_back({a->range, "the other side is here"});
            return "contradiction";
        }
        case Conflict::Kind::Many: {
            auto& d = diags_.warning("contradiction", cond_loc(rule),
                                     what + "its conditions together exclude every packet");
            if (a) d.notes.push_back({a->range, "the first of the conflicting conditions"});
            return "contradiction";
        }
    }
    return "contradiction";
}

}  // namespace weir::lint_detail
