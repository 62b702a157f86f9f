// compiler/plan/capacity.*: `weir check` finds the limits `weir load` would hit: set table entries per
// kind (prefixes, ranges counted by the prefixes they take) and the pinned metadata of a policy.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "capacity.hpp"
#include "driver.hpp"

using namespace weir;
namespace fs = std::filesystem;

namespace {

// A set file of `n` ranges 10.a.b.1-10.a.b.254: 14 prefixes each.
std::string ranges_file(std::size_t n) {
    std::string text;
    for (std::size_t i = 0; i < n; ++i)
        text += "10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".1-10." +
                std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ".254\n";
    return text;
}

std::unique_ptr<Compilation> check_with_set(std::size_t ranges) {
    fs::path dir = fs::temp_directory_path() / ("weir-capacity-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "ranges.txt") << ranges_file(ranges);
    CheckOptions o;
    o.lint = false;
    o.load.use_default_rules = false;
    auto c = compile_source((dir / "p.weir").string(),
                            "set wide : ip4 = file \"ranges.txt\"\npolicy p default pass {\n"
                            "    r: drop if ip4.src in @wide\n}\n",
                            o);
    fs::remove_all(dir);
    return c;
}

bool has(const Compilation& c, const std::string& code) {
    for (const auto& d : c.diags.list())
        if (d.code == code) return true;
    return false;
}

}  // namespace

TEST_CASE("table entries: one aligned block is one entry, a range the prefixes it takes") {
    Element host{Family::V4, 0x0a000001, 0x0a000001};
    Element net{Family::V4, 0x0a000000, 0x0a0000ff};
    Element range{Family::V4, 0x0a000001, 0x0a0000fe};
    CHECK(table_entries(host, 32) == 1);
    CHECK(table_entries(net, 32) == 1);
    CHECK(table_entries(range, 32) == 14);
}

TEST_CASE("a policy whose sets need more table entries than the tables hold is refused by check") {
    // 74,000 ranges of 14 prefixes: 1,036,000 entries, room left; 75,000: 1,050,000 > 1,048,576.
    auto fits = check_with_set(74000);
    CHECK(fits->ok());
    auto over = check_with_set(75000);
    CHECK_FALSE(over->ok());
    CHECK(has(*over, "set-too-large"));
}

TEST_CASE("a policy whose rule names overflow the pinned metadata is refused by check") {
    auto policy = [](std::size_t rules) {
        std::string text = "policy p default pass {\n";
        for (std::size_t i = 0; i < rules; ++i)
            text += "    rule-with-a-rather-long-descriptive-name-number-" + std::to_string(i) +
                    ": drop if tcp.dport == " + std::to_string(1 + i % 60000) + "\n";
        return text + "}\n";
    };
    CheckOptions o;
    o.lint = false;
    auto small = compile_source("small.weir", policy(10000), o);
    CHECK(small->ok());
    auto big = compile_source("big.weir", policy(20000), o);
    CHECK_FALSE(big->ok());
    CHECK(has(*big, "policy-too-large"));
    CHECK(meta_bytes_estimate(big->program, big->program.policies.at(0)) > kMetaBytes);
}
