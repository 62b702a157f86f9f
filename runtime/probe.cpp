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

}  // namespace weir
