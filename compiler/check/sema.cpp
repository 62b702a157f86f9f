// Stage 2: AST -> checked Program. Declarations, values, sets and rule expressions live here;
// test blocks are checked in sema_testblocks.cpp.
#include "sema.hpp"

#include <algorithm>
#include <cctype>

#include "sema_check.hpp"
#include "values.hpp"

namespace weir {

namespace sema_detail {

namespace {

using K = ast::Value::Kind;

std::string num(std::uint64_t v) { return std::to_string(v); }

int width_of(Family f) { return f == Family::V6 ? 128 : 32; }

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


const char* set_type_holds(SetType t) {
    switch (t) {
        case SetType::Ip: return "IPv4 and IPv6 addresses";
        case SetType::Ip4: return "IPv4 addresses";
        case SetType::Ip6: return "IPv6 addresses";
        case SetType::Mac: return "MAC addresses";
        case SetType::Port: return "ports";
        case SetType::Proto: return "protocols";
    }
    return "";
}

std::optional<SetType> set_type_from(std::string_view s) {
    for (SetType t : {SetType::Ip, SetType::Ip4, SetType::Ip6, SetType::Mac, SetType::Port, SetType::Proto})
        if (s == set_type_name(t)) return t;
    return std::nullopt;
}

Domain set_domain(SetType t, const std::string& name) {
    Domain d;
    d.desc = "set '" + name + "' holds " + set_type_holds(t);
    switch (t) {
        case SetType::Ip: d.type = FieldType::IpAny; break;
        case SetType::Ip4: d.type = FieldType::Ip4; break;
        case SetType::Ip6: d.type = FieldType::Ip6; break;
        case SetType::Mac: d.type = FieldType::Mac; break;
        case SetType::Port:
            d.max = 65535;
            d.what = "port";
            d.desc += " (0-65535)";
            break;
        case SetType::Proto:
            d.max = 255;
            d.syms = SymbolTable::Proto;
            d.what = "protocol";
            d.desc += " (0-255 or a protocol name)";
            break;
    }
    return d;
}

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

std::string dirname_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return "";
    return path.substr(0, slash + 1);
}


}  // namespace

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
// Values

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

void Checker::check_set(const ast::SetDecl& decl, SetDef& out, FileId file) {
    if (!set_type_from(decl.type.text)) return;  // reported; its elements would only add noise
    Domain d = set_domain(out.type, out.name);
    if (decl.from_file) {
        read_set_file(decl, out, file, d);
        return;
    }
    for (const auto& it : decl.items) expand_item(it, d, out.elems);
}

// Past this many bad lines a set file's errors are summed up in one `set-file-errors`.
constexpr std::size_t kShownSetFileErrors = 5;

void Checker::read_set_file(const ast::SetDecl& decl, SetDef& out, FileId file, const Domain& d) {
    const std::string& rel = decl.file.text;
    std::string path = rel;
    if (!rel.empty() && rel[0] != '/' && file != kNoFile) path = dirname_of(sm_.file(file).path) + rel;
    out.file = path;
    FileId id = sm_.find(path);
    if (id == kNoFile) {
        std::string err;
        id = sm_.load(path, err, SourceManager::kMaxSetFileBytes);
        if (id == kNoFile) {
            diags_.error("set-file-unreadable", decl.file.range,
                         "cannot read set file " + quote_string(rel) + " (looked for " + path + "): " + err);
            return;
        }
    }
    const std::string& text = sm_.file(id).text;
    // A file that is not a set file at all (a secret, a config) must not be echoed line by
    // line: the lines' errors are gathered, and past kShownSetFileErrors only counted.
    Diagnostics line_errors;
    std::size_t lines = 0, bad = 0;
    std::size_t pos = 0;
    // One element a line at most: sized once, not regrown (and copied) twenty times at 1M lines.
    out.elems.reserve(out.elems.size() + sm_.file(id).line_starts.size());
    advise_huge_pages(out.elems.data(), out.elems.capacity() * sizeof(Element));
    const bool addresses = d.type == FieldType::Ip4 || d.type == FieldType::Ip6 || d.type == FieldType::IpAny;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        // The comment is looked for in this line only: a search to the end of the text for
        // every line made a file without comments quadratic to read.
        std::string_view line(text.data() + pos, eol - pos);
        std::size_t hash = line.find('#');
        std::size_t end = hash == std::string_view::npos ? eol : pos + hash;
        std::size_t b = pos;
        while (b < end && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
        std::size_t e = end;
        while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
        pos = eol + 1;
        if (b == e) continue;
        ++lines;
        if (addresses) {
            // Most lines of a blocklist: a plain address or prefix, read without allocating.
            auto el = parse_ip_plain(std::string_view(text).substr(b, e - b));
            if (el && (d.type == FieldType::IpAny || (el->family == Family::V4) == (d.type == FieldType::Ip4))) {
                el->range = SourceRange{id, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)};
                out.elems.push_back(*el);
                continue;
            }
        }
        std::size_t errors_before = line_errors.list().size();
        auto item = element_token(std::string_view(text).substr(b, e - b), id, static_cast<std::uint32_t>(b));
        if (!item) {
            line_errors.error("invalid-element", SourceRange{id, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)},
                              "a set file holds one element per line (an address, prefix, number, name or range)");
        } else if (auto el = convert_item(*item, d, line_errors)) {
            out.elems.push_back(*el);
        }
        if (line_errors.list().size() != errors_before) ++bad;
    }
    // Most lines bad (a secret, a config): nothing of the file is shown, only where its bad
    // lines are. Some bad: the first few, with their text, locate the problem.
    const bool mostly_bad = bad * 2 > lines;
    if (!mostly_bad && bad <= kShownSetFileErrors) {
        for (const auto& diag : line_errors.list()) diags_.add(diag);
        return;
    }
    std::size_t shown = 0;
    std::string where;
    std::uint32_t last_line = 0;
    for (const auto& diag : line_errors.list()) {
        if (!mostly_bad && shown++ < kShownSetFileErrors) diags_.add(diag);
        std::uint32_t line = sm_.line_col(id, diag.range.begin).line;
        if (mostly_bad && line != last_line && shown < kShownSetFileErrors) {
            where += (where.empty() ? "" : ", ") + std::to_string(line);
            last_line = line;
            ++shown;
        }
    }
    auto& err = diags_.error(
        "set-file-errors", decl.file.range,
        "set file " + quote_string(rel) + ": " + std::to_string(bad) + " of " + std::to_string(lines) +
            " lines are not elements" +
            (mostly_bad ? " (it does not look like a set file; no line of it is shown)"
                        : "; the first " + std::to_string(kShownSetFileErrors) + " are shown"));
    if (mostly_bad) err.notes.push_back({{}, "the first bad lines: " + where + (bad > shown ? ", ..." : "")});
}

// ---------------------------------------------------------------------------------------------
// Policies and expressions

const FieldDef* Checker::lookup_field(const ast::Name& n) {
    if (const FieldDef* f = find_field(n.text)) return f;
    std::vector<std::string> cands;
    for (const auto& f : all_fields()) cands.emplace_back(f.name);
    std::string hint = did_you_mean(n.text, cands);
    diags_.error("unknown-field", n.range,
                 "unknown field '" + n.text + "'" + (hint.empty() ? " (`weir fields` lists them)" : hint));
    return nullptr;
}

Expr Checker::check_compare(const ast::Expr& e) {
    Expr out;
    out.range = e.range;
    const FieldDef* f = lookup_field(e.field);
    if (!f) return out;
    if (f->type == FieldType::Bool) {
        diags_.error("flag-compare", e.range,
                     std::string(f->name) + " is a flag and cannot be compared; test it bare (" +
                         std::string(f->name) + " or not " + std::string(f->name) + ")");
        return out;
    }
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
    const FieldDef* f = lookup_field(e.field);
    if (!f) return out;
    if (f->type == FieldType::Bool) {
        diags_.error("flag-compare", e.range,
                     std::string(f->name) + " is a flag and cannot be matched against a set; test it bare");
        return out;
    }
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
