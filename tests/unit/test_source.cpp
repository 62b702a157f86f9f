// SourceManager::load: only regular files are read, and only up to a size limit, so that a
// directory, a FIFO or a device named as a policy, include or set file is an error at once
// instead of an empty file, a blocked reader or unbounded memory.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "driver.hpp"
#include "source.hpp"

namespace fs = std::filesystem;
using namespace weir;

namespace {

struct Scratch {
    fs::path dir;
    Scratch() {
        char tmpl[] = "/tmp/weir-source-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~Scratch() { fs::remove_all(dir); }
    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(dir / name, std::ios::binary) << text;
        return (dir / name).string();
    }
};

}  // namespace

TEST_CASE("load reads a regular file whole") {
    Scratch s;
    std::string text(100000, 'x');
    text += "\nend\n";
    SourceManager sm;
    std::string err;
    FileId id = sm.load(s.write("a.weir", text), err);
    REQUIRE(id != kNoFile);
    CHECK(sm.file(id).text == text);
    CHECK(sm.line_text(id, 2) == "end");
}

TEST_CASE("load refuses directories, FIFOs and devices, naming what they are") {
    Scratch s;
    SourceManager sm;
    std::string err;
    CHECK(sm.load(s.dir.string(), err) == kNoFile);
    CHECK(err == "it is a directory, not a regular file");
    std::string fifo = (s.dir / "fifo").string();
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(sm.load(fifo, err) == kNoFile);  // returns at once: no writer is waited for
    CHECK(err == "it is a FIFO, not a regular file");
    CHECK(sm.load("/dev/zero", err) == kNoFile);
    CHECK(err == "it is a character device, not a regular file");
    CHECK(sm.load((s.dir / "missing").string(), err) == kNoFile);
    CHECK(err == "No such file or directory");
    CHECK(sm.size() == 0);
}

TEST_CASE("load refuses a file over the limit, and accepts one at it") {
    Scratch s;
    SourceManager sm;
    std::string err;
    std::string path = s.write("big.weir", std::string(1000, '#'));
    CHECK(sm.load(path, err, 999) == kNoFile);
    CHECK(err == "it is larger than the limit of 999 bytes");
    CHECK(sm.load(path, err, 1000) != kNoFile);
}

TEST_CASE("a directory or FIFO as policy, include or set file is an error with its location") {
    Scratch s;
    REQUIRE(::mkfifo((s.dir / "inc.weir").c_str(), 0600) == 0);
    fs::create_directory(s.dir / "allow");
    CheckOptions opts;
    opts.load.use_default_rules = false;

    auto c = compile_file(s.dir.string(), opts);
    CHECK_FALSE(c->ok());
    REQUIRE(c->diags.list().size() == 1);
    CHECK(c->diags.list()[0].code == "io");
    CHECK(c->diags.list()[0].message.find("it is a directory") != std::string::npos);

    c = compile_file(s.write("main.weir", "include \"inc.weir\"\npolicy p default pass {\n    r: drop if tcp.dport == 1\n}\n"), opts);
    REQUIRE(c->diags.list().size() == 1);
    CHECK(c->diags.list()[0].code == "include-unreadable");
    CHECK(c->diags.list()[0].message.find("it is a FIFO") != std::string::npos);

    c = compile_file(s.write("set.weir", "set allow : ip = file \"allow\"\npolicy p default pass {\n"
                                         "    r: drop if ip4.src not in @allow\n}\n"), opts);
    CHECK_FALSE(c->ok());
    bool found = false;
    for (const auto& d : c->diags.list())
        if (d.code == "set-file-unreadable" && d.message.find("it is a directory") != std::string::npos) found = true;
    CHECK(found);
}

TEST_CASE("line starts: every line of a file, with and without a final newline") {
    SourceManager sm;
    FileId a = sm.add("a", "one\ntwo\n\nfour");
    CHECK(sm.file(a).line_starts == std::vector<std::uint32_t>{0, 4, 8, 9});
    CHECK(sm.line_text(a, 4) == "four");
    CHECK(sm.line_col(a, 10).line == 4);
    CHECK(sm.line_col(a, 10).col == 2);
    FileId b = sm.add("b", "x\n");
    CHECK(sm.file(b).line_starts == std::vector<std::uint32_t>{0, 2});
    FileId c = sm.add("c", "");
    CHECK(sm.file(c).line_starts == std::vector<std::uint32_t>{0});
}

