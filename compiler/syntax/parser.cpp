// Stage 1: text -> AST with the PEGTL grammar in grammar.hpp.
//
// The parse runs in two steps. A PEGTL control class records a light tree of the rules listed in
// `is_node` (each with its exact byte range; nodes of failed alternatives are dropped, so
// backtracking is harmless), and collects comments. The tree is then converted into ast::File
// (parser_build.cpp). A failed must<> becomes exactly one "syntax" diagnostic, worded from the
// error table below (parser_errors.cpp fills it in).
#include "parser.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <typeinfo>

#include "grammar.hpp"
#include "parser_internal.hpp"

namespace weir {
namespace {

namespace gr = weir::grammar;
namespace pegtl = tao::pegtl;
using parse_detail::Node;
using parse_detail::State;
using parse_detail::SyntaxError;

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
// Parse control: records the nodes and comments, counts nesting, raises the error table's errors.

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
        throw make_error(st, at, typeid(Rule), message<Rule>);
    }
};

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

    return parse_detail::build_file(st, id);
}

}  // namespace weir
