// weir's embedding API: compile a policy, attach it to an interface, hot-swap it, read its
// counters, edit its sets, unload it. docs/embedding.md is the guide.
//
//   #include <weir/weir.hpp>
//   weir::api::Policy p = weir::api::Policy::from_string("edge.weir", text);
//   if (!p.ok()) { std::cerr << p.diagnostics_text(); return 1; }
//   weir::api::LoadReport r = weir::api::attach("eth1", p);
//   if (!r.ok()) { std::cerr << r.error.step << ": " << r.error.message << "\n"; return 2; }
//   weir::api::Attachment a = r.attachment();
//   a.replace(other);                         // atomic hot swap
//   auto c = a.counters();                    // per rule packets/bytes, verdict totals
//   a.set_add("blocked", {"198.51.100.7"});   // live set edit
//   a.unload();
//
// Rules of the road:
//   - Nothing here throws (except std::bad_alloc) or prints; every failure is a value (Error:
//     kind, failed step, one-line message) and every policy problem a Diagnostic.
//   - Only standard-library types cross this header: no LLVM, libbpf or parser types.
//   - Attached state is pinned in bpffs, so it outlives the process: an Attachment is only a
//     handle (an interface name); dropping it detaches nothing. Operations on one interface are
//     serialized by a lock shared with the `weir` CLI.
//   - Attaching, swapping, counters and set edits need root (CAP_BPF, CAP_NET_ADMIN, ...).
//     $WEIR_PIN_ROOT and $WEIR_RUN_DIR move the bpffs pins and the lock files (docs/operations.md).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "weir/vocabulary.hpp"

namespace weir::api {

// --- results -------------------------------------------------------------------------------

struct Error {
    ErrorKind kind = ErrorKind::None;
    std::string step;     // the failed step: "compile", "verify", "self-test", "swap", "read", ...
    std::string message;  // one line; says whether anything changed
    explicit operator bool() const { return kind != ErrorKind::None; }
};

// A value or an Error.
template <class T>
struct Result {
    T value{};
    Error error;
    bool ok() const { return !error; }
    explicit operator bool() const { return ok(); }
    const T& operator*() const { return value; }
    const T* operator->() const { return &value; }
};

// Reads a whole input file the way weir reads policies and set files: regular files only
// (a directory, FIFO, device or socket is refused without blocking) and at most `max_bytes`.
// Error step "read", kind Policy.
Result<std::string> read_input_file(const std::string& path, std::uint64_t max_bytes);

// --- diagnostics ---------------------------------------------------------------------------


// A position in a source (1-based; line 0: no location, e.g. an unreadable file).
struct Location {
    std::string file;  // display name: the path, or from_string()'s name, or "<command line>"
    unsigned line = 0, column = 0, end_line = 0, end_column = 0;
    bool valid() const { return line != 0; }
};

struct DiagnosticNote {
    Location where;
    std::string message;
};

struct Diagnostic {
    Severity severity = Severity::Error;
    std::string code;  // stable kebab-case id, e.g. "unknown-field", "shadowed-rule"
    Location where;
    std::string message;
    std::vector<DiagnosticNote> notes;
};

// --- compiling -----------------------------------------------------------------------------

// An `alert` statement of a policy file, checked (docs/language.md "Alerts"). Its condition is
// over the per-second rate of one counter of its policy; daemon/alerts.hpp evaluates it.
struct AlertDef {
    std::string name;
    std::string policy;
    std::string source;    // "rule", "verdict", "malformed", "default"
    std::string counter;   // rule: the rule's name; verdict: pass, drop, tx, redirect, aborted
    bool bytes = false;    // bytes per second; else packets per second
    std::string op;        // ">", ">=", "<", "<="
    double threshold = 0;  // per second
    std::chrono::milliseconds for_duration{0};
    std::string severity;  // "info", "warning", "critical"
    std::string message;
    std::string text;      // the canonical statement: equal text, equal definition
    bool operator==(const AlertDef& o) const { return text == o.text; }
};

struct CompileOptions {
    std::vector<std::string> include_dirs;  // searched after the including file's folder
    bool use_default_rules = true;          // then the bundled rules/ (std/...)
    bool lint = true;                       // run the linter (warnings)
    bool werror = false;                    // warnings become errors
    // Non-empty: the policy file, its includes and its set files must lie inside these folders
    // (symlinks resolved as the file is opened); a file elsewhere is a read error. The bundled
    // rules/ stay readable while use_default_rules is on.
    std::vector<std::string> allowed_dirs;
};

// A checked policy file: one or more policies, their sets, constants and tests, plus every
// diagnostic the front end produced. Cheap to copy (shared, immutable).
class Policy {
public:
    // Reads `path` and everything it includes. A file that cannot be read: !ok(), io_error().
    static Policy from_file(const std::string& path, const CompileOptions& opts = {});
    // In-memory text. `name` is the display name in diagnostics and `weir status`; includes and
    // `set ... = file "x"` resolve relative to its folder (e.g. "/etc/weir/edge.weir").
    static Policy from_string(const std::string& name, std::string text, const CompileOptions& opts = {});

