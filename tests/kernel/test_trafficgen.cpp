// Live traffic on a private veth pair (lab/testnet.hpp): the XDP_TX generator of
// lab/trafficgen.hpp floods from inside the namespace, a counting XDP sink on the root-side
// end counts what arrives. Exact counts per kind and per trace entry (replay), duration and rate
// limits, errors, and what the receiving veth end needs (an XDP program or GRO) to accept XDP_TX
// frames at all. Counts are read once everything sent has arrived (the receiver may run later,
// e.g. in ksoftirqd on a busy machine); time is only checked where the generator guarantees it
// (it never stops before a deadline nor sends before a packet is due). Rates are printed by
// bench/live_rate (unpaced), bench/limit_precision (paced) and bench/classbench_live (replay).
#include <doctest/doctest.h>

#include <net/if.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "test_frames.hpp"
#include "testnet.hpp"
#include "trafficgen.hpp"

using namespace weir;
using namespace weir::traffic;
using weir::test::TestNet;

namespace {

using Bytes = std::vector<unsigned char>;

// Frames from the namespace end to the host end, with the pair's own addresses.
Bytes udp4(const TestNet& net, std::uint16_t dport, std::size_t frame_len = 60) {
    return weir::Frame()
        .eth(net.peer_mac(), net.host_mac())
        .ipv4(net.peer_ip4(), net.host_ip4())
        .udp(40000, dport)
        .pad_to(frame_len)
        .bytes();
}
Bytes udp6(const TestNet& net, std::uint16_t dport) {
    return weir::Frame()
        .eth(net.peer_mac(), net.host_mac())
        .ipv6(*ip6_from_text(net.peer_ip6_text()), *ip6_from_text(net.host_ip6_text()))
        .udp(40000, dport)
        .payload("weir")
        .bytes();
}
Bytes tcp4(const TestNet& net, std::uint16_t dport) {
    return weir::Frame()
        .eth(net.peer_mac(), net.host_mac())
        .ipv4(net.peer_ip4(), net.host_ip4())
        .tcp(40000, dport, kTcpSyn)
        .bytes();
}

TrafficGen make_gen() {
    auto gen = TrafficGen::create();
    REQUIRE_MESSAGE(gen, gen.error().message << "\n" << gen.error().log);
    return std::move(*gen);
}

TrafficSink make_sink(const TestNet& net, SinkAction action) {
    auto sink = TrafficSink::attach(net.host_ifindex(), action);
    REQUIRE_MESSAGE(sink, sink.error().message << "\n" << sink.error().log);
    return std::move(*sink);
}

FloodResult flood(const TrafficGen& gen, FloodOptions o) {
    auto r = gen.flood(o);
    REQUIRE_MESSAGE(r, r.error().message);
    return *r;
}

std::vector<SinkCount> counts(const TrafficSink& sink) {
    auto c = sink.counts();
    REQUIRE_MESSAGE(c, c.error().message);
    return *c;
}

std::uint64_t rx_packets(const std::string& ifname) {
    std::ifstream in("/sys/class/net/" + ifname + "/statistics/rx_packets");
    std::uint64_t n = 0;
    in >> n;
    return n;
}

// Polls `value` until it reaches `want` (60 s at most: the deadline only bounds a failure) and
// returns its last value.
std::uint64_t wait_for(const std::function<std::uint64_t()>& value, std::uint64_t want) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    std::uint64_t v = value();
    while (v < want && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        v = value();
    }
    return v;
}

// Once `packets` frames have arrived at the sink in all: its counts.
std::vector<SinkCount> drained_counts(const TrafficSink& sink, std::uint64_t packets) {
    std::uint64_t total = wait_for(
        [&] {
            auto t = sink.total();
            REQUIRE_MESSAGE(t, t.error().message);
            return t->packets;
        },
        packets);
    CHECK(total == packets);  // and nothing else arrived
    return counts(sink);
}

bool exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

}  // namespace

