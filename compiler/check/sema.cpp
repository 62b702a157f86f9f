// Stage 2: AST -> checked Program. This file holds the driver (declare every name, then check
// sets, policies, tests and alerts in order) and the wording helpers every part shares. The
// parts, by what they check: sema_values.cpp (literals, ranges, constants), sema_sets.cpp (set
// declarations and set files), sema_rules.cpp (policies, rules and conditions),
// sema_testblocks.cpp, sema_alerts.cpp, sema_log.cpp, sema_limit.cpp.
#include "sema.hpp"

#include <algorithm>
#include <cctype>

#include "sema_check.hpp"
#include "values.hpp"

namespace weir {

namespace sema_detail {

std::string num(std::uint64_t v) { return std::to_string(v); }

Domain field_domain(const FieldDef& f, std::string_view label) {
    Domain d;
    d.type = f.type;
    d.syms = f.symbols;
    d.what = label.empty() ? std::string(f.name) : std::string(label);
    switch (f.type) {
        case FieldType::Int:
            d.max = field_max(f);
            d.desc = d.what + " is a number (0-" + num(d.max) + ")";
            if (f.symbols != SymbolTable::None) {
                std::string table(symbol_table_name(f.symbols));
                bool vowel = std::string_view("aeiouAEIOU").find(table[0]) != std::string_view::npos;
                d.desc = d.what + " is a number (0-" + num(d.max) + ") or " + (vowel ? "an " : "a ") + table + " name";
            }
            break;
        case FieldType::Bool: d.desc = d.what + " is a flag"; break;
        case FieldType::Ip4: d.desc = d.what + " is an IPv4 address"; break;
        case FieldType::Ip6: d.desc = d.what + " is an IPv6 address"; break;
        case FieldType::IpAny: d.desc = d.what + " is an IPv4 or IPv6 address"; break;
        case FieldType::Mac: d.desc = d.what + " is a MAC address"; break;
        case FieldType::Iface: d.desc = d.what + " is an interface name (a string)"; break;
    }
    return d;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_d = ~std::size_t{0};
    for (const auto& c : candidates) {
        std::size_t d = edit_distance(word, c);
        if (d < best_d) {
            best_d = d;
            best = c;
        }
    }
    std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
    return best_d <= limit && best_d > 0 ? best : "";
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
    std::string c = closest(word, candidates);
    return c.empty() ? "" : "; did you mean '" + c + "'?";
}

std::string iface_problem(std::string_view name) {
    if (name.empty()) return "an interface name cannot be empty";
    if (name.size() > 15)
        return "interface name " + quote_string(name) + " is " + num(name.size()) +
               " bytes long; Linux allows at most 15";
    for (char c : name)
        if (c == '/' || std::isspace(static_cast<unsigned char>(c)) || c == 0)
            return "interface name " + quote_string(name) + " contains '/', a space or a NUL byte";
    return "";
}

std::optional<std::vector<std::uint8_t>> hex_bytes(std::string_view text, bool spaces, std::string& problem) {
    if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.remove_prefix(2);
    std::string digits;
    for (char c : text) {
        if (spaces && std::isspace(static_cast<unsigned char>(c))) continue;
        if (!std::isxdigit(static_cast<unsigned char>(c))) {
            problem = std::string("'") + c + "' is not a hex digit";
            return std::nullopt;
        }
        digits += c;
    }
    if (digits.empty()) {
        problem = "no hex digits";
        return std::nullopt;
    }
    if (digits.size() % 2) {
        problem = "odd number of hex digits (" + num(digits.size()) + "); each byte needs two";
        return std::nullopt;
    }
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < digits.size(); i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoi(digits.substr(i, 2), nullptr, 16)));
    return out;
}

// ---------------------------------------------------------------------------------------------
// Declarations

