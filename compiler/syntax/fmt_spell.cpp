// Spelling of leaves (values, items, actions, endpoints, quoted strings) and conditions as
// pieces: what a construct says, before fmt_layout.cpp decides where its lines break.
#include <algorithm>

#include "fmt_internal.hpp"

namespace weir::fmt_detail {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Length of the valid UTF-8 sequence at s[i], 0 if it is not one.
std::size_t utf8_len(std::string_view s, std::size_t i) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
    return n;
}

std::string quote(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') {
            out += "\\\"";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c >= 0x80) {
            if (std::size_t n = utf8_len(s, i)) {  // valid UTF-8 stays readable
                out.append(s.substr(i, n));
                i += n - 1;
            } else {
                out += "\\x";
                out += kHex[c >> 4];
                out += kHex[c & 15];
            }
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

// The content of a string literal's source spelling `"..."`, unescaped; nullopt if malformed.
std::optional<std::string> unescape(std::string_view spelled) {
    if (spelled.size() < 2 || spelled.front() != '"' || spelled.back() != '"') return std::nullopt;
    std::string out;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 1; i + 1 < spelled.size(); ++i) {
        char c = spelled[i];
        if (c != '\\') {
            out += c;
            continue;
        }
        if (i + 2 >= spelled.size()) return std::nullopt;
        char e = spelled[++i];
        if (e == 'n') {
            out += '\n';
        } else if (e == 't') {
            out += '\t';
        } else if (e == '"' || e == '\\') {
            out += e;
        } else if (e == 'x' && i + 3 < spelled.size() && hex(spelled[i + 1]) >= 0 && hex(spelled[i + 2]) >= 0) {
            out += static_cast<char>(hex(spelled[i + 1]) * 16 + hex(spelled[i + 2]));
            i += 2;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

}  // namespace

bool blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), is_space);
}

std::string_view trim_right(std::string_view s) {
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

std::string Speller::value(const ast::Value& v) const {
    switch (v.kind) {
    case ast::Value::Kind::Const: return "$" + v.text;
    case ast::Value::Kind::String: {
        std::string_view spelled = v.range.valid() ? sm_.text(v.range) : std::string_view{};
        if (auto u = unescape(spelled); u && *u == v.text) return std::string(spelled);
        return quote(v.text);
    }
    case ast::Value::Kind::Bytes: return "0x" + v.text;
    default: return v.text;
    }
}

std::string Speller::item(const ast::Item& it) const {
    std::string s = value(it.lo);
    if (!it.hi) return s;
    // A name may contain '-': `$lo-10` would read as one name, so name bounds get spaces.
    bool named = it.lo.kind == ast::Value::Kind::Const || it.lo.kind == ast::Value::Kind::Symbol;
    return s + (named ? " - " : "-") + value(*it.hi);
}

std::string Speller::set_inline(const std::vector<ast::Item>& items) const {
    if (items.empty()) return "{}";
    std::string s = "{ ";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) s += ", ";
        s += item(items[i]);
    }
    return s + " }";
}

std::string Speller::action(const ast::Action& a) const {
    switch (a.kind) {
    case ast::Action::Kind::Pass: return "pass";
    case ast::Action::Kind::Drop: return "drop";
    case ast::Action::Kind::Tx: return "tx";
    case ast::Action::Kind::Count: return "count";
    case ast::Action::Kind::Redirect: return "redirect " + value(a.target);
    case ast::Action::Kind::Log: {
        std::string s = "log";  // options in canonical order: sample, then snap
        for (const auto& o : a.log_sample) s += " sample " + value(o.num) + "/" + value(o.value);
        for (const auto& o : a.log_snap) s += " snap " + value(o.value);
        return s;
    }
    }
    return "pass";
}

std::string Speller::endpoint(const ast::Endpoint& e) const {
    std::string s = e.addr.kind == ast::Value::Kind::Ipv6 ? "[" + e.addr.text + "]" : value(e.addr);
    return e.port ? s + ":" + value(*e.port) : s;
}

void put_expr(const Speller& sp, const ast::Expr& e, Pieces& out, Ctx ctx) {
    using K = ast::Expr::Kind;
    bool paren = (e.kind == K::Or && ctx != Ctx::Top) ||
                 (e.kind == K::And && (ctx == Ctx::And || ctx == Ctx::Not));
    if (paren) out.text("(");
    switch (e.kind) {
    case K::Or:
    case K::And:
        for (std::size_t i = 0; i < e.kids.size(); ++i) {
            if (i) {
                // Long conditions break before the operators of their outermost and/or.
                if (ctx == Ctx::Top)
                    out.brk(e.kids[i - 1].range.end, e.kids[i].range.begin);
                else
                    out.text(" ");
                out.text(e.kind == K::Or ? "or " : "and ");
            }
            put_expr(sp, e.kids[i], out, e.kind == K::Or ? Ctx::Or : Ctx::And);
        }
        break;
    case K::Not:
        out.text("not ");
        if (!e.kids.empty()) put_expr(sp, e.kids[0], out, Ctx::Not);
        break;
    case K::Compare:
        out.text(e.field.text + " ");
        out.text(cmp_text(e.op));
        out.text(" " + sp.item(e.rhs));
        break;
    case K::In:
    case K::NotIn:
        out.text(e.field.text);
        out.text(e.kind == K::In ? " in " : " not in ");
        switch (e.set->kind) {
        case ast::SetRef::Kind::Inline: out.set(e.set->items, e.set->range); break;
        case ast::SetRef::Kind::Const: out.text("$" + e.set->name.text); break;
        case ast::SetRef::Kind::Named: out.text("@" + e.set->name.text); break;
        }
        break;
    case K::Test: out.text(e.field.text); break;
    case K::Payload:
        out.text("payload[" + sp.value(e.payload->offset) + ":" + sp.value(e.payload->length) + "] ");
        out.text(cmp_text(e.op));
        out.text(" " + sp.value(e.payload->bytes));
        break;
    case K::Over: {
        const ast::Limit& l = *e.limit;
        out.text("over " + l.rate.text);
        if (l.burst) out.text(" burst " + l.burst->text);
        if (!l.key.empty()) {
            std::string key;
            for (std::size_t i = 0; i < l.key.size(); ++i) key += (i ? ", " : "") + l.key[i].text;
            out.text(" per " + (l.tuple ? "(" + key + ")" : key));
        }
        if (l.size) out.text(" size " + l.size->text);
        break;
    }
    }
    if (paren) out.text(")");
}

}  // namespace weir::fmt_detail
