// Stage 1: text -> AST with the PEGTL grammar in grammar.hpp.
//
// The parse runs in two steps. A PEGTL control class records a light tree of the rules listed in
// `is_node` (each with its exact byte range; nodes of failed alternatives are dropped, so
// backtracking is harmless), and collects comments. The tree is then converted into ast::File.
// A failed must<> becomes exactly one "syntax" diagnostic, worded from the error table below.
#include "parser.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "grammar.hpp"

namespace weir {
namespace {

namespace gr = weir::grammar;
namespace pegtl = tao::pegtl;

template <typename R, typename... Rs>
inline constexpr bool one_of = (std::is_same_v<R, Rs> || ...);

// ---------------------------------------------------------------------------------------------
// Rules that become nodes of the intermediate tree.

template <typename R>
inline constexpr bool is_string_node =
    one_of<R, gr::str_lit, gr::include_path, gr::set_file_path, gr::redirect_target, gr::test_name,
           gr::packet_hex_str, gr::alert_message>;

template <typename R>
inline constexpr bool is_node =
    is_string_node<R> ||
    one_of<R,
           // literals and items
           gr::mac_lit, gr::ipv6_lit, gr::ipv4_lit, gr::int_lit, gr::const_ref, gr::const_ref_name,
           gr::symbol, gr::item, gr::cmp_rhs, gr::range_hi, gr::set_lit, gr::set_open,
           // declarations
           gr::include_decl, gr::const_decl, gr::const_name, gr::set_decl, gr::set_name,
           gr::set_type, gr::set_file, gr::policy_decl, gr::policy_name, gr::policy_default,
           gr::policy_open, gr::rule_decl, gr::rule_name, gr::action, gr::redirect_action,
           gr::log_action, gr::log_sample, gr::log_sample_num, gr::log_sample_den, gr::log_snap,
           gr::log_snap_len,
           // conditions
           gr::condition, gr::paren_inner, gr::conj, gr::or_rhs, gr::not_expr, gr::paren_expr,
           gr::paren_open, gr::payload_match, gr::payload_offset, gr::payload_length,
           gr::field_expr, gr::field, gr::cmp_tail, gr::in_tail, gr::not_in_tail, gr::in_set,
           gr::named_set_ref, gr::set_ref_name, gr::op_eq, gr::op_ne, gr::op_lt, gr::op_le,
           gr::op_gt, gr::op_ge, gr::over_match, gr::limit_rate, gr::limit_burst_value,
           gr::limit_key_tuple, gr::limit_key_field, gr::limit_key_next, gr::limit_size_value,
           // tests
           gr::test_decl, gr::test_policy, gr::test_open, gr::probe, gr::first_probe,
           gr::packet_stmt, gr::packet_flow, gr::packet_hex, gr::packet_proto, gr::endpoint_src,
           gr::endpoint_dst, gr::ep_v4, gr::ep_v6, gr::ep_port, gr::packet_opt, gr::opt_key,
           gr::expect_stmt, gr::verdict, gr::expect_by,
           // alerts
           gr::alert_decl, gr::alert_name, gr::alert_policy, gr::alert_rate, gr::rate_verdict_src,
           gr::rate_verdict, gr::rate_name, gr::rate_unit_name, gr::alert_op, gr::threshold_number,
           gr::threshold_unit, gr::alert_threshold, gr::alert_duration, gr::severity_level>;

// ---------------------------------------------------------------------------------------------
// THE error table: one message per rule that can fail inside must<> (or raise<>).
// Placeholders: {rule} {policy} {test} {const} {set} name the enclosing construct, {prev} is
// the token before the error, {tok} the offending token.

template <typename R>
inline constexpr const char* message = nullptr;

#define WEIR_SYNTAX_MESSAGE(RULE, TEXT) \
    template <>                         \
    inline constexpr const char* message<gr::RULE> = TEXT

WEIR_SYNTAX_MESSAGE(file_end, "expected a declaration (include, const, set, policy, test or alert)");
// strings and values
WEIR_SYNTAX_MESSAGE(str_close, "unterminated string: expected '\"' before the end of the line");
WEIR_SYNTAX_MESSAGE(str_escape_code, "invalid escape sequence '{tok}' in a string (expected \\\", \\\\, \\n, \\t or \\xHH)");
WEIR_SYNTAX_MESSAGE(bad_address, "'{tok}' is neither an IPv6 address nor a MAC address");
WEIR_SYNTAX_MESSAGE(const_ref_name, "expected a constant name after '$'");
WEIR_SYNTAX_MESSAGE(set_ref_name, "expected a set name after '@'");
WEIR_SYNTAX_MESSAGE(range_hi, "expected a value after '-' (a range is written LOW-HIGH)");
WEIR_SYNTAX_MESSAGE(set_close, "expected ',' or '}' after '{prev}'");
// include, const, set
WEIR_SYNTAX_MESSAGE(include_path, "expected a file name in quotes after 'include'");
WEIR_SYNTAX_MESSAGE(const_name, "expected a constant name after 'const'");
WEIR_SYNTAX_MESSAGE(const_eq, "expected '=' after 'const {const}'");
WEIR_SYNTAX_MESSAGE(const_value, "expected a value or '{ ... }' after 'const {const} ='");
WEIR_SYNTAX_MESSAGE(set_name, "expected a set name after 'set'");
WEIR_SYNTAX_MESSAGE(set_colon, "expected ':' and a type after 'set {set}' (set NAME : TYPE = ...)");
WEIR_SYNTAX_MESSAGE(set_type, "expected a set type (ip, ip4, ip6, mac, port, proto) after 'set {set} :'");
WEIR_SYNTAX_MESSAGE(set_eq, "expected '=' after the type of set '{set}'");
WEIR_SYNTAX_MESSAGE(set_init, "expected '{ ... }' or 'file \"PATH\"' after '=' in set '{set}'");
WEIR_SYNTAX_MESSAGE(set_file_path, "expected a file name in quotes after 'file'");
// policies and rules
WEIR_SYNTAX_MESSAGE(policy_name, "expected a policy name after 'policy'");
WEIR_SYNTAX_MESSAGE(policy_default_kw, "expected 'default pass' or 'default drop' after 'policy {policy}'");
WEIR_SYNTAX_MESSAGE(policy_default, "expected 'pass' or 'drop' after 'default'");
WEIR_SYNTAX_MESSAGE(policy_open, "expected '{' to open policy '{policy}'");
WEIR_SYNTAX_MESSAGE(policy_close, "expected a rule (NAME: ACTION [if CONDITION]) or '}' to close policy '{policy}'");
WEIR_SYNTAX_MESSAGE(rule_colon, "expected ':' after rule name '{rule}'");
WEIR_SYNTAX_MESSAGE(action, "expected an action (pass, drop, tx, count, log, redirect \"IFACE\") after '{rule}:'");
WEIR_SYNTAX_MESSAGE(redirect_target, "expected an interface name in quotes after 'redirect' (redirect \"eth1\")");
WEIR_SYNTAX_MESSAGE(reserved_limit, "'limit' is not an action: a rate limit is a condition, e.g. 'drop if tcp.dport == 443 and over 100/s'");
WEIR_SYNTAX_MESSAGE(log_sample_num, "expected '1/N' after 'sample' (log sample 1/100: one matching packet in 100)");
WEIR_SYNTAX_MESSAGE(log_sample_slash, "expected '/' in 'sample 1/N' (log sample 1/100)");
WEIR_SYNTAX_MESSAGE(log_sample_den, "expected N after 'sample 1/' (log sample 1/100)");
WEIR_SYNTAX_MESSAGE(log_snap_len, "expected a byte count after 'snap' (log snap 128)");
// conditions
WEIR_SYNTAX_MESSAGE(condition, "expected a condition after 'if'");
WEIR_SYNTAX_MESSAGE(or_rhs, "expected a condition after 'or'");
WEIR_SYNTAX_MESSAGE(and_rhs, "expected a condition after 'and'");
WEIR_SYNTAX_MESSAGE(not_operand, "expected a condition after 'not'");
WEIR_SYNTAX_MESSAGE(paren_inner, "expected a condition after '('");
WEIR_SYNTAX_MESSAGE(paren_close, "expected ')' to close '('");
WEIR_SYNTAX_MESSAGE(cmp_rhs, "expected a value after '{prev}'");
WEIR_SYNTAX_MESSAGE(in_set, "expected a set ({ ... }, $CONST or @SET) after 'in'");
WEIR_SYNTAX_MESSAGE(bad_assign, "'=' is not a comparison: use '==' to compare a field with a value");
WEIR_SYNTAX_MESSAGE(payload_open, "expected '[' after 'payload' (payload[OFFSET:LENGTH])");
WEIR_SYNTAX_MESSAGE(payload_offset, "expected an offset (an integer) after 'payload['");
WEIR_SYNTAX_MESSAGE(payload_colon, "expected ':' after the payload offset (payload[OFFSET:LENGTH])");
WEIR_SYNTAX_MESSAGE(payload_length, "expected a length (an integer) after ':' in 'payload[OFFSET:LENGTH]'");
WEIR_SYNTAX_MESSAGE(payload_close, "expected ']' after the payload length");
WEIR_SYNTAX_MESSAGE(payload_op, "expected '==' or '!=' after 'payload[...]'");
WEIR_SYNTAX_MESSAGE(payload_bytes, "expected a string or 0x hex bytes after '{prev}'");
WEIR_SYNTAX_MESSAGE(limit_rate, "expected a rate after 'over' (N/s or N/m packets; Nbytes/s, Nkbytes/s, Nmbytes/s or Ngbytes/s)");
WEIR_SYNTAX_MESSAGE(limit_burst_value, "expected an amount after 'burst' (packets: N; bytes: Nbytes, Nkbytes, Nmbytes)");
WEIR_SYNTAX_MESSAGE(limit_key, "expected a field or '(FIELD, ...)' after 'per'");
WEIR_SYNTAX_MESSAGE(limit_key_field, "expected a field after '('");
WEIR_SYNTAX_MESSAGE(limit_key_next, "expected a field after ','");
WEIR_SYNTAX_MESSAGE(limit_key_close, "expected ',' or ')' after '{prev}'");
WEIR_SYNTAX_MESSAGE(limit_size_value, "expected a number of table entries after 'size'");
// tests
WEIR_SYNTAX_MESSAGE(test_name, "expected a test name in quotes after 'test'");
WEIR_SYNTAX_MESSAGE(test_policy, "expected a policy name after 'policy'");
WEIR_SYNTAX_MESSAGE(test_open, "expected '{' to open test {test}");
WEIR_SYNTAX_MESSAGE(first_probe, "expected 'packet' in test {test} (a test holds 'packet ...' and 'expect ...' pairs)");
WEIR_SYNTAX_MESSAGE(test_close, "expected 'packet' or '}' to close test {test}");
WEIR_SYNTAX_MESSAGE(expect_stmt, "expected 'expect VERDICT' after the packet");
WEIR_SYNTAX_MESSAGE(packet_body, "expected a protocol (tcp, udp, icmp, icmp6, ip) or 'hex' after 'packet'");
WEIR_SYNTAX_MESSAGE(packet_hex_str, "expected the packet bytes in quotes after 'hex' (hex \"45 00 ...\")");
WEIR_SYNTAX_MESSAGE(endpoint_src, "expected a source address (IPV4[:PORT], [IPV6][:PORT] or IPV6) after '{prev}'");
WEIR_SYNTAX_MESSAGE(arrow, "expected '->' between the source and destination addresses");
WEIR_SYNTAX_MESSAGE(endpoint_dst, "expected a destination address (IPV4[:PORT], [IPV6][:PORT] or IPV6) after '->'");
WEIR_SYNTAX_MESSAGE(ep_v6, "expected an IPv6 address after '['");
WEIR_SYNTAX_MESSAGE(ep_rbracket, "expected ']' after the IPv6 address");
WEIR_SYNTAX_MESSAGE(ep_port, "expected a port number after ':'");
WEIR_SYNTAX_MESSAGE(opt_values, "expected a value after packet option '{prev}'");
WEIR_SYNTAX_MESSAGE(opt_value_next, "expected a value after ','");
WEIR_SYNTAX_MESSAGE(verdict, "expected a verdict (pass, drop, tx, redirect) after 'expect'");
WEIR_SYNTAX_MESSAGE(expect_by, "expected a rule name or 'default' after 'by'");
// alerts
WEIR_SYNTAX_MESSAGE(alert_name, "expected an alert name after 'alert'");
WEIR_SYNTAX_MESSAGE(alert_policy, "expected a policy name after 'on'");
WEIR_SYNTAX_MESSAGE(alert_when, "expected 'when' after '{prev}' (alert NAME [on POLICY] when rate(...) ...)");
WEIR_SYNTAX_MESSAGE(alert_rate, "expected 'rate(COUNTER)' after 'when' (a rule name, verdict V, malformed or default)");
WEIR_SYNTAX_MESSAGE(rate_open, "expected '(' after 'rate'");
WEIR_SYNTAX_MESSAGE(rate_source, "expected a counter after 'rate(': a rule name, 'verdict V', 'malformed' or 'default'");
WEIR_SYNTAX_MESSAGE(rate_verdict, "expected a verdict (pass, drop, tx, redirect, aborted) after 'verdict'");
WEIR_SYNTAX_MESSAGE(rate_unit_name, "expected 'packets' or 'bytes' after ','");
WEIR_SYNTAX_MESSAGE(rate_close, "expected ')' or ', bytes' after '{prev}'");
WEIR_SYNTAX_MESSAGE(alert_op, "expected a comparison (>, >=, <, <=) after 'rate(...)'");
WEIR_SYNTAX_MESSAGE(alert_threshold, "expected a threshold after '{prev}': a rate such as 50/s, 2k/s or 10mbytes/s");
WEIR_SYNTAX_MESSAGE(threshold_per_s, "a threshold is a rate per second: write NUMBER/s (packets: 50/s, 2k/s) or NUMBER followed by bytes, kbytes, mbytes or gbytes and /s (10mbytes/s)");
WEIR_SYNTAX_MESSAGE(alert_duration, "expected a duration after 'for' (500ms, 10s, 5m, 1h)");
WEIR_SYNTAX_MESSAGE(alert_severity, "expected 'for DURATION' or 'severity LEVEL' after the threshold");
WEIR_SYNTAX_MESSAGE(severity_level, "expected a severity (info, warning, critical) after 'severity'");
WEIR_SYNTAX_MESSAGE(alert_message, "expected the alert's message in quotes after the severity");

#undef WEIR_SYNTAX_MESSAGE

// Rules that raise<> themselves when they match (instead of failing inside must<>).
template <typename R>
inline constexpr bool raises_on_match =
    one_of<R, gr::bad_address, gr::bad_assign, gr::reserved_limit>;

// ---------------------------------------------------------------------------------------------
// Parse state and control.

struct Node {
    const std::type_info* type = nullptr;
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    std::vector<Node> kids;

