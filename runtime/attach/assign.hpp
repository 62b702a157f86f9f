// The numbers a new program takes on an interface: counter slots and set ids, against the
// running policy's record, so that a hot swap keeps counters and unchanged set tables.
#pragma once
#include <vector>

#include "pins.hpp"
#include "plan.hpp"

namespace weir::attach {

// Counter slots and set ids of the new program, from the running one's (`cur`, may be null).
// Kept rule names keep their slots; new rules take slots the running program does not use.
// Unchanged tables keep their ids (the running policy's, else its shadow candidate's); others
// get fresh ones (returned in `fill`).
void assign(Plan& plan, const pins::PolicyMeta* cur, pins::PolicyMeta& next, std::vector<int>& fill);

// The records of a plan's tables, in plan order, without ids: name, kind, ordinal, content hash.
std::vector<pins::SetRecord> set_records(const Plan& plan);
// The record in `in` of the same table as `r` (name, kind, ordinal and content hash), or null.
const pins::SetRecord* same_table(const std::vector<pins::SetRecord>& in, const pins::SetRecord& r);

}  // namespace weir::attach
