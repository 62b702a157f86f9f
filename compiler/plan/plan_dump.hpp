// `weir compile --emit plan`: a plan (plan.hpp) -> readable text: the strategy, the classifier
// groups and tables with their sizes, and each rule's form. For people; not a stable interface.
#pragma once
#include <string>

#include "plan.hpp"

namespace weir {

std::string dump_plan(const Plan& plan);

}  // namespace weir