    template <typename R>
    bool is() const {
        return *type == typeid(R);
    }
};

struct SyntaxError {
    std::string code;
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    std::string message;
    std::vector<std::pair<std::uint32_t, std::string>> notes;  // (offset of a 1-char range, text)
};

struct State {
    std::string_view text;
    std::vector<Node> stack;                       // open nodes; stack[0] holds the file's decls
    std::map<std::uint32_t, std::uint32_t> comments;  // begin -> end (deduplicated)
    std::vector<std::uint32_t> must_starts;        // start offsets of open must<> targets
    std::uint32_t failed_at = 0;                   // start of the must<> target that just failed
    int nesting = 0;                               // open '(' and `not` of the current condition

    template <typename Input>
    std::uint32_t offset(const Input& in) const {
        return static_cast<std::uint32_t>(in.current() - text.data());
    }
};

template <typename Rule>
SyntaxError make_error(const State& st, std::uint32_t at);
SyntaxError nesting_error(const State& st, std::uint32_t begin, std::uint32_t end);

template <typename Rule>
struct control : pegtl::normal<Rule> {
    static constexpr bool tracked = message<Rule> != nullptr;

    template <typename Input>
    static void start(const Input& in, State& st) {
        if constexpr (is_node<Rule> || std::is_same_v<Rule, gr::comment>)
            st.stack.push_back(Node{&typeid(Rule), st.offset(in), 0, {}});
        if constexpr (tracked) st.must_starts.push_back(st.offset(in));
    }

