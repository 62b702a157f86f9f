// Live packet rate on a private veth pair: the XDP_TX generator (lab/trafficgen.hpp) floods
// 64-byte UDP frames from a namespace into the root-side end, where a counting sink receives:
//   drop  an XDP_DROP program (the ceiling of the setup)
//   pass  an XDP_PASS program (frames continue into the kernel stack)
// For each, prints the generator's send rate and the sink's receive rate in Mpps.
//
//   live_rate [--seconds S] [--per-call N] [--threads T] [--batch B] [--size BYTES] [--runs R]
// Needs root. Exit status 77 when it cannot run (like the kernel tests).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "bpf_env.hpp"
#include "test_frames.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"

using namespace weir;
using namespace weir::traffic;

namespace {

struct Args {
    double seconds = 3;
    std::uint32_t per_call = FloodOptions{}.per_call;
    unsigned threads = FloodOptions{}.threads;
    std::uint32_t batch = 0;
    std::size_t size = 64;  // frame bytes including the 4-byte FCS a wire would add
    int runs = 1;
};

bool parse(int argc, char** argv, Args& a) {
    for (int i = 1; i < argc; ++i) {
        std::string_view k = argv[i];
        if (i + 1 >= argc) return false;
        const char* v = argv[++i];
        if (k == "--seconds") a.seconds = std::atof(v);
        else if (k == "--per-call") a.per_call = std::uint32_t(std::atol(v));
        else if (k == "--threads") a.threads = unsigned(std::atoi(v));
        else if (k == "--batch") a.batch = std::uint32_t(std::atol(v));
        else if (k == "--size") a.size = std::size_t(std::atol(v));
        else if (k == "--runs") a.runs = std::atoi(v);
        else return false;
    }
    return a.seconds > 0 && a.size >= 60 && a.runs > 0;
}

int measure(const TrafficGen& gen, const Args& args, SinkAction action, const char* label) {
    test::TestNet net;
    auto sink = TrafficSink::attach(net.host_ifindex(), action);
    if (!sink) {
        std::fprintf(stderr, "live_rate: %s\n", sink.error().message.c_str());
        return 1;
    }
    // A "64-byte" Ethernet frame is 60 bytes plus the FCS, which XDP never sees.
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    o.frames = {{Frame()
                     .eth(net.peer_mac(), net.host_mac())
                     .ipv4(net.peer_ip4(), net.host_ip4())
                     .udp(40000, 9)
                     .pad_to(args.size - 4)
                     .bytes(),
                 1}};
    o.duration = std::chrono::duration<double>(args.seconds);
    o.per_call = args.per_call;
    o.threads = args.threads;
    o.kernel_batch = args.batch;
    for (int run = 0; run < args.runs; ++run) {
        if (auto st = sink->reset(); !st) {
            std::fprintf(stderr, "live_rate: %s\n", st.error().message.c_str());
            return 1;
        }
        auto r = gen.flood(o);
        if (!r) {
            std::fprintf(stderr, "live_rate: %s\n", r.error().message.c_str());
            return 1;
        }
        auto got = sink->total();
        if (!got) {
            std::fprintf(stderr, "live_rate: %s\n", got.error().message.c_str());
            return 1;
        }
        double lost = r->packets > got->packets ? double(r->packets - got->packets) : 0.0;
        std::printf("%-10s sent %6.2f Mpps   received %6.2f Mpps   (%llu packets in %.2f s, lost %.4f%%)\n",
                    label, r->mpps(), double(got->packets) / r->seconds / 1e6,
                    static_cast<unsigned long long>(r->packets), r->seconds,
                    r->packets ? 100.0 * lost / double(r->packets) : 0.0);
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    if (!parse(argc, argv, args)) {
        std::fprintf(stderr,
                     "usage: live_rate [--seconds S] [--per-call N] [--threads T] [--batch B] [--size BYTES] [--runs R]\n");
        return 2;
    }
    if (std::string why = test::bpf_unavailable_reason(); !why.empty()) {
        std::printf("SKIP: live_rate needs BPF: %s\n", why.c_str());
        return 77;
    }
    auto gen = TrafficGen::create();
    if (!gen) {
        std::fprintf(stderr, "live_rate: %s\n%s\n", gen.error().message.c_str(), gen.error().log.c_str());
        return 1;
    }
    std::printf("%zu-byte UDP frames, %.1f s per flood, %u threads, %u per call, kernel batch %u\n",
                args.size, args.seconds, args.threads, args.per_call, args.batch ? args.batch : 64u);
    try {
        if (int rc = measure(*gen, args, SinkAction::drop, "XDP_DROP")) return rc;
        if (int rc = measure(*gen, args, SinkAction::pass, "XDP_PASS")) return rc;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "live_rate: %s\n", e.what());
        return 1;
    }
    return 0;
}
