// The syntax tree of one policy file, exactly as written (spelling kept for `weir fmt`).
// Produced by the parser (parser.hpp), consumed by the checker (sema.hpp) and formatter (fmt.hpp).
// Every node carries its source range. Literal text is kept verbatim; the checker gives it meaning.
#pragma once
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "out_of_line.hpp"
#include "source.hpp"

namespace weir::ast {

struct Name {
    std::string text;
    SourceRange range;
};

// A single literal as written. The parser only classifies it lexically.
struct Value {
    enum class Kind {
        Int,     // 42, 0x2a
        Ipv4,    // 192.0.2.1 or 192.0.2.0/24 (text includes "/24")
        Ipv6,    // 2001:db8::1 or 2001:db8::/32
        Mac,     // 00:11:22:aa:bb:cc
        Symbol,  // echo-request, tcp, ipv6 (meaning depends on the field)
        Const,   // $name  (text without '$')
        String,  // "GET " (text is the unescaped content)
        Bytes,   // 0x474554 used where bytes are expected (text without "0x"); the parser emits
                 // Int for 0x… literals; the checker reads them as bytes for payload matches
    };
    Kind kind = Kind::Int;
    std::string text;
    SourceRange range;
};

// One element of a set or the right side of a comparison: a value or an inclusive range a-b.
struct Item {
    Value lo;
    std::optional<Value> hi;  // set for ranges "8000-8099"
    SourceRange range;
};

// Right side of `in` / `not in`.
struct SetRef {
    enum class Kind { Inline, Const, Named };  // { ... }, $name, @name
    Kind kind = Kind::Inline;
    std::vector<Item> items;  // Inline
    Name name;                // Const / Named (text without sigil)
    SourceRange range;
};

enum class CmpOp { Eq, Ne, Lt, Le, Gt, Ge };

inline const char* cmp_text(CmpOp op) {
    switch (op) {
        case CmpOp::Eq: return "==";
        case CmpOp::Ne: return "!=";
        case CmpOp::Lt: return "<";
        case CmpOp::Le: return "<=";
        case CmpOp::Gt: return ">";
        case CmpOp::Ge: return ">=";
    }
    return "==";
}

// `over RATE [burst AMOUNT] [per FIELD | per (FIELD, ...)] [size N]`, texts as written.
struct Limit {
    Value rate;                  // "2000/s", "10mbytes/s" (kind Int)
    std::optional<Value> burst;  // "4000", "64kbytes"
    std::vector<Name> key;       // fields after `per`
    bool tuple = false;          // the key was written in parentheses
    std::optional<Value> size;   // Int
};

// payload[offset:length] op bytes
struct PayloadMatch {
    Value offset, length;  // Int values
    Value bytes;           // String or Int (0x… hex)
};

struct Expr {
    enum class Kind {
        And,      // kids (>= 2)
        Or,       // kids (>= 2)
        Not,      // kids[0]
        Compare,  // field op rhs
        In,       // field in set
        NotIn,    // field not in set
        Test,     // bare boolean field: tcp.flags.syn
        Payload,  // payload[offset:length] op bytes   (op is Eq or Ne)
        Over,     // over RATE [burst N] [per KEY] [size N]   (rate limit)
    };
    Kind kind = Kind::Compare;
    SourceRange range;
    std::vector<Expr> kids;
    Name field;           // Compare / In / NotIn / Test: "tcp.dport" with its range
    CmpOp op = CmpOp::Eq; // Compare / Payload
    Item rhs;             // Compare: value or range (`==` with a range means "within")
    weir::OutOfLine<SetRef> set;           // In / NotIn
    weir::OutOfLine<PayloadMatch> payload; // Payload
    weir::OutOfLine<Limit> limit;          // Over
    bool parens = false;  // written inside parentheses (informational; fmt re-derives)
};

// One option of `log`: `sample NUM/VALUE` or `snap VALUE` (Int values, checked by sema).
struct LogOption {
    Value num;    // sample: the numerator (must be 1)
    Value value;  // sample: N; snap: the byte count
    SourceRange range;
};

struct Action {
    enum class Kind { Pass, Drop, Redirect, Tx, Count, Log };  // `limit` is a syntax error (`reserved`)
    Kind kind = Kind::Pass;
    Value target;  // Redirect: String interface name
    std::vector<LogOption> log_sample, log_snap;  // Log: as written (sema refuses repeats)
    SourceRange range;
};

struct Rule {
    Name name;
    Action action;
    std::optional<Expr> cond;  // absent: always
    SourceRange range;
};

struct Policy {
    Name name;
    Name default_verdict;  // "pass" or "drop" (checked by sema)
    std::vector<Rule> rules;
    SourceRange range;
};

struct Include {
    Value path;  // String
    SourceRange range;
};

struct Const {
    Name name;
    bool is_set = false;  // `const x = { ... }`
    Item value;           // !is_set
    SetRef set;           // is_set (Kind::Inline)
    SourceRange range;
};

struct SetDecl {
    Name name;
    Name type;  // ip, ip4, ip6, mac, port, proto (checked by sema)
    bool from_file = false;
    std::vector<Item> items;  // !from_file
    Value file;               // from_file: String path, relative to the declaring file
    SourceRange range;
};

// Test packets: `packet PROTO SRC -> DST opts...` or `packet hex "..." opts...`.
struct Endpoint {
    Value addr;                 // Ipv4 or Ipv6 (IPv6 with a port is written [addr]:port)
    std::optional<Value> port;  // Int
    SourceRange range;
};

struct PacketOpt {
    Name key;                  // flags, len, ttl, vlan, ... (checked by sema)
    std::vector<Value> values; // comma-separated: `flags syn, ack`
    SourceRange range;
};

struct Packet {
    Name proto;                // tcp, udp, icmp, icmp6, ip, or hex
    std::optional<Endpoint> src, dst;  // absent for hex
    Value hex;                 // proto == "hex": String of hex digits (spaces allowed)
    std::vector<PacketOpt> opts;
    SourceRange range;
};

struct Expect {
    Name verdict;             // pass, drop, tx, redirect
    std::optional<Name> by;   // rule name or "default"
    SourceRange range;
};

struct Probe {
    Packet packet;
    Expect expect;
};

struct Test {
    Value name;                 // String
    std::optional<Name> policy; // `test "x" policy edge { ... }`
    std::vector<Probe> probes;
    SourceRange range;
};

// `alert NAME [on POLICY] when rate(SOURCE[, UNIT]) OP THRESHOLD [for DURATION] severity LEVEL "MSG"`.
// Kept lexical: the checker decides what the source names and converts the numbers.
struct Alert {
    Name name;
    std::optional<Name> policy;   // `on POLICY`
    bool verdict = false;         // `rate(verdict V)`: source is V
    Name source;                  // a rule name, `malformed`, `default`, or the verdict
    std::optional<Name> unit;     // `, bytes` / `, packets`
    SourceRange rate_range;       // rate( ... )
    CmpOp op = CmpOp::Gt;
    Name threshold;               // the number as written: "50", "2.5"
    std::string threshold_unit;   // "", "k", "m", "g", "bytes", "kbytes", "mbytes", "gbytes"
    SourceRange threshold_range;  // the whole "10mbytes/s"
    std::optional<Name> duration; // "10s", "500ms" (after `for`)
    Name severity;
    Value message;                // String
    SourceRange range;
};

// A top-level declaration.
using Decl = std::variant<Include, Const, SetDecl, Policy, Test, Alert>;

struct Comment {
    std::string text;  // including the leading '#'
    SourceRange range;
    bool own_line = false;  // nothing but whitespace before it on its line
};

struct File {
    FileId id = kNoFile;
    std::vector<Decl> decls;
    std::vector<Comment> comments;  // in source order
};

}  // namespace weir::ast