    template <typename Input>
    static void success(const Input& in, State& st) {
        // An opening commits (must<> follows it), so its construct either succeeds or the parse
        // stops: counting up here and down at the construct's success stays balanced.
        if constexpr (one_of<Rule, gr::paren_open, gr::not_open>) {
            if (++st.nesting > kMaxNesting) {
                std::uint32_t end = st.offset(in);
                std::uint32_t len = std::is_same_v<Rule, gr::paren_open> ? 1 : 3;
                throw nesting_error(st, end - len, end);
            }
        } else if constexpr (one_of<Rule, gr::paren_expr, gr::not_expr>) {
            --st.nesting;
        }
        if constexpr (std::is_same_v<Rule, gr::comment>) {
            st.comments.emplace(st.stack.back().begin, st.offset(in));
            st.stack.pop_back();
        } else if constexpr (is_node<Rule>) {
            Node n = std::move(st.stack.back());
            st.stack.pop_back();
            n.end = st.offset(in);
            st.stack.back().kids.push_back(std::move(n));
        }
        if constexpr (tracked) st.must_starts.pop_back();
    }

    template <typename Input>
    static void failure(const Input&, State& st) {
        if constexpr (is_node<Rule> || std::is_same_v<Rule, gr::comment>) st.stack.pop_back();
        if constexpr (tracked) {
            st.failed_at = st.must_starts.back();
            st.must_starts.pop_back();
        }
    }

