// Golden diagnostics: every tests/golden/NAME.weir is checked (parse, check, lint) and its
// diagnostics must equal tests/golden/NAME.expected byte for byte. Paths are shown relative to the
// repository root, as a user running `weir check tests/golden/NAME.weir` there would see them.
// A NAME.expected without a NAME.weir is the case of a file that cannot be read (`io`).
//
// A .expected file is two parts:
//   - the text `weir check` prints (render_text: message, source line, marker, notes), unchanged;
//   - a trailer that starts with the line "--- codes ---" and lists, one line per diagnostic in
//     the same order, `SEVERITY CODE FILE:LINE:COL` (`SEVERITY CODE -` for one with no location),
//     taken from the diagnostic's data, since the stable code is not part of the text.
//
// A second case reads the code tables of docs/language.md's "## Diagnostics" section and fails
// naming every documented code that no .expected file contains, every code a golden case produces
// that the docs do not list, and every code produced with another severity than its table's.
//
// Regenerate after an intended change: WEIR_UPDATE_GOLDEN=1 ./test_golden, then review the diff.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "driver.hpp"

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kCodesHeader = "--- codes ---\n";

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<fs::path> golden_files(const std::string& ext) {
    std::vector<fs::path> v;
    for (const auto& e : fs::directory_iterator(fs::path(WEIR_TEST_DATA) / "golden"))
        if (e.path().extension() == ext) v.push_back(e.path().filename());
    std::sort(v.begin(), v.end());
    return v;
}

// The case names: every NAME.weir, and every NAME.expected that has no NAME.weir.
std::vector<std::string> golden_cases() {
    std::set<std::string> names;
    for (const auto& ext : {".weir", ".expected"})
        for (const auto& f : golden_files(ext)) names.insert(f.stem().string());
    return {names.begin(), names.end()};
}

const char* severity_word(weir::Severity s) {
    switch (s) {
        case weir::Severity::Error: return "error";
        case weir::Severity::Warning: return "warning";
        case weir::Severity::Note: return "note";
    }
    return "?";
}

std::string codes_trailer(const weir::SourceManager& sm, const weir::Diagnostics& ds) {
    std::string out(kCodesHeader);
    for (const auto& d : ds.list()) {
        out += severity_word(d.severity);
        out += ' ' + d.code + ' ';
        if (d.range.valid()) {
            weir::LineCol lc = sm.line_col(d.range.file, d.range.begin);
            out += sm.file(d.range.file).path + ':' + std::to_string(lc.line) + ':' + std::to_string(lc.col);
        } else {
            out += '-';
        }
        out += '\n';
    }
    return out;
}

// code -> "error" or "warning", from the tables under "### Errors" and "### Warnings".
std::map<std::string, std::string> documented_codes(const std::string& doc) {
    std::map<std::string, std::string> codes;
    std::istringstream in(doc);
    std::string line, severity;
    bool in_section = false;
    static const std::regex row(R"(^\| `([a-z0-9-]+)`)");
    while (std::getline(in, line)) {
        if (line.starts_with("## ")) {
            in_section = line == "## Diagnostics";
            continue;
        }
        if (!in_section) continue;
        if (line == "### Errors") severity = "error";
        else if (line == "### Warnings") severity = "warning";
        else if (line.starts_with("### ")) severity.clear();
        std::smatch m;
        if (!severity.empty() && std::regex_search(line, m, row)) codes.emplace(m[1].str(), severity);
    }
    return codes;
}

std::string joined(const std::set<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

}  // namespace

TEST_CASE("golden diagnostics") {
    REQUIRE(chdir(WEIR_SOURCE_DIR) == 0);
    bool update = std::getenv("WEIR_UPDATE_GOLDEN") != nullptr;
    auto cases = golden_cases();
    CHECK(cases.size() >= 30);
    for (const auto& name : cases) {
        std::string rel = "tests/golden/" + name + ".weir";
        weir::CheckOptions opts;
        // The standard rules folders are absolute paths that differ per checkout; leave them out
        // so that the expected text is the same on every machine.
        opts.load.use_default_rules = false;
        auto c = weir::compile_file(rel, opts);
        std::string got = weir::render_text(c->sources, c->diags) + codes_trailer(c->sources, c->diags);
        fs::path expected_path = fs::path("tests/golden") / (name + ".expected");
        if (update) {
            std::ofstream(expected_path, std::ios::binary) << got;
            continue;
        }
        INFO("golden case: " << rel);
        REQUIRE_MESSAGE(fs::exists(expected_path), "missing " << expected_path.string());
        CHECK(got == read(expected_path));
        // Every golden input is bad: it must produce at least one diagnostic.
        CHECK(!c->diags.list().empty());
    }
}

TEST_CASE("the golden cases produce every documented diagnostic code, and only those") {
    REQUIRE(chdir(WEIR_SOURCE_DIR) == 0);
    auto documented = documented_codes(read("docs/language.md"));
    // Both tables parsed: an edit that breaks the table format must not empty the check.
    REQUIRE(std::count_if(documented.begin(), documented.end(), [](auto& c) { return c.second == "error"; }) >= 50);
    REQUIRE(std::count_if(documented.begin(), documented.end(), [](auto& c) { return c.second == "warning"; }) >= 5);

    std::map<std::string, std::set<std::string>> produced;  // code -> severities
    for (const auto& name : golden_files(".expected")) {
        std::string text = read(fs::path("tests/golden") / name);
        auto at = text.find(kCodesHeader);
        INFO("golden file: " << name.string());
        REQUIRE_MESSAGE(at != std::string::npos, "no '--- codes ---' trailer");
        std::istringstream in(text.substr(at + kCodesHeader.size()));
        std::string severity, code, where;
        while (in >> severity >> code >> where) produced[code].insert(severity);
    }

    std::set<std::string> untested, undocumented, wrong_severity;
    for (const auto& [code, severity] : documented)
        if (!produced.contains(code)) untested.insert(code);
    for (const auto& [code, severities] : produced) {
        auto it = documented.find(code);
        if (it == documented.end()) undocumented.insert(code);
        else if (severities != std::set<std::string>{it->second}) wrong_severity.insert(code);
    }
    CHECK_MESSAGE(untested.empty(), "documented in docs/language.md but in no golden case: " << joined(untested));
    CHECK_MESSAGE(undocumented.empty(),
                  "produced by a golden case but not in docs/language.md: " << joined(undocumented));
    CHECK_MESSAGE(wrong_severity.empty(),
                  "produced with another severity than docs/language.md's table: " << joined(wrong_severity));
}
