// Hot swap under load (docs/operations.md, "Swaps under load"): 1,000 attach::load swaps
// alternating two policies while the live-frames generator floods the interface at >= 1 Mpps.
// Zero loss, counted four ways:
//   sent     frames the generator handed to XDP_TX (runtime/trafficgen.hpp)
//   rx       the veth's rx_packets (/sys/class/net/IF/statistics): frames that reached the device
//   verdicts the sum of weir_verdicts: frames a weir program decided (exactly one verdict each)
//   stack    an nftables counter on the device's netdev ingress hook: passed frames that reached
//            the kernel stack, counted by something that is not weir
// and sent == rx == verdicts, rx_dropped unchanged, verdict pass == stack, verdict drop == the
// frames the policies drop by rule; the kept rules' counters equal the frames of their kind.
// Half the frames are passed (by `web`), half dropped (by `blocked`), in both policies. Takes
// ~4 min on a busy 2-CPU machine: every swap compiles and verifies twice (~230 ms).
#include <bpf/libbpf.h>
#include <doctest/doctest.h>
#include <linux/if_link.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "attach.hpp"
#include "maps.hpp"
#include "testnet.hpp"
#include "packet.hpp"
#include "pins.hpp"
#include "trafficgen.hpp"
#include "weir_abi.h"

using namespace weir;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kSwaps = 1000;
constexpr double kMinMpps = 1.0;

// Both pass TCP to 443 (`web`) and drop the blocked source (`blocked`); they differ in a rule
// the flood never hits (telnet / ssh) and in rule order, so every swap moves slots around.
constexpr const char* kA = R"(set blocked : ip4 = { 198.19.66.0/24 }

policy a default drop {
    blocked: drop if ip.src in @blocked
    telnet:  drop if tcp.dport == 23
    web:     pass if tcp.dport == 443
}
)";
constexpr const char* kB = R"(set blocked : ip4 = { 198.19.66.0/24 }

policy b default drop {
    ssh:     drop if tcp.dport == 22
    blocked: drop if ip.src in @blocked
    web:     pass if tcp.dport == 443
}
)";

std::uint64_t dev_stat(const std::string& ifname, const char* stat) {
    std::ifstream f("/sys/class/net/" + ifname + "/statistics/" + stat);
    std::uint64_t n = 0;
    f >> n;
    return n;
}

int sh(const std::string& cmd) { return std::system(cmd.c_str()); }

// A named nftables counter on the netdev ingress hook of a root-namespace device: it sees every
// frame XDP passed to the stack (the hook runs before the IP layer discards them).
struct NftCounter {
    std::string table;
    NftCounter(const std::string& ifname) : table("weirswap" + std::to_string(::getpid())) {
        std::string script = "add table netdev " + table + "\n" +
                             "add counter netdev " + table + " passed\n" +
                             "add chain netdev " + table + " in { type filter hook ingress device \"" +
                             ifname + "\" priority 0; policy accept; }\n" +
                             "add rule netdev " + table + " in counter name passed\n";
        std::string path = "/tmp/" + table + ".nft";
        std::ofstream(path) << script;
        REQUIRE_MESSAGE(sh("nft -f " + path) == 0, "nft -f " << path);
        fs::remove(path);
    }
    ~NftCounter() { sh("nft delete table netdev " + table + " 2>/dev/null"); }
    std::uint64_t packets() const {
        std::string out = "/tmp/" + table + ".out";
        REQUIRE(sh("nft list counter netdev " + table + " passed > " + out) == 0);
        std::ifstream f(out);
        std::string w;
        std::uint64_t n = 0;
        while (f >> w)
            if (w == "packets") f >> n;
        fs::remove(out);
        return n;
    }
};

struct Counts {
    std::uint64_t verdict[WEIR_VERDICT_SLOTS] = {};
    std::uint64_t web = 0, blocked = 0;
    std::uint64_t verdicts() const {
        std::uint64_t s = 0;
        for (auto v : verdict) s += v;
        return s;
    }
};