    template <typename Input>
    [[noreturn]] static void raise(const Input& in, State& st) {
        static_assert(message<Rule> != nullptr, "every must<> target needs an entry in the error table");
        std::uint32_t at = raises_on_match<Rule> ? st.must_starts.back() : st.failed_at;
        (void)in;
        throw make_error<Rule>(st, at);
    }
};

// ---------------------------------------------------------------------------------------------
// Lexical helpers for error reporting.

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

template <typename Rule>
SyntaxError make_error(const State& st, std::uint32_t at) {
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
    std::string msg = message<Rule>;

    if constexpr (std::is_same_v<Rule, gr::str_close>) {
        // The whole unterminated string, from its opening quote to the end of the line.
        const Node* s = nullptr;
        for (auto it = st.stack.rbegin(); it != st.stack.rend() && !s; ++it)
            if (it->type && it->begin < pos && t[it->begin] == '"') s = &*it;
        e.begin = s ? s->begin : pos;
        e.end = at;
    } else if constexpr (std::is_same_v<Rule, gr::str_escape_code>) {
        e.begin = at - 1;  // the backslash
        e.end = std::min<std::uint32_t>(at + 1, static_cast<std::uint32_t>(t.size()));
        if (at < t.size() && t[at] == 'x')
            while (e.end < t.size() && e.end < at + 3 && is_hex(t[e.end])) ++e.end;
        if (at < t.size() && (t[at] == '\n' || t[at] == '\r')) e.end = at;
    } else if constexpr (std::is_same_v<Rule, gr::bad_address>) {
        e.end = pos;
        while (e.end < t.size() && (is_hex(t[e.end]) || t[e.end] == ':' || t[e.end] == '.' || t[e.end] == '/' ||
                                    is_name_char(t[e.end])))
            ++e.end;
    } else if constexpr (one_of<Rule, gr::reserved_limit>) {
        e.code = "reserved";
        e.end = pos + 5;
    } else if constexpr (std::is_same_v<Rule, gr::bad_assign>) {
        e.end = pos + 1;
    } else if constexpr (std::is_same_v<Rule, gr::rule_colon>) {
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
    } else if constexpr (std::is_same_v<Rule, gr::set_close>) {
        if (token_before(st, pos) == ",") msg = "expected a value or '}' after ','";
        if (const Node* s = open_node<gr::set_lit>(st))
            e.notes.emplace_back(s->begin, "the set starts here");
    } else if constexpr (std::is_same_v<Rule, gr::policy_close>) {
        if (pos >= t.size()) msg = "expected '}' to close policy '{policy}' before the end of the file";
        if (const Node* o = kid<gr::policy_open>(open_node<gr::policy_decl>(st)))
            e.notes.emplace_back(o->begin, "policy '{policy}' starts here");
    } else if constexpr (std::is_same_v<Rule, gr::test_close>) {
        if (pos >= t.size()) msg = "expected '}' to close test {test} before the end of the file";
        if (const Node* o = kid<gr::test_open>(open_node<gr::test_decl>(st)))
            e.notes.emplace_back(o->begin, "test {test} starts here");
    } else if constexpr (std::is_same_v<Rule, gr::paren_close>) {
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

// ---------------------------------------------------------------------------------------------
// Tree -> AST.

class Builder {
public:
    // Frees a converted node's subtree (decl consumes the parse tree as it converts it).
    static void release(Node& n) { std::vector<Node>().swap(n.kids); }

    Builder(std::string_view text, FileId file) : text_(text), file_(file) {}

    SourceRange range(const Node& n) const { return {file_, n.begin, n.end}; }
    std::string text(const Node& n) const { return std::string(text_.substr(n.begin, n.end - n.begin)); }
    ast::Name name(const Node& n) const { return {text(n), range(n)}; }

    template <typename R>
    static const Node* find(const Node& n) {
        for (const auto& k : n.kids)
            if (k.is<R>()) return &k;
        return nullptr;
    }

    std::string unescape(const Node& n) const {
        std::string_view s = text_.substr(n.begin + 1, n.end - n.begin - 2);
        std::string out;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] != '\\' || i + 1 >= s.size()) {
                out += s[i];
                continue;
            }
            char c = s[++i];
            switch (c) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'x': {
                    auto hex = [](char h) { return h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10; };
                    out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
                    i += 2;
                    break;
                }
                default: out += c; break;  // \" and \\ (the grammar allows nothing else)
            }
        }
        return out;
    }

