// The live demo's traffic mix (docs/demo.md, `weir demo`): a handful of frame kinds, each with a
// weight, sent from a TestNet's namespace to its host end.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "testnet.hpp"

namespace weir::test {

struct TrafficKind {
    std::string name;   // shown in the totals
    std::string what;   // one line of explanation
    std::uint32_t weight;
    std::vector<std::uint8_t> bytes;
};

// Frames from the namespace to the host. The destination MAC is one no device has: the host
// stack discards passed packets at the IP layer (PACKET_OTHERHOST) without answering, so nothing
// the demo sends is ever routed anywhere - not even a TCP reset.
std::vector<TrafficKind> demo_traffic(const TestNet& net);

}  // namespace weir::test
