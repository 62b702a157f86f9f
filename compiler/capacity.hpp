// What the loaded program has room for, checked on the checked program so that `weir check`
// finds the limits `weir load` would hit: set table entries (prefixes) per table kind, all sets
// of a policy together (the pinned tables are sized for kSetTableCapacity so that a hot swap
// and live edits fit). The error is located at the set that passes the limit.
#pragma once
#include <cstdint>

#include "diagnostics.hpp"
#include "policy.hpp"

namespace weir {

inline constexpr std::uint32_t kSetTableCapacity = 1u << 20;  // entries per table kind

// Table entries (prefixes) `e` takes in a table of `bits`-bit values.
std::uint64_t table_entries(const Element& e, unsigned bits);

void check_capacity(const Program& prog, Diagnostics& diags);

}  // namespace weir
