// The commands of the `weir` binary, one file each (cmd_*.cpp); main.cpp parses the command
// line with CLI11 and calls one of them. Exit codes, for every command: 0 ok, 1 errors found
// (or warnings with --werror, or a failing check or test), 2 usage, I/O or privilege problems.
// Every command but test, events, capture and demo goes through the embedding API
// (include/weir/weir.hpp) only; tests/include_rules.py keeps the list of the others' internal
// includes, which may only shrink.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "weir/weir.hpp"

namespace weir::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFindings = 1;
inline constexpr int kExitUsage = 2;

struct CommonOptions {
    std::vector<std::string> include_dirs;
    bool werror = false;
    std::string format = "text";
    std::string color = "auto";
};

// --- helpers (common.cpp) ---
bool use_color(const std::string& mode);
api::CompileOptions compile_options(const CommonOptions& o);
// An API error's exit code: 1 for the policy, 2 for the environment.
int exit_code(const api::Error& e);
// A load's diagnostics (front end and verifier) and failed self-tests, to stderr.
void print_load_diagnostics(const api::LoadReport& r);
// Writes `data` to `path` atomically (a new temp file beside it, then rename), keeping the
// file's permissions; a symbolic link's target is written and the link kept.
bool write_file_atomic(const std::string& path, const std::string& data, std::string& err);
// "1 rule", "2 rules"
std::string plural(std::size_t n, const std::string& one, const std::string& many);


// --- commands ---
struct CheckArgs {
    std::vector<std::string> files;
    bool kernel = false;
};
int cmd_check(const CheckArgs& a, const CommonOptions& o);

struct FmtArgs {
    std::vector<std::string> files;
    bool write = false;
    bool check = false;
};
int cmd_fmt(const FmtArgs& a, const CommonOptions& o);

struct CompileArgs {
    std::string file;
    std::string policy;
    std::string emit = "checked";  // ast, checked, plan, ir, asm, obj
    std::string output;
    std::string plan = "auto";     // auto (the planner chooses) or linear (every rule as code)
};
int cmd_compile(const CompileArgs& a, const CommonOptions& o);

struct TestArgs {
    std::vector<std::string> files;
    bool kernel = false;
    bool interp = false;
    std::string pcap;
    std::string policy;  // --pcap: replay through this policy only
    bool json = false;
};
int cmd_test(const TestArgs& a, const CommonOptions& o);

int cmd_fields(bool markdown);

// What changes when one policy replaces another (weir::api::diff, include/weir/diff.hpp).
// Exit 0: the same verdict for every packet (counter-only changes are printed); 1: verdicts
// differ or may differ; 2: I/O, a policy that does not compile, --dev problems, or an
// incomplete diff.
struct DiffArgs {
    std::vector<std::string> files;  // OLD NEW, or NEW alone with --dev
    std::string dev;                 // diff against the policy running on this interface
    std::string old_policy, new_policy;
    bool json = false;
    bool all = false;       // every changed pair with its witness, not only the first 20
    double budget = 60;     // seconds
};
int cmd_diff(const DiffArgs& a, const CommonOptions& o);

// Attached policies (weir::api, docs/operations.md).
struct LoadArgs {
    std::string file;
    std::string dev;
    std::string policy;
    std::string mode = "auto";  // native, generic, auto
    bool dry_run = false;
    std::string confirm_within;  // "60s", "2m", "90": roll back unless `weir confirm` runs in time
    std::string shadow;  // --shadow FILE: the candidate, beside the running policy (cmd_shadow.cpp)
};
int cmd_load(const LoadArgs& a, const CommonOptions& o);

// Confirmed swaps (cmd_confirm.cpp): `weir confirm` keeps a load made with --confirm-within;
// `weir confirm-watch` (hidden) is the watcher such a load starts. Exit 0 confirmed / rolled
// back, 1 nothing awaits confirmation, 2 environment.
struct ConfirmArgs {
    std::string dev;
    std::string token;  // confirm-watch only
};
int cmd_confirm(const ConfirmArgs& a);
int cmd_confirm_watch(const ConfirmArgs& a);
// "60s", "2m", "1h", "90" (seconds) as seconds; nullopt when not a positive duration.
std::optional<std::chrono::seconds> parse_duration(const std::string& text);

// weir shadow status|report|promote|stop --dev IFACE (cmd_shadow.cpp, weir/shadow.hpp).
struct ShadowArgs {
    std::string action;  // status, report, promote, stop
    std::string dev;
    bool json = false;
    int samples_ms = 500;  // report: how long to read samples from the log ring
    std::string confirm_within;  // promote: roll back unless `weir confirm` runs in time
};
int cmd_shadow(const ShadowArgs& a, const CommonOptions& o);
int cmd_load_shadow(const LoadArgs& a, const CommonOptions& o);

struct UnloadArgs {
    std::string dev;
};
int cmd_unload(const UnloadArgs& a);

struct StatusArgs {
    std::string dev;  // empty: every interface
    bool json = false;
};
int cmd_status(const StatusArgs& a);

// The live demo (docs/demo.md): test network, flood, hot swap, per-rule counters, cleanup.
struct DemoArgs {
    std::string policy = "examples/demo-gateway.weir";
    std::string strict = "examples/demo-gateway-strict.weir";
    double seconds = 10;   // of traffic
    double swap_at = -1;   // seconds into the flood; < 0: half way
    double rate_pps = 0;   // offered load; 0: as fast as the machine goes
};
int cmd_demo(const DemoArgs& a);

// Live set edits and counters of attached policies (weir::api::Attachment::edit_set, counters_all).
struct SetArgs {
    std::string op;  // add, del, list, flush
    std::string dev;
    std::string set;
    std::vector<std::string> elements;
    bool json = false;  // list only
};
int cmd_set(const SetArgs& a, const CommonOptions& o);

struct StatsArgs {
    std::string dev;     // empty: every interface
    bool json = false;
    double watch = 0;    // seconds between redraws; 0: print once
    unsigned count = 0;  // hidden test hook: stop --watch after this many rounds (0: never)
};
int cmd_stats(const StatsArgs& a);

// Records of `log` rules (runtime/attach/events.hpp, docs/cli.md): followed from the pinned ring.
struct FollowArgs {
    std::string dev;
    std::string rule;        // only this `log` rule
    std::uint64_t count = 0; // stop after this many records (0: never)
    double timeout = 0;      // stop after this many seconds (0: never); exit 1 if count not reached
    bool backlog = false;    // also records queued before the ring was opened
};
// Opens the ring, checks the policy and --rule, then calls `ready` (if given; false stops with
// exit 2, nothing read), prints "weir CMD: reading ..." to stderr and hands each record to `fn`
// until count / timeout / SIGINT. Returns the exit code.
int follow_events(const char* cmd, const FollowArgs& a, const std::function<bool(const api::LogRecord&)>& fn,
                  const std::function<bool()>& ready = {});
struct EventsArgs : FollowArgs {
    bool json = false;
};
int cmd_events(const EventsArgs& a);
struct CaptureArgs : FollowArgs {
    std::string output;  // -w FILE.pcap
};
int cmd_capture(const CaptureArgs& a);

// Keeps configured policies enforcing, reloads them on file changes, serves metrics
// (include/weir/daemon.hpp, docs/deploy.md).
struct DaemonArgs {
    std::string config;
    std::string listen;  // overrides the config's "listen"
    bool once = false;
    bool detach_on_exit = false;
};
int cmd_daemon(const DaemonArgs& a);

}  // namespace weir::cli
