// Syntax errors: where a failed parse stopped, worded from the error table in parser.cpp and
// completed with what the parse state knows (the enclosing rule, policy or test, the token
// before). Apart from the grammar run so the wording's lexical guesswork stays in one place.
#include <algorithm>
#include <string>

#include "grammar.hpp"
#include "parser.hpp"
#include "parser_internal.hpp"

namespace weir::parse_detail {
namespace {

namespace gr = weir::grammar;

template <typename R>
bool rule_is(const std::type_info& rule) {
    return rule == typeid(R);
}

// Lexical helpers.

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Skips whitespace and comments forward.
std::uint32_t skip_ws(std::string_view t, std::uint32_t p) {
    while (p < t.size()) {
        if (is_space(t[p])) {
            ++p;
        } else if (t[p] == '#') {
            while (p < t.size() && t[p] != '\n') ++p;
        } else {
            break;
        }
    }
    return p;
}

// The end of the token starting at p (at least one byte unless at the end of the text).
std::uint32_t token_end(std::string_view t, std::uint32_t p) {
    if (p >= t.size()) return p;
    char c = t[p];
    auto q = p + 1;
    if (c == '"') {
        while (q < t.size() && t[q] != '"' && t[q] != '\n') q += (t[q] == '\\' && q + 1 < t.size()) ? 2 : 1;
        return q < t.size() && t[q] == '"' ? q + 1 : std::min<std::uint32_t>(q, t.size());
    }
    if (is_name_char(c) || c == '$' || c == '@' || c == ':') {
        while (q < t.size()) {
            char d = t[q];
            auto dashes_end = q;  // a run of '-' is part of a name only if a name character follows
            while (dashes_end < t.size() && t[dashes_end] == '-') ++dashes_end;
            bool more = is_name_char(d) || d == '.' || d == '/' ||
                        (d == '-' && dashes_end < t.size() && is_name_char(t[dashes_end])) ||
                        (d == ':' && q + 1 < t.size() && (is_hex(t[q + 1]) || t[q + 1] == ':'));
            if (!more) break;
            ++q;
        }
        return q;
    }
    std::string_view two = t.substr(p, 2);
    if (two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "->") return p + 2;
    while (q < t.size() && (static_cast<unsigned char>(t[q]) & 0xc0) == 0x80) ++q;  // UTF-8 tail
    return q;
}

// The token that ends right before p (skipping whitespace and the comments seen so far).
std::string_view token_before(const State& st, std::uint32_t p) {
    std::string_view t = st.text;
    for (;;) {
        while (p > 0 && is_space(t[p - 1])) --p;
        if (p == 0) return {};
        // inside (or at the end of) a comment?
        auto it = st.comments.upper_bound(p - 1);
        if (it != st.comments.begin()) {
            --it;
            if (it->first < p && p <= it->second) {
                p = it->first;
                continue;
            }
        }
        break;
    }
    std::uint32_t e = p;
    char c = t[e - 1];
    std::uint32_t b = e - 1;
    if (c == '"') {
        while (b > 0 && !(t[b - 1] == '"' && (b < 2 || t[b - 2] != '\\'))) --b;
        if (b > 0) --b;
    } else if (is_name_char(c)) {
        while (b > 0 && (is_name_char(t[b - 1]) || t[b - 1] == '.' || t[b - 1] == '-' || t[b - 1] == ':' ||
                         t[b - 1] == '/' || t[b - 1] == '$' || t[b - 1] == '@'))
            --b;
    } else if (b > 0) {
        std::string_view two = t.substr(b - 1, 2);
        if (two == "==" || two == "!=" || two == "<=" || two == ">=" || two == "->") --b;
    }
    return t.substr(b, e - b);
}

// The innermost open node of type R, or nullptr.
template <typename R>
const Node* open_node(const State& st) {
    for (auto it = st.stack.rbegin(); it != st.stack.rend(); ++it)
        if (it->type && it->is<R>()) return &*it;
    return nullptr;
}

template <typename R>
const Node* kid(const Node* n) {
    if (!n) return nullptr;
    for (const auto& k : n->kids)
        if (k.is<R>()) return &k;
    return nullptr;
}

std::string_view node_text(const State& st, const Node* n) {
    if (!n) return "?";
    return st.text.substr(n->begin, n->end - n->begin);
}

void replace_all(std::string& s, std::string_view key, std::string_view with) {
    for (std::size_t p = s.find(key); p != std::string::npos; p = s.find(key, p + with.size()))
        s.replace(p, key.size(), with);
}


}  // namespace

SyntaxError make_error(const State& st, std::uint32_t at, const std::type_info& rule, const char* message) {
    std::string_view t = st.text;
    SyntaxError e;
    e.code = "syntax";
    std::uint32_t pos = skip_ws(t, at);
    e.begin = pos;
    e.end = token_end(t, pos);
    if (pos >= t.size()) {
        // At the end of the file: point just after the last token, where the missing text belongs.
        std::string_view last = token_before(st, pos);
        if (!last.empty()) e.begin = e.end = static_cast<std::uint32_t>(last.data() + last.size() - t.data());
    }
    std::string msg = message;

    if (rule_is<gr::str_close>(rule)) {
        // The whole unterminated string, from its opening quote to the end of the line.
        const Node* s = nullptr;
        for (auto it = st.stack.rbegin(); it != st.stack.rend() && !s; ++it)
            if (it->type && it->begin < pos && t[it->begin] == '"') s = &*it;
        e.begin = s ? s->begin : pos;
        e.end = at;
    } else if (rule_is<gr::str_escape_code>(rule)) {
        e.begin = at - 1;  // the backslash
        e.end = std::min<std::uint32_t>(at + 1, static_cast<std::uint32_t>(t.size()));
        if (at < t.size() && t[at] == 'x')
            while (e.end < t.size() && e.end < at + 3 && is_hex(t[e.end])) ++e.end;
        if (at < t.size() && (t[at] == '\n' || t[at] == '\r')) e.end = at;
    } else if (rule_is<gr::bad_address>(rule)) {
        e.end = pos;
        while (e.end < t.size() && (is_hex(t[e.end]) || t[e.end] == ':' || t[e.end] == '.' || t[e.end] == '/' ||
                                    is_name_char(t[e.end])))
            ++e.end;
    } else if (rule_is<gr::reserved_limit>(rule)) {
        e.code = "reserved";
        e.end = pos + 5;
    } else if (rule_is<gr::bad_assign>(rule)) {
        e.end = pos + 1;
    } else if (rule_is<gr::rule_colon>(rule)) {
        // `ssh: pass tcp.dport == 22` reads `tcp` as the next rule's name: say what is likely.
        const Node* n = kid<gr::rule_name>(open_node<gr::rule_decl>(st));
        std::string_view after = t.substr(pos, 2);
        if (n && ((n->end < t.size() && t[n->end] == '.') || after.starts_with("==") || after.starts_with("!=") ||
                  after.starts_with("<") || after.starts_with(">")))
            msg += "; if '{rule}' starts a condition, write 'if' before it";
        // A declaration keyword where a rule name was read: the policy was never closed.
        static constexpr std::string_view kDeclKeywords[] = {"test", "policy", "set", "const", "include"};
        std::string_view name = node_text(st, n);
        if (n && std::find(std::begin(kDeclKeywords), std::end(kDeclKeywords), name) != std::end(kDeclKeywords)) {
            msg = "expected '}' to close policy '{policy}' before '{rule}'";
            e.begin = n->begin;
            e.end = n->end;
            if (const Node* o = kid<gr::policy_open>(open_node<gr::policy_decl>(st)))
                e.notes.emplace_back(o->begin, "policy '{policy}' starts here");
        }
    } else if (rule_is<gr::set_close>(rule)) {
        if (token_before(st, pos) == ",") msg = "expected a value or '}' after ','";
        if (const Node* s = open_node<gr::set_lit>(st))
            e.notes.emplace_back(s->begin, "the set starts here");
    } else if (rule_is<gr::policy_close>(rule)) {
        if (pos >= t.size()) msg = "expected '}' to close policy '{policy}' before the end of the file";
        if (const Node* o = kid<gr::policy_open>(open_node<gr::policy_decl>(st)))
            e.notes.emplace_back(o->begin, "policy '{policy}' starts here");
    } else if (rule_is<gr::test_close>(rule)) {
        if (pos >= t.size()) msg = "expected '}' to close test {test} before the end of the file";
        if (const Node* o = kid<gr::test_open>(open_node<gr::test_decl>(st)))
            e.notes.emplace_back(o->begin, "test {test} starts here");
    } else if (rule_is<gr::paren_close>(rule)) {
        if (const Node* p = open_node<gr::paren_expr>(st)) e.notes.emplace_back(p->begin, "'(' is here");
    }

    auto fill = [&](std::string& s) {
        replace_all(s, "{prev}", token_before(st, pos));
        replace_all(s, "{tok}", t.substr(e.begin, e.end - e.begin));
        replace_all(s, "{rule}", node_text(st, kid<gr::rule_name>(open_node<gr::rule_decl>(st))));
        replace_all(s, "{policy}", node_text(st, kid<gr::policy_name>(open_node<gr::policy_decl>(st))));
        replace_all(s, "{test}", node_text(st, kid<gr::test_name>(open_node<gr::test_decl>(st))));
        replace_all(s, "{const}", node_text(st, kid<gr::const_name>(open_node<gr::const_decl>(st))));
        replace_all(s, "{set}", node_text(st, kid<gr::set_name>(open_node<gr::set_decl>(st))));
        replace_all(s, "{alert}", node_text(st, kid<gr::alert_name>(open_node<gr::alert_decl>(st))));
    };
    fill(msg);
    for (auto& n : e.notes) fill(n.second);
    if (pos >= t.size() && e.begin == e.end && msg.find("end of the file") == std::string::npos)
        msg += ", found the end of the file";
    e.message = std::move(msg);
    return e;
}

SyntaxError nesting_error(const State& st, std::uint32_t begin, std::uint32_t end) {
    SyntaxError e;
    e.code = "nesting-too-deep";
    e.begin = begin;
    e.end = end;
    e.message = "the condition nests too deeply: more than " + std::to_string(kMaxNesting) +
                " levels of parentheses and 'not'";
    if (const Node* r = open_node<gr::rule_decl>(st))
        e.notes.emplace_back(r->begin, "in rule '" + std::string(node_text(st, kid<gr::rule_name>(r))) + "'");
    return e;
}

}  // namespace weir::parse_detail
