// Private to the checker (sema.cpp and its sema_*.cpp parts): the state of one check() run and
// the wording helpers the parts share.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ast.hpp"
#include "diagnostics.hpp"
#include "fields.hpp"
#include "policy.hpp"

namespace weir::sema_detail {

// What values a field, set or test option holds, and how to talk about it in messages.
struct Domain {
    FieldType type = FieldType::Int;
    std::uint64_t max = 0;                 // Int
    SymbolTable syms = SymbolTable::None;  // Int
    std::string what;                      // "tcp.dport", "port": subject of out-of-range messages
    std::string desc;                      // "tcp.dport is a number (0-65535)"
};

Domain field_domain(const FieldDef& f, std::string_view label = {});

std::string num(std::uint64_t v);
inline int width_of(Family f) { return f == Family::V6 ? 128 : 32; }
// "a number", "an IPv4 address": what a literal of this kind is (sema_values.cpp).
std::string kind_desc(ast::Value::Kind k);
// A literal as written: strings quoted, constants with their '$', byte strings with '0x'.
std::string shown(const ast::Value& v);
// "IPv4 addresses", ...: what a set of this type holds; the type named `s`, if any (sema_sets.cpp).
const char* set_type_holds(SetType t);
std::optional<SetType> set_type_from(std::string_view s);

std::size_t edit_distance(std::string_view a, std::string_view b);
// The candidate closest to `word` if it is close enough to be a likely typo, else "".
std::string closest(std::string_view word, const std::vector<std::string>& candidates);
// " did you mean 'x'?" or "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);
// Interface names: non-empty, at most 15 bytes, no '/' or whitespace. Empty string if valid.
std::string iface_problem(std::string_view name);
// Hex digits (optional 0x, spaces allowed when `spaces`) -> bytes; nullopt + message on error.
std::optional<std::vector<std::uint8_t>> hex_bytes(std::string_view text, bool spaces, std::string& problem);

// `log` options (sema_log.cpp): sets out.kind = Log and its sample/snap, or reports errors.
void check_log(const ast::Action& a, Action& out, Diagnostics& diags);

class Checker {
public:
    Checker(SourceManager& sm, Diagnostics& diags) : sm_(sm), diags_(diags) {}
    // owned (the same files, when the caller gives them up): rule conditions are freed as they
    // are checked (check(..., files&&)).
    Program run(const std::vector<ast::File>& files, std::vector<ast::File>* owned);

private:
    enum class NameKind { Const, Set, Policy };
    struct NameEntry {
        NameKind kind;
        int index;
        SourceRange range;
    };

    // declarations (sema.cpp; sets: sema_sets.cpp; policies and conditions: sema_rules.cpp)
    void declare(const ast::File& file);
    bool declare_name(const ast::Name& n, NameKind kind, int index);
    void check_set(const ast::SetDecl& decl, SetDef& out, FileId file);
    void read_set_file(const ast::SetDecl& decl, SetDef& out, FileId file, const Domain& d);
    void check_policy(const ast::Policy& p, Policy& out, ast::Policy* release = nullptr);
    Expr check_expr(const ast::Expr& e, Policy& pol);
    Expr check_compare(const ast::Expr& e);
    Expr check_in(const ast::Expr& e, Policy& pol);
    Expr check_payload(const ast::Expr& e);
    // sema_limit.cpp
    Expr check_over(const ast::Expr& e, const std::string& rule);
    void place_limit(Rule& r);
    const FieldDef* lookup_field(const ast::Name& n);
    const FieldDef* lookup_value_field(const ast::Expr& e,
                                       const std::function<std::string(std::string_view)>& cannot);
    int lookup_const(const std::string& name, SourceRange use);

    // values (sema_values.cpp)
    void expand_item(const ast::Item& it, const Domain& d, std::vector<Element>& out);
    std::optional<Element> convert_item(const ast::Item& it, const Domain& d, Diagnostics& out);
    std::optional<Element> convert_value(const ast::Value& v, const Domain& d, Diagnostics& out);

    // alerts (sema_alerts.cpp)
    void check_alert(const ast::Alert& a, FileId file);
    // The policy a test or an alert belongs to: the one it names, or its file's only policy;
    // -1 after an error. `what` names it in messages, `hint_none` / `hint_many` say how to name a
    // policy when its file has none / several, `code` is that error's code.
    struct OwnerWords {
        std::string what, hint_none, hint_many;
        const char* code;
    };
    int owner_policy(const std::optional<ast::Name>& named, SourceRange at, FileId file, const OwnerWords& w);
    int alert_policy(const ast::Alert& a, FileId file);

    // tests (sema_testblocks.cpp)
    void check_test(const ast::Test& t, FileId file);
    void check_packet(const ast::Packet& p, PacketSpec& spec);
    // What a `packet` line builds: which endpoints and options it takes depends on it.
    struct PacketKind {
        const std::string& proto;
        bool raw, tcp, udp, icmp;
    };
    void check_endpoints(const ast::Packet& p, const PacketKind& kind, PacketSpec& spec);
    void check_packet_options(const ast::Packet& p, const PacketKind& kind, PacketSpec& spec);
    void check_packet_option(const ast::PacketOpt& o, std::string_view field, const PacketKind& kind,
                             PacketSpec& spec);
    void check_tcp_flags(const ast::PacketOpt& o, PacketSpec& spec);
    void check_expect(const ast::Expect& e, int policy, Probe& probe);
    int test_policy(const ast::Test& t, FileId file);
    std::optional<std::uint64_t> option_number(const ast::Value& v, std::string_view field_name,
                                               std::string_view key);

    SourceManager& sm_;
    Diagnostics& diags_;
    Program prog_;
    std::map<std::string, NameEntry> names_;
    std::vector<const ast::Const*> consts_;
    std::vector<const ast::Policy*> policy_decls_;      // parallel to prog_.policies
    std::map<std::string, SourceRange> test_names_;
    std::map<std::string, SourceRange> alert_names_;
    std::vector<int> const_stack_;     // consts being expanded (cycle detection)
    std::vector<SourceRange> uses_;    // where each const on the stack was used
    std::string current_rule_;         // the rule whose condition is being checked
};

}  // namespace weir::sema_detail
