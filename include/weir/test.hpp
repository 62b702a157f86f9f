// `weir test` through the API: a policy file's own `test` blocks run in the kernel (the policy
// built and loaded as `weir load` builds it, nothing attached, one BPF_PROG_TEST_RUN per packet)
// or in the reference interpreter, and a packet capture replayed through its policies.
//
//   weir::api::Policy p = weir::api::Policy::from_file("edge.weir");
//   weir::api::TestRun r = weir::api::run_tests(p, weir::api::choose_test_engine().engine);
//   for (const auto& t : r.tests) if (!t.passed) ...
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "weir/weir.hpp"

namespace weir::api {

enum class TestEngine { Kernel, Interpreter };
const char* engine_name(TestEngine e);  // "kernel", "interpreter"

struct EngineChoice {
    TestEngine engine = TestEngine::Interpreter;
    std::string why;  // one line: "asked for", or why the kernel can or cannot be used
    Error error;      // Environment: the kernel was asked for and this process cannot load BPF
};
// `wanted`, or the kernel when this process can load BPF programs and else the interpreter.
EngineChoice choose_test_engine(std::optional<TestEngine> wanted = std::nullopt);

// One `packet ... -> verdict` statement of a test block, run.
struct ProbeResult {
    Location where;
    std::string statement;  // its source line, without indentation
    bool passed = false;
    std::string expected_verdict;  // "pass", "drop", ...
    std::string expected_rule;     // the rule named by `by`, "default", or "" (any)
    std::string verdict, rule;     // what ran: "aborted" when the program aborted; rule "default"
    std::string error;             // non-empty: the probe could not run (verdict, rule empty)
    std::string expected, actual;  // in words: "drop by ssh", "not run: WHY"
};

struct TestResult {
    std::string name, policy;
    bool passed = false;
    std::string error;  // the block could not run, e.g. its policy did not load
    std::vector<ProbeResult> probes;
};

struct TestRun {
    std::vector<TestResult> tests;
    std::size_t passed = 0, failed = 0;
    // The kernel's findings on the policies it loaded (a policy it rejects fails its tests).
    std::vector<Diagnostic> diagnostics;
    std::string diagnostics_text;
};

// Every test block of an ok() policy file, in file order (none if !ok()). Each block starts with
// full rate-limit buckets and its packets all arrive at one instant (docs/language.md "Rate
// limits"), in both engines. `color`: diagnostics_text with ANSI colours.
TestRun run_tests(const Policy& policy, TestEngine engine, bool color = false);

// The Ethernet frames of a pcap file.
struct Capture {
    std::vector<std::vector<std::uint8_t>> frames;
    std::uint64_t truncated = 0;     // cut by the capture's snap length (replayed as captured)
    std::uint64_t short_frames = 0;  // under 14 bytes: not replayed
};
// Errors (Environment, step "read"): unreadable, not a pcap file, not Ethernet (EN10MB).
Result<Capture> read_capture(const std::string& path);

// What one policy's counters saw when a capture went through it.
struct Replay {
    std::string policy;
    std::string error;  // the policy could not be replayed at all
    std::vector<RuleCounter> rules;                          // policy order
    std::vector<std::pair<std::string, Counter>> verdicts;  // pass, drop, tx, redirect, aborted
    Counter by_default, malformed;
    Counter errors;  // kernel only: the program's error counter
    std::uint64_t not_run = 0;   // frames the kernel refused to run (e.g. over ~3.5 KB)
    std::string not_run_reason;  // why, for the first of them
};

struct ReplayRun {
    std::vector<Replay> replays;
    std::vector<Diagnostic> diagnostics;  // as TestRun's
    std::string diagnostics_text;
};

// Replays `capture` through every policy of an ok() file, or only `only` (which must exist:
// Policy::select). The whole capture arrives at one instant with full rate-limit buckets.
ReplayRun replay(const Policy& policy, const Capture& capture, TestEngine engine, const std::string& only = {},
                 bool color = false);

}  // namespace weir::api
