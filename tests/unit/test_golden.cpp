// Golden diagnostics: every tests/golden/NAME.weir is checked (parse, check, lint) and its rendered
// diagnostics must equal tests/golden/NAME.expected byte for byte. Paths are shown relative to the
// repository root, as a user running `weir check tests/golden/NAME.weir` there would see them.
// Regenerate after an intended change: WEIR_UPDATE_GOLDEN=1 ./test_golden, then review the diff.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "driver.hpp"

namespace fs = std::filesystem;

namespace {

std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::vector<fs::path> golden_inputs() {
    std::vector<fs::path> v;
    for (const auto& e : fs::directory_iterator(fs::path(WEIR_TEST_DATA) / "golden"))
        if (e.path().extension() == ".weir") v.push_back(e.path().filename());
    std::sort(v.begin(), v.end());
    return v;
}

}  // namespace

TEST_CASE("golden diagnostics") {
    REQUIRE(chdir(WEIR_SOURCE_DIR) == 0);
    bool update = std::getenv("WEIR_UPDATE_GOLDEN") != nullptr;
    auto inputs = golden_inputs();
    CHECK(inputs.size() >= 30);
    for (const auto& name : inputs) {
        std::string rel = "tests/golden/" + name.string();
        weir::CheckOptions opts;
        // The standard rules folders are absolute paths that differ per checkout; leave them out
        // so that the expected text is the same on every machine.
        opts.load.use_default_rules = false;
        auto c = weir::compile_file(rel, opts);
        std::string got = weir::render_text(c->sources, c->diags);
        fs::path expected_path = fs::path("tests/golden") / name.stem().concat(".expected");
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
