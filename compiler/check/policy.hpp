// The checked policy: names resolved, values converted and typed, constants inlined, sets typed.
// Produced by the checker (sema.hpp) from all files of a compilation; consumed by lint, the
// planner, the interpreter, codegen and the runtime. Ranges point back to the source for errors.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ast.hpp"
#include "fields.hpp"
#include "out_of_line.hpp"
#include "source.hpp"

namespace weir {

enum class Family : std::uint8_t { None, V4, V6 };

// One value or range of values. Integers, MACs: [lo, hi] (lo == hi for a single value).
// Addresses: family V4 (value in the low 32 bits) or V6, [lo, hi] covering the prefix;
// `prefix` is the prefix length when written as an address or CIDR (32/128 for a host).
struct Element {
    Family family = Family::None;
    u128 lo = 0, hi = 0;
    int prefix = -1;  // addresses only
    SourceRange range;
    bool contains(const Element& o) const {
        return family == o.family && lo <= o.lo && o.hi <= hi;
    }
    bool operator==(const Element& o) const {
        return family == o.family && lo == o.lo && hi == o.hi && prefix == o.prefix;
    }
};

enum class SetType : std::uint8_t { Ip, Ip4, Ip6, Mac, Port, Proto };

struct SetDef {
    std::string name;
    SetType type = SetType::Ip;
    std::vector<Element> elems;  // in source order; duplicates and overlaps allowed
    bool from_file = false;
    std::string file;  // resolved path when from_file
    SourceRange range;      // the declaration
    SourceRange name_range;
};

using Cmp = ast::CmpOp;  // the same operators as written

// A rate limit, `over RATE [burst N] [per KEY] [size N]` (compiler/check/limits.hpp, docs/language.md
// "Rate limits"): a token bucket of `burst` units refilled at `amount` units per `period_s`
// seconds; units are packets, or bytes (pkt.len) when `bytes`. The atom is true when the packet
// finds the bucket without enough tokens; evaluated last in its rule, so only packets that match
// the rest of the rule take tokens.
struct LimitSpec {
    bool bytes = false;
    std::uint64_t amount = 0;      // units per period
    std::uint32_t period_s = 1;    // 1 (`/s`) or 60 (`/m`)
    std::uint64_t burst = 0;       // units (default: one second of rate, at least 1)
    std::vector<FieldId> key;      // empty: one bucket for all packets
    std::uint32_t size = 1;        // table entries this limit may hold (1 when global)
    std::uint32_t id = 0;          // limit_id(): stable across swaps for the same rule name and key
    std::uint64_t interval = 0;    // fixed-point ns (<< WEIR_LIMIT_FP_SHIFT) to refill one unit
    std::uint64_t tau = 0;         // burst * interval
};

struct Expr {
    enum class Kind : std::uint8_t {
        True,     // always (also: a rule without `if`)
        And, Or, Not,
        Compare,  // field op value (Eq/Ne with a range or prefix: within / not within)
        In,       // field in elements (inline) or in set `set`
        Test,     // bare boolean field
        Payload,  // payload[offset : bytes.size()] == / != bytes
        Limit,    // over RATE ... (limit)
    };
    Kind kind = Kind::True;
    std::vector<Expr> kids;
    FieldId field = FieldId::PktLen;
    Cmp op = Cmp::Eq;
    Element value;                  // Compare
    bool negated = false;           // In: `not in` (still false when the header is missing)
    int set = -1;                   // In: index into Program::sets, or -1 for inline `elems`
    std::vector<Element> elems;     // In (inline)
    std::uint16_t offset = 0;       // Payload
    std::vector<std::uint8_t> bytes;// Payload
    OutOfLine<LimitSpec> limit;     // Limit
    SourceRange range;
};

enum class Verdict : std::uint8_t { Pass, Drop, Redirect, Tx };

// `log`: defaults and bounds (docs/language.md). The snap length bounds the fixed-size ring
// record (weir_abi.h WEIR_LOG_SNAP_MAX, 256 bytes: Ethernet + VLANs + IPv6 + extension headers +
// TCP with options and the start of the payload fit, and a 256 KiB ring still holds ~900 records).
inline constexpr std::uint32_t kLogSampleDefault = 1;
inline constexpr std::uint32_t kLogSampleMax = 1000000000;
inline constexpr std::uint32_t kLogSnapDefault = 128;
inline constexpr std::uint32_t kLogSnapMax = 256;

struct Action {
    enum class Kind : std::uint8_t { Pass, Drop, Redirect, Tx, Count, Log };
    Kind kind = Kind::Pass;
    std::string ifname;  // Redirect
    SourceRange range;
    // Log: every `log_sample`-th matching packet (per CPU) is logged with its first `log_snap` bytes.
    std::uint32_t log_sample = kLogSampleDefault;
    std::uint32_t log_snap = kLogSnapDefault;
    bool terminal() const { return kind != Kind::Count && kind != Kind::Log; }
};
// "pass", "drop", "redirect", "tx", "count", "log": the action's keyword.
const char* action_name(Action::Kind k);

struct Rule {
    std::string name;
    Action action;
    Expr cond;  // Kind::True when the rule has no `if`
    bool has_cond = false;
    SourceRange range;
    SourceRange name_range;
};

struct Policy {
    std::string name;
    Verdict default_verdict = Verdict::Pass;
    std::vector<Rule> rules;
    std::vector<int> sets;  // indices into Program::sets used by this policy, ascending
    SourceRange range;
    SourceRange name_range;
    int rule_index(const std::string& n) const;
};

// A packet described by a test block, fully resolved. test_frames.hpp turns it into bytes.
struct PacketSpec {
    std::vector<std::uint8_t> raw;  // `packet hex`: the whole frame; other fields unused
    bool is_raw = false;
    std::uint8_t eth_src[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::uint8_t eth_dst[6] = {0x02, 0, 0, 0, 0, 0x02};
    std::vector<std::uint16_t> vlans;  // outer first: (pcp << 13) | id
    Family family = Family::V4;
    u128 src = 0, dst = 0;
    std::uint8_t proto = 6;       // L4 protocol number
    std::uint16_t sport = 0, dport = 0;
    std::uint8_t tcp_flags = 0;   // bit values as in the TCP header
    std::uint16_t window = 65535;
    std::uint8_t icmp_type = 8, icmp_code = 0;
    std::uint8_t ttl = 64;
    std::uint8_t dscp = 0;
    std::uint32_t flowlabel = 0;
    enum class Frag : std::uint8_t { None, First, Middle, Last } frag = Frag::None;
    std::vector<std::uint8_t> payload;
    std::optional<std::uint32_t> frame_len;  // `len N`: pad payload so the frame is N bytes
    std::string iface;                       // `iface "eth0"`: pkt.iface seen by the policy
};

struct Probe {
    PacketSpec packet;
    Verdict expect = Verdict::Pass;
    int by_rule = -1;       // index into the policy's rules; -1 = not specified
    bool by_default = false;// `by default`
    SourceRange range;      // the packet statement
    SourceRange expect_range;
};

struct TestCase {
    std::string name;
    int policy = -1;  // index into Program::policies
    std::vector<Probe> probes;
    SourceRange range;
};

// A checked alert (docs/language.md "Alerts"): a condition over the rate of one counter of one
// policy, evaluated by the daemon (daemon/alerts.hpp).
struct Alert {
    enum class Source : std::uint8_t { Rule, Verdict, Malformed, Default };
    enum class Severity : std::uint8_t { Info, Warning, Critical };
    std::string name;
    int policy = -1;          // index into Program::policies
    Source source = Source::Rule;
    std::string counter;      // Rule: the rule's name; Verdict: pass, drop, tx, redirect, aborted
    bool bytes = false;       // bytes per second (else packets per second)
    Cmp op = Cmp::Gt;         // Gt, Ge, Lt, Le
    double threshold = 0;     // per second, in packets or bytes
    std::uint64_t for_ms = 0; // how long the condition must hold before the alert fires
    Severity severity = Severity::Warning;
    std::string message;
    SourceRange range;
    SourceRange name_range;
    SourceRange rate_range;       // rate( ... )
    SourceRange threshold_range;  // "10mbytes/s"
    SourceRange for_range;        // the duration after `for` (invalid without `for`)
};

const char* severity_name(Alert::Severity s);        // "info", "warning", "critical"
const char* alert_source_name(Alert::Source s);      // "rule", "verdict", "malformed", "default"

const char* set_type_name(SetType t);  // "ip", "ip4", ... as written in `set x : TYPE`
const char* verdict_name(Verdict v);   // "pass", "drop", "redirect", "tx"

// Everything a compilation checked: all policies, named sets and tests of the root file and
// the files it includes.
struct Program {
    std::vector<SetDef> sets;
    std::vector<Policy> policies;
    std::vector<TestCase> tests;
    std::vector<Alert> alerts;  // in declaration order
    int find_policy(const std::string& name) const;
    int find_set(const std::string& name) const;
};

}  // namespace weir
