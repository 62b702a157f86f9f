#include "trafficgen.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>
#include <thread>
#include <utility>

namespace weir::traffic {
namespace {

constexpr std::string_view kTxProgram = "weir_tg_tx";
constexpr std::string_view kReplayProgram = "weir_tg_replay";
constexpr std::string_view kCountsMap = "weir_tg_counts";
constexpr std::string_view kTraceMap = "weir_tg_trace";
constexpr std::string_view kCursorMap = "weir_tg_cursor";
constexpr std::uint32_t kMaxKernelBatch = 256;  // the kernel's limit for live frames
// Test-run frames carry this as metadata (host order, like the program reads it): see trafficgen.c.
constexpr std::uint32_t kMagic = 0x77656972u;
constexpr std::uint32_t kMetaSize = sizeof kMagic;

bpf::Error error(std::string what, int err) {
    if (err > 0) err = -err;
    if (err == 0) err = -EINVAL;
    return bpf::Error{std::move(what) + ": " + std::strerror(-err) + " (" + std::to_string(err) + ")",
                      {}, err};
}

// `trace_entries`: the size of the replay map (its one unused entry, unless for a replay).
bpf::Result<bpf::Object> load_object(std::uint32_t trace_entries = 1) {
    auto obj = bpf::Object::open(trafficgen_object(), "weir_trafficgen");
    if (!obj) return obj.error();
    if (auto st = obj->set_max_entries(kTraceMap, trace_entries); !st) return st.error();
    if (auto st = obj->load(); !st) return st.error();
    return std::move(*obj);
}

// The map layouts of trafficgen.c.
struct TraceEntry {
    std::uint32_t len = 0;
    unsigned char data[kMaxTraceFrame] = {};
};
struct Cursor {
    std::uint64_t next = 0;
    std::uint32_t len = 0, pad = 0;
};

// A generator of its own whose replay map holds `trace`.
bpf::Result<bpf::Object> load_replay(const std::vector<std::vector<unsigned char>>& trace) {
    auto obj = load_object(std::uint32_t(trace.size()));
    if (!obj) return obj.error();
    auto map = obj->map_fd(kTraceMap);
    if (!map) return map.error();
    auto cursor = obj->map_fd(kCursorMap);
    if (!cursor) return cursor.error();
    // In batches: one syscall per entry would cost ~0.1 s for a 100k-frame trace.
    constexpr std::size_t kBatch = 4096;
    std::vector<std::uint32_t> keys;
    std::vector<TraceEntry> values;
    for (std::size_t i = 0; i < trace.size(); i += kBatch) {
        const std::size_t n = std::min(kBatch, trace.size() - i);
        keys.resize(n);
        values.assign(n, TraceEntry{});
        for (std::size_t j = 0; j < n; ++j) {
            keys[j] = std::uint32_t(i + j);
            values[j].len = std::uint32_t(trace[i + j].size());
            std::memcpy(values[j].data, trace[i + j].data(), trace[i + j].size());
        }
        std::uint32_t count = std::uint32_t(n);
        if (bpf_map_update_batch(*map, keys.data(), values.data(), &count, nullptr) == 0 && count == n) continue;
        for (std::size_t j = 0; j < n; ++j)  // no batch operations: one by one
            if (bpf_map_update_elem(*map, &keys[j], &values[j], BPF_ANY) < 0)
                return error("fill the trace map (frame " + std::to_string(i + j) + ")", errno);
    }
    Cursor c;
    c.len = std::uint32_t(trace.size());
    if (auto st = bpf::update(*cursor, 0, c); !st) return st.error();
    return std::move(*obj);
}

using Clock = std::chrono::steady_clock;
// Rate mode: a round of calls (one per frame) carries the rate times this times the frames.
constexpr std::chrono::duration<double> kPacingPeriod{0.1};

struct Plan {
    std::vector<std::uint64_t> quota;   // per frame; only with a packet count
    std::vector<std::uint32_t> chunk;   // repetitions per call, per frame
    double rate_pps = 0;                // this thread's share
    std::vector<std::vector<unsigned char>> data;  // per frame: kMagic metadata + the frame
};

// The work of thread `t` of `threads`: an equal share of each frame's packets and of the rate.
// `frames`: o.frames, or for a replay the one test frame the trace is written into.
Plan make_plan(const FloodOptions& o, const std::vector<WeightedFrame>& frames, unsigned t, unsigned threads) {
    Plan plan;
    std::uint64_t total_weight = 0;
    std::uint32_t max_weight = 0;
    for (const auto& f : frames) {
        total_weight += f.weight;
        max_weight = std::max(max_weight, f.weight);
    }
    std::uint64_t per_call = std::max<std::uint32_t>(o.per_call, 1);
    plan.rate_pps = o.rate_pps / threads;
    for (const auto& f : frames) {
        std::vector<unsigned char> d(kMetaSize);
        std::memcpy(d.data(), &kMagic, kMetaSize);
        d.insert(d.end(), f.bytes.begin(), f.bytes.end());
        plan.data.push_back(std::move(d));
    }
    if (plan.rate_pps > 0) {
        // Coarse pacing: one round of calls (each frame once) carries kPacingPeriod (per frame)
        // of packets, so the fixed cost of the calls stays a small part of the round.
        double period = kPacingPeriod.count() * double(frames.size());
        double per_round = plan.rate_pps * period * double(max_weight) / double(total_weight);
        per_call = std::min<std::uint64_t>(per_call, std::max<std::uint64_t>(1, std::uint64_t(per_round)));
    }
    for (const auto& f : frames)
        plan.chunk.push_back(std::uint32_t(std::max<std::uint64_t>(1, per_call * f.weight / max_weight)));
    // With a rate and a duration (and no count), exactly rate * duration packets.
    std::uint64_t packets = o.packets;
    if (packets == 0 && o.rate_pps > 0 && o.duration.count() > 0)
        packets = std::uint64_t(o.rate_pps * o.duration.count());
    if (packets > 0) {
        std::uint64_t given = 0;
        for (const auto& f : frames) {
            std::uint64_t q = std::uint64_t((unsigned __int128)packets * f.weight / total_weight);
            plan.quota.push_back(q);
            given += q;
        }
        for (std::size_t i = 0; given < packets; i = (i + 1) % plan.quota.size()) {
            if (frames[i].weight == 0) continue;
            ++plan.quota[i];
            ++given;
        }
        for (auto& q : plan.quota) q = q / threads + (t < q % threads ? 1 : 0);
    }
    return plan;
}

// One thread's flood, on a thread of its own that enters the sender's namespace.
bpf::Result<FloodResult> run_flood(int prog, const FloodOptions& o, const std::vector<WeightedFrame>& frames,
                                   int netns_fd, const Plan& plan) {
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) < 0)
        return error("enter the network namespace of '" + o.ifname + "'", errno);
    unsigned ifindex = ::if_nametoindex(o.ifname.c_str());
    if (ifindex == 0)
        return error("find device '" + o.ifname + "'" +
                         (o.netns.empty() ? std::string() : " in namespace '" + o.netns + "'"),
                     errno);

