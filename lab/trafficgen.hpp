// Live traffic for demos, kernel tests and benchmarks, without extra tools.
//
// TrafficGen floods a veth pair: an XDP program returning XDP_TX is run with BPF_PROG_TEST_RUN
// in live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES) with ctx.ingress_ifindex = one veth end, so
// every repetition is transmitted out of that end into its peer, where the device under test
// receives it (> 10 Mpps on one core). The run happens in the namespace that owns the sending
// end: flood() does it on a helper thread that setns()'d there.
//
// Replay: instead of a few frames repeated, FloodOptions::trace sends a list of frames in order,
// one per repetition (the generator program copies the next one from a BPF map into the frame it
// transmits), so one call sends many distinct headers: a ClassBench trace, not one 5-tuple.
//
// TrafficSink attaches a counting XDP program (drop or pass) to the receiving device and reads
// what arrived, per destination-port slot (see bpf-templates/trafficgen.c).
//
// The receiving veth end must have native XDP (any attached program) or GRO enabled, otherwise
// the kernel drops XDP_TX frames sent into it - and the generator cannot tell: FloodResult counts
// frames handed to XDP_TX, not frames received.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bpf.hpp"

namespace weir {

// The embedded ELF object of bpf-templates/trafficgen.c.
std::span<const unsigned char> trafficgen_object();

namespace traffic {

// Slots of TrafficSink::counts(): TCP/UDP destination port % kPortSlots, then "other".
inline constexpr std::uint32_t kPortSlots = 64;
inline constexpr std::uint32_t kSlotOther = kPortSlots;

struct WeightedFrame {
    std::vector<unsigned char> bytes;  // a whole Ethernet frame, 14 .. ~3500 bytes
    std::uint32_t weight = 1;          // share of the packets, relative to the other frames
};

// Limits of FloodOptions::trace (the BPF map entry holds a frame of at most kMaxTraceFrame bytes).
inline constexpr std::size_t kMaxTraceFrame = 128;
inline constexpr std::size_t kMaxTraceFrames = std::size_t(1) << 20;

struct FloodOptions {
    // The namespace of the sending device: a name under /run/netns, or an open namespace fd
    // (netns_fd >= 0 wins). Neither: the calling thread's namespace.
    std::string netns;
    int netns_fd = -1;
    std::string ifname;  // the sending device (a veth end) in that namespace
    std::vector<WeightedFrame> frames;
    // Or a trace (exactly one of `frames` and `trace` is given): repetition k of the flood sends
    // trace[k % trace.size()], in order from trace[0] on each flood; every frame 14 ..
    // kMaxTraceFrame bytes, at most kMaxTraceFrames of them. With a count, trace[i] is sent
    // packets / n times, once more if i < packets % n (n = trace.size()), also with several
    // threads (they share one cursor: an atomic add per packet). Each flood loads its own copy
    // of the generator with the trace in a map (milliseconds, before the flood's clock starts).
    // Weights do not apply; per_call, threads, kernel_batch and rate_pps do.
    std::vector<std::vector<unsigned char>> trace;
    // Stop after `packets` packets and/or after `duration`; at least one must be set. With a
    // count, each frame gets exactly round(packets * weight / total weight) packets (remainders
    // to the first frames) and the sum is exactly `packets`.
    std::uint64_t packets = 0;
    std::chrono::duration<double> duration{0};
    // Repetitions per BPF_PROG_TEST_RUN call of one frame: frames take turns in chunks of
    // `per_call * weight / max weight` (at least 1). Time limits are checked between calls.
    // While the flood runs, the generator program is also attached (native XDP) to the sending
    // device, if that has no XDP program yet: otherwise every call would cost ~25 ms of RCU
    // grace periods (the kernel moves the program in and out of its XDP dispatcher); attached,
    // a call costs well under 1 ms. The attached copy passes received traffic untouched.
    std::uint32_t per_call = 1u << 16;
    // Sending threads, each running its own calls (with an equal share of the count and the
    // rate). More than one only helps with free CPUs and a multi-queue veth (TestNet makes one
    // queue per CPU); with a single receive queue, parallel senders overflow its ring.
    unsigned threads = 1;
    // The kernel's live-frame batch (frames transmitted per flush, <= 256); 0: kernel default
    // (64). Above 64 a veth receiver can drop: its ring holds 256 frames, NAPI takes 64 per poll.
    std::uint32_t kernel_batch = 0;
    // Offered load in packets per second; 0: as fast as possible. Coarse pacing: each thread
    // sends 100 ms worth of packets per frame in a round of calls, each call when its last
    // packet is due, so the flood is never ahead of the rate (bursts at line rate, then pauses).
    // With a duration and no count, the flood sends exactly rate * duration packets (split by
    // weight like a count) and lasts the duration - if the machine keeps up with the rate.
    double rate_pps = 0;
};

struct FloodResult {
    std::uint64_t packets = 0;             // frames handed to XDP_TX (the sum of per_frame)
    std::vector<std::uint64_t> per_frame;  // in the order of FloodOptions::frames (or ::trace)
    double seconds = 0;                    // wall time of the flood
    double mpps() const { return seconds > 0 ? double(packets) / seconds / 1e6 : 0; }
};

// The loaded generator program. flood() may be called repeatedly and from several threads.
class TrafficGen {
public:
    static bpf::Result<TrafficGen> create();

    bpf::Result<FloodResult> flood(const FloodOptions& options) const;
    int program_fd() const { return prog_; }

private:
    TrafficGen(bpf::Object obj, int prog) : obj_(std::move(obj)), prog_(prog) {}
    bpf::Object obj_;
    int prog_ = -1;
};

struct SinkCount {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
};

enum class SinkAction { drop, pass };

// A counting XDP program attached in native (driver) mode to `ifindex` in the calling thread's
// namespace, detached on destruction (only if it is still the attached program).
class TrafficSink {
public:
    static bpf::Result<TrafficSink> attach(int ifindex, SinkAction action);

    TrafficSink(TrafficSink&& o) noexcept;
    TrafficSink& operator=(TrafficSink&&) = delete;
    TrafficSink(const TrafficSink&) = delete;
    ~TrafficSink();

    // Per slot (kPortSlots port slots, then kSlotOther), summed over CPUs.
    bpf::Result<std::vector<SinkCount>> counts() const;
    bpf::Result<SinkCount> total() const;
    bpf::Status reset();
    bpf::Status detach();
    int ifindex() const { return ifindex_; }

private:
    TrafficSink(bpf::Object obj, int prog, int map, int ifindex)
        : obj_(std::move(obj)), prog_(prog), map_(map), ifindex_(ifindex) {}
    bpf::Object obj_;
    int prog_ = -1, map_ = -1, ifindex_ = 0;
    bool attached_ = false;
};

}  // namespace traffic
}  // namespace weir
