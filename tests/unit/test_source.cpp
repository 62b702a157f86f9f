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
