#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "diagnostics.hpp"

using namespace weir;

TEST_CASE("text rendering: location, source line, caret under the exact range, notes") {
    SourceManager sm;
    FileId f = sm.add("p.weir", "policy p default pass {\n    ssh: drop if tcp.dprot == 22\n}\n");
    Diagnostics ds;
    // "tcp.dprot" starts at byte 41 (line 2, column 18).
    ds.error("unknown-field", {f, 41, 50}, "unknown field 'tcp.dprot'").notes.push_back({{f, 0, 6}, "in here"});
    std::string out = render_text(sm, ds);
    CHECK(out ==
          "p.weir:2:18: error: unknown field 'tcp.dprot'\n"
          "        ssh: drop if tcp.dprot == 22\n"
          "                     ^~~~~~~~~\n"
          "p.weir:1:1: note: in here\n"
          "    policy p default pass {\n"
          "    ^~~~~~\n");
}

TEST_CASE("a diagnostic without location renders its message only") {
    SourceManager sm;
    Diagnostics ds;
    ds.error("io", {}, "cannot read 'x.weir': No such file or directory");
    CHECK(render_text(sm, ds) == "error: cannot read 'x.weir': No such file or directory\n");
}

TEST_CASE("a range running past its line is clipped to the line") {
    SourceManager sm;
    FileId f = sm.add("p.weir", "ab\ncd\n");
    Diagnostics ds;
    ds.warning("w", {f, 1, 5}, "spans lines");
    CHECK(render_text(sm, ds) == "p.weir:1:2: warning: spans lines\n    ab\n     ^\n");
}

TEST_CASE("control bytes in source lines and messages are shown escaped, the caret still aligned") {
    SourceManager sm;
    // ESC ] 52 (an OSC 52 clipboard write) before the bad name, and a CR inside it.
    FileId f = sm.add("p.weir", "a \x1b]52;c;x\x07 bad\rname\n");
    Diagnostics ds;
    ds.error("e", {f, 13, 21}, "unknown field 'bad\rname'");
    std::string out = render_text(sm, ds);
    CHECK(out ==
          "p.weir:1:14: error: unknown field 'bad\\x0dname'\n"
          "    a \\x1b]52;c;x\\x07 bad\\x0dname\n"
          "                       ^~~~~~~~~~\n");
    CHECK(out.find('\x1b') == std::string::npos);
    CHECK(out.find('\r') == std::string::npos);
}

TEST_CASE("a long source line is echoed as a window around the range") {
    SourceManager sm;
    std::string line = std::string(100000, 'a') + " bad " + std::string(100000, 'b');
    FileId f = sm.add("p.weir", line + "\n");
    Diagnostics ds;
    ds.error("e", {f, 100001, 100004}, "here");
    std::string out = render_text(sm, ds);
    CHECK(out.size() < 600);
    Diagnostics huge;
    huge.error("e", {}, "unknown field '" + line + "'");
    CHECK(render_text(sm, huge) == "error: unknown field '" + std::string(985, 'a') + "...\n");
    Diagnostics lines;  // a message's own line breaks stay (a verifier log in a note)
    lines.error("e", {}, "first\n  second");
    CHECK(render_text(sm, lines) == "error: first\n  second\n");
    CHECK(out ==
          "p.weir:1:100002: error: here\n"
          "    ..." + std::string(59, 'a') + " bad " + std::string(136, 'b') + "...\n"
          "       " + std::string(60, ' ') + "^~~\n");
}

TEST_CASE("counting, --werror promotion and ordering") {
    SourceManager sm;
    FileId f = sm.add("p.weir", "0123456789");
    Diagnostics ds;
    ds.warning("w", {f, 5, 6}, "later");
    ds.error("e", {f, 1, 2}, "earlier");
    CHECK(ds.errors() == 1);
    CHECK(ds.warnings() == 1);
    ds.sort();
    CHECK(ds.list()[0].message == "earlier");
    ds.promote_warnings();
    CHECK(ds.errors() == 2);
    CHECK(ds.warnings() == 0);
}

TEST_CASE("JSON rendering: fields, 1-based exclusive ends, notes") {
    SourceManager sm;
    FileId f = sm.add("p.weir", "abc\ndef\n");
    Diagnostics ds;
    ds.error("code-x", {f, 4, 7}, "msg").notes.push_back({{f, 0, 1}, "note"});
    auto j = nlohmann::json::parse(render_json(sm, ds));
    REQUIRE(j.size() == 1);
    CHECK(j[0]["file"] == "p.weir");
    CHECK(j[0]["line"] == 2);
    CHECK(j[0]["column"] == 1);
    CHECK(j[0]["end_line"] == 2);
    CHECK(j[0]["end_column"] == 4);
    CHECK(j[0]["severity"] == "error");
    CHECK(j[0]["code"] == "code-x");
    CHECK(j[0]["notes"][0]["message"] == "note");
    CHECK(j[0]["notes"][0]["line"] == 1);
}

TEST_CASE("JSON rendering never throws on bytes that are not UTF-8") {
    SourceManager sm;
    FileId f = sm.add("bad\xba.weir", "x");
    Diagnostics ds;
    ds.error("e", {f, 0, 1}, "file \"blocklist\xba.txt\" not found");
    std::string out;
    CHECK_NOTHROW(out = render_json(sm, ds));
    CHECK_NOTHROW((void)nlohmann::json::parse(out));
}
