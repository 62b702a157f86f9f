// Writes the libFuzzer dictionary of the policy language (built and run at build time, so it
// follows the sources): every field of the field table and every symbol of its symbol tables
// (what `weir fields` prints), the grammar's keywords and fixed words (each TAO_PEGTL_STRING in
// compiler/syntax/grammar.hpp), the packet options of tests (compiler/check/sema_testblocks.cpp kOptions),
// operators and punctuation, and the pieces that reach the scratch folder's files.
// Usage: make_dict GRAMMAR_HPP SEMA_TESTS_CPP OUT
#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "fields.hpp"

namespace {

std::string read(const char* path) {
    std::ifstream in(path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Every first capture of `re` in `text`; fails the build when fewer than `min` are found (the
// source's shape changed and the dictionary would silently shrink).
std::set<std::string> matches(const std::string& text, const std::regex& re, std::size_t min, const char* what) {
    std::set<std::string> out;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
        out.insert((*it)[1]);
    if (out.size() < min) {
        std::cerr << "make_dict: found only " << out.size() << " " << what << "\n";
        std::exit(1);
    }
    return out;
}

std::string quoted(const std::string& s) {
    std::string q = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') q += '\\', q += static_cast<char>(c);
        else if (c < 0x20 || c >= 0x7f) {
            char buf[5];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            q += buf;
        } else q += static_cast<char>(c);
    }
    return q + "\"";
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: make_dict GRAMMAR_HPP SEMA_TESTS_CPP OUT\n";
        return 2;
    }
    std::set<std::string> words = matches(read(argv[1]), std::regex(R"re(TAO_PEGTL_STRING\("([^"]+)"\))re"), 30,
                                          "keywords in the grammar");
    for (const auto& o : matches(read(argv[2]), std::regex(R"re(\{"([a-z-]+)", "[a-z0-9.]*", [A-Za-z0-9]+\})re"),
                                 10, "packet options"))
        words.insert(o);
    for (const auto& f : weir::all_fields()) words.insert(std::string(f.name));
    for (int t = 0; t <= static_cast<int>(weir::SymbolTable::TcpFlag); ++t)
        for (const auto& s : weir::symbols(static_cast<weir::SymbolTable>(t))) words.insert(std::string(s.name));
    for (const char* p : {"==", "!=", "<=", ">=", "<", ">", "->", "{", "}", "(", ")", "[", "]", ",", ":", "-",
                          "$", "@", "/", "=", "\"", "#", "payload[", "0x", "/s", "/m", "::", "/24", "/64",
                          "192.0.2.1", "2001:db8::1", "02:00:00:00:00:01", "65535", "4294967295",
                          "\n", "\n%%\n", "include \"inc.weir\"", "file \"set.txt\"", "include \"main.weir\"",
                          "\\x", "packet tcp 192.0.2.1:1 -> 198.51.100.1:22 flags syn", "expect drop by"})
        words.insert(p);
    std::ofstream out(argv[3]);
    for (const auto& w : words) out << quoted(w) << "\n";
    return out ? 0 : 1;
}
