// Random, well-typed policies and packets aimed at them, for differential testing of the kernel
// program against the reference interpreter (tests/kernel/test_differential.cpp) and for the
// generator's own test (tests/unit/test_policy_gen.cpp).
//
// Everything is driven by one std::mt19937_64 seeded by the caller, so a seed reproduces a
// policy and its packet stream exactly. Policies are SOURCE TEXT (the front end is part of what
// is tested); which fields, operators and value forms a policy uses is derived from the field
// table (compiler/core/fields.hpp), never from a per-field list, and recorded in GenCoverage. Every
// value the policy compares with is also recorded, with its neighbours, in a Palette that the
// packet generator draws from, so packets land on rule boundaries (a port, the port +- 1, the
// first and last address of a prefix and the addresses just outside it).
#pragma once
#include <array>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "fields.hpp"
#include "policy.hpp"

namespace weir::test {

inline constexpr std::size_t kGenFields = static_cast<std::size_t>(FieldId::Count_);

// How a condition tests a field.
enum class GenOp : std::uint8_t { Eq, Ne, Lt, Le, Gt, Ge, In, NotIn, Bare, Count_ };
inline constexpr std::size_t kGenOps = static_cast<std::size_t>(GenOp::Count_);
const char* gen_op_name(GenOp op);
// The operators the language allows on a field of type `t` (docs/language.md, "Operators").
std::span<const GenOp> gen_ops_for(FieldType t);

// The named-set types `FIELD in @set` accepts for a field (docs/language.md, "Sets"), derived from
// the field's type, header and symbol table; empty if none.
std::vector<SetType> gen_set_types_for(const FieldDef& f);
const char* gen_set_type_name(SetType t);  // as written: "ip", "port", ...

// How the value of a condition is written.
enum class GenForm : std::uint8_t {
    Number,       // 443, 0x1bb
    Symbol,       // echo-request
    Address,      // a single address or MAC, an interface name
    Range,        // a-b
    Prefix,       // CIDR
    InlineSmall,  // { ... } with 1..8 elements (compared inline by codegen)
    InlineLarge,  // { ... } with more than 8 elements (a lookup table)
    InlineEmpty,  // { }
    Const,        // $c, a single item
    ConstSet,     // in $c, a set constant
    NamedSet,     // in @s
    Count_
};
inline constexpr std::size_t kGenForms = static_cast<std::size_t>(GenForm::Count_);
const char* gen_form_name(GenForm f);

struct GenCoverage {
    std::array<std::array<unsigned, kGenOps>, kGenFields> field_op{};
    std::array<std::array<unsigned, kGenForms>, kGenFields> field_form{};
    std::array<unsigned, 6> set_types{};   // named sets used in conditions, by SetType
    std::array<unsigned, 5> actions{};     // pass, drop, tx, count, redirect
    unsigned and_ = 0, or_ = 0, not_ = 0, parens = 0;
    unsigned payload_eq = 0, payload_ne = 0, payload_hex = 0, payload_string = 0;
    unsigned no_condition = 0, nested_const = 0, set_with_const = 0, host_bits = 0;
    unsigned rules = 0, policies = 0, max_depth = 0;
    void add(const GenCoverage& o);
};

// Values the policy compares with, and their neighbours, by field, for the whole policy and for
// each rule (a packet aimed at one rule takes all its values from that rule, so that the tests
// of a conjunction hold together). ip.src/ip.dst values are filed under ip4.*/ip6.* by family;
// values used with l4.* are filed under l4.* only (the packet generator merges tcp.*/udp.* with
// l4.*).
struct Palette {
    using Values = std::array<std::vector<u128>, kGenFields>;
    struct PayloadBytes {
        std::uint16_t offset = 0;
        std::vector<std::uint8_t> bytes;
    };
    Values values;
    std::vector<PayloadBytes> payloads;
    std::vector<Values> rule_values;  // by rule index
    std::vector<std::vector<PayloadBytes>> rule_payloads;

    void add(FieldId f, u128 v, std::size_t rule) {
        values[static_cast<std::size_t>(f)].push_back(v);
        if (rule_values.size() <= rule) rule_values.resize(rule + 1);
        rule_values[rule][static_cast<std::size_t>(f)].push_back(v);
    }
    void add_payload(PayloadBytes p, std::size_t rule) {
        payloads.push_back(p);
        if (rule_payloads.size() <= rule) rule_payloads.resize(rule + 1);
        rule_payloads[rule].push_back(std::move(p));
    }
    const std::vector<u128>& of(FieldId f) const { return values[static_cast<std::size_t>(f)]; }
};

struct GenOptions {
    unsigned min_rules = 1, max_rules = 40;
    unsigned max_depth = 4;          // nesting of and/or/not
    bool redirect = true;            // `redirect "<redirect_iface>"` actions
    std::string redirect_iface = "lo";
    bool iface = true;               // pkt.iface conditions: names iface_names[]
    std::vector<std::string> iface_names = {"lo", "weirnx0"};
};

struct GeneratedPolicy {
    std::uint64_t seed = 0;
    std::string text;         // the whole file: constants, sets, one policy
    std::string policy_name;  // "fuzz"
    Palette palette;
    GenCoverage coverage;
};

GeneratedPolicy generate_policy(std::uint64_t seed, const GenOptions& opts = {});

struct PacketGenOptions {
    std::size_t min_len = 14;  // BPF_PROG_TEST_RUN wants at least an Ethernet header
    std::size_t max_len = 1500;
};

struct GeneratedPacket {
    std::vector<std::uint8_t> bytes;
    std::string kind;  // what was built: "vlan2 ip6 ext3 tcp trunc@57"
};

// Frames aimed at a policy's palette: Ethernet with 0-3 VLAN tags; IPv4 (options, fragments,
// odd IHL and lengths) or IPv6 (extension-header chains, fragment headers) or another
// EtherType; TCP (options, odd data offsets), UDP, ICMP, ICMPv6 or another protocol; payloads
// that match, almost match or are too short for the policy's payload matches; truncation at and
// around header boundaries; Ethernet padding; and now and then random bytes.
class PacketGen {
public:
    PacketGen(const Palette& palette, std::uint64_t seed, PacketGenOptions opts = {});
    GeneratedPacket next();

private:
    bool chance(double p);
    std::uint64_t below(std::uint64_t n);  // uniform in [0, n)
    // A value for one of `fields` (palette first), of `bits` width.
    u128 pick(std::initializer_list<FieldId> fields, unsigned bits, double from_palette = 0.7);
    std::vector<std::uint8_t> payload_bytes();

    const Palette& pal_;
    const Palette::Values* focus_ = nullptr;  // the rule this packet is aimed at
    const std::vector<Palette::PayloadBytes>* focus_payloads_ = nullptr;
    std::mt19937_64 rng_;
    PacketGenOptions opts_;
};

// "0a1b2c..." for failure messages and `packet hex`.
std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace weir::test
