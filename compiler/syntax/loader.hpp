// Loader, stage 1b: a root file -> the ASTs of it and of every file it includes, each parsed once
// (parser.hpp), with diagnostics.
#pragma once
#include <string>
#include <vector>

#include "ast.hpp"
#include "diagnostics.hpp"

namespace weir {

struct LoadOptions {
    std::vector<std::string> include_dirs;  // -I, searched after the including file's folder
    bool use_default_rules = true;          // then the source tree's and the installed rules/
};

// The bundled rules folders (the source tree's, the installed one).
std::vector<std::string> default_rules_dirs();

// The search path for `include "p"` written in `from_file`: its folder, -I dirs, rules dirs.
std::vector<std::string> include_search_path(const std::string& from_file, const LoadOptions& opts);

// Loads and parses `root` (already added to `sm`) and, depth first, every file it includes.
// Returns the parsed files, each once, included files before their includers (the root last).
// Missing or unreadable includes and include cycles are errors at the include statement
// (a cycle's note points at the include that closes it). Syntax errors come from parse().
std::vector<ast::File> load(SourceManager& sm, FileId root, const LoadOptions& opts, Diagnostics& diags);

}  // namespace weir
