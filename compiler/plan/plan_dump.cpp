#include "plan_dump.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "weir_abi.h"

namespace weir {

std::string dump_plan(const Plan& plan) {
    const Policy& pol = plan.pol();
    std::string out = fmt::format("policy {}: strategy {}, {} rule{}, default {}\n", pol.name,
                                  plan.strategy == Strategy::Classifier ? "classifier" : "linear",
                                  pol.rules.size(), pol.rules.size() == 1 ? "" : "s",
                                  plan.default_action == WEIR_ACT_DROP ? "drop" : "pass");
    if (!plan.groups.empty()) {
        out += "classifier groups (decision trees in maps):\n";
        for (std::size_t i = 0; i < plan.groups.size(); ++i) {
            const ClsGroup& g = plan.groups[i];
            std::string dims;
            for (const auto& d : g.dims) dims += (dims.empty() ? "" : ", ") + std::string(field(d.canon).name);
            out += fmt::format("  [{}] rules {}-{} ({} rules, {} boxes) on {}\n", i, plan.rules[g.first].rule,
                               plan.rules[g.first + g.count - 1].rule, g.count, g.boxes, dims);
            for (const auto& t : g.trees)
                out += fmt::format("      tree on {}: {} boxes, depth {}, leaves of at most {} boxes, {} node "
                                   "entries, {} leaves\n",
                                   field(g.dims[t.dim].canon).name, t.boxes, t.depth, t.max_leaf, t.nodes, t.leaves);
        }
    }
    if (!plan.tables.empty()) {
        out += "tables:\n";
        for (std::size_t i = 0; i < plan.tables.size(); ++i) {
            const auto& t = plan.tables[i];
            out += fmt::format("  [{}] {} set {} '{}': {} prefix{}\n", i, table_kind_name(t.kind), t.id, t.name,
                               t.prefixes.size(), t.prefixes.size() == 1 ? "" : "es");
        }
    }
    out += "rules:\n";
    for (const auto& r : plan.rules) {
        // Lookups of this rule (expressions inside the rule's range), in source order.
        std::vector<std::pair<std::uint32_t, const InPlan*>> mine;
        for (const auto& [expr, ip] : plan.lookups) {
            const SourceRange& er = expr->range;
            const SourceRange& rr = r.src->range;
            if (er.file == rr.file && er.begin >= rr.begin && er.end <= rr.end) mine.emplace_back(er.begin, &ip);
        }
        std::sort(mine.begin(), mine.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        std::string lookups;
        for (const auto& m : mine)
            for (int t : {m.second->v4_table, m.second->v6_table, m.second->table})
                if (t >= 0) lookups += fmt::format(" [{}]", t);
        if (r.group >= 0) {
            const ClsGroup& g = plan.groups[static_cast<std::size_t>(r.group)];
            if (&r == &plan.rules[g.first] || g.count <= 8 || &r == &plan.rules[g.first + g.count - 1])
                out += fmt::format("  {} {}: classifier [{}]\n", r.rule, r.src->name, r.group);
            else if (&r == &plan.rules[g.first + 1])
                out += fmt::format("  ... {} more rules in classifier [{}]\n", g.count - 2, r.group);
            continue;
        }
        out += fmt::format("  {} {}: {}{}{}\n", r.rule, r.src->name,
                           r.terminal ? "" : "count, ", r.src->has_cond ? "condition" : "always",
                           lookups.empty() ? "" : ", lookups" + lookups);
    }
    return out;
}

}  // namespace weir