    bool is_literal(const Node& n) const {
        return n.is<gr::mac_lit>() || n.is<gr::ipv6_lit>() || n.is<gr::ipv4_lit>() || n.is<gr::int_lit>() ||
               n.is<gr::const_ref>() || n.is<gr::symbol>() || n.is<gr::str_lit>() || n.is<gr::payload_offset>() ||
               n.is<gr::payload_length>() || n.is<gr::ep_v4>() || n.is<gr::ep_v6>() || n.is<gr::ep_port>() ||
               is_string(n);
    }
    static bool is_string(const Node& n) {
        return n.is<gr::str_lit>() || n.is<gr::include_path>() || n.is<gr::set_file_path>() ||
               n.is<gr::redirect_target>() || n.is<gr::test_name>() || n.is<gr::packet_hex_str>() ||
               n.is<gr::alert_message>();
    }

    ast::Value value(const Node& n) const {
        using K = ast::Value::Kind;
        ast::Value v;
        v.range = range(n);
        v.text = text(n);
        if (n.is<gr::mac_lit>()) {
            v.kind = K::Mac;
        } else if (n.is<gr::ipv6_lit>() || n.is<gr::ep_v6>()) {
            v.kind = K::Ipv6;
        } else if (n.is<gr::ipv4_lit>() || n.is<gr::ep_v4>()) {
            v.kind = K::Ipv4;
        } else if (n.is<gr::const_ref>()) {
            v.kind = K::Const;
            v.text = v.text.substr(1);
        } else if (n.is<gr::symbol>()) {
            v.kind = K::Symbol;
        } else if (is_string(n)) {
            v.kind = K::String;
            v.text = unescape(n);
        } else {
            v.kind = K::Int;
        }
        return v;
    }

