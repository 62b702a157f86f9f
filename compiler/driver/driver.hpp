// Driver: a root file or text -> a Compilation (sources, ASTs, checked program, diagnostics), in
// one call: parser and loader -> checker (sema) -> linter -> capacity checks. The API
// (runtime/api/), the fuzz target and the tests go through here; artifact.hpp builds on it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ast.hpp"
#include "diagnostics.hpp"
#include "lint.hpp"
#include "loader.hpp"
#include "policy.hpp"

namespace weir {

struct CheckOptions {
    LoadOptions load;
    // Non-empty: every file read (the root, includes, set files) must lie inside one of these
    // folders, symlinks resolved; the bundled rules folders are added when load uses them.
    std::vector<std::string> allowed_dirs;
    bool lint = true;
    bool werror = false;  // warnings become errors
    // Keep the syntax trees (Compilation::files) after checking. Compiling and loading need only
    // the checked program: dropping the trees halves the memory a large policy takes.
    bool keep_ast = true;
    // Earlier rules lint's shadow analysis may look at per policy (lint.hpp); `weir load` uses
    // a tenth of `weir check`'s, so a swap of a 10,000-rule policy does not wait a second for it.
    long lint_comparisons = kLintComparisons;
};

struct Compilation {
    SourceManager sources;
    Diagnostics diags;
    std::vector<ast::File> files;  // included first, root last (empty unless CheckOptions::keep_ast)
    Program program;               // meaningful when ok()
    bool io_error = false;         // the root file could not be read (CLI exit 2)
    bool ok() const { return !io_error && !diags.has_errors(); }
};

// Reads `path` and everything it includes. Diagnostics are sorted by file and position.
std::unique_ptr<Compilation> compile_file(const std::string& path, const CheckOptions& opts);
// Same for in-memory text; includes are resolved relative to `display_path`'s folder.
std::unique_ptr<Compilation> compile_source(const std::string& display_path, std::string text,
                                            const CheckOptions& opts);

}  // namespace weir