    FloodResult result;
    result.per_frame.assign(frames.size(), 0);
    const bool counted = !plan.quota.empty();
    const bool timed = o.duration.count() > 0;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(o.duration);

    xdp_md ctx{};
    ctx.ingress_ifindex = ifindex;
    bool stop = false;
    for (bool more = true; more && !stop;) {
        more = false;
        for (std::size_t i = 0; i < frames.size(); ++i) {
            std::uint64_t n = plan.chunk[i];
            if (frames[i].weight == 0) continue;
            if (counted) {
                std::uint64_t left = plan.quota[i] - result.per_frame[i];
                if (left == 0) continue;
                n = std::min(n, left);
            }
            if (plan.rate_pps > 0) {
                // Never ahead of the rate: a chunk goes out when its last packet is due. A chunk
                // due by the deadline is sent even if the calls before it ran late.
                auto due = start + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(double(result.packets + n) / plan.rate_pps));
                if (timed && due > deadline + std::chrono::milliseconds(1)) {
                    stop = true;
                    break;
                }
                std::this_thread::sleep_until(due);
            } else if (timed && Clock::now() >= deadline) {
                stop = true;
                break;
            }
            const auto& frame = plan.data[i];  // the marker metadata, then the frame
            bpf_test_run_opts opts{};
            opts.sz = sizeof opts;
            opts.data_in = frame.data();
            opts.data_size_in = std::uint32_t(frame.size());
            ctx.data = kMetaSize;
            ctx.data_end = std::uint32_t(frame.size());
            opts.ctx_in = &ctx;
            opts.ctx_size_in = sizeof ctx;
            opts.repeat = int(n);
            opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
            opts.batch_size = o.kernel_batch;
            if (int err = bpf_prog_test_run_opts(prog, &opts); err < 0)
                return error("send " + std::to_string(n) + " live " + std::to_string(frame.size() - kMetaSize) +
                                 "-byte frames out of '" + o.ifname + "'",
                             err);
            result.per_frame[i] += n;
            result.packets += n;
            more = true;
        }
        if (timed && plan.rate_pps <= 0 && Clock::now() >= deadline) stop = true;
    }
    if (timed && plan.rate_pps > 0) std::this_thread::sleep_until(deadline);
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

}  // namespace

