// The decision a plan makes, walked the way the generated program walks it: rules decided by a
// classifier group through its trees (cls_classify), the other rules in order through the
// interpreter. The oracle comparisons of the classifier (tests/unit/test_classifier.cpp,
// tests/fuzz/fuzz_plan.cpp) check it against the interpreter alone.
#pragma once
#include <cstdint>
#include <span>

#include "classifier.hpp"
#include "interp.hpp"
#include "plan.hpp"

namespace weir::test {

// The deciding rule's index in the policy; -1: the default. `iface` is "lo".
inline int plan_decides(const Plan& plan, const Program& prog, const weir_pkt& pkt,
                        std::span<const std::uint8_t> frame) {
    for (const PlannedRule& pr : plan.rules) {
        if (pr.group >= 0) {
            const ClsGroup& g = plan.groups[static_cast<std::size_t>(pr.group)];
            if (&pr != &plan.rules[g.first]) continue;
            if (auto r = cls_classify(g, plan.cls, pkt)) return plan.rules[*r].rule;
            continue;
        }
        if (!pr.terminal) continue;
        if (matches(prog, pr.src->cond, pkt, frame, "lo")) return pr.rule;
    }
    return -1;
}

}  // namespace weir::test
