// Checker, policies: each rule's name, action and condition. A condition's fields are looked
// up in the field table, its values converted to the field's domain, and IP fields narrowed to
// the family of their values (ip.src -> ip4.src) so later stages see one width.
#include <algorithm>
#include <functional>

#include "sema_check.hpp"
#include "values.hpp"

namespace weir::sema_detail {

namespace {

using K = ast::Value::Kind;

// A port is a 16-bit TCP/UDP/L4 field named *port.
bool is_port_field(const FieldDef& f) {
    bool l4 = f.header == Header::Tcp || f.header == Header::Udp || f.header == Header::L4;
    return l4 && f.type == FieldType::Int && f.name.ends_with("port");
}

bool set_fits_field(SetType t, const FieldDef& f) {
    switch (t) {
        case SetType::Ip: return f.type == FieldType::IpAny || f.type == FieldType::Ip4 || f.type == FieldType::Ip6;
        case SetType::Ip4: return f.type == FieldType::IpAny || f.type == FieldType::Ip4;
        case SetType::Ip6: return f.type == FieldType::IpAny || f.type == FieldType::Ip6;
        case SetType::Mac: return f.type == FieldType::Mac;
        case SetType::Port: return is_port_field(f);
        case SetType::Proto: return f.type == FieldType::Int && f.symbols == SymbolTable::Proto;
    }
    return false;
}

// ip.src -> ip4.src / ip6.src, by the table's naming of the family-specific fields.
FieldId family_field(const FieldDef& f, Family fam) {
    if (f.type != FieldType::IpAny || fam == Family::None) return f.id;
    auto dot = f.name.find('.');
    std::string n = std::string(f.name.substr(0, dot)) + (fam == Family::V4 ? "4" : "6") +
                    std::string(f.name.substr(dot));
    const FieldDef* g = find_field(n);
    return g ? g->id : f.id;
}

// The family all elements share, None if mixed or empty.
Family common_family(const std::vector<Element>& els) {
    if (els.empty()) return Family::None;
    Family f = els.front().family;
    for (const auto& e : els)
        if (e.family != f) return Family::None;
    return f;
}

Cmp to_cmp(ast::CmpOp op) {
    switch (op) {
        case ast::CmpOp::Eq: return Cmp::Eq;
        case ast::CmpOp::Ne: return Cmp::Ne;
        case ast::CmpOp::Lt: return Cmp::Lt;
        case ast::CmpOp::Le: return Cmp::Le;
        case ast::CmpOp::Gt: return Cmp::Gt;
        case ast::CmpOp::Ge: return Cmp::Ge;
    }
    return Cmp::Eq;
}

SourceRange span(SourceRange a, SourceRange b) {
    if (!a.valid()) return b;
    if (!b.valid() || a.file != b.file) return a;
    return {a.file, std::min(a.begin, b.begin), std::max(a.end, b.end)};
}

}  // namespace

const FieldDef* Checker::lookup_field(const ast::Name& n) {
    if (const FieldDef* f = find_field(n.text)) return f;
    std::vector<std::string> cands;
    for (const auto& f : all_fields()) cands.emplace_back(f.name);
    std::string hint = did_you_mean(n.text, cands);
    diags_.error("unknown-field", n.range,
                 "unknown field '" + n.text + "'" + (hint.empty() ? " (`weir fields` lists them)" : hint));
    return nullptr;
}

// The field a comparison or set match reads; nullptr after an error when it is unknown or a
// flag (flags are only tested bare). `cannot(name)` ends "NAME is a flag and cannot be ...".
const FieldDef* Checker::lookup_value_field(const ast::Expr& e,
                                            const std::function<std::string(std::string_view)>& cannot) {
    const FieldDef* f = lookup_field(e.field);
    if (!f || f->type != FieldType::Bool) return f;
    diags_.error("flag-compare", e.range, std::string(f->name) + " is a flag and cannot be " + cannot(f->name));
    return nullptr;
}

Expr Checker::check_compare(const ast::Expr& e) {
    Expr out;
    out.range = e.range;
    const FieldDef* f = lookup_value_field(e, [](std::string_view name) {
        return "compared; test it bare (" + std::string(name) + " or not " + std::string(name) + ")";
    });
    if (!f) return out;
    bool ordering = e.op != ast::CmpOp::Eq && e.op != ast::CmpOp::Ne;
    if (ordering && f->type != FieldType::Int) {
        diags_.error("invalid-operator", e.range,
                     std::string("'") + cmp_text(e.op) + "' compares numbers; " + field_domain(*f).desc);
        return out;
    }
    const ast::Item& rhs = e.rhs;
    if (!rhs.hi && rhs.lo.kind == K::Const) {
        auto it = names_.find(rhs.lo.text);
        if (it != names_.end() && it->second.kind == NameKind::Const && consts_[it->second.index]->is_set) {
            auto& d = diags_.error("set-compare", rhs.range,
                                   "$" + rhs.lo.text + " is a set of values; use `" + e.field.text + " in $" +
                                       rhs.lo.text + "`");
            d.notes.push_back({it->second.range, "'" + rhs.lo.text + "' is defined here"});
            return out;
        }
    }
    std::vector<Element> els;
    expand_item(rhs, field_domain(*f), els);
    if (els.size() != 1) return out;
    const Element& v = els.front();
    bool single = v.lo == v.hi && (v.family == Family::None || v.prefix == width_of(v.family));
    if (ordering && !single) {
        diags_.error("invalid-operator", rhs.range,
                     std::string("'") + cmp_text(e.op) + "' takes a single value, not a range; use == for \"within\"");
        return out;
    }
    out.kind = Expr::Kind::Compare;
    out.field = family_field(*f, v.family);
    out.op = to_cmp(e.op);
    out.value = v;
    return out;
}

Expr Checker::check_in(const ast::Expr& e, Policy& pol) {
    Expr out;
    out.range = e.range;
    const FieldDef* f =
        lookup_value_field(e, [](std::string_view) { return std::string("matched against a set; test it bare"); });
    if (!f) return out;
    out.kind = Expr::Kind::In;
    out.negated = e.kind == ast::Expr::Kind::NotIn;
    out.field = f->id;
    const ast::SetRef& s = *e.set;
    if (s.kind == ast::SetRef::Kind::Named) {
        auto it = names_.find(s.name.text);
        if (it == names_.end() || it->second.kind != NameKind::Set) {
            std::vector<std::string> cands;
            for (const auto& [n, x] : names_)
                if (x.kind == NameKind::Set) cands.push_back(n);
            auto& d = diags_.error("unknown-set", s.range,
                                   "unknown set '@" + s.name.text + "'" + did_you_mean(s.name.text, cands));
            if (it != names_.end()) d.notes.push_back({it->second.range, "'" + s.name.text + "' is not a set"});
            out.kind = Expr::Kind::True;
            return out;
        }
        const SetDef& def = prog_.sets[it->second.index];
        if (!set_fits_field(def.type, *f)) {
            auto& d = diags_.error("type-mismatch", s.range,
                                   "set '" + def.name + "' holds " + set_type_holds(def.type) + " (" +
                                       set_type_name(def.type) + "); " + field_domain(*f).desc);
            d.notes.push_back({def.name_range, "'" + def.name + "' is declared here"});
            out.kind = Expr::Kind::True;
            return out;
        }
        out.set = it->second.index;
        pol.sets.push_back(out.set);
        if (def.type == SetType::Ip4) out.field = family_field(*f, Family::V4);
        if (def.type == SetType::Ip6) out.field = family_field(*f, Family::V6);
        return out;
    }
    Domain d = field_domain(*f);
    if (s.kind == ast::SetRef::Kind::Const) {
        ast::Item item;
        item.lo.kind = K::Const;
        item.lo.text = s.name.text;
        item.lo.range = s.range;  // `$name`, sigil included
        item.range = item.lo.range;
        expand_item(item, d, out.elems);
    } else {
        for (const auto& it : s.items) expand_item(it, d, out.elems);
    }
    out.field = family_field(*f, common_family(out.elems));
    return out;
}

Expr Checker::check_payload(const ast::Expr& e) {
    Expr out;
    out.range = e.range;
    auto off = parse_uint(e.payload->offset, kPayloadWindow, "payload offset", diags_);
    auto len = parse_uint(e.payload->length, kPayloadWindow, "payload length", diags_);
    bool ok = off && len;
    if (len && *len == 0) {
        diags_.error("payload-bounds", e.payload->length.range, "payload length must be at least 1 byte");
        ok = false;
    } else if (off && len && *off + *len > kPayloadWindow) {
        diags_.error("payload-bounds", span(e.payload->offset.range, e.payload->length.range),
                     "payload[" + num(*off) + ":" + num(*len) + "] ends at byte " + num(*off + *len) +
                         ", past the " + num(kPayloadWindow) + "-byte payload window (offset + length <= " +
                         num(kPayloadWindow) + ")");
        ok = false;
    }
    const ast::Value& b = e.payload->bytes;
    std::vector<std::uint8_t> bytes;
    if (b.kind == K::String) {
        bytes.assign(b.text.begin(), b.text.end());
    } else if (bool hex = b.text.size() > 1 && (b.text[1] == 'x' || b.text[1] == 'X');
               b.kind == K::Bytes || (b.kind == K::Int && hex)) {
        std::string problem;
        auto h = hex_bytes(b.text, false, problem);
        if (!h) {
            diags_.error("invalid-hex", b.range, "payload bytes " + shown(b) + ": " + problem);
            return out;
        }
        bytes = *h;
    } else {
        diags_.error("type-mismatch", b.range,
                     "payload bytes are a string or 0x hex; " + shown(b) + " is " + kind_desc(b.kind));
        return out;
    }
    if (len && *len != 0 && bytes.size() != *len) {
        diags_.error("payload-length", b.range,
                     "payload[" + (off ? num(*off) : e.payload->offset.text) + ":" + num(*len) + "] compares " + num(*len) +
                         " byte" + (*len == 1 ? "" : "s") + " but " + shown(b) + " is " + num(bytes.size()) +
                         " byte" + (bytes.size() == 1 ? "" : "s"));
        ok = false;
    }
    if (!ok) return out;
    out.kind = Expr::Kind::Payload;
    out.op = to_cmp(e.op);
    out.offset = static_cast<std::uint16_t>(*off);
    out.bytes = std::move(bytes);
    return out;
}

Expr Checker::check_expr(const ast::Expr& e, Policy& pol) {
    using EK = ast::Expr::Kind;
    switch (e.kind) {
        case EK::And:
        case EK::Or:
        case EK::Not: {
            Expr out;
            out.range = e.range;
            out.kind = e.kind == EK::And ? Expr::Kind::And : e.kind == EK::Or ? Expr::Kind::Or : Expr::Kind::Not;
            for (const auto& k : e.kids) out.kids.push_back(check_expr(k, pol));
            return out;
        }
        case EK::Test: {
            Expr out;
            out.range = e.range;
            const FieldDef* f = lookup_field(e.field);
            if (!f) return out;
            if (f->type != FieldType::Bool) {
                diags_.error("not-a-flag", e.field.range,
                             std::string(f->name) + " is not a flag and cannot be tested bare; compare it (" +
                                 field_domain(*f).desc + ")");
                return out;
            }
            out.kind = Expr::Kind::Test;
            out.field = f->id;
            return out;
        }
        case EK::Compare: return check_compare(e);
        case EK::In:
        case EK::NotIn: return check_in(e, pol);
        case EK::Payload: return check_payload(e);
        case EK::Over: return check_over(e, current_rule_);
    }
    return {};
}

void Checker::check_policy(const ast::Policy& p, Policy& out, ast::Policy* release) {
    // The grammar admits only `default pass` and `default drop` (anything else is `syntax`).
    out.default_verdict = p.default_verdict.text == "drop" ? Verdict::Drop : Verdict::Pass;
    std::map<std::string, SourceRange> seen;
    out.rules.reserve(p.rules.size());  // one allocation: a 100k-rule policy doubling its vector costs ~40 MiB
    for (std::size_t ri = 0; ri < p.rules.size(); ++ri) {
        const ast::Rule& r = p.rules[ri];
        Rule rule;
        rule.name = r.name.text;
        rule.range = r.range;
        rule.name_range = r.name.range;
        if (r.name.text == "default") {
            diags_.error("reserved-name", r.name.range,
                         "'default' cannot name a rule; `expect ... by default` means the policy default");
        } else if (auto [it, fresh] = seen.try_emplace(r.name.text, r.name.range); !fresh) {
            auto& d = diags_.error("duplicate-rule", r.name.range,
                                   "policy '" + p.name.text + "' already has a rule named '" + r.name.text + "'");
            d.notes.push_back({it->second, "first defined here"});
        }
        rule.action.range = r.action.range;
        using AK = ast::Action::Kind;
        switch (r.action.kind) {
            case AK::Pass: rule.action.kind = Action::Kind::Pass; break;
            case AK::Drop: rule.action.kind = Action::Kind::Drop; break;
            case AK::Tx: rule.action.kind = Action::Kind::Tx; break;
            case AK::Count: rule.action.kind = Action::Kind::Count; break;
            case AK::Redirect: {
                rule.action.kind = Action::Kind::Redirect;
                rule.action.ifname = r.action.target.text;
                std::string problem = r.action.target.kind == K::String
                                          ? iface_problem(r.action.target.text)
                                          : "redirect takes an interface name string, e.g. redirect \"eth1\"";
                if (!problem.empty())
                    diags_.error("invalid-iface",
                                 r.action.target.range.valid() ? r.action.target.range : r.action.range, problem);
                break;
            }
            case AK::Log: check_log(r.action, rule.action, diags_); break;
        }
        if (r.cond) {
            rule.has_cond = true;
            current_rule_ = r.name.text;
            rule.cond = check_expr(*r.cond, out);
            place_limit(rule);
            // Consuming the syntax tree: its condition is not needed again, so the syntax and
            // checked forms of a large policy are not both held at once.
            if (release) release->rules[ri].cond.reset();
        } else {
            rule.cond.kind = Expr::Kind::True;
            rule.cond.range = r.range;
        }
        out.rules.push_back(std::move(rule));
    }
    std::sort(out.sets.begin(), out.sets.end());
    out.sets.erase(std::unique(out.sets.begin(), out.sets.end()), out.sets.end());
}

}  // namespace weir::sema_detail
