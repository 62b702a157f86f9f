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

const char* severity_name(Severity s) {
    switch (s) {
        case Severity::Error: return "error";
        case Severity::Warning: return "warning";
        case Severity::Note: return "note";
    }
    return "error";
}

const char* severity_color(Severity s) {
    switch (s) {
        case Severity::Error: return "\x1b[1;31m";
        case Severity::Warning: return "\x1b[1;35m";
        case Severity::Note: return "\x1b[1;36m";
    }
    return "";
}

// One located message: header line, source line, caret line.
void render_one(std::string& out, const SourceManager& sm, Severity sev, SourceRange r,
                const std::string& msg, bool color) {
    const char* bold = color ? "\x1b[1m" : "";
    const char* reset = color ? "\x1b[0m" : "";
    if (r.valid()) {
        LineCol lc = sm.line_col(r.file, r.begin);
        out += bold;
        out += sm.file(r.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": ";
        out += reset;
    }
    out += color ? severity_color(sev) : "";
    out += severity_name(sev);
    out += ": ";
    out += reset;
    out += msg;
    out += "\n";
    if (!r.valid()) return;
    LineCol lc = sm.line_col(r.file, r.begin);
    std::string_view line = sm.line_text(r.file, lc.line);
    out += "    ";
    out += line;
    out += "\n    ";
    // Caret under the range, clipped to the first line; tabs kept so columns align.
    std::uint32_t start = lc.col - 1;
    for (std::uint32_t i = 0; i < start && i < line.size(); ++i) out += line[i] == '\t' ? '\t' : ' ';
    std::uint32_t len = r.end > r.begin ? r.end - r.begin : 1;
    if (start + len > line.size()) len = line.size() > start ? static_cast<std::uint32_t>(line.size()) - start : 1;
    out += color ? "\x1b[1;32m" : "";
    out += '^';
    for (std::uint32_t i = 1; i < len; ++i) out += '~';
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