TEST_CASE("TestNet: a namespace and a veth pair, removed by the destructor") {
    std::string ns, host;
    {
        TestNet net;
        ns = net.netns();
        host = net.host_if();
        CHECK(host.size() <= 15);
        CHECK(net.peer_if().size() <= 15);
        CHECK(exists("/run/netns/" + ns));
        CHECK(net.host_ifindex() == int(if_nametoindex(host.c_str())));
        // The peer is in the namespace, not here.
        CHECK(if_nametoindex(net.peer_if().c_str()) == 0);
        int peer_index = net.run_in_netns([&] { return int(if_nametoindex(net.peer_if().c_str())); });
        CHECK(peer_index == net.peer_ifindex());
        CHECK(peer_index > 0);
        CHECK((net.host_ip4() >> 17) == (0xc612u >> 1));  // 198.18.0.0/15
        CHECK(net.host_ip6_text().rfind("2001:2:0:", 0) == 0);
        // Exceptions cross back from the namespace thread.
        CHECK_THROWS_AS(net.run_in_netns([]() -> int { throw std::runtime_error("x"); }),
                        std::runtime_error);
        TestNet second;  // a second instance in the same process gets its own names
        CHECK(second.netns() != ns);
        CHECK(second.host_if() != host);
    }
    CHECK_FALSE(exists("/run/netns/" + ns));
    CHECK(if_nametoindex(host.c_str()) == 0);
}

