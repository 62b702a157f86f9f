// The attached program's own cost (stats::read's ProgramCost, `weir stats`, the daemon's
// weir_program_* metrics) on the host end of a private veth pair under a flood of real frames:
// with the kernel's run-time statistics held on, the runs counted equal the packets the program
// decided, and the ns/packet lies between the BPF_PROG_TEST_RUN figure of the same program (with
// a margin for that loop's own overhead) and a generous ceiling: a check of units and of what is
// measured, not of speed.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <unistd.h>

#include "attach.hpp"
#include "bpf.hpp"
#include "pins.hpp"
#include "stats.hpp"
#include "test_frames.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"
#include "wait.hpp"

using namespace weir;
namespace fs = std::filesystem;

namespace {

stats::Snapshot read(const std::string& ifname) {
    std::vector<stats::Snapshot> s;
    attach::Failure f = stats::read(s, ifname);
    REQUIRE_MESSAGE(!f, f.message);
    REQUIRE(s.size() == 1);
    return s[0];
}

std::uint64_t decided(const stats::Snapshot& s) {
    std::uint64_t n = 0;
    for (const auto& [name, c] : s.verdicts) n += c.packets;
    return n;
}

}  // namespace

TEST_CASE("run-time statistics: runs equal the packets decided, ns/packet near the test-run figure") {
    test::TestNet net;
    char tmpl[] = "/tmp/weir-cost-XXXXXX";
    const fs::path dir = ::mkdtemp(tmpl);
    const std::string file = (dir / "cost.weir").string();
    std::ofstream(file) << "policy cost default pass {\n"
                           "    ssh:  drop if tcp.dport == 22\n"
                           "    dns:  count if udp.dport == 53\n"
                           "    high: drop if udp.dport > 60000\n"
                           "}\n";
    attach::LoadOptions o;
    o.file = file;
    o.ifname = net.host_if();
    auto loaded = attach::load(o);
    REQUIRE_MESSAGE(loaded.ok(), loaded.message);

    std::optional<bpf::Result<bpf::RunTimeStats>> on(bpf::RunTimeStats::enable());
    REQUIRE_MESSAGE(*on, on->error().message);
    CHECK(bpf::run_time_stats_on());

    const auto frame = Frame().eth(net.peer_mac(), net.host_mac()).ipv4(net.peer_ip4(), net.host_ip4())
                           .udp(40000, 53).pad_to(64).bytes();
    const stats::Snapshot before = read(net.host_if());
    REQUIRE(before.program.measured);
    CHECK(before.program.insns > 0);

    auto gen = traffic::TrafficGen::create();
    REQUIRE_MESSAGE(gen, gen.error().message);
    constexpr std::uint64_t kPackets = 20000;
    traffic::FloodOptions fo;
    fo.netns = net.netns();
    fo.ifname = net.peer_if();
    fo.frames = {{frame, 1}};
    fo.packets = kPackets;
    auto sent = gen->flood(fo);
    REQUIRE_MESSAGE(sent, sent.error().message);
    REQUIRE(test::wait_until([&] { return decided(read(net.host_if())) >= decided(before) + kPackets; }));

    // Runs and verdicts are two reads: a frame of the namespace's own chatter (ND, ARP) may land
    // between them, so the two must agree on some reading, not necessarily the first.
    stats::Snapshot after;
    bool equal = false;
    for (int i = 0; i < 20 && !equal; ++i) {
        after = read(net.host_if());
        equal = after.program.runs - before.program.runs == decided(after) - decided(before);
        if (!equal) ::usleep(100'000);
    }
    CHECK_MESSAGE(equal, "runs " << after.program.runs - before.program.runs << ", decided "
                                 << decided(after) - decided(before));
    CHECK(after.program.runs - before.program.runs >= kPackets);
    CHECK(after.prog_id == before.prog_id);

    const double live = double(after.program.run_time_ns - before.program.run_time_ns) /
                        double(after.program.runs - before.program.runs);
    on.reset();  // the test runs' own figure without the statistics' clock reads (unless others hold them)
    auto pinned = pins::open_pinned(net.host_if());
    REQUIRE(pinned);
    REQUIRE(pinned->prog);
    double best = 0;
    for (int t = 0; t < 3; ++t) {
        auto r = bpf::test_run(pinned->prog.get(), frame, 20000);
        REQUIRE_MESSAGE(r, r.error().message);
        if (t == 0 || r->duration_ns < best) best = r->duration_ns;
    }
    MESSAGE("live " << live << " ns/packet, BPF_PROG_TEST_RUN " << best << " ns/packet");
    CHECK(live >= best * 0.25);
    CHECK(live <= 200'000);

    // The rate between two readings of the same program.
    api::CostRate rate = stats::cost_rate(after, &before);
    CHECK(rate.valid);
    CHECK(!rate.idle);
    CHECK(rate.ns_per_packet == doctest::Approx(live));
    CHECK(stats::cost_text(after, &before).find("ns/packet") != std::string::npos);

    (void)attach::unload(net.host_if());
    std::error_code ec;
    fs::remove_all(dir, ec);
}

TEST_CASE("without run-time statistics the cost says so instead of a zero") {
    if (bpf::run_time_stats_on()) {
        MESSAGE("statistics are on for this process or by sysctl: nothing to check");
        return;
    }
    test::TestNet net;
    char tmpl[] = "/tmp/weir-cost-XXXXXX";
    const fs::path dir = ::mkdtemp(tmpl);
    const std::string file = (dir / "idle.weir").string();
    std::ofstream(file) << "policy idle default pass {\n    ssh: drop if tcp.dport == 22\n}\n";
    attach::LoadOptions o;
    o.file = file;
    o.ifname = net.host_if();
    auto loaded = attach::load(o);
    REQUIRE_MESSAGE(loaded.ok(), loaded.message);
    const stats::Snapshot s = read(net.host_if());
    if (s.program.runs == 0) {  // another process may hold them on: then runs grow and are real
        CHECK(!s.program.measured);
        CHECK(s.program.why.find("statistics are off") != std::string::npos);
        CHECK(stats::cost_text(s, nullptr).find("ns/packet") == std::string::npos);
        CHECK(stats::to_json(s).find("\"statistics\":false") != std::string::npos);
    }
    (void)attach::unload(net.host_if());
    std::error_code ec;
    fs::remove_all(dir, ec);
}
