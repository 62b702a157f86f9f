// A PacketSpec (policy.hpp) as the `packet ...` statement of a test block that reads back to the
// same spec (the inverse of sema_testblocks.cpp), e.g. for witnesses printed by `weir diff`.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "policy.hpp"

namespace weir {

// `packet tcp 192.0.2.1:1024 -> 198.51.100.1:443 flags syn, ack ttl 1`; `packet hex "..."` for
// a raw spec, or when the spec has something the readable form cannot say (a VLAN PCP on an inner
// tag). Options equal to the checker's defaults are left out.
std::string packet_statement(const PacketSpec& spec);

// `packet hex "..."` of a whole frame (and `iface "..."` when `iface` is not empty).
std::string packet_hex_statement(std::span<const std::uint8_t> frame, const std::string& iface = {});

}  // namespace weir