    // The first literal kid of n.
    ast::Value first_value(const Node& n) const {
        for (const auto& k : n.kids)
            if (is_literal(k)) return value(k);
        return {};
    }

    ast::Item item(const Node& n) const {
        ast::Item it;
        it.range = range(n);
        it.lo = first_value(n);
        if (const Node* hi = find<gr::range_hi>(n)) it.hi = first_value(*hi);
        return it;
    }

    std::vector<ast::Item> items(const Node& set_lit) const {
        std::vector<ast::Item> out;
        for (const auto& k : set_lit.kids)
            if (k.is<gr::item>()) out.push_back(item(k));
        return out;
    }

    ast::SetRef setref(const Node& n) const {
        ast::SetRef s;
        s.range = range(n);
        const Node& k = n.kids.at(0);
        if (k.is<gr::set_lit>()) {
            s.kind = ast::SetRef::Kind::Inline;
            s.items = items(k);
        } else if (k.is<gr::const_ref>()) {
            s.kind = ast::SetRef::Kind::Const;
            s.name = name(*find<gr::const_ref_name>(k));
        } else {
            s.kind = ast::SetRef::Kind::Named;
            s.name = name(*find<gr::set_ref_name>(k));
        }
        return s;
    }

    static ast::CmpOp op(const Node& n) {
        if (n.is<gr::op_ne>()) return ast::CmpOp::Ne;
        if (n.is<gr::op_lt>()) return ast::CmpOp::Lt;
        if (n.is<gr::op_le>()) return ast::CmpOp::Le;
        if (n.is<gr::op_gt>()) return ast::CmpOp::Gt;
        if (n.is<gr::op_ge>()) return ast::CmpOp::Ge;
        return ast::CmpOp::Eq;
    }
    static bool is_op(const Node& n) {
        return n.is<gr::op_eq>() || n.is<gr::op_ne>() || n.is<gr::op_lt>() || n.is<gr::op_le>() ||
               n.is<gr::op_gt>() || n.is<gr::op_ge>();
    }

    // or-level: condition, paren_inner (kids: conj / or_rhs)
    ast::Expr or_expr(const Node& n) const {
        if (n.kids.size() == 1) return and_expr(n.kids[0]);
        ast::Expr e;
        e.kind = ast::Expr::Kind::Or;
        e.range = range(n);
        for (const auto& k : n.kids) e.kids.push_back(and_expr(k));
        return e;
    }

    // and-level: conj, or_rhs (kids: operands)
    ast::Expr and_expr(const Node& n) const {
        if (n.kids.size() == 1) return operand(n.kids[0]);
        ast::Expr e;
        e.kind = ast::Expr::Kind::And;
        e.range = range(n);
        for (const auto& k : n.kids) e.kids.push_back(operand(k));
        return e;
    }

    ast::Expr operand(const Node& n) const {
        using K = ast::Expr::Kind;
        ast::Expr e;
        e.range = range(n);
        if (n.is<gr::not_expr>()) {
            e.kind = K::Not;
            e.kids.push_back(operand(n.kids.at(0)));
        } else if (n.is<gr::paren_expr>()) {
            e = or_expr(*find<gr::paren_inner>(n));
            e.range = range(n);
            e.parens = true;
        } else if (n.is<gr::payload_match>()) {
            e.kind = K::Payload;
            for (const auto& k : n.kids) {
                if (k.is<gr::payload_offset>()) e.payload->offset = value(k);
                else if (k.is<gr::payload_length>()) e.payload->length = value(k);
                else if (is_op(k)) e.op = op(k);
                else if (is_literal(k)) e.payload->bytes = value(k);
            }
        } else if (n.is<gr::over_match>()) {
            e.kind = K::Over;
            for (const auto& k : n.kids) {
                ast::Value v;
                v.kind = ast::Value::Kind::Int;
                v.range = range(k);
                v.text = text(k);
                if (k.is<gr::limit_rate>()) e.limit->rate = v;
                else if (k.is<gr::limit_burst_value>()) e.limit->burst = v;
                else if (k.is<gr::limit_size_value>()) e.limit->size = v;
                else if (k.is<gr::limit_key_field>()) e.limit->key.push_back(name(k));
                else if (k.is<gr::limit_key_tuple>()) {
                    e.limit->tuple = true;
                    for (const auto& f : k.kids) e.limit->key.push_back(name(f));
                }
            }
        } else {  // field_expr
            const Node& f = n.kids.at(0);
            e.field = name(f);
            e.kind = K::Test;
            if (n.kids.size() > 1) {
                const Node& tail = n.kids[1];
                if (tail.is<gr::cmp_tail>()) {
                    e.kind = K::Compare;
                    e.op = op(tail.kids.at(0));
                    e.rhs = item(*find<gr::cmp_rhs>(tail));
                } else {
                    e.kind = tail.is<gr::in_tail>() ? K::In : K::NotIn;
                    e.set = setref(*find<gr::in_set>(tail));
                }
            }
        }
        return e;
    }

