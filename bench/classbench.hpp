// ClassBench filter sets and header traces (../shared/classbench/README.md): parsing, the weir
// policy of a set, the first-match oracle, test frames, pcap output, and random sets shaped like
// each ClassBench family. Shared by the classbench tool, classbench_bench and the tests.
//
// Semantics (the oracle first_match() and policy_text() agree on them): filters are tried in
// file order, the first that matches decides; an address prefix matches on its network (host
// bits in the file are cleared); a port range narrower than 0-65535 only matches packets that
// carry ports (TCP, UDP), as weir's l4.sport/l4.dport do; protocol is exact (mask 0xFF) or any
// (mask 0x00); the flags column is not a 5-tuple field and is ignored.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace weir::classbench {

struct Prefix {
    std::uint32_t addr = 0;  // the network: bits past len are zero
    std::uint8_t len = 0;    // 0: any address
    std::uint32_t mask() const { return len == 0 ? 0 : 0xffffffffu << (32 - len); }
    bool contains(std::uint32_t a) const { return (a & mask()) == addr; }
    std::uint32_t last() const { return addr | ~mask(); }
};

struct PortRange {
    std::uint16_t lo = 0, hi = 65535;
    bool any() const { return lo == 0 && hi == 65535; }
    bool contains(std::uint16_t p) const { return lo <= p && p <= hi; }
};

struct Rule {
    Prefix src, dst;
    PortRange sport, dport;
    std::optional<std::uint8_t> proto;  // nullopt: any protocol
    std::size_t line = 0;               // 1-based line in its file (0: generated)
};

// One packet header of a trace: `src dst sport dport proto flags filter`.
struct Header {
    std::uint32_t src = 0, dst = 0;
    std::uint16_t sport = 0, dport = 0;
    std::uint8_t proto = 0;
    long filter = -1;       // the trace's last column (the filter it was made from), -1 if none
    std::size_t line = 0;   // 1-based line in its file (0: not from a file)
};

// "file:line:col: error: message" (col 1-based; line 0: the file as a whole).
struct ParseError {
    std::string file;
    std::size_t line = 0, col = 0;
    std::string message;
    std::string text() const;
};

template <class T>
struct Parsed {
    std::vector<T> items;
    std::vector<ParseError> errors;  // at most kMaxErrors, then one "too many errors"
    bool ok() const { return errors.empty(); }
    std::string error_text() const;  // every error, one a line
};
inline constexpr std::size_t kMaxErrors = 20;

// Blank lines are skipped (rule and line numbers then differ: Rule::line says which line). No
// input makes these throw or crash; a bad line is an error and is left out.
Parsed<Rule> parse_rules(std::string_view text, const std::string& file = "<rules>");
Parsed<Header> parse_trace(std::string_view text, const std::string& file = "<trace>");
// The same on a file; an unreadable file is one error at line 0.
Parsed<Rule> load_rules(const std::string& path);
Parsed<Header> load_trace(const std::string& path);

// "@a.b.c.d/n\te.f.g.h/m\tlo : hi\tlo : hi\t0xPP/0xMM\t0x0000/0x0000" (the file format).
std::string rule_line(const Rule& r);
std::string rules_text(std::span<const Rule> rules);
// "a.b.c.d e.f.g.h sport dport proto" for messages.
std::string header_text(const Header& h);
std::string ip_text(std::uint32_t a);

bool matches(const Rule& r, const Header& h);
// Index of the first rule matching `h`, -1 if none (linear scan).
int first_match(std::span<const Rule> rules, const Header& h);

// The weir rule of rules[i] is `r<N>: drop if ...` with N = Rule::line - 1 (the 0-based line),
// or i for generated rules; wildcard fields are left out, a rule of wildcards only has no
// condition (it matches every packet). Policy `name`, default pass.
std::string weir_rule_name(const Rule& r, std::size_t index);
std::string policy_text(std::span<const Rule> rules, const std::string& name = "classbench");

// An Ethernet + IPv4 frame carrying `h`: TCP (ACK) for proto 6, UDP for 17, ICMP echo request
// for 1, eight payload bytes after the IPv4 header otherwise.
std::vector<std::uint8_t> frame(const Header& h);

// Headers for a set without a trace: for each rule, in order, one header inside it (addresses
// and ports at the low end, the high end or inside, by rule index and seed; a wildcard protocol
// becomes TCP when the rule has a port range, else one of TCP, UDP, ICMP, GRE). Deterministic.
std::vector<Header> headers_from_rules(std::span<const Rule> rules, std::uint64_t seed = 1);

// Random sets shaped like the ClassBench families, from a seed:
//   acl  prefix-heavy: src and dst mostly /24../32 from clustered pools, exact destination
//        ports, mostly TCP, few wildcards
//   fw   wildcard-heavy: wildcard addresses and source ports common, wide and overlapping
//        destination port ranges, a third of the rules any protocol
//   ipc  mixed: prefixes of every length, exact source and destination ports (services), ranges
// Every family has protocol wildcards and overlapping port ranges; filters are ordered roughly
// from specific to wide, and only fw sets have a match-all filter (their last).
enum class Family : std::uint8_t { Acl, Fw, Ipc };
inline constexpr Family kFamilies[] = {Family::Acl, Family::Fw, Family::Ipc};
const char* family_name(Family f);
std::optional<Family> family_from_name(std::string_view s);
std::vector<Rule> generate_rules(Family f, std::size_t n, std::uint64_t seed);
// Headers for a set: most inside one rule (at its edges or inside), some just outside one field
// of a rule, some random; protocols cover TCP, UDP, ICMP and others.
std::vector<Header> generate_headers(std::span<const Rule> rules, std::size_t n, std::uint64_t seed);

// A pcap file (Ethernet link type) of `frames`, one per microsecond; false with `err` set.
bool write_pcap(const std::string& path, std::span<const std::vector<std::uint8_t>> frames, std::string& err);

// The sets of a ClassBench folder: every file that is not a trace (NAME_trace), a README or
// hidden, with its trace when there is one; sorted by rule count estimate (file size), then name.
struct SetFiles {
    std::string name;   // "acl1_1k"
    std::string rules;  // path
    std::string trace;  // path, empty if the set has no trace
};
std::vector<SetFiles> find_sets(const std::string& dir);
// A set read for measuring: its filters and the headers to run through them, the set's trace or,
// for a set without one, a header inside each filter (headers_from_rules).
struct Workload {
    std::vector<Rule> rules;
    std::vector<Header> headers;
    bool from_trace = false;
    std::string error;  // "filters do not parse: ..." or "trace does not parse: ...", one error a line
    bool ok() const { return error.empty(); }
};
Workload load_workload(const SetFiles& set);
// The folder: $WEIR_CLASSBENCH_DIR, else `configured` if it exists, else /work/shared/classbench;
// empty if none of them is a folder.
std::string find_dir(const std::string& configured = {});

// Runs `work` in a forked child and returns what it returned, so that a fatal error inside it
// (LLVM's report_fatal_error, abort, a crash) or a run over `budget_s` seconds is a result, not
// the end of the calling process. `error` is then set, with the child's last stderr lines.
struct ChildResult {
    std::vector<std::uint8_t> bytes;
    std::string error;  // empty: the child returned normally
    double seconds = 0;
    long max_rss_kib = 0;  // wait4's ru_maxrss of the child
};
// `work` returns its result bytes, or sets its `error` argument and returns nothing useful.
ChildResult run_in_child(const std::function<std::vector<std::uint8_t>(std::string& error)>& work,
                         double budget_s = 600);

}  // namespace weir::classbench
