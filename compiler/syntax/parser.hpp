// Parser, stage 1: the source text of one file -> its AST (ast.hpp), syntax errors as diagnostics.
// The grammar (grammar.hpp, PEGTL) is private to the parser's files (parser*.cpp).
#pragma once
#include <optional>

#include "ast.hpp"
#include "diagnostics.hpp"

namespace weir {

// The deepest a condition may nest: parentheses and `not`s together, counted from the rule's
// condition. The parser and every later pass recurse once (or a few times) per level; 256 stays
// far below what overflows an 8 MiB stack (about 8,000 levels; 3,000 under ASan) and a 1 MiB
// thread stack (docs/language.md, "Limits"). Deeper input is the error `nesting-too-deep`.
inline constexpr int kMaxNesting = 256;

// Parses the file `id`. On a syntax error adds one diagnostic (code "syntax", saying what was
// expected at that point; "nesting-too-deep" past kMaxNesting) and returns nullopt. Comments
// are collected into File::comments.
std::optional<ast::File> parse(const SourceManager& sm, FileId id, Diagnostics& diags);

}  // namespace weir