TEST_CASE("flood: exact packet counts per kind arrive at an XDP sink") {
    TestNet net;
    TrafficSink sink = make_sink(net, SinkAction::drop);
    TrafficGen gen = make_gen();
    // Three kinds, told apart by destination port slot: IPv4 UDP, IPv6 UDP, IPv4 TCP.
    const std::uint16_t p4 = 5001, p6 = 5002, pt = 5003;
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    o.frames = {{udp4(net, p4), 1}, {udp6(net, p6), 1}, {tcp4(net, pt), 1}};

    SUBCASE("equal weights, several calls per frame") {
        const std::uint64_t n = 100'000;
        o.packets = 3 * n;
        o.per_call = 7'000;  // not a divisor of n: the last call of each frame is short
        FloodResult r = flood(gen, o);
        CHECK(r.packets == 3 * n);
        CHECK(r.per_frame == std::vector<std::uint64_t>{n, n, n});
        auto c = drained_counts(sink, 3 * n);
        CHECK(c[p4 % kPortSlots].packets == n);
        CHECK(c[p6 % kPortSlots].packets == n);
        CHECK(c[pt % kPortSlots].packets == n);
        CHECK(c[p4 % kPortSlots].bytes == n * o.frames[0].bytes.size());
        CHECK(c[p6 % kPortSlots].bytes == n * o.frames[1].bytes.size());
    }
    SUBCASE("weights 1:2:1 and a count that does not divide evenly") {
        o.frames[1].weight = 2;
        o.packets = 400'003;
        o.kernel_batch = 32;
        o.threads = 3;
        FloodResult r = flood(gen, o);
        CHECK(r.packets == 400'003);
        // 100000.75, 200001.5, 100000.75: the three left over go to the first frames in turn.
        CHECK(r.per_frame == std::vector<std::uint64_t>{100'001, 200'002, 100'000});
        auto c = drained_counts(sink, 400'003);
        CHECK(c[p4 % kPortSlots].packets == 100'001);
        CHECK(c[p6 % kPortSlots].packets == 200'002);
        CHECK(c[pt % kPortSlots].packets == 100'000);
    }
    SUBCASE("a second flood adds to the counts; reset clears them") {
        o.packets = 3'000;
        flood(gen, o);
        flood(gen, o);
        CHECK(drained_counts(sink, 6'000)[p6 % kPortSlots].packets == 2'000);
        REQUIRE(sink.reset());
        CHECK(counts(sink)[p6 % kPortSlots].packets == 0);
    }
}

TEST_CASE("flood: a duration bound stops the flood by itself") {
    TestNet net;
    TrafficSink sink = make_sink(net, SinkAction::drop);
    TrafficGen gen = make_gen();
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    o.frames = {{udp4(net, 7000), 1}};
    o.duration = std::chrono::milliseconds(300);
    FloodResult r = flood(gen, o);
    // It returned by itself, not before the deadline (checked between calls on its own clock).
    CHECK(r.seconds >= 0.3);
    CHECK(r.packets > 0);
    CHECK(r.per_frame == std::vector<std::uint64_t>{r.packets});
    drained_counts(sink, r.packets);
    MESSAGE("generator: " << r.mpps() << " Mpps into an XDP_DROP sink");
}

TEST_CASE("flood: a target rate paces the flood") {
    TestNet net;
    TrafficSink sink = make_sink(net, SinkAction::drop);
    TrafficGen gen = make_gen();
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    o.frames = {{udp4(net, 7000), 1}, {udp6(net, 7001), 1}};
    o.rate_pps = 200'000;
    o.duration = std::chrono::milliseconds(500);
    FloodResult r = flood(gen, o);
    // Exactly rate * duration, spread evenly over the frames.
    CHECK(r.packets == 100'000);
    CHECK(r.per_frame[0] == 50'000);
    CHECK(r.per_frame[1] == 50'000);
    // Never ahead of the rate, and it lasts the duration: each call waits until its last packet
    // is due, and the flood until the deadline. How close it stays to the rate is a figure
    // (bench/limit_precision prints the offered against the asked rate).
    CHECK(r.seconds >= 0.5);
    drained_counts(sink, r.packets);
    MESSAGE("paced 100000 packets for 0.5 s: " << r.seconds << " s");

    // Rate and count: the count ends it, at the rate's pace.
    o.duration = {};
    o.packets = 20'000;
    o.rate_pps = 100'000;
    r = flood(gen, o);
    CHECK(r.packets == 20'000);
    CHECK(r.seconds >= 0.2);  // the last packets are due at 0.2 s
    drained_counts(sink, 120'000);
}

TEST_CASE("flood: errors say what is wrong") {
    TestNet net;
    TrafficGen gen = make_gen();
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    o.frames = {{udp4(net, 7000), 1}};
    auto message = [&](const FloodOptions& opts) {
        auto r = gen.flood(opts);
        REQUIRE_FALSE(r);
        return r.error().message;
    };
    CHECK(message(o).find("without a packet count or a duration") != std::string::npos);
    o.packets = 10;
    FloodOptions no_frames = o;
    no_frames.frames.clear();
    CHECK(message(no_frames).find("no frames") != std::string::npos);
    FloodOptions short_frame = o;
    short_frame.frames = {{Bytes(10, 0), 1}};
    CHECK(message(short_frame).find("10-byte frame") != std::string::npos);
    FloodOptions big_batch = o;
    big_batch.kernel_batch = 1000;
    CHECK(message(big_batch).find("at most 256") != std::string::npos);
    FloodOptions wrong_ns = o;
    wrong_ns.netns = "weirt-no-such-namespace";
    CHECK(message(wrong_ns).find("/run/netns/weirt-no-such-namespace") != std::string::npos);
    FloodOptions wrong_if = o;
    wrong_if.ifname = net.host_if();  // lives in the root namespace, not in net's
    CHECK(message(wrong_if).find("find device '" + net.host_if() + "'") != std::string::npos);
}

TEST_CASE("replay: every frame of a trace arrives, in turn, an exact number of times") {
    TestNet net;
    TrafficSink sink = make_sink(net, SinkAction::drop);
    TrafficGen gen = make_gen();
    // Eight headers told apart by destination port slot, of different kinds and lengths (60 to
    // 100 bytes): each repetition must carry one entry whole, length included, whatever an
    // earlier repetition left in the recycled page.
    std::vector<Bytes> trace;
    for (std::uint16_t i = 0; i < 8; ++i) {
        const std::uint16_t dport = std::uint16_t(6000 + i);
        switch (i % 4) {
            case 0: trace.push_back(udp4(net, dport)); break;
            case 1: trace.push_back(tcp4(net, dport)); break;
            case 2: trace.push_back(udp6(net, dport)); break;
            default: trace.push_back(udp4(net, dport, 100)); break;
        }
    }
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    o.trace = trace;
    auto expect = [&](std::uint64_t packets) {
        std::vector<std::uint64_t> want(trace.size(), packets / trace.size());
        for (std::size_t i = 0; i < packets % trace.size(); ++i) ++want[i];
        return want;
    };
    auto check_counts = [&](const std::vector<std::uint64_t>& want, std::uint64_t total) {
        auto c = drained_counts(sink, total);
        for (std::size_t i = 0; i < trace.size(); ++i) {
            INFO("trace entry " << i);
            CHECK(c[(6000 + i) % kPortSlots].packets == want[i]);
            CHECK(c[(6000 + i) % kPortSlots].bytes == want[i] * trace[i].size());
        }
    };

    SUBCASE("one thread, a count that does not divide evenly, several calls") {
        o.packets = 100'003;
        o.per_call = 7'000;
        FloodResult r = flood(gen, o);
        CHECK(r.packets == 100'003);
        CHECK(r.per_frame == expect(100'003));  // 12,500 each, one more for the first three
        check_counts(expect(100'003), 100'003);
    }
    SUBCASE("three threads share the trace's cursor") {
        o.packets = 90'005;
        o.threads = 3;
        o.kernel_batch = 32;
        o.per_call = 1'000;
        FloodResult r = flood(gen, o);
        CHECK(r.packets == 90'005);
        CHECK(r.per_frame == expect(90'005));
        check_counts(expect(90'005), 90'005);
    }
    SUBCASE("each flood starts at the trace's first frame") {
        o.packets = 3;
        flood(gen, o);
        flood(gen, o);
        check_counts({2, 2, 2, 0, 0, 0, 0, 0}, 6);
    }
    SUBCASE("a duration: whatever was sent, in trace order") {
        o.duration = std::chrono::milliseconds(200);
        o.per_call = 4'099;
        FloodResult r = flood(gen, o);
        REQUIRE(r.packets > 0);
        CHECK(r.per_frame == expect(r.packets));
        check_counts(expect(r.packets), r.packets);
    }
}

TEST_CASE("replay: errors say what is wrong") {
    TestNet net;
    TrafficGen gen = make_gen();
    FloodOptions o;
    o.netns = net.netns();
    o.ifname = net.peer_if();
    o.packets = 10;
    o.trace = {udp4(net, 7000), udp4(net, 7001)};
    auto message = [&](const FloodOptions& opts) {
        auto r = gen.flood(opts);
        REQUIRE_FALSE(r);
        return r.error().message;
    };
    FloodOptions both = o;
    both.frames = {{udp4(net, 7000), 1}};
    CHECK(message(both).find("both frames and a trace") != std::string::npos);
    FloodOptions short_frame = o;
    short_frame.trace[1] = Bytes(13, 0);
    CHECK(message(short_frame).find("frame 1 has 13 bytes") != std::string::npos);
    FloodOptions long_frame = o;
    long_frame.trace[0] = udp4(net, 7000, kMaxTraceFrame + 1);
    CHECK(message(long_frame).find("frame 0 has 129 bytes") != std::string::npos);
    FloodOptions no_end = o;
    no_end.packets = 0;
    CHECK(message(no_end).find("without a packet count or a duration") != std::string::npos);
}

TEST_CASE("receiving veth end: XDP_TX frames need an XDP program or GRO there") {
    TrafficGen gen = make_gen();
    const std::uint64_t n = 10'000;
    auto send = [&](const TestNet& net) {
        FloodOptions o;
        o.netns = net.netns();
        o.ifname = net.peer_if();
        o.frames = {{udp4(net, 9), 1}};
        o.packets = n;
        FloodResult r = flood(gen, o);
        CHECK(r.packets == n);  // the generator cannot tell...
    };
    auto received = [&](const TestNet& net, std::uint64_t before) {
        return wait_for([&] { return rx_packets(net.host_if()) - before; }, n);
    };
    SUBCASE("neither: the kernel drops them") {
        TestNet net;
        const std::uint64_t rx0 = rx_packets(net.host_if());
        send(net);
        // ...that they were dropped. The control: a sink attached now counts the next n frames,
        // and a frame of the first n still on its way would reach it too.
        TrafficSink sink = make_sink(net, SinkAction::drop);
        send(net);
        drained_counts(sink, n);
        CHECK(rx_packets(net.host_if()) - rx0 == n);
    }
    SUBCASE("GRO on: they reach the stack") {
        TestNet net(test::TestNetOptions{.host_gro = true});
        const std::uint64_t rx0 = rx_packets(net.host_if());
        send(net);
        CHECK(received(net, rx0) == n);
    }
    SUBCASE("an XDP_PASS program: they reach the program and the stack") {
        TestNet net;
        TrafficSink sink = make_sink(net, SinkAction::pass);
        const std::uint64_t rx0 = rx_packets(net.host_if());
        send(net);
        CHECK(received(net, rx0) == n);
        drained_counts(sink, n);
    }
}
