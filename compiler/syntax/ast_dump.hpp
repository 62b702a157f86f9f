// `weir compile --emit ast`: the syntax tree of one file as an indented S-expression, every node
// tagged with its kind and the line:column where it starts. Literals are shown with their
// lexical class as the parser assigned it ((int 22), (sym echo-request), (const ssh), ...).
// For people debugging the parser; the exact layout is not a stable interface.
#pragma once
#include <string>

#include "ast.hpp"
#include "source.hpp"

namespace weir {

std::string dump_ast(const SourceManager& sm, const ast::File& file);

}  // namespace weir
