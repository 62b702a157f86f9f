// A private network for live tests and benchmarks: a network namespace and a veth pair whose
// "host" end stays in the root namespace (the device under test, where weir attaches: pins under
// /sys/fs/bpf keep working there) and whose "peer" end is in the namespace (the traffic source).
//
//   root namespace                        namespace weirt-<pid>-<n>
//   wt<pid>.<n>h  198.18.S.1/24  <--veth-->  wt<pid>.<n>p  198.18.S.2/24
//                 2001:2:0:S::1/64                         2001:2:0:S::2/64
//
// Only 198.18.0.0/15 and 2001:2::/48 addresses are used. Names are unique per process and
// instance; S (0..511) is derived from them. The peer's IPv6 address is only configured
// with TestNetOptions::peer_ip6. Static neighbour entries on both sides (optional)
// mean no ARP/ND traffic is needed; IPv6 link-local addresses and DAD are off, so the kernel
// stays quiet on the link. Everything is built with iproute2 (`ip`), silently, and removed by
// the destructor; a constructor that fails removes what it made and throws std::runtime_error.
#pragma once
#include <array>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>

namespace weir::test {

struct TestNetOptions {
    bool static_neighbors = true;
    // GRO on the host end. A veth end only accepts XDP_TX/redirected frames when it has an XDP
    // program attached or GRO enabled; turn this on to receive floods without XDP (e.g. nftables).
    bool host_gro = false;
    // Queues of each end; 0: one per CPU. A sender on CPU c fills receive queue c % queues of
    // the other end, processed on that CPU: with one queue per CPU, senders on several CPUs do
    // not overflow one shared ring.
    unsigned queues = 0;
    // Configure the IPv6 address on the peer end too. Off by default: the peer's kernel would
    // then send MLD reports into the host end after link-up (frames a sink would count).
    // Generated frames can use peer_ip6_text() as their source either way.
    bool peer_ip6 = false;
};

class TestNet {
public:
    explicit TestNet(TestNetOptions options = {});
    ~TestNet();
    TestNet(const TestNet&) = delete;
    TestNet& operator=(const TestNet&) = delete;

    const std::string& netns() const { return netns_; }  // name under /run/netns
    int netns_fd() const { return netns_fd_; }
    const std::string& host_if() const { return host_if_; }
    const std::string& peer_if() const { return peer_if_; }
    int host_ifindex() const { return host_ifindex_; }  // in the root namespace
    int peer_ifindex() const { return peer_ifindex_; }  // in the namespace

    using Mac = std::array<std::uint8_t, 6>;
    const Mac& host_mac() const { return host_mac_; }
    const Mac& peer_mac() const { return peer_mac_; }
    // IPv4 addresses in host byte order, and every address as text (without prefix length).
    std::uint32_t host_ip4() const { return host_ip4_; }
    std::uint32_t peer_ip4() const { return peer_ip4_; }
    std::string host_ip4_text() const;
    std::string peer_ip4_text() const;
    const std::string& host_ip6_text() const { return host_ip6_; }
    const std::string& peer_ip6_text() const { return peer_ip6_; }

    // Runs fn on a thread that has entered the namespace and returns its result; an exception
    // thrown by fn is rethrown here. The calling thread's namespace never changes.
    template <class F>
    std::invoke_result_t<F&> run_in_netns(F&& fn) const {
        using R = std::invoke_result_t<F&>;
        if constexpr (std::is_void_v<R>) {
            in_netns([&] { fn(); });
        } else {
            std::optional<R> out;
            in_netns([&] { out.emplace(fn()); });
            return std::move(*out);
        }
    }

    // Removes namespaces and links of this naming scheme left behind by processes that no
    // longer exist (a test killed before its destructor ran). Best effort, silent.
    static void remove_stale();

private:
    void in_netns(const std::function<void()>& body) const;
    void setup(const TestNetOptions& options);
    void teardown() noexcept;

    std::string netns_, host_if_, peer_if_;
    int netns_fd_ = -1;
    int host_ifindex_ = 0, peer_ifindex_ = 0;
    Mac host_mac_{}, peer_mac_{};
    std::uint32_t host_ip4_ = 0, peer_ip4_ = 0;
    std::string host_ip6_, peer_ip6_;
    unsigned subnet_ = 0;
};

}  // namespace weir::test
