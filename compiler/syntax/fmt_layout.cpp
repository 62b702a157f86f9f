// Layout: each declaration as output lines, each line remembering the source bytes it stands
// for (so fmt.cpp can put comments back); long constructs break at their pieces' breaks, sets
// go one element per line when too wide or holding a comment.
#include <algorithm>

#include "fmt_internal.hpp"

namespace weir::fmt_detail {

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

namespace {

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

}  // namespace

void Formatter::decl(const ast::Include& d) {
    simple(0, "include " + sp_.value(d.path), d.range.begin, d.range.end, true);
}

// A const or set declaration; on one line, its name (at `name_at`) lines up with its neighbours'.
void Formatter::named_decl(const Pieces& ps, SourceRange range, const ast::Name& name, int align_kind,
                           std::size_t name_at) {
    std::size_t first = lines_.size();
    emit(0, kIndent, ps, range.begin, range.end, true);
    if (lines_.size() == first + 1) {
        lines_[first].align_kind = align_kind;
        lines_[first].name_at = name_at;
        lines_[first].name_len = name.text.size();
    }
}

void Formatter::decl(const ast::Const& d) { named_decl(const_pieces(sp_, d), d.range, d.name, 1, 6); }

void Formatter::decl(const ast::SetDecl& d) { named_decl(set_pieces(sp_, d), d.range, d.name, 2, 4); }

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

}  // namespace weir::fmt_detail
