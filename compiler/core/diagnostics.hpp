// Diagnostics are data: severity, a source range, a message, notes with their own ranges.
// They are collected by every stage and rendered in one place (text for people, JSON for tools).
#pragma once
#include <string>
#include <vector>

#include "source.hpp"
#include "weir/vocabulary.hpp"

namespace weir {

using Severity = api::Severity;  // severity_name() is there too

struct DiagNote {
    SourceRange range;  // may be invalid (a note without location)
    std::string message;
};

struct Diagnostic {
    Severity severity = Severity::Error;
    std::string code;  // stable kebab-case id, e.g. "unknown-field", "shadowed-rule"
    SourceRange range;  // may be invalid for file-level problems (e.g. unreadable file)
    std::string message;
    std::vector<DiagNote> notes;
};

class Diagnostics {
public:
    Diagnostic& error(std::string code, SourceRange r, std::string msg);
    Diagnostic& warning(std::string code, SourceRange r, std::string msg);
    void add(Diagnostic d) { list_.push_back(std::move(d)); }

    const std::vector<Diagnostic>& list() const { return list_; }
    std::size_t errors() const;
    std::size_t warnings() const;
    bool has_errors() const { return errors() != 0; }
    // --werror: every warning becomes an error.
    void promote_warnings();
    // Orders by file, then position (stable for equal positions).
    void sort();
    void clear() { list_.clear(); }

private:
    std::vector<Diagnostic> list_;
};

// "FILE:LINE:COL: error: message", the source line, "^~~~" under the range, then notes.
std::string render_text(const SourceManager& sm, const Diagnostic& d, bool color = false);
std::string render_text(const SourceManager& sm, const Diagnostics& ds, bool color = false);
// A JSON array of objects: severity, code, file, line, column, end_line, end_column, message, notes[].
std::string render_json(const SourceManager& sm, const Diagnostics& ds);

}  // namespace weir
