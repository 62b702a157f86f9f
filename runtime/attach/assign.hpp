// The numbers a new program takes on an interface: counter slots and set ids, against the
// running policy's record, so that a hot swap keeps counters and unchanged set tables.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "pins.hpp"
#include "plan.hpp"

namespace weir::attach {

// Counter slots and set ids of the new program, from the running one's (`cur`, may be null).
// Kept rule names keep their slots; new rules take slots the running program does not use.
// Unchanged tables keep their ids (the running policy's, else its shadow candidate's); others
// get fresh ones (returned in `fill`).
void assign(Plan& plan, const pins::PolicyMeta* cur, pins::PolicyMeta& next, std::vector<int>& fill);

// The records of `plan`'s tables (name, kind, ordinal, content hash), numbered: a table keeps the
// id of its record in the first of `kept` (null entries skipped) that has it, with its record of
// live edits; the others take fresh ids from `next_set_id` (their indexes appended to `fill`).
std::vector<pins::SetRecord> number_tables(Plan& plan, std::initializer_list<const std::vector<pins::SetRecord>*> kept,
                                           std::array<std::uint32_t, 5>& next_set_id, std::vector<int>& fill);

}  // namespace weir::attach
