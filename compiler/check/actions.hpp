// XDP actions (WEIR_ACT_* in weir_abi.h) and the language's verdicts: the one mapping between
// them, used by the planner's output, the self-test, `weir test`, and the counters.
#pragma once
#include <cstdint>
#include <optional>

#include "policy.hpp"
#include "weir_abi.h"

namespace weir {

// The actions a program returns, in the order reports list them.
inline constexpr std::uint32_t kReportedActions[] = {WEIR_ACT_PASS, WEIR_ACT_DROP, WEIR_ACT_TX, WEIR_ACT_REDIRECT,
                                                     WEIR_ACT_ABORTED};

// The verdict an action carries out; nullopt for XDP_ABORTED and unknown values.
inline std::optional<Verdict> verdict_of_action(std::uint32_t action) {
    switch (action) {
        case WEIR_ACT_PASS: return Verdict::Pass;
        case WEIR_ACT_DROP: return Verdict::Drop;
        case WEIR_ACT_REDIRECT: return Verdict::Redirect;
        case WEIR_ACT_TX: return Verdict::Tx;
    }
    return std::nullopt;
}

inline std::uint32_t action_of_verdict(Verdict v) {
    switch (v) {
        case Verdict::Pass: return WEIR_ACT_PASS;
        case Verdict::Drop: return WEIR_ACT_DROP;
        case Verdict::Redirect: return WEIR_ACT_REDIRECT;
        case Verdict::Tx: return WEIR_ACT_TX;
    }
    return WEIR_ACT_ABORTED;
}

// "pass", "drop", "tx", "redirect", "aborted"; "unknown" for other values.
inline const char* action_name(std::uint32_t action) {
    if (action == WEIR_ACT_ABORTED) return "aborted";
    if (auto v = verdict_of_action(action)) return verdict_name(*v);
    return "unknown";
}

}  // namespace weir
