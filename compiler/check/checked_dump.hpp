// Canonical text of a checked program (`weir compile --emit checked`); equal programs print equal
// text, whatever the source spelling or layout. Used by the fmt round-trip tests.
#pragma once
#include <string>

#include "policy.hpp"

namespace weir {

std::string dump(const Program& program);
std::string dump(const Program& program, const Expr& e);
// One alert as one canonical `alert` statement (threshold per second in packets or bytes,
// `for` always written).
std::string alert_text(const Program& program, const Alert& a);

}  // namespace weir