    ast::Rule rule(const Node& n) const {
        ast::Rule r;
        r.range = range(n);
        r.name = name(*find<gr::rule_name>(n));
        const Node& a = *find<gr::action>(n);
        r.action.range = range(a);
        std::string_view word = text_.substr(a.begin, a.end - a.begin);
        using K = ast::Action::Kind;
        if (word.starts_with("pass")) r.action.kind = K::Pass;
        else if (word.starts_with("drop")) r.action.kind = K::Drop;
        else if (word.starts_with("tx")) r.action.kind = K::Tx;
        else if (word.starts_with("count")) r.action.kind = K::Count;
        if (const Node* lg = find<gr::log_action>(a)) {
            r.action.kind = K::Log;
            for (const Node& k : lg->kids) {
                if (k.is<gr::log_sample>()) {
                    ast::LogOption o;
                    o.range = range(k);
                    if (const Node* v = find<gr::log_sample_num>(k)) o.num = value(*v);
                    if (const Node* v = find<gr::log_sample_den>(k)) o.value = value(*v);
                    r.action.log_sample.push_back(o);
                } else if (k.is<gr::log_snap>()) {
                    ast::LogOption o;
                    o.range = range(k);
                    if (const Node* v = find<gr::log_snap_len>(k)) o.value = value(*v);
                    r.action.log_snap.push_back(o);
                }
            }
        }
        if (const Node* red = find<gr::redirect_action>(a)) {
            r.action.kind = K::Redirect;
            r.action.target = first_value(*red);
        }
        if (const Node* c = find<gr::condition>(n)) r.cond = or_expr(*c);
        return r;
    }

    ast::Endpoint endpoint(const Node& n) const {
        ast::Endpoint ep;
        ep.range = range(n);
        for (const auto& k : n.kids) {
            if (k.is<gr::ep_port>()) ep.port = value(k);
            else ep.addr = value(k);
        }
        return ep;
    }

    ast::Packet packet(const Node& n) const {
        ast::Packet p;
        p.range = range(n);
        for (const auto& k : n.kids) {
            if (k.is<gr::packet_flow>()) {
                p.proto = name(*find<gr::packet_proto>(k));
                p.src = endpoint(*find<gr::endpoint_src>(k));
                p.dst = endpoint(*find<gr::endpoint_dst>(k));
            } else if (k.is<gr::packet_hex>()) {
                p.proto = {"hex", {file_, k.begin, k.begin + 3}};
                p.hex = first_value(k);
            } else if (k.is<gr::packet_opt>()) {
                ast::PacketOpt o;
                o.range = range(k);
                for (const auto& v : k.kids) {
                    if (v.is<gr::opt_key>()) o.key = name(v);
                    else o.values.push_back(value(v));
                }
                p.opts.push_back(std::move(o));
            }
        }
        return p;
    }

    ast::Alert alert(const Node& n) const {
        ast::Alert a;
        a.range = range(n);
        for (const auto& k : n.kids) {
            if (k.is<gr::alert_name>()) a.name = name(k);
            else if (k.is<gr::alert_policy>()) a.policy = name(k);
            else if (k.is<gr::alert_op>()) a.op = op(k.kids.at(0));
            else if (k.is<gr::alert_duration>()) a.duration = name(k);
            else if (k.is<gr::severity_level>()) a.severity = name(k);
            else if (k.is<gr::alert_message>()) a.message = value(k);
            else if (k.is<gr::alert_threshold>()) {
                a.threshold_range = range(k);
                if (const Node* num = find<gr::threshold_number>(k)) a.threshold = name(*num);
                if (const Node* u = find<gr::threshold_unit>(k)) a.threshold_unit = text(*u);
            } else if (k.is<gr::alert_rate>()) {
                a.rate_range = range(k);
                for (const auto& r : k.kids) {
                    if (r.is<gr::rate_name>()) a.source = name(r);
                    else if (r.is<gr::rate_unit_name>()) a.unit = name(r);
                    else if (r.is<gr::rate_verdict_src>()) {
                        a.verdict = true;
                        a.source = name(*find<gr::rate_verdict>(r));
                    }
                }
            }
        }
        return a;
    }

