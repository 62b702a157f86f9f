// Literal conversion shared by the checker (rule values, set elements, set files) and test packets.
// Every function reports problems as diagnostics at the literal's range and returns nullopt.
#pragma once
#include <optional>
#include <string_view>

#include "ast.hpp"
#include "diagnostics.hpp"
#include "policy.hpp"

namespace weir {

// "192.0.2.0/24", "2001:db8::1", with optional "/len". Host bits set -> warning "cidr-host-bits"
// (the element keeps the network: lo = address & mask).
std::optional<Element> parse_ip(const ast::Value& v, Diagnostics& diags);
std::optional<Element> parse_mac(const ast::Value& v, Diagnostics& diags);
// Decimal or 0x hex, at most `max`.
std::optional<std::uint64_t> parse_uint(const ast::Value& v, std::uint64_t max, std::string_view what,
                                        Diagnostics& diags);

std::string format_ip(Family f, u128 addr);
std::string format_mac(u128 mac);
// Canonical text of an element for its field/set type: "192.0.2.0/24", "80-88", "echo-request".
std::string format_element(const Element& e, FieldType type, SymbolTable syms);

}  // namespace weir
