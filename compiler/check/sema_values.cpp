// Checker, values: literals of the source converted to elements of a field's or set's domain,
// ranges checked, constants expanded (with cycle detection and notes at each use). Separate
// from the rules because set files and test blocks convert values the same way.
#include <algorithm>

#include "sema_check.hpp"
#include "values.hpp"

namespace weir::sema_detail {

namespace {

using K = ast::Value::Kind;

}  // namespace

// "a number", "an IPv4 address": what a literal of this kind is.
std::string kind_desc(K k) {
    switch (k) {
        case K::Int: return "a number";
        case K::Ipv4: return "an IPv4 address";
        case K::Ipv6: return "an IPv6 address";
        case K::Mac: return "a MAC address";
        case K::Symbol: return "a name";
        case K::Const: return "a constant";
        case K::String: return "a string";
        case K::Bytes: return "a byte string";
    }
    return "a value";
}

std::string shown(const ast::Value& v) {
    if (v.kind == K::String) return quote_string(v.text);
    if (v.kind == K::Const) return "$" + v.text;
    if (v.kind == K::Bytes) return "0x" + v.text;
    return v.text;
}

std::optional<Element> Checker::convert_value(const ast::Value& v, const Domain& d, Diagnostics& out) {
    auto mismatch = [&] {
        out.error("type-mismatch", v.range, d.desc + "; " + shown(v) + " is " + kind_desc(v.kind));
        return std::nullopt;
    };
    switch (d.type) {
        case FieldType::Int: {
            if (v.kind == K::Int) {
                auto n = parse_uint(v, d.max, d.what, out);
                if (!n) return std::nullopt;
                Element e;
                e.lo = e.hi = *n;
                e.range = v.range;
                return e;
            }
            if (v.kind != K::Symbol) return mismatch();
            if (d.syms == SymbolTable::None) {
                out.error("unknown-symbol", v.range,
                          d.desc + " and has no symbolic names; '" + v.text + "' is a name");
                return std::nullopt;
            }
            auto s = find_symbol(d.syms, v.text);
            if (!s || *s > d.max) {
                std::vector<std::string> all;
                for (const auto& sym : symbols(d.syms)) all.emplace_back(sym.name);
                std::vector<std::string> some = all;
                std::sort(some.begin(), some.end(), [&](const std::string& a, const std::string& b) {
                    auto da = edit_distance(v.text, a), db = edit_distance(v.text, b);
                    return da != db ? da < db : a < b;
                });
                if (some.size() > 5) some.resize(5);
                std::string list;
                for (const auto& s2 : some) list += (list.empty() ? "" : ", ") + s2;
                out.error("unknown-symbol", v.range,
                          "unknown " + std::string(symbol_table_name(d.syms)) + " '" + v.text + "' for " +
                              d.what + did_you_mean(v.text, all) + " (valid names include " + list + ")");
                return std::nullopt;
            }
            Element e;
            e.lo = e.hi = *s;
            e.range = v.range;
            return e;
        }
        case FieldType::Ip4:
        case FieldType::Ip6:
        case FieldType::IpAny: {
            if (v.kind != K::Ipv4 && v.kind != K::Ipv6) return mismatch();
            auto e = parse_ip(v, out);
            if (!e) return std::nullopt;
            Family want = d.type == FieldType::Ip4 ? Family::V4 : d.type == FieldType::Ip6 ? Family::V6 : e->family;
            if (e->family != want) {
                out.error("type-mismatch", v.range,
                          d.desc + "; " + v.text + " is " + (e->family == Family::V4 ? "IPv4" : "IPv6"));
                return std::nullopt;
            }
            return e;
        }
        case FieldType::Mac:
            if (v.kind != K::Mac) return mismatch();
            return parse_mac(v, out);
        case FieldType::Iface: {
            if (v.kind != K::String) return mismatch();
            std::string problem = iface_problem(v.text);
            if (!problem.empty()) {
                out.error("invalid-iface", v.range, problem);
                return std::nullopt;
            }
            Element e = iface_element(v.text);
            e.range = v.range;
            return e;
        }
        case FieldType::Bool: return mismatch();
    }
    return std::nullopt;
}

std::optional<Element> Checker::convert_item(const ast::Item& it, const Domain& d, Diagnostics& out) {
    if (!it.hi) return convert_value(it.lo, d, out);
    const ast::Value& lo = it.lo;
    const ast::Value& hi = *it.hi;
    if (lo.kind == K::Const || hi.kind == K::Const) {
        out.error("const-range-bound", lo.kind == K::Const ? lo.range : hi.range,
                  "a constant cannot be a range bound; define the whole range as a constant (const r = 1-10)");
        return std::nullopt;
    }
    if (lo.kind == K::Symbol || hi.kind == K::Symbol) {
        out.error("symbol-range", lo.kind == K::Symbol ? lo.range : hi.range,
                  "'" + (lo.kind == K::Symbol ? lo.text : hi.text) +
                      "' is a name; range bounds must be numbers or addresses");
        return std::nullopt;
    }
    if (d.type == FieldType::Iface || d.type == FieldType::Bool) {
        out.error("invalid-range", it.range, d.desc + " and cannot take a range");
        return std::nullopt;
    }
    auto a = convert_value(lo, d, out);
    auto b = convert_value(hi, d, out);
    if (!a || !b) return std::nullopt;
    if (a->family != b->family) {
        out.error("type-mismatch", it.range,
                  "range bounds must be the same address family; " + lo.text + " and " + hi.text + " are not");
        return std::nullopt;
    }
    if (a->family != Family::None) {
        for (const Element* x : {&*a, &*b})
            if (x->prefix != width_of(x->family)) {
                out.error("invalid-range", x->range,
                          "range bounds must be single addresses, not prefixes; write the range as a CIDR "
                          "or its first and last address");
                return std::nullopt;
            }
    }
    if (a->lo > b->hi) {
        out.error("inverted-range", it.range,
                  "range " + lo.text + "-" + hi.text + " is inverted: " + lo.text + " is greater than " + hi.text);
        return std::nullopt;
    }
    Element e;
    e.family = a->family;
    e.lo = a->lo;
    e.hi = b->hi;
    e.prefix = -1;
    e.range = it.range;
    return e;
}

int Checker::lookup_const(const std::string& name, SourceRange use) {
    auto it = names_.find(name);
    if (it != names_.end() && it->second.kind == NameKind::Const) return it->second.index;
    if (it != names_.end()) {
        bool set = it->second.kind == NameKind::Set;
        auto& d = diags_.error("unknown-const", use,
                               "'" + name + "' is a " + (set ? "named set" : "policy") + ", not a constant" +
                                   (set ? "; write @" + name : ""));
        d.notes.push_back({it->second.range, "'" + name + "' is defined here"});
        return -1;
    }
    std::vector<std::string> cands;
    for (const auto& [n, e] : names_)
        if (e.kind == NameKind::Const) cands.push_back(n);
    diags_.error("unknown-const", use, "unknown constant '$" + name + "'" + did_you_mean(name, cands));
    return -1;
}

void Checker::expand_item(const ast::Item& it, const Domain& d, std::vector<Element>& out) {
    if (!it.hi && it.lo.kind == K::Const) {
        int ci = lookup_const(it.lo.text, it.lo.range);
        if (ci < 0) return;
        const ast::Const& c = *consts_[ci];
        if (std::find(const_stack_.begin(), const_stack_.end(), ci) != const_stack_.end()) {
            auto& diag = diags_.error("const-cycle", it.lo.range,
                                      "constant '" + c.name.text + "' refers to itself");
            diag.notes.push_back({c.name.range, "'" + c.name.text + "' is defined here"});
            return;
        }
        const_stack_.push_back(ci);
        uses_.push_back(it.lo.range);
        if (c.is_set)
            for (const auto& x : c.set.items) expand_item(x, d, out);
        else
            expand_item(c.value, d, out);
        uses_.pop_back();
        const_stack_.pop_back();
        return;
    }
    if (uses_.empty()) {
        if (auto e = convert_item(it, d, diags_)) out.push_back(*e);
        return;
    }
    // Inside a constant: the error is at the item, with notes at each use (innermost first).
    Diagnostics tmp;
    auto e = convert_item(it, d, tmp);
    for (Diagnostic diag : tmp.list()) {
        for (auto u = uses_.rbegin(); u != uses_.rend(); ++u) diag.notes.push_back({*u, "used here"});
        diags_.add(std::move(diag));
    }
    if (e) out.push_back(*e);
}

}  // namespace weir::sema_detail
