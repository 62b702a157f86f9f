// Lookups over the checked program.
#include "policy.hpp"

namespace weir {

int Policy::rule_index(const std::string& n) const {
    for (std::size_t i = 0; i < rules.size(); ++i)
        if (rules[i].name == n) return static_cast<int>(i);
    return -1;
}

int Program::find_policy(const std::string& name) const {
    for (std::size_t i = 0; i < policies.size(); ++i)
        if (policies[i].name == name) return static_cast<int>(i);
    return -1;
}

int Program::find_set(const std::string& name) const {
    for (std::size_t i = 0; i < sets.size(); ++i)
        if (sets[i].name == name) return static_cast<int>(i);
    return -1;
}

}  // namespace weir
