// Stage 1b tests: include search path, dedupe, order, cycles, missing files, display paths.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "loader.hpp"

using namespace weir;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(WEIR_TEST_DATA) + "/unit/data/loader";

struct Loaded {
    SourceManager sm;
    Diagnostics diags;
    std::vector<ast::File> files;

    Loaded(const std::string& root, LoadOptions opts = no_rules()) {
        std::string err;
        FileId id = sm.load(root, err);
        REQUIRE_MESSAGE(id != kNoFile, root << ": " << err);
        files = load(sm, id, opts, diags);
    }
    static LoadOptions no_rules() {
        LoadOptions o;
        o.use_default_rules = false;
        return o;
    }
    std::vector<std::string> paths() const {
        std::vector<std::string> out;
        for (const auto& f : files) out.push_back(sm.file(f.id).path);
        return out;
    }
    std::string text(SourceRange r) const { return std::string(sm.text(r)); }
};

LoadOptions with_idir() {
    LoadOptions o = Loaded::no_rules();
    o.include_dirs.push_back(kData + "/idir");
    return o;
}

}  // namespace

TEST_CASE("include search path: own folder, -I dirs, then the rules dirs") {
    LoadOptions o;
    o.include_dirs = {"inc1", "/abs/inc2"};
    auto p = include_search_path("policies/edge.weir", o);
    REQUIRE(p.size() == 5);
    CHECK(p[0] == "policies");
    CHECK(p[1] == "inc1");
    CHECK(p[2] == "/abs/inc2");
    CHECK(p[3] == std::string(WEIR_SOURCE_DIR) + "/rules");
    CHECK(p[4].ends_with("weir/rules"));

    o.use_default_rules = false;
    p = include_search_path("edge.weir", o);
    REQUIRE(p.size() == 3);
    CHECK(p[0] == ".");
}

TEST_CASE("includes are found, parsed once, and ordered includes-first") {
    Loaded l(kData + "/main.weir", with_idir());
    CHECK(l.diags.list().empty());
    auto paths = l.paths();
    REQUIRE(paths.size() == 5);
    // lib/common.weir is included by a.weir and (twice, spelled differently) by b.weir: once.
    CHECK(paths[0] == kData + "/lib/common.weir");
    CHECK(paths[1] == kData + "/lib/a.weir");
    CHECK(paths[2] == kData + "/lib/b.weir");
    CHECK(paths[3] == kData + "/idir/extra.weir");  // via -I
    CHECK(paths[4] == kData + "/main.weir");        // root last
    CHECK(l.files[4].decls.size() == 4);
    // Comments of included files are kept too.
    REQUIRE(l.files[1].comments.size() == 1);
    CHECK(l.files[1].comments[0].text == "# found next to lib/a.weir");
}

TEST_CASE("without -I the include is not found and the note lists the folders searched") {
    LoadOptions o = Loaded::no_rules();
    o.include_dirs.push_back("/nonexistent-weir-dir");
    Loaded l(kData + "/main.weir", o);
    REQUIRE(l.diags.list().size() == 1);
    const auto& d = l.diags.list()[0];
    CHECK(d.code == "include-not-found");
    CHECK(d.message == "cannot find included file 'extra.weir'");
    CHECK(l.text(d.range) == "include \"extra.weir\"");
    REQUIRE(d.notes.size() == 1);
    CHECK(d.notes[0].message == "searched in: " + kData + ", /nonexistent-weir-dir");
    // The other files still load.
    CHECK(l.files.size() == 4);
}

TEST_CASE("missing include: error at the include statement, the rest of the file is kept") {
    Loaded l(kData + "/missing.weir");
    REQUIRE(l.diags.list().size() == 1);
    const auto& d = l.diags.list()[0];
    CHECK(d.code == "include-not-found");
    CHECK(l.text(d.range) == "include \"nope/missing.weir\"");
    CHECK(l.sm.line_col(d.range.file, d.range.begin).line == 2);
    REQUIRE(l.files.size() == 1);
    CHECK(l.files[0].decls.size() == 3);
}

TEST_CASE("include cycle: error at the include entering it, note at the one closing it") {
    Loaded l(kData + "/cycle/x.weir");
    REQUIRE(l.diags.list().size() == 1);
    const auto& d = l.diags.list()[0];
    CHECK(d.code == "include-cycle");
    CHECK(d.message == "include cycle: " + kData + "/cycle/x.weir -> " + kData + "/cycle/y.weir -> " + kData +
                           "/cycle/x.weir");
    CHECK(l.sm.file(d.range.file).path == kData + "/cycle/x.weir");
    CHECK(l.text(d.range) == "include \"y.weir\"");
    REQUIRE(d.notes.size() == 1);
    CHECK(l.sm.file(d.notes[0].range.file).path == kData + "/cycle/y.weir");
    CHECK(l.text(d.notes[0].range) == "include \"x.weir\"");
    CHECK(d.notes[0].message.starts_with("the cycle closes here"));
    // Both files are still returned once each, the root last.
    REQUIRE(l.files.size() == 2);
    CHECK(l.sm.file(l.files[1].id).path == kData + "/cycle/x.weir");
}

