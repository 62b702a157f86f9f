// Stage 2b: warnings over a checked program (shadowed rules, unreachable rules, contradictions,
// empty sets). Every warning carries a note pointing at the other location involved.
#pragma once
#include "diagnostics.hpp"
#include "policy.hpp"

namespace weir {

void lint(const Program& program, Diagnostics& diags);
// The same, with "(line N)" in messages that name another rule (the note points there too).
void lint(const Program& program, const SourceManager& sm, Diagnostics& diags);

}  // namespace weir
