// Formatter (`weir fmt`): the AST of one file (ast.hpp) -> its text in canonical layout, keeping
// every comment.
// format(parse(format(x))) == format(x), and the result checks to the same program.
#pragma once
#include <string>

#include "ast.hpp"
#include "source.hpp"

namespace weir {

std::string format(const SourceManager& sm, const ast::File& file);

}  // namespace weir
