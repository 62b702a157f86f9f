// weir check [--kernel] FILE...: the front end (parse, check, lint) on each file; with --kernel
// also every policy compiled and loaded into the kernel verifier (nothing is attached).
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "commands.hpp"
#include "loaded_policy.hpp"

namespace weir::cli {
namespace {

std::string millis(std::chrono::nanoseconds ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f ms", double(ns.count()) / 1e6);
    return buf;
}

// Loads every policy of a checked compilation; diagnostics into `diags`, a line per verified
// policy into `report`; `unbuilt` counts the policies that did not compile (their error is
// already printed). False if one was rejected or could not be built.
bool verify_policies(const Compilation& c, const std::string& path, const CheckArgs& a,
                     Diagnostics& diags, std::ostream& report, std::size_t& unbuilt) {
    bool ok = true;
    for (std::size_t p = 0; p < c.program.policies.size(); ++p) {
        const Policy& pol = c.program.policies[p];
        auto obj = build_policy_object(c, int(p), path, a.unverifiable_rule);
        if (!obj) {
            ok = false;
            ++unbuilt;
            continue;
        }
        for (const auto& name : obj->placeholder_ifaces)
            diags.add({Severity::Note, "iface-placeholder", pol.name_range,
                       "interface '" + name + "' (pkt.iface) does not exist on this host; "
                       "verified with a placeholder ifindex",
                       {}});
        KernelLoadOptions lo;
        lo.placeholder_redirects = true;
        lo.object_name = pol.name;
        auto lp = LoadedPolicy::load(obj->plan, c.sources, obj->elf, diags, lo);
        if (!lp) {
            ok = false;
            continue;
        }
        const LoadStats& s = lp->stats();
        report << path << ": policy '" << pol.name << "' verified: "
               << plural(s.xlated_insns, "instruction", "instructions") << " ("
               << s.jited_bytes << " bytes JIT-compiled), " << s.verified_insns
               << " instructions verified, " << millis(s.load_time) << "\n";
    }
    return ok;
}

}  // namespace

int cmd_check(const CheckArgs& a, const CommonOptions& o) {
    bool color = use_color(o.color);
    bool json = o.format == "json";
    bool any_errors = false, any_io = false, no_kernel = false;
    std::optional<bpf::Status> kernel_ok;  // probed once, when first needed
    nlohmann::json all = nlohmann::json::array();
    for (const auto& path : a.files) {
        auto c = compile_file(path, check_options(o));
        if (c->io_error) any_io = true;
        if (!c->ok()) any_errors = true;

        Diagnostics kdiags;
        std::ostringstream kreport;
        std::size_t unbuilt = 0;
        if (a.kernel && c->ok()) {
            if (!kernel_ok) {
                kernel_ok = bpf::probe_xdp_support();
                if (!*kernel_ok)
                    std::cerr << "weir check --kernel: cannot load policies into the kernel: "
                              << kernel_ok->error().message << "\n";
            }
            if (*kernel_ok) {
                if (!verify_policies(*c, path, a, kdiags, kreport, unbuilt)) any_errors = true;
            } else {
                no_kernel = true;
            }
        }

        if (json) {
            for (const Diagnostics* ds : {&c->diags, &kdiags})
                for (auto& d : nlohmann::json::parse(render_json(c->sources, *ds))) {
                    if (!d.contains("file")) d["file"] = path;
                    all.push_back(std::move(d));
                }
            std::cerr << kreport.str();
            continue;
        }
        std::cerr << render_text(c->sources, c->diags, color);
        if (c->io_error) continue;
        std::cerr << render_text(c->sources, kdiags, color);
        std::size_t e = c->diags.errors() + kdiags.errors() + unbuilt, w = c->diags.warnings();
        if (e == 0 && w == 0) {
            std::size_t rules = 0;
            for (const auto& p : c->program.policies) rules += p.rules.size();
            const Program& pr = c->program;
            std::cout << path << ": ok (" << plural(pr.policies.size(), "policy", "policies") << ", "
                      << plural(rules, "rule", "rules") << ", " << plural(pr.sets.size(), "set", "sets")
                      << ", " << plural(pr.tests.size(), "test", "tests")
                      << (pr.alerts.empty() ? "" : ", " + plural(pr.alerts.size(), "alert", "alerts")) << ")\n";
        } else {
            std::cerr << path << ": " << plural(e, "error", "errors") << ", "
                      << plural(w, "warning", "warnings") << "\n";
        }
        std::cout << kreport.str();
    }
    if (json) std::cout << all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    if (any_io || no_kernel) return kExitUsage;
    return any_errors ? kExitFindings : kExitOk;
}

}  // namespace weir::cli
