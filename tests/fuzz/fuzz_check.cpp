// libFuzzer target: the whole front end on arbitrary text, the way `weir check` and `weir fmt`
// run it. Built with -DWEIR_FUZZ=ON (scripts/fuzz runs it under ASan+UBSan).
//
// Per input: compile_source (parse, includes, check, lint), render the diagnostics as text (plain
// and colored) and JSON (which must parse back, one object per diagnostic), dump the checked
// program when it is valid, and when the root file parsed: format it and check that
//   - the formatted text parses again and formats to itself (fmt is idempotent), and
//   - when the input checked cleanly, the formatted text checks to the same program.
// Any broken property aborts, which libFuzzer reports as a crash with the input saved.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "driver.hpp"
#include "dump.hpp"
#include "fmt.hpp"
#include "parser.hpp"

namespace {

// Includes and set files resolve against this path's folder, which does not exist.
constexpr const char* kDisplayPath = "/nonexistent/fuzz.weir";

// Only `include "p"` and `set s : t = file "p"` read the disk. A path without '/' resolves to
// /nonexistent/p, which cannot be opened; an absolute path or one climbing out with ".." could
// name any file (a FIFO or /dev/zero would hang the fuzzer). So every '/' inside a string literal,
// written plainly or as the escape \x2f, is replaced before the input is compiled.
std::string defuse_paths(std::string s) {
    enum class State { Code, String, Comment } state = State::Code;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        switch (state) {
            case State::Code:
                if (c == '#') state = State::Comment;
                else if (c == '"') state = State::String;
                break;
            case State::Comment:
                if (c == '\n') state = State::Code;
                break;
            case State::String:
                if (c == '"') {
                    state = State::Code;
                } else if (c == '/') {
                    s[i] = '_';
                } else if (c == '\\' && i + 1 < s.size()) {
                    if ((s[i + 1] == 'x' || s[i + 1] == 'X') && i + 3 < s.size() && s[i + 2] == '2' &&
                        (s[i + 3] == 'f' || s[i + 3] == 'F'))
                        s[i + 3] = '0';  // \x2f -> \x20
                    ++i;                 // the escaped character cannot end the string
                }
                break;
        }
    }
    return s;
}

[[noreturn]] void fail(const char* what, const std::string& a, const std::string& b = {}) {
    std::fprintf(stderr, "fuzz_check: %s\n--- first:\n%s\n--- second:\n%s\n---\n", what, a.c_str(),
                 b.c_str());
    std::abort();
}

void check_rendering(const weir::Compilation& c) {
    std::string text = weir::render_text(c.sources, c.diags);
    std::string colored = weir::render_text(c.sources, c.diags, true);
    if (c.diags.list().empty() != text.empty()) fail("render_text disagrees with the diagnostic count", text);
    (void)colored;
    std::string json = weir::render_json(c.sources, c.diags);
    auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_array()) fail("render_json is not a JSON array", json);
    if (parsed.size() != c.diags.list().size()) fail("render_json lost diagnostics", json, text);
}

const weir::ast::File* root_file(const weir::Compilation& c) {
    // compile_source registers the root first, so it has FileId 0; load() lists it last.
    for (const auto& f : c.files)
        if (f.id == 0) return &f;
    return nullptr;
}

void check_format(const weir::Compilation& c, const weir::CheckOptions& opts) {
    const weir::ast::File* root = root_file(c);
    if (!root) return;
    std::string once = weir::format(c.sources, *root);

    weir::SourceManager sm;
    weir::Diagnostics diags;
    weir::FileId id = sm.add(kDisplayPath, once);
    auto reparsed = weir::parse(sm, id, diags);
    if (!reparsed)
        fail("formatted text does not parse", once, weir::render_text(sm, diags));
    std::string twice = weir::format(sm, *reparsed);
    if (twice != once) fail("fmt is not idempotent: format(parse(format(x))) != format(x)", once, twice);

    if (!c.ok()) return;
    auto again = weir::compile_source(kDisplayPath, once, opts);
    if (!again->ok())
        fail("formatted text no longer checks", once, weir::render_text(again->sources, again->diags));
    std::string before = weir::dump(c.program), after = weir::dump(again->program);
    if (before != after) fail("formatted text checks to a different program", before, after);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text = defuse_paths(std::string(reinterpret_cast<const char*>(data), size));

    weir::CheckOptions opts;
    opts.load.use_default_rules = false;  // no -I, no rules/ folders: nothing real to include
    opts.lint = true;
    auto c = weir::compile_source(kDisplayPath, text, opts);

    check_rendering(*c);
    if (c->ok()) (void)weir::dump(c->program);
    check_format(*c, opts);
    return 0;
}
