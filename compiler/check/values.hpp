// Literal conversion shared by the checker (rule values, set elements, set files) and test packets.
// Every function reports problems as diagnostics at the literal's range and returns nullopt.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "ast.hpp"
#include "diagnostics.hpp"
#include "policy.hpp"

namespace weir {

// "192.0.2.0/24", "2001:db8::1", with optional "/len". Host bits set -> warning "cidr-host-bits"
// (the element keeps the network: lo = address & mask).
std::optional<Element> parse_ip(const ast::Value& v, Diagnostics& diags);
// The fast path of set files: an address or prefix read exactly as parse_ip reads it (192.0.2.7,
// 198.18.0.0/15, 2001:db8::/32), without allocating. nullopt for anything parse_ip would warn
// about or reject and for every other token (ranges, names): the caller takes the full path.
// The element's range is left to the caller.
std::optional<Element> parse_ip_plain(std::string_view text);
std::optional<Element> parse_mac(const ast::Value& v, Diagnostics& diags);
// Decimal or 0x hex, at most `max`.
std::optional<std::uint64_t> parse_uint(const ast::Value& v, std::uint64_t max, std::string_view what,
                                        Diagnostics& diags);

// One set element written outside the grammar: a line of a set file or a command-line argument of
// `weir set`. A value, or a range a-b (spaces allowed around '-'); a name such as echo-request is
// one value. `text` starts at byte `begin` of `file`, so ranges point into it. nullopt if the
// token is not a single element (empty, blanks inside a value, ',', '{', '}', a dangling '-');
// the caller reports that in its own words.
std::optional<ast::Item> element_token(std::string_view text, FileId file, std::uint32_t begin);

std::string format_ip(Family f, u128 addr);
std::string format_mac(u128 mac);
// Canonical text of an element for its field/set type: "192.0.2.0/24", "80-88", "echo-request".
std::string format_element(const Element& e, FieldType type, SymbolTable syms);

// pkt.iface values: the interface name (at most 15 bytes) packed into Element::lo, byte i of the
// name in bits 8*i..8*i+7 (lo == hi, family None). iface_name() unpacks it.
Element iface_element(std::string_view name);
std::string iface_name(const Element& e);
// A STRING literal with the language's escapes: "eth0", "a\"b", "\x01".
std::string quote_string(std::string_view s);

}  // namespace weir
