// The formatter's private parts, shared by its three files: fmt_spell.cpp spells leaves and
// turns conditions into pieces, fmt_layout.cpp lays declarations out into lines, fmt.cpp places
// the comments and blank lines and writes the text.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ast.hpp"
#include "source.hpp"

namespace weir::fmt_detail {

inline constexpr std::size_t kWidth = 100;  // wider lines break (conditions, packet options, sets)
inline constexpr int kIndent = 4;

bool blank(std::string_view s);
std::string_view trim_right(std::string_view s);

// Spells leaves. Strings keep their source spelling (escapes as the author wrote them, e.g.
// "\x0d\x0a") when it still says exactly what the AST says; otherwise they are re-quoted.
class Speller {
public:
    explicit Speller(const SourceManager& sm) : sm_(sm) {}

    std::string value(const ast::Value& v) const;
    std::string item(const ast::Item& it) const;
    std::string set_inline(const std::vector<ast::Item>& items) const;
    std::string action(const ast::Action& a) const;

    // IPv6 endpoints are always bracketed: `[::1]`, `[2001:db8::1]:53`.
    std::string endpoint(const ast::Endpoint& e) const;

private:
    const SourceManager& sm_;
};

// Pieces: a construct's text before it is broken into lines. A set piece may become one line per
// element; a break is a space that becomes a new line when the construct is too wide.

struct SetPiece {
    const std::vector<ast::Item>* items = nullptr;
    SourceRange range;  // where comments inside it are looked for
};

struct Piece {
    std::string text;
    std::optional<SetPiece> set;
    bool brk = false;
    // brk: where the source of what precedes it ends and of what follows it begins. Comments in
    // between go above the next line if on their own line, else at the end of the previous one.
    std::uint32_t prev = 0, src = 0;
};

struct Pieces {
    std::vector<Piece> list;
    void text(std::string_view s) {
        if (list.empty() || list.back().set || list.back().brk) list.emplace_back();
        list.back().text += s;
    }
    void set(const std::vector<ast::Item>& items, SourceRange r) {
        list.push_back(Piece{{}, SetPiece{&items, r}, false, 0, 0});
    }
    void brk(std::uint32_t prev, std::uint32_t src) {
        list.push_back(Piece{{}, std::nullopt, true, prev, src});
    }
};

// Expression context: where the expression appears, for deciding parentheses.
enum class Ctx { Top, Or, And, Not };

void put_expr(const Speller& sp, const ast::Expr& e, Pieces& out, Ctx ctx);

// ---------------------------------------------------------------------------------------------
// Lines

struct Line {
    int indent = 0;
    std::string text;
    std::uint32_t src_begin = 0, src_end = 0;  // the source bytes this line stands for
    int comment_indent = 0;     // indentation of comments placed above this line
    bool force_blank = false;   // a blank line above (and above its comments): decl separation
    bool keep_blank = false;    // a blank line the source had above it is kept
    bool opens_block = false;   // ends with `{`: never a blank line right after it
    bool closes_block = false;  // starts with `}`: never a blank line right before it
    // One-line const (1) or set (2) declaration: its name, at `name_at`, is padded to line up
    // with its neighbours' (decided once blank lines are known).
    int align_kind = 0;
    std::size_t name_at = 0, name_len = 0;
};

class Formatter {
public:
    Formatter(const SourceManager& sm, const ast::File& f) : sm_(sm), file_(f), sp_(sm) {}
    std::string run();

private:
    // Layout
    void decl(const ast::Include& d);
    void decl(const ast::Const& d);
    void decl(const ast::SetDecl& d);
    void decl(const ast::Policy& d);
    void decl(const ast::Test& d);
    void decl(const ast::Alert& d);
    void named_decl(const Pieces& ps, SourceRange range, const ast::Name& name, int align_kind,
                    std::size_t name_at);
    void emit(int indent, int cont, const Pieces& ps, std::uint32_t begin, std::uint32_t end,
              bool keep_blank);
    void emit_line(int indent, const std::vector<const Piece*>& ps, std::uint32_t begin,
                   std::uint32_t end, bool keep_blank, bool too_wide);
    std::size_t width(const Piece& p) const;
    bool wraps(const Pieces& ps) const;
    Line& simple(int indent, std::string text, std::uint32_t begin, std::uint32_t end, bool keep_blank);
    Line& closer(int inner_indent, std::uint32_t end);

    // Source positions
    bool comment_inside(SourceRange r) const;
    bool blank_above(std::uint32_t offset) const;
    std::uint32_t prev_end() const { return lines_.empty() ? 0 : lines_.back().src_end; }

    // Output
    std::string render();

    const SourceManager& sm_;
    const ast::File& file_;
    Speller sp_;
    std::vector<Line> lines_;
};

}  // namespace weir::fmt_detail
