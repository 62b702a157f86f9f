// weir load FILE --dev IFACE [--policy NAME] [--mode native|generic|auto] [--dry-run]
//           [--confirm-within 60s]
//
// Attaches a policy to an interface, or hot-swaps the weir policy running there, through the
// embedding API (weir::api::attach_file): compile, verify, self-test, prepare, swap, each printed
// with its time. A failure names its step and leaves the running policy untouched. Exit: 0 ok,
// 1 the policy failed to compile/verify/self-test, 2 environment (no such interface, not
// privileged, foreign XDP program, bpffs).
#include <cstdio>
#include <iostream>

#include "commands.hpp"

namespace weir::cli {
namespace {

std::string ms(std::chrono::nanoseconds ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%8.2f ms", double(ns.count()) / 1e6);
    return buf;
}

std::string trimmed_ms(std::chrono::nanoseconds ns) {
    std::string s = ms(ns);
    return s.substr(s.find_first_not_of(' '));
}

}  // namespace

int cmd_load(const LoadArgs& a, const CommonOptions& o) {
    if (!a.shadow.empty() || a.file.empty()) return cmd_load_shadow(a, o);
    api::AttachOptions ao;
    ao.policy = a.policy;
    ao.mode = a.mode == "native" ? api::Mode::Native : a.mode == "generic" ? api::Mode::Generic : api::Mode::Auto;
    ao.dry_run = a.dry_run;
    if (!a.confirm_within.empty()) {
        auto window = parse_duration(a.confirm_within);
        if (!window) {
            std::cerr << "weir load: --confirm-within: '" << a.confirm_within
                      << "' is not a duration (60s, 2m, 1h or seconds; at most a week)\n";
            return kExitUsage;
        }
        ao.confirm_within = *window;
    }
    ao.color = use_color(o.color);
    ao.on_step = [](const api::Step& s) {
        std::cout << "  " << s.name << std::string(s.name.size() < 10 ? 10 - s.name.size() : 1, ' ')
                  << ms(s.time) << (s.detail.empty() ? "" : "  " + s.detail) << "\n"
                  << std::flush;
    };
    std::cout << "weir load: " << a.file << " -> " << a.dev << (a.dry_run ? " (dry run)" : "") << "\n"
              << std::flush;
    api::LoadReport r = api::attach_file(a.dev, a.file, compile_options(o), ao);
    print_load_diagnostics(r);
    for (const auto& n : r.notes) std::cerr << "weir load: note: " << n << "\n";
    if (!r.ok()) {
        std::cerr << "weir load: " << r.error.message << "\n";
        return exit_code(r.error);
    }
    std::cout << "weir load: " << r.summary;
    if (!a.dry_run)
        std::cout << " (" << (r.hot_swap ? "swap" : "attach") << " " << trimmed_ms(r.swap_time())
                  << " after the self-test, total " << trimmed_ms(r.total_time()) << ")";
    std::cout << "\n";
    return kExitOk;
}

}  // namespace weir::cli