Counts counts(const std::string& dev) {
    auto p = pins::open_pinned(dev);
    REQUIRE(p);
    auto m = pins::read_meta(p->meta.get());
    REQUIRE(m);
    REQUIRE(m->current);
    Counts c;
    for (std::uint32_t a = 0; a < WEIR_VERDICT_SLOTS; ++a) {
        auto v = bpf::read_counter(p->map(WEIR_MAP_VERDICTS), a);
        REQUIRE(v);
        c.verdict[a] = v->packets;
    }
    auto web = bpf::read_counter(p->map(WEIR_MAP_RULES), m->current->slots.at("web"));
    auto blocked = bpf::read_counter(p->map(WEIR_MAP_RULES), m->current->slots.at("blocked"));
    REQUIRE(web);
    REQUIRE(blocked);
    c.web = web->packets;
    c.blocked = blocked->packets;
    return c;
}

}  // namespace

TEST_CASE("1,000 hot swaps under a >= 1 Mpps flood lose no packet") {
    if (::geteuid() != 0) std::exit(77);
    // This thread and the ones it creates (the flood, the generator's helpers) at nice -10: on a
    // machine shared with builds, the flood and the swaps would otherwise get a fraction of a CPU
    // each and the figures would measure the neighbours. Restored at the end.
    const int old_nice = ::getpriority(PRIO_PROCESS, 0);
    ::setpriority(PRIO_PROCESS, 0, -10);
    struct Renice {
        int nice;
        ~Renice() { ::setpriority(PRIO_PROCESS, 0, nice); }
    } renice{old_nice};
    test::TestNet net;
    const std::string dev = net.host_if();
    char dir_tmpl[] = "/tmp/weir-swapload-XXXXXX";
    fs::path dir = ::mkdtemp(dir_tmpl);
    std::ofstream(dir / "a.weir") << kA;
    std::ofstream(dir / "b.weir") << kB;
    struct Cleanup {
        std::string dev;
        fs::path dir;
        ~Cleanup() {
            (void)attach::unload(dev);
            std::error_code ec;
            fs::remove_all(dir, ec);
        }
    } cleanup{dev, dir};

    auto load = [&](const char* file) {
        attach::LoadOptions o;
        o.file = (dir / file).string();
        o.ifname = dev;
        o.mode = attach::Mode::Native;
        attach::LoadOutcome r = attach::load(o);
        REQUIRE_MESSAGE(r.ok(), r.message);
        return r;
    };
    load("a.weir");
    NftCounter stack(dev);

    // Frames to a MAC nobody has: the stack discards passed frames at the IP layer, nothing is
    // answered or routed.
    const MacAddr nobody{0x02, 0x00, 0x5e, 0xde, 0x00, 0x02};
    auto tcp = [&](std::uint32_t src, std::uint16_t dport, std::uint8_t flags) {
        return Frame().eth(net.peer_mac(), nobody).ipv4(src, 0xc6120001).tcp(40000, dport, flags).bytes();
    };
    traffic::FloodOptions fo;
    fo.netns_fd = net.netns_fd();
    fo.ifname = net.peer_if();
    fo.frames = {{tcp(0xc6130a07, 443, kTcpAck), 1},   // 198.19.10.7: passed by `web`
                 {tcp(0xc6134206, 443, kTcpSyn), 1}};  // 198.19.66.6: dropped by `blocked`
    // Half passed, half dropped by a rule of both policies: each passed frame costs the receiving
    // CPU an skb, and with 2 CPUs (one for the flood, one for the swaps) an all-pass flood stays
    // below 1 Mpps on a busy machine (~0.8 Mpps measured with 90% passed).
    fo.duration = std::chrono::milliseconds(500);  // per round; rounds until the swaps are done

    auto gen = traffic::TrafficGen::create();
    REQUIRE_MESSAGE(gen, gen.error().message);
    // Keep the generator attached on the sending end for the whole run (not once per round).
    int attach_err = net.run_in_netns(
        [&] { return bpf_xdp_attach(net.peer_ifindex(), gen->program_fd(), XDP_FLAGS_DRV_MODE, nullptr); });
    REQUIRE(attach_err == 0);

    const Counts before = counts(dev);
    const std::uint64_t rx0 = dev_stat(dev, "rx_packets"), rxdrop0 = dev_stat(dev, "rx_dropped");
    const std::uint64_t stack0 = stack.packets();

    std::atomic<bool> stop{false};
    std::uint64_t sent = 0, sent_web = 0, sent_blocked = 0;
    double flood_s = 0;
    std::string flood_error;
    std::thread flood([&] {
        while (!stop.load()) {
            auto r = gen->flood(fo);
            if (!r) {
                flood_error = r.error().message;
                return;
            }
            sent += r->packets;
            sent_web += r->per_frame[0];
            sent_blocked += r->per_frame[1];
            flood_s += r->seconds;
        }
    });

    const auto t0 = Clock::now();
    std::chrono::nanoseconds link_max{}, link_sum{};
    std::map<std::string, std::chrono::nanoseconds> step_sum;  // where the time goes
    int swaps = 0;
    bool failed = false;
    std::string fail_msg;
    for (; swaps < kSwaps; ++swaps) {
        attach::LoadOptions o;
        o.file = (dir / (swaps % 2 == 0 ? "b.weir" : "a.weir")).string();
        o.ifname = dev;
        o.mode = attach::Mode::Native;
        attach::LoadOutcome r = attach::load(o);
        if (!r.ok() || !r.hot_swap) {
            failed = true;
            fail_msg = "swap " + std::to_string(swaps + 1) + ": " + r.message;
            break;
        }
        for (const auto& s : r.steps) step_sum[s.name] += s.time;
        for (const auto& s : r.steps)
            if (s.name == "swap") {
                link_sum += s.time;
                link_max = std::max(link_max, s.time);
            }
    }
    const double swap_s = std::chrono::duration<double>(Clock::now() - t0).count();
    stop = true;
    flood.join();
    REQUIRE_MESSAGE(!failed, fail_msg);
    REQUIRE_MESSAGE(flood_error.empty(), flood_error);

    // Let the receiver drain its ring.
    Counts after;
    for (int i = 0; i < 100; ++i) {
        after = counts(dev);
        if (after.verdicts() - before.verdicts() >= sent) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const std::uint64_t rx = dev_stat(dev, "rx_packets") - rx0;
    const std::uint64_t rx_dropped = dev_stat(dev, "rx_dropped") - rxdrop0;
    const std::uint64_t in_stack = stack.packets() - stack0;
    const std::uint64_t verdicts = after.verdicts() - before.verdicts();
    const std::uint64_t pass = after.verdict[WEIR_ACT_PASS] - before.verdict[WEIR_ACT_PASS];
    const std::uint64_t drop = after.verdict[WEIR_ACT_DROP] - before.verdict[WEIR_ACT_DROP];
    const double mpps = double(sent) / flood_s / 1e6;

    MESSAGE("swaps " << swaps << " in " << swap_s << " s (" << swap_s * 1000 / swaps << " ms each; link update mean "
                     << double(link_sum.count()) / swaps / 1e6 << " ms, max " << double(link_max.count()) / 1e6
                     << " ms); flood " << flood_s << " s at " << mpps << " Mpps; sent " << sent << ", rx " << rx
                     << " (rx_dropped " << rx_dropped << "), verdicts " << verdicts << " (pass " << pass << ", drop "
                     << drop << "), stack " << in_stack << "; web " << after.web - before.web << ", blocked "
                     << after.blocked - before.blocked);
    std::printf("swap-under-load: mean per swap:");
    for (const auto& [name, t] : step_sum) std::printf(" %s %.1f ms", name.c_str(), double(t.count()) / swaps / 1e6);
    std::printf("\n");
    std::printf("swap-under-load: swaps=%d seconds=%.1f mpps=%.2f sent=%llu rx=%llu verdicts=%llu pass=%llu "
                "drop=%llu stack=%llu\n",
                swaps, swap_s, mpps, (unsigned long long)sent, (unsigned long long)rx,
                (unsigned long long)verdicts, (unsigned long long)pass, (unsigned long long)drop,
                (unsigned long long)in_stack);

    CHECK(swaps == kSwaps);
    CHECK(mpps >= kMinMpps);
    CHECK(rx == sent);                // every frame sent reached the device
    CHECK(rx_dropped == 0);           // none dropped before XDP (ring full)
    CHECK(verdicts == sent);          // every frame got exactly one verdict: no gap at any swap
    CHECK(pass == sent_web);          // passed: exactly the frames both policies pass
    CHECK(drop == sent_blocked);      // dropped: exactly the frames both policies drop
    CHECK(in_stack == pass);          // every passed frame reached the stack
    CHECK(after.web - before.web == sent_web);              // kept rules' counters are continuous
    CHECK(after.blocked - before.blocked == sent_blocked);  // across 1,000 slot moves
}
