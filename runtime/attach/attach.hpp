// Policies attached to interfaces: load (first attach or atomic hot swap), unload, status.
// The state lives pinned in bpffs (pins.hpp), so it outlives the process; every operation on an
// interface holds its lock. docs/operations.md describes the layout, the swap and what happens
// to counters and sets across it.
//
//   attach::LoadOptions o;
//   o.file = "edge.weir"; o.ifname = "eth1";
//   o.on_step = [](const attach::Step& s) { ... print s.name, s.time ... };
//   attach::LoadOutcome r = attach::load(*artifact, o);  // a built policy (artifact.hpp)
//   attach::LoadOutcome r = attach::load(o);             // or: compile o.file, then load it
//   if (!r.ok()) ... r.problem (Policy: exit 1, Environment: exit 2), r.failed_step, r.message,
//                     r.compilation / r.kernel_diags for diagnostics ...
//
// A load onto an interface that runs a weir policy is a hot swap:
//   compile (link: the artifact's plan numbered for the interface) -> verify (a private load: fresh maps) -> self-test (the policy's own test blocks on
//   that private program, BPF_PROG_TEST_RUN) -> pending (weir_meta records the swap) -> prepare
//   (counter slots zeroed, new set ids filled, the live instance loaded sharing the pinned maps
//   and verified) -> swap (bpf_link_update: atomic) -> pin -> cleanup -> meta.
// Any failure up to and including `swap` leaves the running policy untouched. A process killed
// at any point leaves the old or the new policy enforced; the next operation on the interface
// (load, unload, status) finishes or undoes the interrupted swap first (recover()).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "artifact.hpp"
#include "diagnostics.hpp"
#include "driver.hpp"
#include "pins.hpp"
#include "weir/vocabulary.hpp"

namespace weir::attach {

struct ShadowCandidate;  // shadow.hpp

// The public API's words (include/weir/vocabulary.hpp), used as they are.
using Mode = api::Mode;
using api::mode_name;
using Problem = api::ErrorKind;  // Policy: CLI exit 1; Environment: exit 2
using Step = api::Step;

struct LoadOptions {
    // The policy's source as weir_meta records it. load(Artifact) reads nothing from it; load()
    // compiles this file.
    std::string file;
    // In-memory policy text (the embedding API, include/weir/weir.hpp): compiled instead of
    // reading `file`, which then only names it (diagnostics, weir_meta's source, as given) and
    // is the folder includes and set files resolve from.
    std::optional<std::string> source_text;
    std::string policy;  // empty: the file's only policy
    std::string ifname;
    Mode mode = Mode::Auto;
    bool dry_run = false;  // everything but pending/prepare/swap: nothing live changes
    CheckOptions check;    // include dirs, werror
    std::function<void(const Step&)> on_step;
    // When the load began: the first step's time counts from here (a build done just before
    // load(Artifact) is part of "compile"). Default: when load() is called.
    std::optional<std::chrono::steady_clock::time_point> started;
    // Test hook (also $WEIR_INJECT_KILL): raise SIGKILL after this step ("after-compile",
    // "after-verify", "after-selftest", "after-pending", "after-prepare", "after-link-update",
    // "after-pin", "after-cleanup", "after-meta"; inject_points()).
    std::string inject_kill;
    // Test hook (CodegenOptions::unverifiable_rule): this rule fails kernel verification.
    std::string unverifiable_rule;
    // > 0: the swap rolls back unless confirmed within this time (confirm.hpp). While a swap
    // awaits confirmation, a load without it is refused.
    std::chrono::seconds confirm_within{0};
    // Shadow mode (shadow.hpp): the program also runs this candidate, enforcing nothing. Only
    // as a hot swap of the same policy that runs (shadow::start sets it).
    std::shared_ptr<const ShadowCandidate> shadow;
};

// The kill points, in order.
const std::vector<std::string>& inject_points();

struct ProbeFailure {
    std::string test;      // test block name
    std::string location;  // file:line:col of the packet statement
    std::string expected, actual;
};

struct LoadOutcome {
    Problem problem = Problem::None;
    std::string failed_step;  // the step that failed
    std::string message;      // one line, names the step and says whether anything changed
    std::shared_ptr<const Compilation> compilation;  // front-end diagnostics (when compiled)
    Diagnostics kernel_diags;                  // verifier/loader diagnostics, in its sources
    std::vector<Step> steps;
    bool hot_swap = false;     // an existing weir policy was (or would have been) replaced
    std::string replaced;      // its policy name
    std::size_t probes = 0;    // self-test probes run
    std::vector<ProbeFailure> probe_failures;
    std::optional<pins::PolicyMeta> now;  // what runs on the interface afterwards (not dry-run)
    std::vector<std::string> notes;       // e.g. "finished an interrupted swap"
    bool ok() const { return problem == Problem::None; }
};

// Loads a built policy onto opts.ifname: never reads or compiles source again (a hot swap re-emits
// the object from the artifact's plan with the running policy's counter slots and set ids).
// Uses ifname, mode, dry_run, on_step, inject_kill and `file` (recorded as the source).
LoadOutcome load(const Artifact& artifact, const LoadOptions& opts);
// `weir load FILE`: compiles opts.file (or opts.source_text) with load's lint budget, builds it
// and loads it; a policy that does not compile fails at "compile" before the interface is touched.
LoadOutcome load(const LoadOptions& opts);
// How a load emits objects: interface names resolved on this host, the test hook.
CodegenOptions load_codegen_options(const LoadOptions& opts);

// One interface with a weir policy.
struct Attachment {
    std::string ifname;
    std::uint32_t ifindex = 0;  // 0: the interface is gone (pins remain until unload)
    bool enforcing = false;     // the pinned link is attached and runs meta.prog_id
    pins::PolicyMeta meta;
    std::optional<pins::Rollback> rollback;  // meta awaits confirmation (confirm.hpp)
    std::vector<std::string> notes;  // recovery done, problems seen
};

struct Failure {
    Problem problem = Problem::None;
    std::string message;
    explicit operator bool() const { return problem != Problem::None; }
};

// Every interface with pinned weir state (ifname empty) or one. Resolves interrupted swaps.
// The interfaces a report covers: `ifname` (which must carry weir state), or, when empty, every
// interface with pinned state (none if bpffs has no weir folder). Refuses when not privileged.
Failure interfaces(std::vector<std::string>& names, const std::string& ifname);
Failure status(std::vector<Attachment>& out, const std::string& ifname = {});

// Detaches the interface's weir policy and removes its pins and metadata. `removed`: the policy.
Failure unload(const std::string& ifname, std::optional<pins::PolicyMeta>* removed = nullptr);

// Rolls back an interrupted set edit (sets::recover), then finishes or undoes an interrupted
// swap on `ifname`, then rolls back an unconfirmed swap whose time is up (confirm.hpp; the
// caller holds the lock). Returns a note ("" when there was nothing to do).
std::string recover(const std::string& ifname, Failure& failure);

}  // namespace weir::attach
