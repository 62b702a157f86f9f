// weir check [--kernel] FILE...: the front end (parse, check, lint) on each file; with --kernel
// also every policy compiled and loaded into the kernel verifier (nothing is attached).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.hpp"

namespace weir::cli {
namespace {

std::string millis(std::chrono::nanoseconds ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f ms", double(ns.count()) / 1e6);
    return buf;
}

void append_json(nlohmann::json& all, const std::string& diagnostics_json, const std::string& path) {
    for (auto& d : nlohmann::json::parse(diagnostics_json)) {
        if (!d.contains("file")) d["file"] = path;
        all.push_back(std::move(d));
    }
}

}  // namespace

int cmd_check(const CheckArgs& a, const CommonOptions& o) {
    bool color = use_color(o.color);
    bool json = o.format == "json";
    bool any_errors = false, any_io = false, no_kernel = false;
    nlohmann::json all = nlohmann::json::array();
    for (const auto& path : a.files) {
        api::Policy p = api::Policy::from_file(path, compile_options(o));
        if (p.io_error()) any_io = true;
        if (!p.ok()) any_errors = true;

        std::optional<api::KernelCheck> k;
        std::string kreport;
        if (a.kernel && p.ok() && !no_kernel) {
            k = api::verify_in_kernel(p, color);
            if (k->error) {
                // Once: the next files would fail the same way.
                std::cerr << "weir check --kernel: " << k->error.message << "\n";
                no_kernel = true;
                k.reset();
            } else {
                if (!k->ok()) any_errors = true;
                for (const api::VerifiedPolicy& v : k->verified)
                    kreport += path + ": policy '" + v.policy + "' verified: " +
                               plural(v.instructions, "instruction", "instructions") + " (" +
                               std::to_string(v.jited_bytes) + " bytes JIT-compiled), " +
                               std::to_string(v.verified_instructions) + " instructions verified, " +
                               millis(v.load_time) + "\n";
            }
        }

        if (json) {
            append_json(all, p.diagnostics_json(), path);
            if (k) append_json(all, k->diagnostics_json, path);
            std::cerr << kreport;
            continue;
        }
        std::cerr << p.diagnostics_text(color);
        if (p.io_error()) continue;
        if (k) std::cerr << k->diagnostics_text;
        std::size_t e = p.errors() + (k ? k->errors : 0), w = p.warnings();
        if (e == 0 && w == 0) {
            api::Policy::Contents c = p.contents();
            std::cout << path << ": ok (" << plural(c.policies, "policy", "policies") << ", "
                      << plural(c.rules, "rule", "rules") << ", " << plural(c.sets, "set", "sets") << ", "
                      << plural(c.tests, "test", "tests")
                      << (c.alerts ? ", " + plural(c.alerts, "alert", "alerts") : "") << ")\n";
        } else {
            std::cerr << path << ": " << plural(e, "error", "errors") << ", " << plural(w, "warning", "warnings")
                      << "\n";
        }
        std::cout << kreport;
    }
    if (json) std::cout << all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (any_io || no_kernel) return kExitUsage;
    return any_errors ? kExitFindings : kExitOk;
}

}  // namespace weir::cli
