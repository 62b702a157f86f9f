// One test packet through a loaded program: takes a `packet ... -> verdict` statement of a test
// block and a LoadedPolicy, gives the verdict and deciding rule the kernel returned (one
// BPF_PROG_TEST_RUN) and whether they meet the expectation. The load's self-test and
// `weir test --kernel` both run probes through here.
#pragma once
#include <optional>
#include <string>

#include "codegen.hpp"
#include "loaded_policy.hpp"
#include "policy.hpp"

namespace weir {

struct KernelProbe {
    // Set when the probe cannot run here; `runnable` false: not the program's fault (the frame
    // cannot be built, or its interface cannot be told apart on this host), so a self-test skips it.
    std::string error;
    bool runnable = true;
    std::optional<Verdict> verdict;  // nullopt: the program aborted (or did not run)
    int rule = -1;                   // deciding rule, -1: the default
    bool passed = false;
};

// The ifindex BPF_PROG_TEST_RUN gives a frame that names no interface (loopback's).
unsigned test_run_default_ifindex();

// pkt.iface names for codegen: the host's ifindex, or (placeholders) a made-up ifindex no packet
// arrives on, recorded in `placeholders_used`. Placeholders serve where nothing is attached
// (check --kernel, test). `test_runs`: the loopback also gets a made-up ifindex, because
// BPF_PROG_TEST_RUN delivers a packet without an interface on the loopback (a probe without
// `iface` must match no name).
CodegenOptions host_codegen_options(bool placeholders, std::vector<std::string>* placeholders_used,
                                    bool test_runs = false);

KernelProbe run_probe(const LoadedPolicy& program, const Probe& probe);

// "drop by ssh", "pass by default", "pass": what a probe expects.
std::string expected_text(const Policy& pol, const Probe& probe);
// "drop by ssh", "aborted (XDP_ABORTED) by default", or "not run: WHY" when `error` is set.
std::string outcome_text(const Policy& pol, std::optional<Verdict> verdict, int rule, const std::string& error);

}  // namespace weir
