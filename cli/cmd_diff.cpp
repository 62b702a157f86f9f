// weir diff OLD NEW | --dev IFACE NEW [--old-policy N] [--new-policy N] [--json] [--all] [--budget S]
//
// What changes when NEW replaces OLD (weir::api::diff): each changed pair of deciding rules with
// a witness packet, counters that count differently, and what cannot be decided exactly.
#include <iostream>

#include "commands.hpp"
#include "weir/diff.hpp"

namespace weir::cli {

int cmd_diff(const DiffArgs& a, const CommonOptions& o) {
    const bool color = use_color(o.color);
    const std::size_t want = a.dev.empty() ? 2 : 1;
    if (a.files.size() != want) {
        std::cerr << "weir diff: " << (a.dev.empty() ? "give two policy files, OLD and NEW (or --dev IFACE NEW)"
                                                     : "with --dev, give one policy file, NEW")
                  << "\n";
        return kExitUsage;
    }
    if (!a.dev.empty() && !a.old_policy.empty()) {
        std::cerr << "weir diff: --old-policy does not apply with --dev (the running policy is OLD)\n";
        return kExitUsage;
    }
    api::DiffOptions opts;
    opts.old_policy = a.old_policy;
    opts.new_policy = a.new_policy;
    if (a.all) opts.max_witnesses = static_cast<std::size_t>(-1);
    opts.budget = std::chrono::milliseconds(static_cast<long long>(a.budget * 1000));

    // Every file is read and checked first, so that each one's diagnostics are shown.
    // Lint is `weir check`'s job: here its warnings would bury the diff.
    api::CompileOptions copts = compile_options(o);
    copts.lint = false;
    std::vector<api::Policy> policies;
    bool failed = false;
    for (const auto& f : a.files) {
        policies.push_back(api::Policy::from_file(f, copts));
        std::cerr << policies.back().diagnostics_text(color);
        if (!policies.back().ok()) failed = true;
    }
    if (failed) {
        std::cerr << "weir diff: nothing compared: a policy file has errors\n";
        return kExitUsage;
    }
    api::DiffReport r = a.dev.empty() ? api::diff(policies[0], policies[1], opts)
                                      : api::diff_running(a.dev, policies[0], opts, copts);
    if (a.json) std::cout << r.json(2) << "\n";
    if (r.error) {
        std::cerr << "weir diff: " << r.error.message << "\n";
        return kExitUsage;
    }
    if (!a.json) std::cout << r.text(color);
    return r.equivalent ? kExitOk : kExitFindings;
}

}  // namespace weir::cli
