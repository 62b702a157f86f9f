// Shared by the libFuzzer targets (tests/fuzz/README.md): a private scratch folder that inputs
// may fill with a few small files, the input splitter, and failure reporting.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "driver.hpp"

namespace weir::fuzz {

// A folder of this process's own under $TMPDIR (default /tmp; scripts/fuzz points it into its
// work dir, so a crashed run's folder goes with it), removed at a normal exit. Inputs only ever write the
// fixed file names below into it and only read files there, so no input can touch anything
// else (a FIFO or /dev/zero would hang the fuzzer; a real file could leak into reports).
inline const std::string& scratch_dir() {
    // Never destroyed: the exit handler that removes the folder runs after static destructors.
    static const std::string* dir = [] {
        const char* tmp = std::getenv("TMPDIR");
        std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/weir-fuzz-scratch.XXXXXX";
        if (!mkdtemp(tmpl.data())) {
            std::perror("fuzz: mkdtemp");
            std::abort();
        }
        auto* d = new std::string(tmpl);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(*dir, ec);
        });
        return d;
    }();
    return *dir;
}

inline std::string scratch_path(std::string_view name) { return scratch_dir() + "/" + std::string(name); }

inline void write_file(const std::string& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) {
        std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
        std::abort();
    }
}

// An input holding several files: the parts between lines that are exactly "%%" (a line no
// policy or set file can hold). Missing parts are empty, so every file is rewritten per input
// and nothing from an earlier input can leak into the next (runs stay reproducible).
inline std::vector<std::string> split_parts(std::string_view text, std::size_t parts) {
    std::vector<std::string> out(parts);
    std::size_t i = 0, pos = 0;
    while (i < parts) {
        std::size_t sep = text.find("\n%%\n", pos);
        if (sep == std::string_view::npos || i + 1 == parts) {
            out[i] = std::string(text.substr(pos));
            break;
        }
        out[i++] = std::string(text.substr(pos, sep - pos + 1));
        pos = sep + 4;
    }
    return out;
}

// Only `include "p"` and `set s : t = file "p"` read the disk, relative to the including file.
// Every '/' inside a string literal, written plainly or as the escape \x2f, is replaced, so a
// path can only name an entry of the scratch folder itself ("..", "." and missing names stay
// possible: they are errors, never hangs).
inline std::string defuse_paths(std::string s) {
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
                if (c == '"' || c == '\n') {
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

// The root file of a multi-file input, in the scratch folder.
inline const std::string& main_path() {
    static const std::string p = scratch_path("main.weir");
    return p;
}

// Writes the input's main.weir, inc.weir and set.txt into the scratch folder and compiles
// main.weir (with includes and set files; no -I, no rules/ folders) as `weir check` does.
inline std::unique_ptr<Compilation> compile_input(const std::uint8_t* data, std::size_t size, const CheckOptions& opts) {
    auto parts = split_parts(std::string_view(reinterpret_cast<const char*>(data), size), 3);
    std::string text = defuse_paths(parts[0]);
    write_file(main_path(), text);
    write_file(scratch_path("inc.weir"), defuse_paths(parts[1]));
    write_file(scratch_path("set.txt"), parts[2]);
    return compile_source(main_path(), std::move(text), opts);
}

inline CheckOptions scratch_options() {
    CheckOptions opts;
    opts.load.use_default_rules = false;
    opts.lint = true;
    return opts;
}

[[noreturn]] inline void fail(const char* target, const char* what, const std::string& a,
                              const std::string& b = {}) {
    std::fprintf(stderr, "%s: %s\n--- first:\n%s\n--- second:\n%s\n---\n", target, what, a.c_str(), b.c_str());
    std::abort();
}

}  // namespace weir::fuzz
