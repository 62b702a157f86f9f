// `weir fmt`. Two steps: the AST is laid out into output lines, each remembering the source bytes
// it stands for (fmt_layout.cpp, leaves spelled by fmt_spell.cpp); then every comment is attached
// to a line (above it, or trailing it) by its source position, and blank lines are decided (here).
// Layout rules for users: docs/fmt-style.md.
#include "fmt.hpp"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <variant>

#include "fmt_internal.hpp"

namespace weir {
namespace fmt_detail {

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

}  // namespace fmt_detail

std::string format(const SourceManager& sm, const ast::File& file) {
    return fmt_detail::Formatter(sm, file).run();
}

}  // namespace weir
