// The words the public API (weir.hpp) shares with weir's own layers: failure kinds, diagnostic
// severities, attach modes, load steps, set operations and counters. The compiler and the runtime use these
// types themselves, so nothing converts between twins at the API boundary. Standard library only.
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace weir::api {

// Why an operation failed. Policy: the policy itself (does not compile, the kernel verifier
// rejects it, its own tests fail; the CLI exits 1). Environment: the host (no such interface,
// not privileged, another XDP program, bpffs, no weir policy there; the CLI exits 2).
enum class ErrorKind { None, Policy, Environment };
inline const char* error_kind_name(ErrorKind k) {  // "none", "policy", "environment"
    switch (k) {
        case ErrorKind::None: return "none";
        case ErrorKind::Policy: return "policy";
        case ErrorKind::Environment: return "environment";
    }
    return "environment";
}

enum class Severity { Error, Warning, Note };
inline const char* severity_name(Severity s) {  // "error", "warning", "note"
    switch (s) {
        case Severity::Error: return "error";
        case Severity::Warning: return "warning";
        case Severity::Note: return "note";
    }
    return "error";
}

enum class Mode { Auto, Native, Generic };  // Auto: native if the driver supports it, else generic
inline const char* mode_name(Mode m) {  // "auto", "native", "generic"
    switch (m) {
        case Mode::Auto: return "auto";
        case Mode::Native: return "native";
        case Mode::Generic: return "generic";
    }
    return "auto";
}

// One finished step of a load: "compile", "verify", "self-test", "prepare", "swap" (or
// "attach" on a first load), "pin", "cleanup", "meta".
struct Step {
    std::string name;
    std::chrono::nanoseconds time{};
    std::string detail;  // e.g. "9 probes", "verified: 412 instructions"
};

enum class SetOp { Add, Del, List, Flush };
inline const char* set_op_name(SetOp op) {  // "add", "del", "list", "flush"
    switch (op) {
        case SetOp::Add: return "add";
        case SetOp::Del: return "del";
        case SetOp::List: return "list";
        case SetOp::Flush: return "flush";
    }
    return "?";
}

struct Counter {
    std::uint64_t packets = 0, bytes = 0;
    friend bool operator==(const Counter&, const Counter&) = default;
};

struct RuleCounter {
    std::string name;
    std::string action;  // "pass", "drop", "count", "redirect", "tx" ("" in old pinned records)
    Counter counter;
    std::uint32_t slot = 0;  // its counter slot (kept across swaps)
};

// The counters of one interface's policy at one moment (per-CPU values summed). Counters of
// rules that keep their name survive a hot swap; new rules start at zero.
// What the attached program costs, from the kernel (bpf_prog_info). Run time and runs are
// counted only while the kernel's run-time statistics are on (RunTimeStatistics, weir.hpp).
struct ProgramCost {
    std::uint32_t insns = 0;        // BPF instructions after the verifier's rewrites
    std::uint32_t jited_bytes = 0;  // JIT-compiled code size (0: not JIT-compiled)
    bool measured = false;          // false: no run-time statistics, `why` says so; never read 0 ns
    std::string why;
    std::uint64_t run_time_ns = 0;  // totals while statistics were on
    std::uint64_t runs = 0;
};

// The program's cost between two readings of the same program.
struct CostRate {
    bool valid = false;           // both readings measured, same program, time passed
    double pps = 0;               // program runs (packets) per second
    bool idle = true;             // no run in the interval: ns_per_packet undefined
    double ns_per_packet = 0;
};

struct Counters {
    std::string ifname, policy, mode;
    std::uint32_t prog_id = 0;
    std::int64_t time = 0;                        // unix time of the reading
    std::chrono::steady_clock::time_point taken;  // the same, for rates between two readings
    std::vector<RuleCounter> rules;      // policy order
    std::string default_verdict;         // "pass" / "drop"
    Counter default_decisions;           // packets no rule decided
    Counter malformed;                   // packets the parser rejected
    Counter errors;
    Counter log_drops;                   // `log` records lost because the ring was full
    std::map<std::string, Counter> verdicts;  // "aborted", "drop", "pass", "tx", "redirect"
    ProgramCost program;
    const Counter* rule(const std::string& name) const {  // null: no such rule
        for (const auto& r : rules)
            if (r.name == name) return &r.counter;
        return nullptr;
    }
    // A verdict's total ("drop"); zero when the reading has none.
    Counter verdict(const std::string& name) const {
        auto it = verdicts.find(name);
        return it == verdicts.end() ? Counter{} : it->second;
    }
};

}  // namespace weir::api
