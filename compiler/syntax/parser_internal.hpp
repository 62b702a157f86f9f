// The parser's private parts, shared by its three files: parser.cpp runs the PEGTL grammar
// (grammar.hpp) and records a light parse tree into State; parser_errors.cpp words a failed parse
// as one SyntaxError; parser_build.cpp converts the tree into ast::File.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "ast.hpp"

namespace weir::parse_detail {

struct Node {
    const std::type_info* type = nullptr;
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    std::vector<Node> kids;

    template <typename R>
    bool is() const {
        return *type == typeid(R);
    }
};

struct SyntaxError {
    std::string code;
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    std::string message;
    std::vector<std::pair<std::uint32_t, std::string>> notes;  // (offset of a 1-char range, text)
};

struct State {
    std::string_view text;
    std::vector<Node> stack;                       // open nodes; stack[0] holds the file's decls
    std::map<std::uint32_t, std::uint32_t> comments;  // begin -> end (deduplicated)
    std::vector<std::uint32_t> must_starts;        // start offsets of open must<> targets
    std::uint32_t failed_at = 0;                   // start of the must<> target that just failed
    int nesting = 0;                               // open '(' and `not` of the current condition

    template <typename Input>
    std::uint32_t offset(const Input& in) const {
        return static_cast<std::uint32_t>(in.current() - text.data());
    }
};

// The error for `rule`, a must<> target that failed (or a rule that raises when it matches)
// starting at `at`, worded from `message`, its entry in the error table (parser.cpp).
SyntaxError make_error(const State& st, std::uint32_t at, const std::type_info& rule, const char* message);
// Past kMaxNesting: the '(' or `not` at [begin, end) opens one level too many.
SyntaxError nesting_error(const State& st, std::uint32_t begin, std::uint32_t end);

// The parse tree held by st.stack[0], and st.comments, as the file `id`; consumes the tree.
ast::File build_file(State& st, FileId id);

}  // namespace weir::parse_detail
