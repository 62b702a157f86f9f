// weir load FILE --dev IFACE [--policy NAME] [--mode native|generic|auto] [--dry-run]
//
// Attaches a policy to an interface, or hot-swaps the weir policy running there (runtime/
// attach.hpp): compile, verify, self-test, prepare, swap, each printed with its time. A failure
// names its step and leaves the running policy untouched. Exit: 0 ok, 1 the policy failed to
// compile/verify/self-test, 2 environment (no such interface, not privileged, foreign XDP
// program, bpffs).
#include <cstdio>
#include <iostream>

#include "attach.hpp"
#include "commands.hpp"

namespace weir::cli {
namespace {

std::string ms(std::chrono::nanoseconds ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%8.2f ms", double(ns.count()) / 1e6);
    return buf;
}

}  // namespace

int cmd_load(const LoadArgs& a, const CommonOptions& o) {
    attach::LoadOptions lo;
    lo.file = a.file;
    lo.policy = a.policy;
    lo.ifname = a.dev;
    lo.mode = a.mode == "native" ? attach::Mode::Native : a.mode == "generic" ? attach::Mode::Generic
                                                                              : attach::Mode::Auto;
    lo.dry_run = a.dry_run;
    lo.unverifiable_rule = a.unverifiable_rule;
    lo.check = check_options(o);
    lo.on_step = [](const attach::Step& s) {
        std::cout << "  " << s.name << std::string(s.name.size() < 10 ? 10 - s.name.size() : 1, ' ')
                  << ms(s.time) << (s.detail.empty() ? "" : "  " + s.detail) << "\n"
                  << std::flush;
    };
    std::cout << "weir load: " << a.file << " -> " << a.dev << (a.dry_run ? " (dry run)" : "") << "\n"
              << std::flush;
    attach::LoadOutcome r = attach::load(lo);
    const bool color = use_color(o.color);
    if (r.compilation) {
        std::cerr << render_text(r.compilation->sources, r.compilation->diags, color);
        std::cerr << render_text(r.compilation->sources, r.kernel_diags, color);
    }
    for (const auto& n : r.notes) std::cerr << "weir load: note: " << n << "\n";
    for (const auto& f : r.probe_failures)
        std::cerr << f.location << ": self-test '" << f.test << "': expected " << f.expected << ", got "
                  << f.actual << "\n";
    if (!r.ok()) {
        std::cerr << "weir load: " << r.message << "\n";
        return r.problem == attach::Problem::Policy ? kExitFindings : kExitUsage;
    }
    std::chrono::nanoseconds total{}, swap{};
    bool after_selftest = false;
    for (const auto& s : r.steps) {
        total += s.time;
        if (after_selftest) swap += s.time;
        if (s.name == "self-test") after_selftest = true;
    }
    std::cout << "weir load: " << r.message;
    if (!a.dry_run)
        std::cout << " (" << (r.hot_swap ? "swap" : "attach") << " " << ms(swap).substr(ms(swap).find_first_not_of(' '))
                  << " after the self-test, total " << ms(total).substr(ms(total).find_first_not_of(' ')) << ")";
    std::cout << "\n";
    return kExitOk;
}

}  // namespace weir::cli
