// weir load --shadow FILE --dev IFACE, and weir shadow status|report|promote|stop --dev IFACE
//
// A candidate policy beside the running one, enforcing nothing (include/weir/shadow.hpp,
// docs/operations.md "Shadow mode"). Starting, promoting and stopping are hot swaps, printed
// as `weir load` prints them. Exit: 0 ok; 1 the candidate failed to compile/verify; 2
// environment (no policy or no shadow on the interface, a recorded source that changed, not
// privileged).
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "weir/shadow.hpp"

namespace weir::cli {
namespace {

api::AttachOptions attach_options(const CommonOptions& o) {
    api::AttachOptions ao;
    ao.color = use_color(o.color);
    ao.on_step = [](const api::Step& s) {
        char t[32];
        std::snprintf(t, sizeof t, "%8.2f ms", double(s.time.count()) / 1e6);
        std::cout << "  " << s.name << std::string(s.name.size() < 10 ? 10 - s.name.size() : 1, ' ') << t
                  << (s.detail.empty() ? "" : "  " + s.detail) << "\n"
                  << std::flush;
    };
    return ao;
}

int finish(const char* what, const api::LoadReport& r, const std::string& done) {
    print_load_diagnostics(r);
    for (const auto& n : r.notes) std::cerr << what << ": note: " << n << "\n";
    if (!r.ok()) {
        std::cerr << what << ": " << r.error.message << "\n";
        return exit_code(r.error);
    }
    std::cout << what << ": " << done << "\n";
    return kExitOk;
}

}  // namespace

int cmd_load_shadow(const LoadArgs& a, const CommonOptions& o) {
    if (a.shadow.empty() || !a.file.empty()) {
        std::cerr << "weir load: give a policy file, or --shadow FILE (not both)\n";
        return kExitUsage;
    }
    if (a.dry_run || a.mode != "auto") {
        std::cerr << "weir load: --shadow keeps the running policy's mode and has no dry run\n";
        return kExitUsage;
    }
    if (!a.confirm_within.empty()) {
        std::cerr << "weir load: a shadow candidate enforces nothing: give --confirm-within to `weir shadow "
                     "promote`\n";
        return kExitUsage;
    }
    api::AttachOptions ao = attach_options(o);
    ao.policy = a.policy;
    std::cout << "weir load: " << a.shadow << " -> " << a.dev << " (shadow)\n" << std::flush;
    api::LoadReport r = api::shadow_start(a.dev, a.shadow, compile_options(o), ao);
    return finish("weir load", r,
                  "candidate from '" + a.shadow + "' runs beside '" + r.policy + "' on '" + a.dev +
                      "', enforcing nothing (weir shadow report --dev " + a.dev + ")");
}

int cmd_shadow(const ShadowArgs& a, const CommonOptions& o) {
    std::optional<std::chrono::seconds> window;
    if (!a.confirm_within.empty()) {
        window = parse_duration(a.confirm_within);
        if (a.action != "promote" || !window) {
            std::cerr << "weir shadow: --confirm-within "
                      << (window ? "applies to promote only (the others change no verdict)"
                                 : "'" + a.confirm_within + "' is not a duration (60s, 2m, 1h or seconds; at most a week)")
                      << "\n";
            return kExitUsage;
        }
    }
    if (a.action == "promote" || a.action == "stop") {
        api::ShadowReport before = api::shadow_report(a.dev);
        if (!before.ok()) {
            std::cerr << "weir shadow: " << before.error.message << "\n";
            return exit_code(before.error);
        }
        api::AttachOptions ao = attach_options(o);
        if (window) ao.confirm_within = *window;
        const bool promote = a.action == "promote";
        api::LoadReport r = promote ? api::shadow_promote(a.dev, compile_options(o), ao)
                                    : api::shadow_stop(a.dev, compile_options(o), ao);
        return finish("weir shadow", r,
                      promote ? "candidate '" + before.candidate + "' promoted: it enforces on '" + a.dev + "'"
                              : "shadow stopped: '" + before.policy + "' runs alone on '" + a.dev + "'");
    }
    api::ShadowReport r = api::shadow_report(a.dev, a.action == "report" ? a.samples_ms : 0);
    if (!r.ok()) {
        if (a.json) std::cout << r.json() << "\n";
        std::cerr << "weir shadow: " << r.error.message << "\n";
        return exit_code(r.error);
    }
    std::cout << (a.json ? r.json(1) + "\n" : r.text());
    return kExitOk;
}

}  // namespace weir::cli
