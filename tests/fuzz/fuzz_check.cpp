// libFuzzer target: the whole front end on arbitrary text, the way `weir check` and `weir fmt`
// run it, includes and set files included. Built with -DWEIR_FUZZ=ON (scripts/fuzz runs it under
// ASan+UBSan).
//
// An input is up to three files separated by "%%" lines (fuzz_common.hpp): main.weir, inc.weir
// and set.txt, written into a scratch folder, so `include "inc.weir"` and `file "set.txt"` load
// what the input carries (and `include "main.weir"` makes a cycle).
//
// Per input: compile the main file (parse, includes, check, lint), render the diagnostics as text
// (plain and colored) and JSON (which must parse back, one object per diagnostic), dump the
// checked program when it is valid, and when the root file parsed: format it and check that
//   - the formatted text parses again and formats to itself (fmt is idempotent), and
//   - when the input checked cleanly, the formatted text checks to the same program.
// Any broken property aborts, which libFuzzer reports as a crash with the input saved.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "ast_dump.hpp"
#include "checked_dump.hpp"
#include "driver.hpp"
#include "fmt.hpp"
#include "fuzz_common.hpp"
#include "fuzz_mutator.hpp"
#include "parser.hpp"

namespace {

using weir::fuzz::fail;
using weir::fuzz::main_path;
constexpr const char* kTarget = "fuzz_check";

void check_rendering(const weir::Compilation& c) {
    std::string text = weir::render_text(c.sources, c.diags);
    std::string colored = weir::render_text(c.sources, c.diags, true);
    if (c.diags.list().empty() != text.empty()) fail(kTarget, "render_text disagrees with the diagnostic count", text);
    (void)colored;
    std::string json = weir::render_json(c.sources, c.diags);
    auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_array()) fail(kTarget, "render_json is not a JSON array", json);
    if (parsed.size() != c.diags.list().size()) fail(kTarget, "render_json lost diagnostics", json, text);
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
    weir::FileId id = sm.add(main_path(), once);
    auto reparsed = weir::parse(sm, id, diags);
    if (!reparsed)
        fail(kTarget, "formatted text does not parse", once, weir::render_text(sm, diags));
    std::string twice = weir::format(sm, *reparsed);
    if (twice != once) fail(kTarget, "fmt is not idempotent: format(parse(format(x))) != format(x)", once, twice);

    if (!c.ok()) return;
    auto again = weir::compile_source(main_path(), once, opts);
    if (!again->ok())
        fail(kTarget, "formatted text no longer checks", once, weir::render_text(again->sources, again->diags));
    std::string before = weir::dump(c.program), after = weir::dump(again->program);
    if (before != after) fail(kTarget, "formatted text checks to a different program", before, after);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    weir::CheckOptions opts = weir::fuzz::scratch_options();
    auto c = weir::fuzz::compile_input(data, size, opts);
    check_rendering(*c);
    if (c->ok()) (void)weir::dump(c->program);
    for (const auto& f : c->files) (void)weir::dump_ast(c->sources, f);
    check_format(*c, opts);
    return 0;
}
