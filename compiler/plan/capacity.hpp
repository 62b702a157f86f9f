// What the loaded program has room for, checked on the checked program so that `weir check`
// finds the limits `weir load` would hit:
//   set tables   entries (prefixes) per table kind, all sets of a policy together (the pinned
//                tables are sized for kSetTableCapacity so that a hot swap and live edits fit);
//   metadata     the policy's record in weir_meta (rule names and actions, counter slots, set
//                records) as runtime/attach/pins.cpp writes it, estimated from above.
// Errors are located at the set or policy that passes the limit and say what to do.
#pragma once
#include <cstdint>

#include "diagnostics.hpp"
#include "policy.hpp"

namespace weir {

inline constexpr std::uint32_t kSetTableCapacity = 1u << 20;  // entries per table kind
inline constexpr std::uint32_t kMetaBytes = 2u << 20;          // the one weir_meta value

// Table entries (prefixes) `e` takes in a table of `bits`-bit values.
std::uint64_t table_entries(const Element& e, unsigned bits);

// An upper bound of the bytes of weir_meta's JSON holding `pol` as its running policy.
std::uint64_t meta_bytes_estimate(const Program& prog, const Policy& pol);

void check_capacity(const Program& prog, Diagnostics& diags);

}  // namespace weir
