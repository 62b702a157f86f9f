// Checker, stage 2: the ASTs of a compilation -> the checked program (policy.hpp), errors as
// diagnostics. Resolves names (fields, consts, sets, rules), converts and type-checks values,
// reads set files, checks test blocks. Reports every error it finds (it does not stop at the
// first one).
#pragma once
#include <vector>

#include "ast.hpp"
#include "diagnostics.hpp"
#include "policy.hpp"

namespace weir {

// `files` as returned by load(): included files first, the root last. Set files named by
// `set x : t = file "p"` are read relative to the declaring file and added to `sm`, so
// element errors point into them. The result is meaningful only if no error was added.
Program check(SourceManager& sm, const std::vector<ast::File>& files, Diagnostics& diags);
// The same, consuming the syntax trees: each rule's condition is freed once checked and the
// files are gone afterwards, so a large policy's peak memory is one form of it, not both.
Program check(SourceManager& sm, std::vector<ast::File>&& files, Diagnostics& diags);

}  // namespace weir
