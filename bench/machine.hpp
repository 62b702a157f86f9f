// Facts about the machine a benchmark ran on, for the header of its report.
#pragma once
#include <fstream>
#include <string>
#include <string_view>

namespace weir::bench {

// The value of the first line of `path` that starts with `key` ("model name : AMD EPYC" ->
// "AMD EPYC"); the whole first line for an empty key; "?" if there is none.
inline std::string first_line_of(const std::string& path, std::string_view key) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with(key)) {
            auto colon = key.empty() ? std::string::npos : line.find(':');
            std::string v = colon == std::string::npos ? line : line.substr(colon + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    return "?";
}

}  // namespace weir::bench
