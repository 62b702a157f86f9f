// Lint: warnings over a checked program. The reasoning about conditions (DNF, per-field value
// sets, implication) lives in condition_sets.*; the linter decides what to report and how. This
// file runs it and holds the set warnings; the other families are in lint_*.cpp.
#include "lint.hpp"

#include <algorithm>
#include <string>

#include "lint_internal.hpp"

namespace weir {

namespace lint_detail {

namespace {

const Expr* find_set_use(const Expr& e, int set) {
    if (e.kind == Expr::Kind::In && e.set == set) return &e;
    for (const auto& k : e.kids)
        if (const Expr* u = find_set_use(k, set)) return u;
    return nullptr;
}

}  // namespace

void Linter::lint_sets() {
    for (std::size_t k = 0; k < program_.sets.size(); ++k) {
        const SetDef& s = program_.sets[k];
        const int idx = static_cast<int>(k);
        const Expr* use = nullptr;
        bool listed = false;
        for (const auto& p : program_.policies) {
            listed = listed || std::find(p.sets.begin(), p.sets.end(), idx) != p.sets.end();
            for (const auto& r : p.rules)
                if (!use) use = find_set_use(r.cond, idx);
        }
        SourceRange at = s.name_range.valid() ? s.name_range : s.range;
        if (s.elems.empty()) {
            std::string msg = "set '" + s.name + "' is empty";
            msg += s.from_file
                       ? ": file \"" + s.file + "\" has no elements, so 'in @" + s.name + "' never matches"
                       : ": 'in @" + s.name + "' never matches";
            auto& d = diags_.warning("empty-set", at, std::move(msg));
            if (use) {
                std::string note = use->negated ? "used here: true for every packet that carries " +
                                                      std::string(field(use->field).name)
                                                : std::string("used here: never matches");
                d.notes.push_back({use->range, std::move(note)});
            }
            continue;
        }
        if (use || listed) continue;
        // Set libraries (files without policies) are meant to be included and partly used.
        bool file_has_policy = std::any_of(program_.policies.begin(), program_.policies.end(),
                                           [&](const Policy& p) { return p.range.file == s.range.file; });
        if (!file_has_policy) continue;
        diags_.warning("unused-set", at, "set '" + s.name + "' is not used by any policy");
    }
}

}  // namespace lint_detail

void lint(const Program& program, Diagnostics& diags, long comparisons, long case_splits) {
    lint_detail::Linter(program, nullptr, diags, comparisons, case_splits).run();
}

void lint(const Program& program, const SourceManager& sm, Diagnostics& diags, long comparisons,
          long case_splits) {
    lint_detail::Linter(program, &sm, diags, comparisons, case_splits).run();
}

}  // namespace weir
