// The isolated compile: codegen's LLVM work runs in a forked child process, so that whatever LLVM
// does to its process (report_fatal_error ends it, a crash, a memory blow-up, a hang) ends only
// the child, and the caller gets a CodegenResult error naming what happened.
//
// Child: closes every inherited descriptor but the pipe (a daemon's listening socket must not
// outlive it), dies with its parent (PR_SET_PDEATHSIG), adds at most `memory_limit` bytes of
// address space to what it inherited (RLIMIT_AS), uses at most `time_limit_ms` of CPU
// (RLIMIT_CPU), dumps no core, resets the caller's crash handlers, routes LLVM's fatal and
// bad-alloc errors and failed operator new to a record on the pipe, runs the work and writes the
// result. Every way out is _exit: no atexit handler, stdio buffer or static destructor of the
// parent's copy runs twice.
// Parent: reads the pipe while the child runs (a large object cannot fill the pipe and stall it),
// kills the child at 4 times the time limit of wall time, reaps it (after a result, on a
// detached thread: its exit is the teardown of a copy of the caller's address space), and turns
// a missing result into an error from the records and the wait status.
//
// Fork safety: only the forking thread exists in the child. glibc resets its malloc and loader
// locks across fork; the child then runs only codegen, whose LLVM state the parent never touches
// while isolation is on (every LLVM call happens in workers), so no LLVM lock can be held by a
// thread that is gone. A mutex serializes pipe creation and fork, so that one worker never
// inherits another's write end (which would delay that one's end of file). A lock held at fork
// by another of the caller's threads (the daemon's HTTP thread) that codegen would still need
// is not known to exist; if one did, the worker would wait and the wall-time guard would stop it.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "codegen.hpp"

namespace weir::cg {

// What the work returns: the result, and the interface names it asked CodegenOptions::ifindex_of
// for, in order (the parent asks them again, so the callback's side effects happen in the caller's
// process, not only in the child's copy).
struct WorkerOutput {
    CodegenResult result;
    std::vector<std::string> asked;
};

// Runs `work` in a child with the limits and the test fault of `opts`.
WorkerOutput run_in_worker(const std::function<WorkerOutput()>& work, const CodegenOptions& opts);

}  // namespace weir::cg