    // Consumes n: each rule's subtree is released once converted.
    ast::Decl decl(Node& n) const {
        if (n.is<gr::include_decl>()) {
            ast::Include inc;
            inc.range = range(n);
            inc.path = first_value(n);
            return inc;
        }
        if (n.is<gr::const_decl>()) {
            ast::Const c;
            c.range = range(n);
            c.name = name(*find<gr::const_name>(n));
            if (const Node* s = find<gr::set_lit>(n)) {
                c.is_set = true;
                c.set.kind = ast::SetRef::Kind::Inline;
                c.set.range = range(*s);
                c.set.items = items(*s);
            } else {
                c.value = item(*find<gr::item>(n));
            }
            return c;
        }
        if (n.is<gr::set_decl>()) {
            ast::SetDecl s;
            s.range = range(n);
            s.name = name(*find<gr::set_name>(n));
            s.type = name(*find<gr::set_type>(n));
            if (const Node* f = find<gr::set_file>(n)) {
                s.from_file = true;
                s.file = first_value(*f);
            } else {
                s.items = items(*find<gr::set_lit>(n));
            }
            return s;
        }
        if (n.is<gr::policy_decl>()) {
            ast::Policy p;
            p.range = range(n);
            p.name = name(*find<gr::policy_name>(n));
            p.default_verdict = name(*find<gr::policy_default>(n));
            // Reserved: growing by doubling, 100k rules of ~1 KiB each peaked at twice their size.
            p.rules.reserve(static_cast<std::size_t>(
                std::count_if(n.kids.begin(), n.kids.end(), [](const Node& k) { return k.is<gr::rule_decl>(); })));
            for (auto& k : n.kids)
                if (k.is<gr::rule_decl>()) {
                    p.rules.push_back(rule(k));
                    release(k);
                }
            return p;
        }
        if (n.is<gr::alert_decl>()) return alert(n);
        ast::Test t;  // test_decl
        t.range = range(n);
        t.name = first_value(n);
        if (const Node* pol = find<gr::test_policy>(n)) t.policy = name(*pol);
        for (const auto& k : n.kids) {
            if (!k.is<gr::probe>() && !k.is<gr::first_probe>()) continue;
            ast::Probe pr;
            pr.packet = packet(*find<gr::packet_stmt>(k));
            const Node& ex = *find<gr::expect_stmt>(k);
            pr.expect.range = range(ex);
            pr.expect.verdict = name(*find<gr::verdict>(ex));
            if (const Node* by = find<gr::expect_by>(ex)) pr.expect.by = name(*by);
            t.probes.push_back(std::move(pr));
        }
        return t;
    }

private:
    std::string_view text_;
    FileId file_;
};

bool own_line(std::string_view t, std::uint32_t begin) {
    for (std::uint32_t p = begin; p > 0; --p) {
        char c = t[p - 1];
        if (c == '\n') return true;
        if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
    }
    return true;
}

}  // namespace

std::optional<ast::File> parse(const SourceManager& sm, FileId id, Diagnostics& diags) {
    const std::string& text = sm.file(id).text;
    State st;
    st.text = text;
    st.stack.push_back(Node{});  // root holder
    pegtl::memory_input<pegtl::tracking_mode::lazy, pegtl::eol::lf_crlf> in(text.data(), text.size(),
                                                                            sm.file(id).path);
    try {
        pegtl::parse<gr::file, pegtl::nothing, control>(in, st);
    } catch (const SyntaxError& e) {
        Diagnostic& d = diags.error(e.code, {id, e.begin, e.end}, e.message);
        for (const auto& [at, msg] : e.notes) {
            std::uint32_t end = std::min<std::uint32_t>(at + 1, static_cast<std::uint32_t>(text.size()));
            d.notes.push_back({{id, at, end}, msg});
        }
        return std::nullopt;
    }

    ast::File file;
    file.id = id;
    // The parse tree is consumed as it is converted (Builder::release): a large policy's parse
    // tree and syntax tree are not both held in full.
    Builder b(text, id);
    for (auto& n : st.stack.at(0).kids) {
        file.decls.push_back(b.decl(n));
        Builder::release(n);
    }
    for (const auto& [begin, end] : st.comments) {
        ast::Comment c;
        c.text = text.substr(begin, end - begin);
        while (!c.text.empty() && c.text.back() == '\r') c.text.pop_back();
        c.range = {id, begin, begin + static_cast<std::uint32_t>(c.text.size())};
        c.own_line = own_line(text, begin);
        file.comments.push_back(std::move(c));
    }
    return file;
}

}  // namespace weir
