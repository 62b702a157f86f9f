// The PEGTL grammar of the weir policy language (docs/language.md), read top-down.
// Private to the parser (parser*.cpp) and its unit test: nothing else sees PEGTL types.
//
// Conventions:
// - Every rule is a named struct. Rules that the parser turns into AST pieces are listed in
//   parser.cpp (`is_node`); rules that appear inside must<> have one message each in the error
//   table in parser.cpp.
// - Whitespace (`ws`, comments included) only ever sits *between* tokens inside a sequence,
//   never at the start or end of a construct, so every construct's match is exactly its text.
// - Commit points (must<>) come only after a keyword or delimiter (and after a rule's name,
//   which can only be followed by ':').
#pragma once
#include <tao/pegtl.hpp>

namespace weir::grammar {

using namespace tao::pegtl;  // NOLINT: grammar vocabulary

// ---------------------------------------------------------------------------------------------
// Whitespace and comments. A comment runs from '#' to the end of the line.
struct comment : seq<one<'#'>, star<not_one<'\n'>>> {};
struct blank : sor<plus<one<' ', '\t', '\n', '\r', '\f', '\v'>>, comment> {};
struct ws : star<blank> {};

// ---------------------------------------------------------------------------------------------
// Names: [A-Za-z_][A-Za-z0-9_-]* not ending in '-'. A run of '-' belongs to a name only if a
// name character follows it, so `$lo-$hi` is a range, `ssh-admin` one name, and `a- - b` (or
// `a-- b`) is never ambiguous.
struct name_first : ranges<'a', 'z', 'A', 'Z', '_'> {};
struct name_char : ranges<'a', 'z', 'A', 'Z', '0', '9', '_'> {};
struct name_dash : seq<plus<one<'-'>>, at<name_char>> {};
struct name_rest : sor<name_char, name_dash> {};
struct name_token : seq<name_first, star<name_rest>> {};

template <typename Word>
struct keyword : seq<Word, not_at<name_rest>> {};

struct kw_include : keyword<TAO_PEGTL_STRING("include")> {};
struct kw_const : keyword<TAO_PEGTL_STRING("const")> {};
struct kw_set : keyword<TAO_PEGTL_STRING("set")> {};
struct kw_file : keyword<TAO_PEGTL_STRING("file")> {};
struct kw_policy : keyword<TAO_PEGTL_STRING("policy")> {};
struct kw_default : keyword<TAO_PEGTL_STRING("default")> {};
struct kw_if : keyword<TAO_PEGTL_STRING("if")> {};
struct kw_and : keyword<TAO_PEGTL_STRING("and")> {};
struct kw_or : keyword<TAO_PEGTL_STRING("or")> {};
struct kw_not : keyword<TAO_PEGTL_STRING("not")> {};
struct kw_in : keyword<TAO_PEGTL_STRING("in")> {};
struct kw_pass : keyword<TAO_PEGTL_STRING("pass")> {};
struct kw_drop : keyword<TAO_PEGTL_STRING("drop")> {};
struct kw_tx : keyword<TAO_PEGTL_STRING("tx")> {};
struct kw_count : keyword<TAO_PEGTL_STRING("count")> {};
struct kw_redirect : keyword<TAO_PEGTL_STRING("redirect")> {};
struct kw_limit : keyword<TAO_PEGTL_STRING("limit")> {};
struct kw_log : keyword<TAO_PEGTL_STRING("log")> {};
struct kw_sample : keyword<TAO_PEGTL_STRING("sample")> {};
struct kw_snap : keyword<TAO_PEGTL_STRING("snap")> {};
struct kw_test : keyword<TAO_PEGTL_STRING("test")> {};
struct kw_packet : keyword<TAO_PEGTL_STRING("packet")> {};
struct kw_expect : keyword<TAO_PEGTL_STRING("expect")> {};
struct kw_by : keyword<TAO_PEGTL_STRING("by")> {};
struct kw_payload : keyword<TAO_PEGTL_STRING("payload")> {};
struct kw_hex : keyword<TAO_PEGTL_STRING("hex")> {};
struct kw_tcp : keyword<TAO_PEGTL_STRING("tcp")> {};
struct kw_udp : keyword<TAO_PEGTL_STRING("udp")> {};
struct kw_icmp : keyword<TAO_PEGTL_STRING("icmp")> {};
struct kw_icmp6 : keyword<TAO_PEGTL_STRING("icmp6")> {};
struct kw_ip : keyword<TAO_PEGTL_STRING("ip")> {};
struct kw_alert : keyword<TAO_PEGTL_STRING("alert")> {};
struct kw_on : keyword<TAO_PEGTL_STRING("on")> {};
struct kw_when : keyword<TAO_PEGTL_STRING("when")> {};
struct kw_rate : keyword<TAO_PEGTL_STRING("rate")> {};
struct kw_verdict : keyword<TAO_PEGTL_STRING("verdict")> {};
struct kw_for : keyword<TAO_PEGTL_STRING("for")> {};
struct kw_severity : keyword<TAO_PEGTL_STRING("severity")> {};

// ---------------------------------------------------------------------------------------------
// Strings: "..." with \" \\ \n \t \xHH; no raw newline inside.
struct str_escape_code : sor<one<'"', '\\', 'n', 't'>, seq<one<'x'>, xdigit, xdigit>> {};
struct str_escape : seq<one<'\\'>, must<str_escape_code>> {};
struct str_char : sor<str_escape, not_one<'"', '\\', '\n'>> {};
struct str_close : one<'"'> {};
struct str_lit : seq<one<'"'>, star<str_char>, must<str_close>> {};

// ---------------------------------------------------------------------------------------------
// Literals, tried in this order: MAC, IPv6, IPv4, INT; then $CONST, STRING, SYMBOL.
// A literal is never directly followed by a name character (`dead`, `ah` are symbols).
struct lit_end : not_at<name_char> {};
struct prefix_len : seq<one<'/'>, plus<digit>> {};

struct hex2 : seq<xdigit, xdigit> {};
struct mac_lit : seq<hex2, rep<5, one<':'>, hex2>, not_at<sor<name_char, one<':', '.'>>>> {};

struct dec_octet : rep_min_max<1, 3, digit> {};
struct ipv4_addr : seq<dec_octet, rep<3, one<'.'>, dec_octet>> {};

// RFC 4291 text form (RFC 3986 `IPv6address`), each alternative anchored at its end.
struct h16 : rep_min_max<1, 4, xdigit> {};
struct h16c : seq<h16, one<':'>, not_at<one<':'>>> {};  // "h16:" not starting a "::"
struct ls32 : sor<ipv4_addr, seq<h16, one<':'>, h16>> {};
struct dcolon : two<':'> {};
struct v6_end : not_at<sor<name_char, one<':', '.'>>> {};
struct ipv6_addr : sor<seq<rep<6, h16c>, ls32, v6_end>,
                       seq<dcolon, rep<5, h16c>, ls32, v6_end>,
                       seq<opt<h16>, dcolon, rep<4, h16c>, ls32, v6_end>,
                       seq<opt<rep_max<1, h16c>, h16>, dcolon, rep<3, h16c>, ls32, v6_end>,
                       seq<opt<rep_max<2, h16c>, h16>, dcolon, rep<2, h16c>, ls32, v6_end>,
                       seq<opt<rep_max<3, h16c>, h16>, dcolon, h16c, ls32, v6_end>,
                       seq<opt<rep_max<4, h16c>, h16>, dcolon, ls32, v6_end>,
                       seq<opt<rep_max<5, h16c>, h16>, dcolon, h16, v6_end>,
                       seq<opt<rep_max<6, h16c>, h16>, dcolon, v6_end>> {};

struct ipv6_lit : seq<ipv6_addr, opt<prefix_len>, lit_end> {};
struct ipv4_lit : seq<ipv4_addr, not_at<one<'.'>>, opt<prefix_len>, lit_end> {};
// Something shaped like an address ("1:2", "2001:db8:::1", "00:11:22") that is neither a MAC
// nor an IPv6 address: a syntax error at the literal rather than a confusing one after it.
struct bad_address : seq<at<star<xdigit>, one<':'>, sor<xdigit, one<':'>>>, raise<bad_address>> {};
struct int_lit : seq<sor<seq<one<'0'>, one<'x', 'X'>, plus<xdigit>>, plus<digit>>, not_at<sor<name_char, one<'.'>>>> {};

struct const_ref_name : name_token {};
struct const_ref : seq<one<'$'>, must<const_ref_name>> {};
struct symbol : name_token {};

struct value : sor<mac_lit, ipv6_lit, ipv4_lit, bad_address, int_lit, const_ref, str_lit, symbol> {};

// item := value ( "-" value )?
struct range_hi : value {};
struct item : seq<value, opt<ws, one<'-'>, ws, must<range_hi>>> {};
struct items : seq<item, star<ws, one<','>, ws, item>, opt<ws, one<','>>> {};

// "{" items? "}"
struct set_open : one<'{'> {};
struct set_close : one<'}'> {};
struct set_lit : seq<set_open, ws, opt<items>, ws, must<set_close>> {};

// ---------------------------------------------------------------------------------------------
// include "path"
struct include_path : str_lit {};
struct include_decl : seq<kw_include, ws, must<include_path>> {};

// const NAME = ( item | "{" items? "}" )
struct const_name : name_token {};
struct const_eq : one<'='> {};
struct const_value : sor<set_lit, item> {};
struct const_decl : seq<kw_const, ws, must<const_name>, ws, must<const_eq>, ws, must<const_value>> {};

// set NAME : TYPE = ( "{" items? "}" | file STRING )
struct set_name : name_token {};
struct set_colon : one<':'> {};
struct set_type : name_token {};
struct set_eq : one<'='> {};
struct set_file_path : str_lit {};
struct set_file : seq<kw_file, ws, must<set_file_path>> {};
struct set_init : sor<set_lit, set_file> {};
struct set_decl : seq<kw_set, ws, must<set_name>, ws, must<set_colon>, ws, must<set_type>, ws,
                      must<set_eq>, ws, must<set_init>> {};

// ---------------------------------------------------------------------------------------------
// Conditions.  expr := conj ( or conj )*   conj := unary ( and unary )*   unary := not unary | primary
struct field : seq<name_token, star<one<'.'>, name_token>> {};

struct op_eq : two<'='> {};
struct op_ne : string<'!', '='> {};
struct op_le : string<'<', '='> {};
struct op_ge : string<'>', '='> {};
struct op_lt : one<'<'> {};
struct op_gt : one<'>'> {};
struct cmp_op : sor<op_eq, op_ne, op_le, op_ge, op_lt, op_gt> {};

struct set_ref_name : name_token {};
struct named_set_ref : seq<one<'@'>, must<set_ref_name>> {};
struct setref : sor<set_lit, const_ref, named_set_ref> {};

struct cmp_rhs : item {};
struct cmp_tail : seq<cmp_op, ws, must<cmp_rhs>> {};
struct in_set : setref {};
struct in_tail : seq<kw_in, ws, must<in_set>> {};
struct not_in_tail : seq<kw_not, ws, kw_in, ws, must<in_set>> {};
struct bad_assign : seq<one<'='>, raise<bad_assign>> {};  // `tcp.dport = 22`
struct field_expr : seq<field, opt<ws, sor<cmp_tail, in_tail, not_in_tail, bad_assign>>> {};

// payload[OFF:LEN] (== | !=) (STRING | 0xHEX)
struct payload_open : one<'['> {};
struct payload_offset : int_lit {};
struct payload_colon : one<':'> {};
struct payload_length : int_lit {};
struct payload_close : one<']'> {};
struct payload_op : sor<op_eq, op_ne> {};
struct payload_bytes : sor<str_lit, int_lit> {};
struct payload_match : seq<kw_payload, not_at<one<'.'>>, ws, must<payload_open>, ws,
                           must<payload_offset>, ws, must<payload_colon>, ws, must<payload_length>,
                           ws, must<payload_close>, ws, must<payload_op>, ws, must<payload_bytes>> {};

// over RATE [burst AMOUNT] [per KEY] [size N]: a rate limit (docs/language.md "Rate limits").
// RATE: COUNT/s, COUNT/m, or bytes: Nbytes/s, Nkbytes/s, Nmbytes/s, Ngbytes/s (also /m).
struct kw_over : keyword<TAO_PEGTL_STRING("over")> {};
struct kw_burst : keyword<TAO_PEGTL_STRING("burst")> {};
struct kw_per : keyword<TAO_PEGTL_STRING("per")> {};
struct kw_size : keyword<TAO_PEGTL_STRING("size")> {};
struct byte_unit : seq<opt<one<'k', 'm', 'g'>>, TAO_PEGTL_STRING("bytes")> {};
struct limit_amount : seq<plus<digit>, opt<byte_unit>> {};
struct limit_rate : seq<limit_amount, one<'/'>, one<'s', 'm'>, not_at<name_rest>> {};
struct limit_burst_value : seq<limit_amount, not_at<name_rest>> {};
struct limit_burst : seq<kw_burst, ws, must<limit_burst_value>> {};
struct limit_key_field : field {};
struct limit_key_next : field {};
struct limit_key_close : one<')'> {};
struct limit_key_tuple : seq<one<'('>, ws, must<limit_key_field>, star<ws, one<','>, ws, must<limit_key_next>>,
                             ws, must<limit_key_close>> {};
struct limit_key : sor<limit_key_tuple, limit_key_field> {};
struct limit_per : seq<kw_per, ws, must<limit_key>> {};
struct limit_size_value : int_lit {};
struct limit_size : seq<kw_size, ws, must<limit_size_value>> {};
struct over_match : seq<kw_over, not_at<one<'.'>>, ws, must<limit_rate>, opt<ws, limit_burst>, opt<ws, limit_per>,
                        opt<ws, limit_size>> {};

// Nesting: parentheses and `not` recurse (paren_inner, not_operand). The parser counts the open
// ones (paren_open, not_open) and stops at kMaxNesting (parser.hpp) with `nesting-too-deep`,
// before the recursion can exhaust the stack.
struct paren_inner;
struct paren_open : one<'('> {};
struct paren_close : one<')'> {};
struct paren_expr : seq<paren_open, ws, must<paren_inner>, ws, must<paren_close>> {};

struct primary : sor<paren_expr, payload_match, over_match, field_expr> {};
struct not_operand;
struct not_open : kw_not {};
struct not_expr : seq<not_open, ws, must<not_operand>> {};
struct unary : sor<not_expr, primary> {};
struct not_operand : unary {};
struct and_rhs : unary {};
struct conj : seq<unary, star<ws, kw_and, ws, must<and_rhs>>> {};
struct or_rhs : conj {};
struct expr : seq<conj, star<ws, kw_or, ws, must<or_rhs>>> {};
struct paren_inner : expr {};

// ---------------------------------------------------------------------------------------------
// policy NAME default (pass|drop) { rule* }
struct redirect_target : str_lit {};
struct redirect_action : seq<kw_redirect, ws, must<redirect_target>> {};
struct reserved_limit : seq<kw_limit, raise<reserved_limit>> {};
// log [sample 1/N] [snap BYTES] (options in any order; the checker refuses a repeated one).
// `sample:` / `snap:` after a bare `log` is the next rule's name, not an option.
struct log_opt_guard : not_at<ws, one<':'>> {};
struct log_sample_num : int_lit {};
struct log_sample_slash : one<'/'> {};
struct log_sample_den : int_lit {};
struct log_sample : seq<kw_sample, log_opt_guard, ws, must<log_sample_num>, ws, must<log_sample_slash>, ws, must<log_sample_den>> {};
struct log_snap_len : int_lit {};
struct log_snap : seq<kw_snap, log_opt_guard, ws, must<log_snap_len>> {};
struct log_action : seq<kw_log, star<ws, sor<log_sample, log_snap>>> {};
struct action : sor<kw_pass, kw_drop, kw_tx, kw_count, redirect_action, reserved_limit, log_action> {};

struct rule_name : name_token {};
struct rule_colon : one<':'> {};
struct condition : expr {};
struct rule_decl : seq<rule_name, ws, must<rule_colon>, ws, must<action>, opt<ws, kw_if, ws, must<condition>>> {};

struct policy_name : name_token {};
struct policy_default_kw : kw_default {};
struct policy_default : sor<kw_pass, kw_drop> {};
struct policy_open : one<'{'> {};
struct policy_close : one<'}'> {};
struct policy_decl : seq<kw_policy, ws, must<policy_name>, ws, must<policy_default_kw>, ws,
                         must<policy_default>, ws, must<policy_open>, ws, star<rule_decl, ws>,
                         must<policy_close>> {};

// ---------------------------------------------------------------------------------------------
// test STRING (policy NAME)? { (packet expect)+ }
struct ep_port : int_lit {};
struct ep_v4 : seq<ipv4_addr, not_at<sor<name_char, one<'.'>>>> {};
struct ep_v6 : ipv6_addr {};
struct ep_rbracket : one<']'> {};
struct ep_bracketed : seq<one<'['>, must<ep_v6>, must<ep_rbracket>, opt<one<':'>, must<ep_port>>> {};
struct ep_plain_v4 : seq<ep_v4, opt<one<':'>, must<ep_port>>> {};
struct endpoint : sor<ep_bracketed, ep_v6, ep_plain_v4> {};
struct endpoint_src : endpoint {};
struct endpoint_dst : endpoint {};
struct arrow : string<'-', '>'> {};

struct packet_proto : sor<kw_tcp, kw_udp, kw_icmp6, kw_icmp, kw_ip> {};
struct packet_flow : seq<packet_proto, ws, must<endpoint_src>, ws, must<arrow>, ws, must<endpoint_dst>> {};
struct packet_hex_str : str_lit {};
struct packet_hex : seq<kw_hex, ws, must<packet_hex_str>> {};
struct packet_body : sor<packet_hex, packet_flow> {};

struct not_stmt_kw : not_at<sor<kw_packet, kw_expect>> {};
struct opt_key : seq<not_stmt_kw, name_token> {};
struct opt_value : seq<not_stmt_kw, value> {};  // value includes STRING
struct opt_value_next : seq<not_stmt_kw, value> {};
struct opt_values : seq<opt_value, star<ws, one<','>, ws, must<opt_value_next>>> {};
struct packet_opt : seq<opt_key, ws, must<opt_values>> {};
struct packet_stmt : seq<kw_packet, ws, must<packet_body>, star<ws, packet_opt>> {};

struct verdict : sor<kw_pass, kw_drop, kw_tx, kw_redirect> {};
struct expect_by : name_token {};
struct expect_stmt : seq<kw_expect, ws, must<verdict>, opt<ws, kw_by, ws, must<expect_by>>> {};
struct probe : seq<packet_stmt, ws, must<expect_stmt>> {};
struct first_probe : probe {};

struct test_name : str_lit {};
struct test_policy : name_token {};
struct test_open : one<'{'> {};
struct test_close : one<'}'> {};
struct test_decl : seq<kw_test, ws, must<test_name>, ws, opt<kw_policy, ws, must<test_policy>, ws>,
                       must<test_open>, ws, must<first_probe>, ws, star<probe, ws>, must<test_close>> {};

// ---------------------------------------------------------------------------------------------
// alert NAME [on POLICY] when rate(SOURCE [, UNIT]) OP THRESHOLD [for DURATION]
//       severity LEVEL "MESSAGE"
// SOURCE: a rule name, `verdict V`, `malformed` or `default`; UNIT: packets or bytes.
// THRESHOLD: NUMBER[k|m|g]/s (packets) or NUMBER(bytes|kbytes|mbytes|gbytes)/s; DURATION: INT(ms|s|m|h).
struct alert_name : name_token {};
struct alert_policy : name_token {};
struct alert_when : kw_when {};
struct rate_open : one<'('> {};
struct rate_close : one<')'> {};
struct rate_verdict : name_token {};
struct rate_verdict_src : seq<kw_verdict, ws, must<rate_verdict>> {};
struct rate_name : name_token {};
struct rate_source : sor<rate_verdict_src, rate_name> {};
struct rate_unit_name : name_token {};
struct rate_unit : seq<one<','>, ws, must<rate_unit_name>> {};
struct alert_rate : seq<kw_rate, ws, must<rate_open>, ws, must<rate_source>, ws, opt<rate_unit, ws>,
                        must<rate_close>> {};
struct alert_op : sor<op_le, op_ge, op_lt, op_gt> {};
struct threshold_number : seq<plus<digit>, opt<one<'.'>, plus<digit>>> {};
struct threshold_unit : sor<TAO_PEGTL_STRING("kbytes"), TAO_PEGTL_STRING("mbytes"), TAO_PEGTL_STRING("gbytes"),
                            TAO_PEGTL_STRING("bytes"), one<'k', 'm', 'g'>> {};
struct threshold_per_s : seq<one<'/'>, one<'s'>, not_at<name_char>> {};
struct alert_threshold : seq<threshold_number, opt<threshold_unit>, must<threshold_per_s>> {};
struct alert_duration : seq<plus<digit>, sor<TAO_PEGTL_STRING("ms"), one<'s', 'm', 'h'>>, not_at<name_char>> {};
struct alert_for : seq<kw_for, ws, must<alert_duration>> {};
struct severity_level : name_token {};
struct alert_severity : seq<kw_severity, ws, must<severity_level>> {};
struct alert_message : str_lit {};
struct alert_decl : seq<kw_alert, ws, must<alert_name>, ws, opt<kw_on, ws, must<alert_policy>, ws>,
                        must<alert_when>, ws, must<alert_rate>, ws, must<alert_op>, ws,
                        must<alert_threshold>, ws, opt<alert_for, ws>, must<alert_severity>, ws,
                        must<alert_message>> {};

// ---------------------------------------------------------------------------------------------
struct decl : sor<include_decl, const_decl, set_decl, policy_decl, test_decl, alert_decl> {};
struct file_end : eof {};
struct file : seq<ws, star<decl, ws>, must<file_end>> {};

}  // namespace weir::grammar
