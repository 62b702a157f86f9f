// `weir fmt`. Two steps: the AST is laid out into output lines, each remembering the source bytes
// it stands for; then every comment is attached to a line (above it, or trailing it) by its source
// position, and blank lines are decided. Layout rules for users: docs/fmt-style.md.
#include "fmt.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

namespace weir {
namespace {

constexpr std::size_t kWidth = 100;  // wider lines break (conditions, packet options, sets)
constexpr int kIndent = 4;

// ---------------------------------------------------------------------------------------------
// Spelling of leaves

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool blank(std::string_view s) {
    return std::all_of(s.begin(), s.end(), is_space);
}

std::string_view trim_right(std::string_view s) {
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// Length of the valid UTF-8 sequence at s[i], 0 if it is not one.
std::size_t utf8_len(std::string_view s, std::size_t i) {
    auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k)
        if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
    return n;
}

std::string quote(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') {
            out += "\\\"";
        } else if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c >= 0x80) {
            if (std::size_t n = utf8_len(s, i)) {  // valid UTF-8 stays readable
                out.append(s.substr(i, n));
                i += n - 1;
            } else {
                out += "\\x";
                out += kHex[c >> 4];
                out += kHex[c & 15];
            }
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

// The content of a string literal's source spelling `"..."`, unescaped; nullopt if malformed.
std::optional<std::string> unescape(std::string_view spelled) {
    if (spelled.size() < 2 || spelled.front() != '"' || spelled.back() != '"') return std::nullopt;
    std::string out;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 1; i + 1 < spelled.size(); ++i) {
        char c = spelled[i];
        if (c != '\\') {
            out += c;
            continue;
        }
        if (i + 2 >= spelled.size()) return std::nullopt;
        char e = spelled[++i];
        if (e == 'n') {
            out += '\n';
        } else if (e == 't') {
            out += '\t';
        } else if (e == '"' || e == '\\') {
            out += e;
        } else if (e == 'x' && i + 3 < spelled.size() && hex(spelled[i + 1]) >= 0 && hex(spelled[i + 2]) >= 0) {
            out += static_cast<char>(hex(spelled[i + 1]) * 16 + hex(spelled[i + 2]));
            i += 2;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

// Spells leaves. Strings keep their source spelling (escapes as the author wrote them, e.g.
// "\x0d\x0a") when it still says exactly what the AST says; otherwise they are re-quoted.
class Speller {
public:
    explicit Speller(const SourceManager& sm) : sm_(sm) {}

    std::string value(const ast::Value& v) const {
        switch (v.kind) {
        case ast::Value::Kind::Const: return "$" + v.text;
        case ast::Value::Kind::String: {
            std::string_view spelled = v.range.valid() ? sm_.text(v.range) : std::string_view{};
            if (auto u = unescape(spelled); u && *u == v.text) return std::string(spelled);
            return quote(v.text);
        }
        case ast::Value::Kind::Bytes: return "0x" + v.text;
        default: return v.text;
        }
    }

    std::string item(const ast::Item& it) const {
        std::string s = value(it.lo);
        if (!it.hi) return s;
        // A name may contain '-': `$lo-10` would read as one name, so name bounds get spaces.
        bool named = it.lo.kind == ast::Value::Kind::Const || it.lo.kind == ast::Value::Kind::Symbol;
        return s + (named ? " - " : "-") + value(*it.hi);
    }

    std::string set_inline(const std::vector<ast::Item>& items) const {
        if (items.empty()) return "{}";
        std::string s = "{ ";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i) s += ", ";
            s += item(items[i]);
        }
        return s + " }";
    }

    std::string action(const ast::Action& a) const {
        switch (a.kind) {
        case ast::Action::Kind::Pass: return "pass";
        case ast::Action::Kind::Drop: return "drop";
        case ast::Action::Kind::Tx: return "tx";
        case ast::Action::Kind::Count: return "count";
        case ast::Action::Kind::Redirect: return "redirect " + value(a.target);
        case ast::Action::Kind::Log: {
            std::string s = "log";  // options in canonical order: sample, then snap
            for (const auto& o : a.log_sample) s += " sample " + value(o.num) + "/" + value(o.value);
            for (const auto& o : a.log_snap) s += " snap " + value(o.value);
            return s;
        }
        }
        return "pass";
    }

    // IPv6 endpoints are always bracketed: `[::1]`, `[2001:db8::1]:53`.
    std::string endpoint(const ast::Endpoint& e) const {
        std::string s = e.addr.kind == ast::Value::Kind::Ipv6 ? "[" + e.addr.text + "]" : value(e.addr);
        return e.port ? s + ":" + value(*e.port) : s;
    }

private:
    const SourceManager& sm_;
};


// ---------------------------------------------------------------------------------------------
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

void put_expr(const Speller& sp, const ast::Expr& e, Pieces& out, Ctx ctx) {
    using K = ast::Expr::Kind;
    bool paren = (e.kind == K::Or && ctx != Ctx::Top) ||
                 (e.kind == K::And && (ctx == Ctx::And || ctx == Ctx::Not));
    if (paren) out.text("(");
    switch (e.kind) {
    case K::Or:
    case K::And:
        for (std::size_t i = 0; i < e.kids.size(); ++i) {
            if (i) {
                // Long conditions break before the operators of their outermost and/or.
                if (ctx == Ctx::Top)
                    out.brk(e.kids[i - 1].range.end, e.kids[i].range.begin);
                else
                    out.text(" ");
                out.text(e.kind == K::Or ? "or " : "and ");
            }
            put_expr(sp, e.kids[i], out, e.kind == K::Or ? Ctx::Or : Ctx::And);
        }
        break;
    case K::Not:
        out.text("not ");
        if (!e.kids.empty()) put_expr(sp, e.kids[0], out, Ctx::Not);
        break;
    case K::Compare:
        out.text(e.field.text + " ");
        out.text(cmp_text(e.op));
        out.text(" " + sp.item(e.rhs));
        break;
    case K::In:
    case K::NotIn:
        out.text(e.field.text);
        out.text(e.kind == K::In ? " in " : " not in ");
        switch (e.set->kind) {
        case ast::SetRef::Kind::Inline: out.set(e.set->items, e.set->range); break;
        case ast::SetRef::Kind::Const: out.text("$" + e.set->name.text); break;
        case ast::SetRef::Kind::Named: out.text("@" + e.set->name.text); break;
        }
        break;
    case K::Test: out.text(e.field.text); break;
    case K::Payload:
        out.text("payload[" + sp.value(e.payload->offset) + ":" + sp.value(e.payload->length) + "] ");
        out.text(cmp_text(e.op));
        out.text(" " + sp.value(e.payload->bytes));
        break;
    case K::Over: {
        const ast::Limit& l = *e.limit;
        out.text("over " + l.rate.text);
        if (l.burst) out.text(" burst " + l.burst->text);
        if (!l.key.empty()) {
            std::string key;
            for (std::size_t i = 0; i < l.key.size(); ++i) key += (i ? ", " : "") + l.key[i].text;
            out.text(" per " + (l.tuple ? "(" + key + ")" : key));
        }
        if (l.size) out.text(" size " + l.size->text);
        break;
    }
    }
    if (paren) out.text(")");
}

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

bool Formatter::comment_inside(SourceRange r) const {
    if (!r.valid()) return false;
    for (const auto& c : file_.comments)
        if (c.range.begin > r.begin && c.range.begin < r.end) return true;
    return false;
}

// True if the token at `offset` is the first on its source line and the line above is blank.
bool Formatter::blank_above(std::uint32_t offset) const {
    if (file_.id == kNoFile) return false;
    LineCol lc = sm_.line_col(file_.id, offset);
    if (lc.line <= 1) return false;
    std::string_view here = sm_.line_text(file_.id, lc.line);
    if (!blank(here.substr(0, std::min<std::size_t>(lc.col - 1, here.size())))) return false;
    return blank(sm_.line_text(file_.id, lc.line - 1));
}

std::size_t Formatter::width(const Piece& p) const {
    if (p.brk) return 1;
    return p.set ? sp_.set_inline(*p.set->items).size() : p.text.size();
}

// Whether a one-line construct (no breaks) at indentation 0 would be written over several lines.
bool Formatter::wraps(const Pieces& ps) const {
    std::size_t w = 0;
    for (const auto& p : ps.list) {
        w += width(p);
        if (p.set && comment_inside(p.set->range)) return true;
    }
    return w > kWidth;
}

// Lays out a construct: on one line if it fits in kWidth columns; otherwise its breaks are filled
// greedily, continuation lines at `cont`. A set goes one element per line if it holds a comment,
// or if the line holding it is still too wide.
void Formatter::emit(int indent, int cont, const Pieces& ps, std::uint32_t begin, std::uint32_t end,
                     bool keep_blank) {
    struct Segment {
        std::vector<const Piece*> pieces;
        std::uint32_t prev = 0, src = 0;  // of the break before it
        std::size_t width = 0;
    };
    std::vector<Segment> segs(1);
    segs[0].src = begin;
    for (const auto& p : ps.list) {
        if (p.brk) {
            segs.push_back(Segment{{}, p.prev, p.src, 0});
            continue;
        }
        segs.back().pieces.push_back(&p);
        segs.back().width += width(p);
    }
    std::size_t total = indent + segs.size() - 1;
    for (const auto& s : segs) total += s.width;

    // Greedy fill. A line whose sets go one element per line ends with their closing `}`: later
    // segments without sets may still join that last line if they fit.
    auto wrapping = [&](const Segment& s, bool too_wide) {
        const Piece* last = nullptr;
        for (const Piece* p : s.pieces)
            if (p->set && (too_wide || comment_inside(p->set->range))) last = p;
        return last;
    };
    auto tail = [&](const Segment& s, const Piece* last) {  // width of `}` and what follows it
        std::size_t w = 1;
        bool after = false;
        for (const Piece* p : s.pieces) {
            if (after) w += width(*p);
            if (p == last) after = true;
        }
        return w;
    };
    auto has_set = [](const Segment& s) {
        return std::any_of(s.pieces.begin(), s.pieces.end(), [](const Piece* p) { return p->set.has_value(); });
    };
    std::vector<std::size_t> starts{0};  // first segment of each output line
    std::vector<bool> wide{false};       // its first segment alone is too wide: its sets wrap
    if (total > kWidth) {
        auto open_line = [&](std::size_t i, int at, std::size_t& w, bool& wrapped) {
            w = at + segs[i].width;
            wide.back() = w > kWidth;
            const Piece* last = wrapping(segs[i], wide.back());
            wrapped = last != nullptr;
            if (wrapped) w = at + tail(segs[i], last);
        };
        std::size_t w = 0;
        bool wrapped = false;
        open_line(0, indent, w, wrapped);
        for (std::size_t i = 1; i < segs.size(); ++i) {
            bool joins = w + 1 + segs[i].width <= kWidth && !(wrapped && has_set(segs[i])) &&
                         (wrapped || !wrapping(segs[i], false));
            if (joins) {
                w += 1 + segs[i].width;
            } else {
                starts.push_back(i);
                wide.push_back(false);
                open_line(i, cont, w, wrapped);
            }
        }
    }
    static const Piece space{" ", std::nullopt, false, 0, 0};
    for (std::size_t k = 0; k < starts.size(); ++k) {
        std::size_t from = starts[k], to = k + 1 < starts.size() ? starts[k + 1] : segs.size();
        std::vector<const Piece*> line;
        for (std::size_t i = from; i < to; ++i) {
            if (i > from) line.push_back(&space);
            line.insert(line.end(), segs[i].pieces.begin(), segs[i].pieces.end());
        }
        std::uint32_t line_end = to < segs.size() ? segs[to].prev : end;
        emit_line(k == 0 ? indent : cont, line, segs[from].src, line_end, k == 0 && keep_blank,
                  wide[k]);
    }
}

// One line of a construct, and the element lines of the sets on it that are written one element
// per line: all of them if `too_wide`, else those holding a comment.
void Formatter::emit_line(int indent, const std::vector<const Piece*>& ps, std::uint32_t begin,
                          std::uint32_t end, bool keep_blank, bool too_wide) {

    Line cur;
    cur.indent = cur.comment_indent = indent;
    cur.src_begin = std::max(prev_end(), begin);
    cur.keep_blank = keep_blank;
    for (const Piece* p : ps) {
        if (!p->set) {
            cur.text += p->text;
            continue;
        }
        const auto& items = *p->set->items;
        if (!too_wide && !comment_inside(p->set->range)) {
            cur.text += sp_.set_inline(items);
            continue;
        }
        cur.text += "{";
        cur.opens_block = true;
        // Comments after the start of the set's range go inside it (they made it open).
        cur.src_end = std::max(cur.src_begin, p->set->range.begin + 1);
        lines_.push_back(std::move(cur));
        for (const auto& it : items) {
            Line l;
            l.indent = l.comment_indent = indent + kIndent;
            l.text = sp_.item(it) + ",";
            l.src_begin = std::max(prev_end(), it.range.begin);
            l.src_end = std::max(l.src_begin, it.range.end);
            l.keep_blank = true;
            lines_.push_back(std::move(l));
        }
        cur = Line{};
        cur.indent = indent;
        cur.comment_indent = indent + kIndent;
        cur.text = "}";
        cur.closes_block = true;
        std::uint32_t close = p->set->range.end > 0 ? p->set->range.end - 1 : 0;
        cur.src_begin = std::max(prev_end(), close);
    }
    cur.src_end = std::max(cur.src_begin, end);
    lines_.push_back(std::move(cur));
}

Line& Formatter::simple(int indent, std::string text, std::uint32_t begin, std::uint32_t end,
                        bool keep_blank) {
    Line l;
    l.indent = l.comment_indent = indent;
    l.text = std::move(text);
    l.src_begin = std::max(prev_end(), begin);
    l.src_end = std::max(l.src_begin, end);
    l.keep_blank = keep_blank;
    lines_.push_back(std::move(l));
    return lines_.back();
}

Line& Formatter::closer(int inner_indent, std::uint32_t end) {
    Line l;
    l.indent = inner_indent - kIndent;
    l.comment_indent = inner_indent;
    l.text = "}";
    l.closes_block = true;
    l.src_begin = std::max(prev_end(), end > 0 ? end - 1 : 0);
    l.src_end = std::max(l.src_begin, end);
    lines_.push_back(std::move(l));
    return lines_.back();
}

std::string padded(const std::string& name, std::size_t width) {
    return name + std::string(width > name.size() ? width - name.size() : 0, ' ');
}

SourceRange const_set_range(const ast::Const& c) {
    return c.set.range.valid() ? c.set.range : SourceRange{c.range.file, c.name.range.end, c.range.end};
}

Pieces const_pieces(const Speller& sp, const ast::Const& d) {
    Pieces ps;
    ps.text("const " + d.name.text + " = ");
    if (d.is_set)
        ps.set(d.set.items, const_set_range(d));
    else
        ps.text(sp.item(d.value));
    return ps;
}

Pieces set_pieces(const Speller& sp, const ast::SetDecl& d) {
    Pieces ps;
    ps.text("set " + d.name.text + " : " + d.type.text + " = ");
    if (d.from_file)
        ps.text("file " + sp.value(d.file));
    else
        ps.set(d.items, SourceRange{d.range.file, d.name.range.end, d.range.end});
    return ps;
}

void Formatter::decl(const ast::Include& d) {
    simple(0, "include " + sp_.value(d.path), d.range.begin, d.range.end, true);
}

void Formatter::decl(const ast::Const& d) {
    std::size_t first = lines_.size();
    emit(0, kIndent, const_pieces(sp_, d), d.range.begin, d.range.end, true);
    if (lines_.size() == first + 1) {
        lines_[first].align_kind = 1;
        lines_[first].name_at = 6;
        lines_[first].name_len = d.name.text.size();
    }
}

void Formatter::decl(const ast::SetDecl& d) {
    std::size_t first = lines_.size();
    emit(0, kIndent, set_pieces(sp_, d), d.range.begin, d.range.end, true);
    if (lines_.size() == first + 1) {
        lines_[first].align_kind = 2;
        lines_[first].name_at = 4;
        lines_[first].name_len = d.name.text.size();
    }
}

void Formatter::decl(const ast::Policy& d) {
    Line& head = simple(0, "policy " + d.name.text + " default " + d.default_verdict.text + " {",
                        d.range.begin, d.default_verdict.range.end, true);
    head.opens_block = true;
    std::size_t name_width = 0;
    for (const auto& r : d.rules) name_width = std::max(name_width, r.name.text.size() + 1);
    for (const auto& r : d.rules) {
        Pieces ps;
        std::string head_text = padded(r.name.text + ":", name_width) + " " + sp_.action(r.action);
        if (r.cond) head_text += " if ";
        ps.text(head_text);
        if (r.cond) put_expr(sp_, *r.cond, ps, Ctx::Top);
        // Continuation lines of a condition start under its first operand.
        int cont = kIndent + static_cast<int>(head_text.size());
        emit(kIndent, cont, ps, r.range.begin, r.range.end, true);
    }
    closer(kIndent, d.range.end);
}

void Formatter::decl(const ast::Test& d) {
    std::string head = "test " + sp_.value(d.name);
    std::uint32_t head_end = d.name.range.end;
    if (d.policy) {
        head += " policy " + d.policy->text;
        head_end = d.policy->range.end;
    }
    simple(0, head + " {", d.range.begin, head_end, true).opens_block = true;
    for (const auto& p : d.probes) {
        const auto& pk = p.packet;
        Pieces ps;
        ps.text("packet " + pk.proto.text);
        if (pk.proto.text == "hex") {
            ps.text(" " + sp_.value(pk.hex));
        } else {
            if (pk.src) ps.text(" " + sp_.endpoint(*pk.src));
            ps.text(" ->");
            if (pk.dst) ps.text(" " + sp_.endpoint(*pk.dst));
        }
        std::uint32_t prev = pk.proto.text == "hex" ? pk.hex.range.end
                             : pk.dst                  ? pk.dst->range.end
                                                       : pk.proto.range.end;
        for (const auto& o : pk.opts) {
            ps.brk(prev, o.range.begin);  // long packet lines break before an option
            prev = o.range.end;
            std::string s = o.key.text + " ";
            for (std::size_t i = 0; i < o.values.size(); ++i) {
                if (i) s += ", ";
                s += sp_.value(o.values[i]);
            }
            ps.text(s);
        }
        emit(kIndent, 2 * kIndent, ps, pk.range.begin, pk.range.end, true);
        std::string e = "expect " + p.expect.verdict.text;
        if (p.expect.by) e += " by " + p.expect.by->text;
        simple(kIndent, std::move(e), p.expect.range.begin, p.expect.range.end, false);
    }
    closer(kIndent, d.range.end);
}

// One line; a long one breaks before `for`, `severity` and the message.
void Formatter::decl(const ast::Alert& d) {
    Pieces ps;
    std::string head = "alert " + d.name.text;
    if (d.policy) head += " on " + d.policy->text;
    head += " when rate(" + std::string(d.verdict ? "verdict " : "") + d.source.text;
    if (d.unit) head += ", " + d.unit->text;
    head += std::string(") ") + ast::cmp_text(d.op) + " " + d.threshold.text + d.threshold_unit + "/s";
    ps.text(head);
    std::uint32_t prev = d.threshold_range.end;
    if (d.duration) {
        ps.brk(prev, d.duration->range.begin);
        ps.text("for " + d.duration->text);
        prev = d.duration->range.end;
    }
    ps.brk(prev, d.severity.range.begin);
    ps.text("severity " + d.severity.text);
    ps.brk(d.severity.range.end, d.message.range.begin);
    ps.text(sp_.value(d.message));
    emit(0, kIndent, ps, d.range.begin, d.range.end, true);
}

// ---------------------------------------------------------------------------------------------
// Comments and blank lines

std::string Formatter::render() {
    const std::size_t n = lines_.size();
    // Each comment goes above a line (position 2*i) or trails it (2*i + 1); position 2*n is the
    // end of the file. Positions never decrease, so comments keep their order.
    std::vector<std::vector<const ast::Comment*>> above(n + 1), trail(n + 1);
    std::size_t last = 0;
    for (const auto& c : file_.comments) {
        std::size_t pos;
        // Lines' source ranges are ordered and do not overlap.
        if (c.own_line) {  // above the first line that ends after it
            auto it = std::partition_point(lines_.begin(), lines_.end(),
                                           [&](const Line& l) { return l.src_end <= c.range.begin; });
            pos = 2 * static_cast<std::size_t>(it - lines_.begin());
        } else {  // after the last line that starts before it
            auto it = std::partition_point(lines_.begin(), lines_.end(),
                                           [&](const Line& l) { return l.src_begin <= c.range.begin; });
            std::size_t i = static_cast<std::size_t>(it - lines_.begin());
            pos = i == 0 ? 0 : 2 * (i - 1) + 1;
        }
        pos = std::max(pos, last);
        last = pos;
        (pos % 2 ? trail : above)[pos / 2].push_back(&c);
    }

    // Output rows: blank (text empty, code false), comment lines, code lines with an optional
    // trailing comment.
    struct Row {
        int indent = 0;
        std::string text;
        bool code = false;
        std::string_view trailing;
        const Line* line = nullptr;  // code rows
    };
    std::vector<Row> rows;
    bool prev_opens = false;
    auto put = [&](bool want_blank, bool is_closer, Row r) {
        if (want_blank && !rows.empty() && !prev_opens && !is_closer) rows.push_back(Row{});
        rows.push_back(r);
    };
    for (std::size_t i = 0; i <= n; ++i) {
        const Line* l = i < n ? &lines_[i] : nullptr;
        std::vector<const ast::Comment*> own = above[i];
        const ast::Comment* trailing = nullptr;
        if (!trail[i].empty()) {
            // One comment can trail a line: the last, if it was written trailing. The others
            // (comments from inside a construct joined onto one line) go above it, in order.
            own.insert(own.end(), trail[i].begin(), trail[i].end());
            if (!own.back()->own_line) {
                trailing = own.back();
                own.pop_back();
            }
        }
        for (std::size_t k = 0; k < own.size(); ++k) {
            bool want = (k == 0 && l && l->force_blank) || blank_above(own[k]->range.begin);
            put(want, false, Row{l ? l->comment_indent : 0, std::string(trim_right(own[k]->text)), false, {}, nullptr});
            prev_opens = false;
        }
        if (!l) break;
        bool want = (own.empty() && l->force_blank) || (l->keep_blank && blank_above(l->src_begin));
        put(want, l->closes_block,
            Row{l->indent, l->text, true, trailing ? trim_right(trailing->text) : std::string_view{}, l});
        prev_opens = l->opens_block;
    }

    // Names of consecutive one-line consts (or sets) line up; comment lines between them do not
    // end the group, a blank line or any other line does.
    for (std::size_t i = 0; i < rows.size();) {
        int kind = rows[i].line ? rows[i].line->align_kind : 0;
        if (kind == 0) {
            ++i;
            continue;
        }
        std::vector<std::size_t> group;
        std::size_t j = i, width = 0;
        for (; j < rows.size(); ++j) {
            const Row& r = rows[j];
            if (r.code && r.line->align_kind != kind) break;
            if (!r.code && r.text.empty()) break;  // blank
            if (!r.code) continue;
            group.push_back(j);
            width = std::max(width, r.line->name_len);
        }
        for (std::size_t k : group) {
            const Line& l = *rows[k].line;
            rows[k].text.insert(l.name_at + l.name_len, width - l.name_len, ' ');
        }
        i = j;
    }

    // Trailing comments line up within a run of consecutive code lines of the same indentation
    // (a blank line, a comment line or another indentation ends the run).
    std::vector<std::size_t> column(rows.size(), 0);
    for (std::size_t i = 0; i < rows.size();) {
        if (!rows[i].code) {
            ++i;
            continue;
        }
        std::size_t j = i, col = 0;
        while (j < rows.size() && rows[j].code && rows[j].indent == rows[i].indent) {
            if (!rows[j].trailing.empty()) col = std::max(col, rows[j].indent + rows[j].text.size() + 2);
            ++j;
        }
        for (std::size_t k = i; k < j; ++k) column[k] = col;
        i = j;
    }

    std::string out;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Row& r = rows[i];
        if (!r.text.empty()) out.append(static_cast<std::size_t>(r.indent), ' ');
        out += r.text;
        if (!r.trailing.empty()) {
            out.append(column[i] - (r.indent + r.text.size()), ' ');
            out += r.trailing;
        }
        out += "\n";
    }
    return out;
}

std::string Formatter::run() {
    const auto& ds = file_.decls;
    bool prev_multi = false;
    for (std::size_t i = 0; i < ds.size(); ++i) {
        std::size_t first = lines_.size();
        std::visit([&](const auto& d) { decl(d); }, ds[i]);
        bool multi = lines_.size() - first > 1;
        // A blank line between declarations of different kinds and around multi-line ones.
        if (i > 0 && (ds[i].index() != ds[i - 1].index() || multi || prev_multi))
            lines_[first].force_blank = true;
        prev_multi = multi;
    }
    return render();
}

}  // namespace

std::string format(const SourceManager& sm, const ast::File& file) {
    return Formatter(sm, file).run();
}

}  // namespace weir
