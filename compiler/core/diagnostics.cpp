#include "diagnostics.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace weir {

Diagnostic& Diagnostics::error(std::string code, SourceRange r, std::string msg) {
    list_.push_back({Severity::Error, std::move(code), r, std::move(msg), {}});
    return list_.back();
}

Diagnostic& Diagnostics::warning(std::string code, SourceRange r, std::string msg) {
    list_.push_back({Severity::Warning, std::move(code), r, std::move(msg), {}});
    return list_.back();
}

std::size_t Diagnostics::errors() const {
    return std::count_if(list_.begin(), list_.end(),
                         [](const Diagnostic& d) { return d.severity == Severity::Error; });
}

std::size_t Diagnostics::warnings() const {
    return std::count_if(list_.begin(), list_.end(),
                         [](const Diagnostic& d) { return d.severity == Severity::Warning; });
}

void Diagnostics::promote_warnings() {
    for (auto& d : list_)
        if (d.severity == Severity::Warning) d.severity = Severity::Error;
}

void Diagnostics::sort() {
    std::stable_sort(list_.begin(), list_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        if (a.range.file != b.range.file) return a.range.file < b.range.file;
        return a.range.begin < b.range.begin;
    });
}

namespace {

const char* severity_color(Severity s) {
    switch (s) {
        case Severity::Error: return "\x1b[1;31m";
        case Severity::Warning: return "\x1b[1;35m";
        case Severity::Note: return "\x1b[1;36m";
    }
    return "";
}

// Source text and messages reach a terminal: control bytes (ESC, OSC sequences, CR) are shown
// as \xNN, never written raw. Tabs stay tabs so that the caret line aligns with them.
bool is_control(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

void append_escaped(std::string& out, std::string_view text) {
    static const char* hex = "0123456789abcdef";
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (!is_control(c)) {
            out += ch;
            continue;
        }
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
}

std::uint32_t shown_width(unsigned char c) { return is_control(c) ? 4 : 1; }

// A source line is echoed whole up to this many bytes; a longer one as a window around the
// range, so that a 50 MB line is not copied into the output.
constexpr std::uint32_t kExcerptBytes = 200;
constexpr std::uint32_t kExcerptBefore = 60;

// One located message: header line, source line, caret line.
void render_one(std::string& out, const SourceManager& sm, Severity sev, SourceRange r,
                const std::string& msg, bool color) {
    const char* bold = color ? "\x1b[1m" : "";
    const char* reset = color ? "\x1b[0m" : "";
    if (r.valid()) {
        LineCol lc = sm.line_col(r.file, r.begin);
        out += bold;
        append_escaped(out, sm.file(r.file).path);
        out += ":" + std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": ";
        out += reset;
    }
    out += color ? severity_color(sev) : "";
    out += severity_name(sev);
    out += ": ";
    out += reset;
    // A message quotes source tokens, which may be huge: each of its lines is cut past
    // kMessageLineBytes. Its own line breaks (a verifier log in a note) stay.
    constexpr std::size_t kMessageLineBytes = 1000;
    for (std::string_view rest = msg;;) {
        std::size_t nl = rest.find('\n');
        std::string_view line = rest.substr(0, nl);
        append_escaped(out, line.substr(0, kMessageLineBytes));
        if (line.size() > kMessageLineBytes) out += "...";
        out += "\n";
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
    if (!r.valid()) return;
    LineCol lc = sm.line_col(r.file, r.begin);
    std::string_view line = sm.line_text(r.file, lc.line);
    std::uint32_t start = std::min<std::uint32_t>(lc.col - 1, static_cast<std::uint32_t>(line.size()));
    std::uint32_t len = r.end > r.begin ? r.end - r.begin : 1;
    if (start + len > line.size()) len = line.size() > start ? static_cast<std::uint32_t>(line.size()) - start : 1;
    // The window of the line shown: all of it, or kExcerptBytes from a little before the range.
    std::uint32_t from = 0, to = static_cast<std::uint32_t>(line.size());
    if (line.size() > kExcerptBytes) {
        from = start > kExcerptBefore ? start - kExcerptBefore : 0;
        to = std::min<std::uint32_t>(to, from + kExcerptBytes);
        len = std::max<std::uint32_t>(1, std::min(len, to > start ? to - start : 1));
    }
    const char* cut = "...";
    out += "    ";
    if (from > 0) out += cut;
    append_escaped(out, line.substr(from, to - from));
    if (to < line.size()) out += cut;
    out += "\n    ";
    if (from > 0) out += "   ";
    // Caret under the range, clipped to the window; each byte as wide as it was shown.
    for (std::uint32_t i = from; i < start && i < to; ++i)
        out.append(line[i] == '\t' ? 1 : shown_width(static_cast<unsigned char>(line[i])), line[i] == '\t' ? '\t' : ' ');
    std::uint32_t width = 0;
    for (std::uint32_t i = start; i < start + len && i < to; ++i) width += shown_width(static_cast<unsigned char>(line[i]));
    out += color ? "\x1b[1;32m" : "";
    out += '^';
    for (std::uint32_t i = 1; i < std::max<std::uint32_t>(width, 1); ++i) out += '~';
    out += reset;
    out += "\n";
}

}  // namespace

std::string render_text(const SourceManager& sm, const Diagnostic& d, bool color) {
    std::string out;
    render_one(out, sm, d.severity, d.range, d.message, color);
    for (const auto& n : d.notes) render_one(out, sm, Severity::Note, n.range, n.message, color);
    return out;
}

std::string render_text(const SourceManager& sm, const Diagnostics& ds, bool color) {
    std::string out;
    for (const auto& d : ds.list()) out += render_text(sm, d, color);
    return out;
}

namespace {
nlohmann::json located(const SourceManager& sm, SourceRange r) {
    nlohmann::json j = nlohmann::json::object();
    if (!r.valid()) return j;
    LineCol b = sm.line_col(r.file, r.begin);
    LineCol e = sm.line_col(r.file, r.end);
    j["file"] = sm.file(r.file).path;
    j["line"] = b.line;
    j["column"] = b.col;
    j["end_line"] = e.line;
    j["end_column"] = e.col;
    return j;
}
}  // namespace

std::string render_json(const SourceManager& sm, const Diagnostics& ds) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& d : ds.list()) {
        nlohmann::json j = located(sm, d.range);
        j["severity"] = severity_name(d.severity);
        j["code"] = d.code;
        j["message"] = d.message;
        nlohmann::json notes = nlohmann::json::array();
        for (const auto& n : d.notes) {
            nlohmann::json nj = located(sm, n.range);
            nj["message"] = n.message;
            notes.push_back(std::move(nj));
        }
        j["notes"] = std::move(notes);
        arr.push_back(std::move(j));
    }
    // Messages may quote bytes of the input that are not valid UTF-8: replace them, never throw.
    return arr.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace weir
