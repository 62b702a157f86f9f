#include "demo_traffic.hpp"

#include "test_frames.hpp"

namespace weir::test {
namespace {

std::uint32_t v4(int a, int b, int c, int d) { return std::uint32_t(a) << 24 | b << 16 | c << 8 | d; }

}  // namespace

std::vector<TrafficKind> demo_traffic(const TestNet& net) {
    const MacAddr nobody{0x02, 0x00, 0x5e, 0xde, 0x00, 0x01};
    const MacAddr src = net.peer_mac();
    const std::uint32_t host = v4(198, 18, 0, 1);
    const u128 host6 = *ip6_from_text("2001:2::1");
    auto eth = [&] { return Frame().eth(src, nobody); };
    std::vector<TrafficKind> k;
    k.push_back({"https", "good clients 198.19.10.0/24: established HTTPS (ACK)", 6,
                 eth().ipv4(v4(198, 19, 10, 7), host).tcp(51000, 443, kTcpAck | kTcpPsh)
                     .payload("GET /v1/status HTTP/1.1\r\n").bytes()});
    k.push_back({"https6", "good clients 2001:2:0:10::/64: established HTTPS over IPv6", 2,
                 eth().ipv6(*ip6_from_text("2001:2:0:10::7"), host6).tcp(51000, 443, kTcpAck).bytes()});
    k.push_back({"client-syn", "good clients: new connections (SYN)", 1,
                 eth().ipv4(v4(198, 19, 10, 8), host).tcp(51001, 443, kTcpSyn).bytes()});
    k.push_back({"dns", "DNS answers from the resolver 198.18.0.53", 1,
                 eth().ipv4(v4(198, 18, 0, 53), host).udp(53, 41000).payload(std::string(80, 'a')).bytes()});
    k.push_back({"syn-flood", "SYN flood from 198.19.200.0/24 to port 443", 8,
                 eth().ipv4(v4(198, 19, 200, 1), host).tcp(1024, 443, kTcpSyn).bytes()});
    k.push_back({"blocked", "blocked sources 198.19.66.0/24", 2,
                 eth().ipv4(v4(198, 19, 66, 6), host).tcp(40000, 22, kTcpSyn).bytes()});
    k.push_back({"dns-amp", "DNS amplification: big answers from 198.19.99.0/24", 3,
                 eth().ipv4(v4(198, 19, 99, 9), host).udp(53, 41000).pad_to(1400).bytes()});
    return k;
}

}  // namespace weir::test