bool Checker::declare_name(const ast::Name& n, NameKind kind, int index) {
    auto [it, fresh] = names_.try_emplace(n.text, NameEntry{kind, index, n.range});
    if (fresh) return true;
    auto& d = diags_.error("duplicate-name", n.range,
                           "'" + n.text + "' is already defined; constants, sets and policies share one namespace");
    d.notes.push_back({it->second.range, "first defined here"});
    return false;
}

void Checker::declare(const ast::File& file) {
    for (const auto& decl : file.decls) {
        if (const auto* c = std::get_if<ast::Const>(&decl)) {
            if (declare_name(c->name, NameKind::Const, static_cast<int>(consts_.size()))) consts_.push_back(c);
        } else if (const auto* s = std::get_if<ast::SetDecl>(&decl)) {
            if (!declare_name(s->name, NameKind::Set, static_cast<int>(prog_.sets.size()))) continue;
            SetDef def;
            def.name = s->name.text;
            def.range = s->range;
            def.name_range = s->name.range;
            def.from_file = s->from_file;
            auto t = set_type_from(s->type.text);
            if (t) def.type = *t;
            else
                diags_.error("unknown-set-type", s->type.range,
                             "unknown set type '" + s->type.text + "'" +
                                 did_you_mean(s->type.text, {"ip", "ip4", "ip6", "mac", "port", "proto"}) +
                                 " (expected ip, ip4, ip6, mac, port or proto)");
            prog_.sets.push_back(std::move(def));
        } else if (const auto* p = std::get_if<ast::Policy>(&decl)) {
            if (!declare_name(p->name, NameKind::Policy, static_cast<int>(prog_.policies.size()))) continue;
            Policy pol;
            pol.name = p->name.text;
            pol.range = p->range;
            pol.name_range = p->name.range;
            prog_.policies.push_back(std::move(pol));
            policy_decls_.push_back(p);
        }
    }
}

Program Checker::run(const std::vector<ast::File>& files, std::vector<ast::File>* owned) {
    for (const auto& f : files) declare(f);
    // Sets and policies in declaration order; duplicates are checked too but not kept.
    for (const auto& f : files) {
        for (const auto& decl : f.decls) {
            if (const auto* s = std::get_if<ast::SetDecl>(&decl)) {
                auto it = names_.find(s->name.text);
                if (it->second.range == s->name.range) {
                    check_set(*s, prog_.sets[it->second.index], f.id);
                } else {
                    SetDef scratch;
                    scratch.name = s->name.text;
                    scratch.type = set_type_from(s->type.text).value_or(SetType::Ip);
                    check_set(*s, scratch, f.id);
                }
            }
        }
    }
    for (std::size_t fi = 0; fi < files.size(); ++fi) {
        for (std::size_t di = 0; di < files[fi].decls.size(); ++di) {
            if (const auto* p = std::get_if<ast::Policy>(&files[fi].decls[di])) {
                auto it = names_.find(p->name.text);
                ast::Policy* release = owned ? std::get_if<ast::Policy>(&(*owned)[fi].decls[di]) : nullptr;
                if (it->second.range == p->name.range) {
                    check_policy(*p, prog_.policies[it->second.index], release);
                } else {
                    Policy scratch;
                    check_policy(*p, scratch, release);
                }
            }
        }
    }
    for (const auto& f : files)
        for (const auto& decl : f.decls)
            if (const auto* t = std::get_if<ast::Test>(&decl)) check_test(*t, f.id);
    for (const auto& f : files)
        for (const auto& decl : f.decls)
            if (const auto* a = std::get_if<ast::Alert>(&decl)) check_alert(*a, f.id);
    return std::move(prog_);
}

}  // namespace sema_detail

Program check(SourceManager& sm, const std::vector<ast::File>& files, Diagnostics& diags) {
    sema_detail::Checker c(sm, diags);
    return c.run(files, nullptr);
}

Program check(SourceManager& sm, std::vector<ast::File>&& files, Diagnostics& diags) {
    sema_detail::Checker c(sm, diags);
    Program p = c.run(files, &files);
    std::vector<ast::File>().swap(files);
    return p;
}

}  // namespace weir