bpf::Result<TrafficGen> TrafficGen::create() {
    auto obj = load_object();
    if (!obj) return obj.error();
    auto prog = obj->program_fd(kTxProgram);
    if (!prog) return prog.error();
    return TrafficGen(std::move(*obj), *prog);
}

bpf::Result<FloodResult> TrafficGen::flood(const FloodOptions& o) const {
    const bool replay = !o.trace.empty();
    if (o.frames.empty() && !replay) return error("flood '" + o.ifname + "' with no frames", -EINVAL);
    if (!o.frames.empty() && replay)
        return error("flood with both frames and a trace (give one of them)", -EINVAL);
    std::uint64_t total_weight = 0;
    for (const auto& f : o.frames) {
        if (f.bytes.size() < 14)
            return error("flood with a " + std::to_string(f.bytes.size()) +
                             "-byte frame (an Ethernet header needs 14)",
                         -EINVAL);
        total_weight += f.weight;
    }
    if (!replay && total_weight == 0) return error("flood with frames that all have weight 0", -EINVAL);
    if (o.trace.size() > kMaxTraceFrames)
        return error("flood with a trace of " + std::to_string(o.trace.size()) + " frames (at most " +
                         std::to_string(kMaxTraceFrames) + ")",
                     -EINVAL);
    std::size_t longest = 0;
    for (std::size_t i = 0; i < o.trace.size(); ++i) {
        const std::size_t len = o.trace[i].size();
        if (len < 14 || len > kMaxTraceFrame)
            return error("flood with a trace whose frame " + std::to_string(i) + " has " + std::to_string(len) +
                             " bytes (14 .. " + std::to_string(kMaxTraceFrame) + ")",
                         -EINVAL);
        longest = std::max(longest, len);
    }
    if (o.packets == 0 && o.duration.count() <= 0)
        return error("flood without a packet count or a duration (it would never stop)", -EINVAL);
    if (o.kernel_batch > kMaxKernelBatch)
        return error("flood with a kernel batch of " + std::to_string(o.kernel_batch) +
                         " (at most " + std::to_string(kMaxKernelBatch) + ")",
                     -EINVAL);
    if (o.rate_pps < 0 || std::isnan(o.rate_pps))
        return error("flood at a negative rate", -EINVAL);

    // A replay runs its own generator, whose test frame only lends the longest entry's length.
    std::optional<bpf::Object> replay_obj;
    int prog = prog_;
    std::vector<WeightedFrame> replay_frames;
    if (replay) {
        auto obj = load_replay(o.trace);
        if (!obj) return obj.error();
        auto p = obj->program_fd(kReplayProgram);
        if (!p) return p.error();
        replay_obj.emplace(std::move(*obj));
        prog = *p;
        replay_frames.push_back({std::vector<unsigned char>(longest, 0), 1});
        std::copy(o.trace[0].begin(), o.trace[0].end(), replay_frames[0].bytes.begin());
    }
    const std::vector<WeightedFrame>& frames = replay ? replay_frames : o.frames;

    bpf::Fd ns;
    int ns_fd = o.netns_fd;
    if (ns_fd < 0 && !o.netns.empty()) {
        std::string path = "/run/netns/" + o.netns;
        ns.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!ns) return error("open network namespace " + path, errno);
        ns_fd = ns.get();
    }
    // setns() affects only the calling thread: do the flood on a thread of its own, so the
    // caller's namespace never changes.
    // Keep the program in the XDP dispatcher for the whole flood: attach it to the sending
    // device (it passes received traffic). Best effort: without it, every call waits ~25 ms.
    int held_ifindex = 0;
    std::thread([&] {
        if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) < 0) return;
        int ifindex = int(::if_nametoindex(o.ifname.c_str()));
        if (ifindex > 0 &&
            bpf_xdp_attach(ifindex, prog, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr) == 0)
            held_ifindex = ifindex;
    }).join();

    const unsigned threads = std::max(1u, o.threads);
    std::vector<std::optional<bpf::Result<FloodResult>>> out(threads);
    std::vector<std::thread> workers;
    const auto start = Clock::now();
    for (unsigned t = 0; t < threads; ++t)
        workers.emplace_back(
            [&, t] { out[t].emplace(run_flood(prog, o, frames, ns_fd, make_plan(o, frames, t, threads))); });
    for (auto& w : workers) w.join();
    if (held_ifindex > 0)
        std::thread([&] {
            if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) < 0) return;
            bpf_xdp_attach_opts opts{};
            opts.sz = sizeof opts;
            opts.old_prog_fd = prog;
            bpf_xdp_attach(held_ifindex, -1, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &opts);
        }).join();
    FloodResult sum;
    sum.per_frame.assign(frames.size(), 0);
    for (auto& r : out) {
        if (!*r) return r->error();
        sum.packets += (*r)->packets;
        for (std::size_t i = 0; i < sum.per_frame.size(); ++i) sum.per_frame[i] += (*r)->per_frame[i];
    }
    if (replay) {  // the shared cursor went through the trace in order, from its start
        const std::uint64_t n = o.trace.size();
        sum.per_frame.assign(n, sum.packets / n);
        for (std::uint64_t i = 0; i < sum.packets % n; ++i) ++sum.per_frame[i];
    }
    sum.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return sum;
}

