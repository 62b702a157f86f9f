// libFuzzer target: the kernel program's header parser (bpf-templates/parse.h, weir_parse)
// compiled natively, on arbitrary frames. ASan catches any read outside the frame (libFuzzer
// hands over a heap buffer of exactly the input's size). Per frame it also checks what the rest
// of weir relies on:
//   - len is the frame's length, and the payload lies inside the frame;
//   - the presence bits nest (L4 needs IP, IP needs Ethernet; TCP and UDP never both) and agree
//     with ip_version;
//   - parsing is deterministic and reads nothing past the end: the same bytes followed by
//     garbage in a larger buffer, with len cut back, parse to the same result;
//   - every field field_value (field_access.hpp) reads can be read.
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "field_access.hpp"
#include "fields.hpp"
#include "fuzz_common.hpp"
#include "parse.h"

namespace {

constexpr const char* kTarget = "fuzz_parse_native";

std::string describe(const weir_pkt& p) {
    return "present=" + std::to_string(p.present) + " malformed=" + std::to_string(p.malformed) +
           " len=" + std::to_string(p.len) + " payload_off=" + std::to_string(p.payload_off) +
           " payload_len=" + std::to_string(p.payload_len) + " ip_version=" + std::to_string(p.ip_version);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 0xffff) return -1;  // XDP frames: len and offsets are 16-bit
    weir_pkt p, q;
    std::memset(&p, 0, sizeof p);  // padding too: the two results are compared bytewise
    std::memset(&q, 0, sizeof q);
    weir_parse(data, data + size, &p);
    using weir::fuzz::fail;
    const std::uint32_t present = p.present;
    if (p.len != size) fail(kTarget, "len is not the frame length", describe(p));
    if ((present & WEIR_H_L4) == WEIR_H_L4) fail(kTarget, "both TCP and UDP present", describe(p));
    if ((present & (WEIR_H_L4 | WEIR_H_ICMP | WEIR_H_ICMP6)) && !(present & WEIR_H_IP))
        fail(kTarget, "an L4 header without an IP header", describe(p));
    if ((present & (WEIR_H_IP | WEIR_H_VLAN)) && !(present & WEIR_H_ETH))
        fail(kTarget, "a header without Ethernet", describe(p));
    if ((present & WEIR_H_IP) == WEIR_H_IP) fail(kTarget, "both IPv4 and IPv6 present", describe(p));
    if ((present & WEIR_H_IP4) && p.ip_version != 4) fail(kTarget, "IPv4 present, ip_version not 4", describe(p));
    if ((present & WEIR_H_IP6) && p.ip_version != 6) fail(kTarget, "IPv6 present, ip_version not 6", describe(p));
    if (std::uint32_t{p.payload_off} + p.payload_len > size) fail(kTarget, "payload outside the frame", describe(p));

    // The same bytes with trailing garbage after them: the parser must not look past data_end.
    std::vector<std::uint8_t> longer(data, data + size);
    longer.resize(size + 64, 0xa5);
    weir_parse(longer.data(), longer.data() + size, &q);
    if (std::memcmp(&p, &q, sizeof p) != 0) fail(kTarget, "the same frame parses differently", describe(p), describe(q));

    for (const auto& f : weir::all_fields()) (void)weir::field_value(f.id, p);
    return 0;
}