    bool ok() const;        // no errors (warnings allowed unless werror)
    bool io_error() const;  // the root file could not be read
    const std::string& name() const;
    std::vector<std::string> policy_names() const;  // the `policy NAME ...` blocks, in order
    // Which policy `name` selects (empty: the file's only one): its name, or an Error (Policy,
    // step "select") naming what the file has. `chooser`: how the caller's user picks one.
    Result<std::string> select(const std::string& name, const std::string& chooser = "--policy NAME") const;
    // SHA-256 over every file read (path, length, text): what a load of this file records as
    // Status::source_hash, so a caller can tell whether the pinned policy came from this text.
    std::string source_hash() const;
    // The alerts of `policy` (every policy's when empty), in declaration order; none if !ok().
    std::vector<AlertDef> alerts(const std::string& policy = {}) const;

    const std::vector<Diagnostic>& diagnostics() const;
    std::size_t errors() const;
    std::size_t warnings() const;
    // Rendered like the CLI: "file:line:col: error: ...", the source line, a caret, notes.
    std::string diagnostics_text(bool color = false) const;
    // A JSON array, as `weir check --format json`.
    std::string diagnostics_json() const;

    // What the file holds, for `weir check`'s "ok (...)" line (zeros if !ok()).
    struct Contents {
        std::size_t policies = 0, rules = 0, sets = 0, tests = 0, alerts = 0;
    };
    Contents contents() const;

private:
    struct Impl;
    friend struct PolicyAccess;  // the library's own reach into the checked compilation
    explicit Policy(std::shared_ptr<const Impl> i) : impl_(std::move(i)) {}
    std::shared_ptr<const Impl> impl_;
};

// --- the stages, shown and checked without attaching --------------------------------------

// One stage of the pipeline (docs/architecture.md): the syntax tree, the checked program, the
// plan, LLVM IR, BPF assembly, the BPF ELF object.
enum class Stage { Ast, Checked, Plan, Ir, Asm, Obj };

struct EmitOptions {
    std::string policy;   // plan and later: which policy (empty: the file's only one)
    bool linear = false;  // plan every rule as code (no decision trees)
};

// `weir compile --emit`: the text of `stage` (Obj: the ELF bytes). Ast is there even when
// checking failed (the root file parsed); the later stages need ok(). Errors, all kind Policy,
// by step: "parse" / "compile" (no tree / not ok()), "select" (no such policy, or several and
// none chosen), "codegen" (LLVM failed; the message names the policy).
Result<std::string> emit(const Policy& policy, Stage stage, const EmitOptions& opts = {});

// One policy the kernel verifier accepted.
struct VerifiedPolicy {
    std::string policy;
    std::uint32_t instructions = 0;           // after the verifier's rewrites
    std::uint32_t jited_bytes = 0;
    std::uint32_t verified_instructions = 0;  // instructions the verifier processed
    std::chrono::nanoseconds load_time{};
};

struct KernelCheck {
    Error error;  // Environment: this process cannot load BPF programs (nothing was tried)
    std::vector<VerifiedPolicy> verified;
    // The verifier's findings, located in the policy, and a note per pkt.iface name that does
    // not exist on this host (verified with a placeholder). Errors: policies it rejected.
    std::vector<Diagnostic> diagnostics;
    std::size_t errors = 0;
    std::string diagnostics_text, diagnostics_json;  // rendered as Policy's
    bool ok() const { return !error && errors == 0; }
};

// `weir check --kernel`: every policy of an ok() file compiled and loaded into the kernel
// verifier, nothing attached (needs CAP_BPF). `test_unverifiable_rule`: the test hook of
// AttachOptions. `color`: diagnostics_text with ANSI colours.
KernelCheck verify_in_kernel(const Policy& policy, bool color = false);

// `weir fmt`: the canonical text of a policy file (docs/fmt-style.md). Errors: Environment
// (cannot read), Policy (does not parse: diagnostics_text says where).
struct Formatted {
    Error error;
    std::string text;
    bool changed = false;  // text differs from the file
    std::string diagnostics_text;
};
Formatted format_file(const std::string& path, bool color = false);

// The field table (`weir fields`, docs/language.md): every packet field rules can match.
struct FieldInfo {
    std::string name;  // "ip.src"
    int bits = 0;
    std::string type;     // "integer", "flag", "IPv4 address", ...
    std::string header;   // the header it needs: "TCP", "IPv4 or IPv6", ...
    std::string symbols;  // the symbol table its values may name ("" for none)
    std::string doc;
};
std::vector<FieldInfo> fields();

// --- packet logs (`log` rules) ----------------------------------------------------------------

// One record of a `log` rule, read from the interface's pinned ring (docs/operations.md "Packet
// logs"): the verdict, the rule that logged and the one that decided, the first bytes.
struct LogRecord {
    std::uint64_t mono_ns = 0;       // when the program decided (CLOCK_MONOTONIC)
    std::int64_t unix_ns = 0;        // the same moment in wall-clock time
    std::uint32_t slot = 0;          // counter slot of the `log` rule
    std::string rule;                // its name ("slot N" when the metadata does not know it)
    std::uint32_t decided_slot = 0;  // counter slot of the deciding rule
    std::string decided_by;          // its name, or "default"
    std::uint32_t action = 0;        // the XDP action returned
    std::string verdict;             // "pass", "drop", "tx", "redirect", "aborted"
    std::uint32_t ifindex = 0;
    std::string ifname;              // "" if the interface is gone
    std::uint32_t len = 0;           // frame length
    std::vector<std::uint8_t> data;  // the first bytes of the frame (the rule's snap)
    // A shadow sample (weir/shadow.hpp) instead of a `log` record: `rule` is "shadow", and
    // what the candidate would have done is here (empty for `log` records).
    bool shadow = false;
    std::uint32_t shadow_slot = 0;
    std::string shadow_rule, shadow_verdict;
};

struct LogOptions {
    std::string rule;      // only records of this `log` rule ("": all)
    bool backlog = false;  // also records queued before the reader opened the ring
};

// The reader of one interface's log ring. One consumer per ring: two readers of an interface
// split its records. It keeps reading across hot swaps.
class LogReader {
public:
    // Errors (Environment, step "read"): no weir policy on the interface, not privileged, a
    // program without a log ring.
    static Result<std::shared_ptr<LogReader>> open(const std::string& ifname, const LogOptions& opts = {});
    // Waits up to timeout_ms, hands each record to `fn` (false stops at once, the rest stays
    // queued); gives the number handed over. A signal is not an error (0 records).
    Result<int> poll(int timeout_ms, const std::function<bool(const LogRecord&)>& fn);
    ~LogReader();

private:
    struct Impl;
    explicit LogReader(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// One line (`weir events`): time, rule, verdict and deciding rule, interface, protocol,
// addresses, ports, TCP flags, lengths.
std::string log_summary(const LogRecord& r);
// One JSON object, no newline (`weir events --json`): the summary's facts, the bytes as hex.
std::string log_json(const LogRecord& r);
// The most bytes of a frame a record holds: the snap length of `weir capture`'s pcap files.
std::uint32_t log_snap_max();

// --- attaching -----------------------------------------------------------------------------


struct AttachOptions {
    Mode mode = Mode::Auto;  // a hot swap keeps the running mode (Auto) or must match it
    std::string policy;      // which policy of the file; empty: the file's only one
    bool dry_run = false;    // compile, verify, self-test; change nothing live
    std::function<void(const Step&)> on_step;  // called as each step finishes
    bool color = false;      // LoadReport::diagnostics_text with ANSI colours (a terminal)
    // > 0: the load rolls back to the previous policy (a first load: detaches) unless
    // Attachment::confirm() runs within this time, even if this process dies (a watcher process
    // or systemd timer does it; docs/operations.md "Confirmed swaps"). While a load awaits
    // confirmation, a load without confirm_within fails (Environment, step "confirm"); one with
    // it keeps the same rollback target. The watcher runs `weir confirm-watch`: the binary
    // $WEIR_CONFIRM_WATCHER names, else the running executable if it is called weir, else `weir`
    // on $PATH (none: the load fails at step "arm", nothing changed).
    std::chrono::seconds confirm_within{0};
};

// A policy's own test block that failed on the verified program (step "self-test").
struct SelfTestFailure {
    std::string test;
    Location where;  // the packet statement
    std::string expected, actual;
};

class Attachment;

// What a load (first attach or hot swap) did.
struct LoadReport {
    Error error;                          // failure: the failed step; the running policy is untouched
    std::string ifname;
    std::vector<Step> steps;              // finished steps with their times
    bool hot_swap = false;                // a weir policy was (or would have been) replaced
    std::string replaced;                 // its name
    std::string policy;                   // what runs now (empty on failure or dry run)
    std::uint32_t prog_id = 0;
    std::string mode;                     // "native" / "generic"
    std::size_t probes = 0;               // self-test packets run
    std::vector<SelfTestFailure> self_test_failures;
    std::vector<Diagnostic> diagnostics;  // front end and kernel verifier, in the policy's sources
    std::string diagnostics_text;         // the same, rendered
    std::vector<std::string> notes;       // e.g. "finished an interrupted swap"
    // Success: one line, what happened ("policy 'b' replaced 'a' on 'eth1'", "dry run: ...").
    std::string summary;
    bool ok() const { return !error; }
    // The steps after "self-test" (prepare, swap, pin, ...): the swap's own time.
    std::chrono::nanoseconds swap_time() const;
    std::chrono::nanoseconds total_time() const;
    Attachment attachment() const;  // a handle on `ifname`
};

struct SetInfo {
    std::string name;  // "inline@RULE" for a rule's inline set
    std::string type;  // "ip", "ip4", "port", ... ("" for inline sets)
    std::uint32_t live_edits = 0;
};

// One kernel table of a set (a set of both address families has one per family).
struct SetTable {
    std::string name;  // as SetInfo::name
    std::string kind;  // "v4", "v6", "port", "proto", "mac"
    std::uint32_t id = 0;  // the set's id in that kind's table
    bool named = true;     // false: an inline set
    std::uint32_t live_edits = 0;  // set edits since the table was filled
    std::int64_t edited_at = 0;    // unix time of the last one (0: never)
};

// One interface with pinned weir state.
struct Status {
    std::string ifname;
    std::uint32_t ifindex = 0;  // 0: the interface is gone (pins remain until unload)
    bool enforcing = false;     // the link is attached and runs prog_id
    std::string policy, source, source_hash, mode;
    std::uint32_t prog_id = 0;
    std::string prog_tag;  // 16 hex digits
    std::int64_t attached_at = 0, loaded_at = 0;  // unix times
    std::uint32_t swaps = 0;
    std::vector<std::string> rules;  // policy order
    std::vector<SetInfo> sets;       // one per set
    std::vector<SetTable> tables;    // one per kernel table, as pinned
    std::map<std::string, std::uint32_t> rule_slots;  // rule -> counter slot
    std::uint32_t rule_capacity = 0;                  // counter slots in all
    std::string pins;                                 // the bpffs folder of the state
    std::vector<std::string> notes;
    // A load awaiting confirmation (AttachOptions::confirm_within): when it rolls back (unix
    // time; 0: nothing awaits confirmation), to what ("": detach, it was a first load), and
    // what will do it (a watcher process id, or a systemd timer unit).
    std::int64_t confirm_deadline = 0;
    std::string rollback_policy;
    std::int32_t confirm_watcher_pid = 0;
    std::string confirm_watcher_unit;
};


// The result of a set edit. A batch is all-or-nothing: on failure nothing changed (error says
// otherwise if a rollback could not finish: the next call on the interface finishes it from the
// edit's journal, as it does for a process killed midway; docs/operations.md).
struct SetEdit {
    Error error;
    std::vector<Diagnostic> diagnostics;  // bad elements, unknown set (source "<command line>")
    std::string diagnostics_text;
    std::string set_type;                 // the set's declared type
    std::size_t written = 0;              // entries added / deleted
    std::size_t unchanged = 0;            // add: entries already present
    std::vector<std::string> elements;    // set_list: contents, canonical text, sorted
    std::vector<std::string> notes;
    bool ok() const { return !error; }
};

// A handle on the weir policy of one interface (which may or may not exist).
class Attachment {
public:
    explicit Attachment(std::string ifname) : ifname_(std::move(ifname)) {}
    const std::string& ifname() const { return ifname_; }

    // Hot swap: replaces the running weir policy atomically (verify and self-test first; any
    // failure before the swap leaves the old policy enforcing). Fails (step "replace") when no
    // weir policy runs on the interface; attach() does first loads.
    LoadReport replace(const Policy& policy, const AttachOptions& opts = {}) const;
    // Detaches the policy and removes its pinned state. `removed_policy`: set to the name of the
    // policy removed ("" when only state without a recorded policy was there).
    Error unload(std::string* removed_policy = nullptr) const;
    // Keeps a load made with confirm_within: its rollback is cancelled. Errors: Policy, step
    // "confirm": nothing awaits confirmation (none was armed, or it already rolled back: the
    // message says so); Environment otherwise.
    Error confirm() const;
    Result<Status> status() const;
    Result<Counters> counters() const;

    // Live set edits (no recompile, no swap). Elements as in a policy: addresses, CIDRs,
    // ranges a-b, ports, protocol names.
    SetEdit set_add(const std::string& set, const std::vector<std::string>& elements) const;
    SetEdit set_del(const std::string& set, const std::vector<std::string>& elements) const;
    SetEdit set_list(const std::string& set) const;
    SetEdit set_flush(const std::string& set) const;
    // Any of the four; `color`: SetEdit::diagnostics_text with ANSI colours.
    SetEdit edit_set(SetOp op, const std::string& set, const std::vector<std::string>& elements = {},
                     bool color = false) const;

private:
    std::string ifname_;
};

// Attaches `policy` to `ifname`, or hot-swaps the weir policy already running there. A policy
// that is not ok() fails at step "compile" with its diagnostics. What loads is exactly what was
// checked: the policy's checked program is planned and compiled to BPF; no file is read again
// (a file changed since from_file() does not change what loads, and Status::source_hash is
// this Policy's source_hash()).
LoadReport attach(const std::string& ifname, const Policy& policy, const AttachOptions& opts = {});

// `weir load FILE`: attaches or hot-swaps the policy in the file at `path`, compiled as the
// load's first step ("compile": a policy that does not compile fails there, with its
// diagnostics, and an unreadable file is an Environment error).
LoadReport attach_file(const std::string& ifname, const std::string& path, const CompileOptions& copts = {},
                       const AttachOptions& opts = {});

// What the confirmation watcher runs (`weir confirm-watch`): waits for the deadline of the load
// armed with `token`, then rolls it back unless it was confirmed or replaced. Ok: rolled back
// (`rolled_back` says to what); Policy error: nothing to do.
Error watch_confirmation(const std::string& ifname, const std::string& token, std::string* rolled_back = nullptr);

// Every interface with pinned weir state, or only `ifname` (an error when it has none).
// Interrupted swaps are finished or undone first; an interface whose state holds no policy
// (yet) is left out.
Result<std::vector<Status>> status_all(const std::string& ifname = {});

// The interfaces with pinned weir state, by name only: also those whose interface is gone and
// interrupted first loads. Reads and recovers nothing (status_all() does).
Result<std::vector<std::string>> interfaces();

// The counters of every interface with an attached weir policy, or only of `ifname`.
Result<std::vector<Counters>> counters_all(const std::string& ifname = {});

// `weir stats` output. With `before` (an earlier reading), pps and bps over the interval.
// The table: one block per interface, rules in policy order then the default, verdict totals,
// malformed and errors ("no weir policy is attached" for none).
std::string counters_table(const std::vector<Counters>& now, const std::vector<Counters>* before = nullptr);
// One JSON object for one interface; indent < 0: one line.
std::string counters_json(const Counters& now, const Counters* before = nullptr, int indent = -1);
// The program's ns/packet and packets per second between two readings of one interface.
CostRate cost_rate(const Counters& now, const Counters* before);

// Turns the kernel's BPF run-time statistics on while it lives (BPF_ENABLE_STATS), so that
// Counters::program measures run time and runs. They cost every BPF program on the host a little
// per run (docs/performance.md, "Run-time statistics"). `error`: why they could not be turned on.
class RunTimeStatistics {
public:
    RunTimeStatistics();
    ~RunTimeStatistics();
    RunTimeStatistics(const RunTimeStatistics&) = delete;
    RunTimeStatistics& operator=(const RunTimeStatistics&) = delete;
    bool on() const { return error.empty(); }
    std::string error;

private:
    struct Held;
    std::unique_ptr<Held> held_;
};

}  // namespace weir::api