TEST_CASE("a set file of many lines is read whole and every element kept, in order") {
    Scratch s;
    std::string lines;
    for (int i = 0; i < 5000; ++i)
        lines += "10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + (i % 3 ? ".1\n" : ".0/24\n");
    lines += "  192.0.2.9   # a comment\n2001:db8::/32\n192.0.2.77/24\n";  // the last: host bits, a warning
    s.write("bl.txt", lines);
    auto c = compile_file(s.write("p.weir", "set bl : ip = file \"bl.txt\"\npolicy p default pass {\n"
                                           "    b: drop if ip.src in @bl\n}\n"),
                          CheckOptions{});
    REQUIRE(!c->diags.has_errors());
    REQUIRE(c->program.sets.size() == 1);
    const auto& el = c->program.sets[0].elems;
    REQUIRE(el.size() == 5003);
    CHECK(el[0].prefix == 24);
    CHECK(el[1].lo == (u128{10} << 24 | 1 << 8 | 1));  // 10.0.1.1
    CHECK(el[5000].lo == (u128{0xc0000209}));
    CHECK(el[5000].family == Family::V4);
    CHECK(c->sources.text(el[5000].range) == "192.0.2.9");
    CHECK(el[5001].family == Family::V6);
    CHECK(el[5002].lo == u128{0xc0000200});
    CHECK(el[5002].prefix == 24);
    REQUIRE(c->diags.list().size() == 1);
    CHECK(c->diags.list()[0].code == "cidr-host-bits");
}

TEST_CASE("confined: the policy, includes and set files must lie inside the allowed folders") {
    Scratch s;
    fs::create_directory(s.dir / "conf");
    fs::create_directory(s.dir / "elsewhere");
    const std::string secret = s.write("elsewhere/secret.txt", "198.18.0.1\n");
    s.write("conf/inc.weir", "const ssh = 22\n");
    fs::create_symlink(secret, s.dir / "conf" / "link.txt");  // a link leading out of the folder
    CheckOptions opts;
    opts.load.use_default_rules = false;
    opts.allowed_dirs = {(s.dir / "conf").string()};

    auto c = compile_file(s.write("conf/ok.weir", "include \"inc.weir\"\npolicy p default pass {\n"
                                                  "    r: drop if tcp.dport == $ssh\n}\n"),
                          opts);
    CHECK(c->ok());

    c = compile_file(s.write("top.weir", "policy p default pass {\n    r: drop if tcp.dport == 1\n}\n"), opts);
    REQUIRE(c->diags.list().size() == 1);
    CHECK(c->diags.list()[0].code == "io");
    CHECK(c->diags.list()[0].message.find("outside the folders") != std::string::npos);

    c = compile_file(s.write("conf/leak.weir", "set s : ip = file \"link.txt\"\npolicy p default pass {\n"
                                               "    r: drop if ip.src in @s\n}\n"),
                     opts);
    CHECK_FALSE(c->ok());
    bool found = false;
    for (const auto& d : c->diags.list())
        if (d.code == "set-file-unreadable" && d.message.find("outside the folders") != std::string::npos) found = true;
    CHECK(found);

    c = compile_file(s.write("conf/abs.weir", "include \"" + s.write("elsewhere/x.weir", "const q = 1\n") +
                                                  "\"\npolicy p default pass {\n    r: drop if tcp.dport == $q\n}\n"),
                     opts);
    REQUIRE(c->diags.list().size() == 1);
    CHECK(c->diags.list()[0].code == "include-unreadable");

    opts.allowed_dirs = {(s.dir / "missing").string()};  // nothing exists: nothing is read
    c = compile_file((s.dir / "conf" / "ok.weir").string(), opts);
    CHECK_FALSE(c->ok());
}
