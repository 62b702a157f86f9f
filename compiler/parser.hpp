// Stage 1: text -> AST. The grammar (grammar.hpp, PEGTL) is private to parser.cpp.
#pragma once
#include <optional>

#include "ast.hpp"
#include "diagnostics.hpp"

namespace weir {

// Parses the file `id`. On a syntax error adds one diagnostic (code "syntax", saying what was
// expected at that point) and returns nullopt. Comments are collected into File::comments.
std::optional<ast::File> parse(const SourceManager& sm, FileId id, Diagnostics& diags);

}  // namespace weir