TEST_CASE("a file including itself is a cycle") {
    Loaded l(kData + "/cycle/self.weir");
    REQUIRE(l.diags.list().size() == 1);
    CHECK(l.diags.list()[0].code == "include-cycle");
    CHECK(l.text(l.diags.list()[0].range) == "include \"self.weir\"");
    CHECK(l.files.size() == 1);
}

TEST_CASE("a syntax error in an included file is reported and the other files still load") {
    Loaded l(kData + "/with-broken.weir");
    REQUIRE(l.diags.list().size() == 1);
    const auto& d = l.diags.list()[0];
    CHECK(d.code == "syntax");
    CHECK(l.sm.file(d.range.file).path == kData + "/broken.weir");
    auto paths = l.paths();
    REQUIRE(paths.size() == 2);
    CHECK(paths[0] == kData + "/lib/common.weir");
    CHECK(paths[1] == kData + "/with-broken.weir");
}

TEST_CASE("display paths stay relative when the root is relative") {
    fs::path rel = fs::relative(kData, fs::current_path());
    REQUIRE(!rel.empty());
    std::string root = (rel / "main.weir").string();
    LoadOptions o = Loaded::no_rules();
    o.include_dirs.push_back((rel / "idir").string());
    Loaded l(root, o);
    CHECK(l.diags.list().empty());
    auto paths = l.paths();
    REQUIRE(paths.size() == 5);
    CHECK(paths[0] == (rel / "lib/common.weir").lexically_normal().string());
    CHECK(paths[3] == (rel / "idir/extra.weir").lexically_normal().string());
    for (const auto& p : paths) CHECK_FALSE(fs::path(p).is_absolute());
}

TEST_CASE("absolute include paths are used as they are") {
    fs::path dir = fs::temp_directory_path() / "weir-test-loader-abs";
    fs::create_directories(dir);
    std::string target = kData + "/lib/common.weir";
    {
        std::ofstream(dir / "root.weir") << "include \"" << target << "\"\n";
    }
    Loaded l((dir / "root.weir").string());
    CHECK(l.diags.list().empty());
    auto paths = l.paths();
    REQUIRE(paths.size() == 2);
    CHECK(paths[0] == target);
    fs::remove_all(dir);
}

TEST_CASE("includes are found in the rules folder of the source tree") {
    // Use any .weir file shipped under rules/ (the standard library), if there is one yet.
    fs::path rules = fs::path(WEIR_SOURCE_DIR) / "rules";
    std::string rel;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(rules, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        if (it->path().extension() == ".weir") {
            rel = fs::relative(it->path(), rules).string();
            break;
        }
    }
    fs::path dir = fs::temp_directory_path() / "weir-test-loader-rules";
    fs::create_directories(dir);
    if (rel.empty()) {
        // No rules shipped yet: a missing rules include must at least mention the rules folder.
        std::ofstream(dir / "root.weir") << "include \"std/not-there.weir\"\n";
        Loaded l((dir / "root.weir").string(), LoadOptions{});
        REQUIRE(l.diags.list().size() == 1);
        CHECK(l.diags.list()[0].notes.at(0).message.find(rules.string()) != std::string::npos);
    } else {
        std::ofstream(dir / "root.weir") << "include \"" << rel << "\"\n";
        Loaded l((dir / "root.weir").string(), LoadOptions{});
        for (const auto& d : l.diags.list()) CHECK(d.code != "include-not-found");
        REQUIRE(l.files.size() >= 2);
        CHECK(l.sm.file(l.files[l.files.size() - 2].id).path == (rules / rel).string());
    }
    fs::remove_all(dir);
}

TEST_CASE("missing absolute include and unreadable include") {
    fs::path dir = fs::temp_directory_path() / "weir-test-loader-unreadable";
    fs::create_directories(dir);
    {
        std::ofstream(dir / "secret.weir") << "const s = 1\n";
        std::ofstream(dir / "root.weir") << "include \"secret.weir\"\ninclude \"/nonexistent-weir/x.weir\"\n";
    }
    fs::permissions(dir / "secret.weir", fs::perms::none);
    bool readable = static_cast<bool>(std::ifstream(dir / "secret.weir"));  // root reads anything
    Loaded l((dir / "root.weir").string());
    std::size_t i = 0;
    if (!readable) {
        REQUIRE(l.diags.list().size() == 2);
        const auto& d = l.diags.list()[i++];
        CHECK(d.code == "include-unreadable");
        CHECK(d.message == "cannot read included file '" + (dir / "secret.weir").string() + "': Permission denied");
        CHECK(l.text(d.range) == "include \"secret.weir\"");
    }
    REQUIRE(l.diags.list().size() == i + 1);
    const auto& d = l.diags.list()[i];
    CHECK(d.code == "include-not-found");
    CHECK(d.message == "cannot find included file '/nonexistent-weir/x.weir'");
    CHECK(d.notes.at(0).message == "the path is absolute, so no folders were searched");
    fs::permissions(dir / "secret.weir", fs::perms::owner_all);
    fs::remove_all(dir);
}
