// A test packet through a loaded program (probe.hpp).
#include "probe.hpp"

#include <net/if.h>

#include "actions.hpp"
#include "interp.hpp"
#include "test_frames.hpp"

namespace weir {

unsigned test_run_default_ifindex() {
    unsigned lo = if_nametoindex("lo");
    return lo ? lo : 1;
}

CodegenOptions host_codegen_options(bool placeholders, std::vector<std::string>* used, bool test_runs) {
    CodegenOptions opts;
    opts.ifindex_of = [placeholders, used, test_runs](const std::string& name) -> std::optional<std::uint32_t> {
        unsigned i = if_nametoindex(name.c_str());
        if (i != 0 && !(test_runs && i == test_run_default_ifindex())) return i;
        if (!placeholders) return std::nullopt;
        // Far above any real ifindex: no packet ever arrives with it.
        std::uint32_t fake = 0x7fff0000u + static_cast<std::uint32_t>(used ? used->size() : 0);
        if (used) used->push_back(name);
        return fake;
    };
    return opts;
}

KernelProbe run_probe(const LoadedPolicy& program, const Probe& probe) {
    KernelProbe out;
    auto unrunnable = [&](std::string why) {
        out.error = std::move(why);
        out.runnable = false;
        return out;
    };
    BuiltPacket built = build_packet(probe.packet);
    if (!built.ok()) return unrunnable("cannot build the packet: " + built.error);
    if (built.bytes.size() < 14)
        return unrunnable("a " + std::to_string(built.bytes.size()) +
                          "-byte frame is too short for XDP (14 bytes at least)");
    std::uint32_t ifindex = 0;
    if (!probe.packet.iface.empty()) {
        ifindex = if_nametoindex(probe.packet.iface.c_str());
        if (ifindex == 0)
            return unrunnable("interface '" + probe.packet.iface +
                              "' does not exist on this host, so the kernel cannot receive a packet on it (use --interp)");
        if (ifindex == test_run_default_ifindex())
            return unrunnable("BPF_PROG_TEST_RUN delivers packets that name no interface on '" + probe.packet.iface +
                              "', so the kernel cannot tell a packet arriving on it from one without `iface` "
                              "(use --interp)");
    }
    auto r = program.run(built.bytes, ifindex);
    if (!r) {
        out.error = r.error().message;
        return out;
    }
    out.verdict = verdict_of_action(r->action);
    out.rule = r->rule;
    if (out.verdict) {
        Decision d;
        d.verdict = *out.verdict;
        d.rule = out.rule;
        out.passed = meets_expectation(probe, d);
    }
    return out;
}

std::string expected_text(const Policy& pol, const Probe& probe) {
    std::string s = verdict_name(probe.expect);
    if (probe.by_default) s += " by default";
    else if (probe.by_rule >= 0) s += " by " + pol.rules.at(probe.by_rule).name;
    return s;
}

std::string outcome_text(const Policy& pol, std::optional<Verdict> verdict, int rule, const std::string& error) {
    if (!error.empty()) return "not run: " + error;
    return std::string(verdict ? verdict_name(*verdict) : "aborted (XDP_ABORTED)") + " by " +
           (rule < 0 ? std::string("default") : pol.rules.at(rule).name);
}

}  // namespace weir