bpf::Result<TrafficSink> TrafficSink::attach(int ifindex, SinkAction action) {
    auto obj = load_object();
    if (!obj) return obj.error();
    std::string_view name = action == SinkAction::drop ? "weir_tg_sink_drop" : "weir_tg_sink_pass";
    auto prog = obj->program_fd(name);
    if (!prog) return prog.error();
    auto map = obj->map_fd(kCountsMap);
    if (!map) return map.error();
    TrafficSink sink(std::move(*obj), *prog, *map, ifindex);
    if (int err = bpf_xdp_attach(ifindex, *prog, XDP_FLAGS_DRV_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST,
                                 nullptr);
        err < 0) {
        char name_buf[IF_NAMESIZE] = "?";
        ::if_indextoname(unsigned(ifindex), name_buf);
        return error("attach XDP program '" + std::string(name) + "' to '" + name_buf +
                         "' (ifindex " + std::to_string(ifindex) + ") in native mode",
                     err);
    }
    sink.attached_ = true;
    return sink;
}

TrafficSink::TrafficSink(TrafficSink&& o) noexcept
    : obj_(std::move(o.obj_)), prog_(o.prog_), map_(o.map_), ifindex_(o.ifindex_),
      attached_(std::exchange(o.attached_, false)) {}

TrafficSink::~TrafficSink() { (void)detach(); }

bpf::Status TrafficSink::detach() {
    if (!attached_) return bpf::ok();
    attached_ = false;
    bpf_xdp_attach_opts opts{};
    opts.sz = sizeof opts;
    opts.old_prog_fd = prog_;
    // REPLACE with the old program: removes ours only, never a program attached since.
    if (int err = bpf_xdp_attach(ifindex_, -1, XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &opts); err < 0)
        return error("detach the counting XDP program from ifindex " + std::to_string(ifindex_), err);
    return bpf::ok();
}

bpf::Result<std::vector<SinkCount>> TrafficSink::counts() const {
    std::vector<SinkCount> out;
    for (std::uint32_t k = 0; k <= kSlotOther; ++k) {
        auto per_cpu = bpf::lookup_percpu<SinkCount>(map_, k);
        if (!per_cpu) return per_cpu.error();
        SinkCount sum;
        for (const SinkCount& c : *per_cpu) {
            sum.packets += c.packets;
            sum.bytes += c.bytes;
        }
        out.push_back(sum);
    }
    return out;
}

bpf::Result<SinkCount> TrafficSink::total() const {
    auto all = counts();
    if (!all) return all.error();
    SinkCount sum;
    for (const SinkCount& c : *all) {
        sum.packets += c.packets;
        sum.bytes += c.bytes;
    }
    return sum;
}

bpf::Status TrafficSink::reset() {
    for (std::uint32_t k = 0; k <= kSlotOther; ++k)
        if (auto st = bpf::zero_percpu(map_, k, sizeof(SinkCount)); !st) return st;
    return bpf::ok();
}

}  // namespace weir::traffic
