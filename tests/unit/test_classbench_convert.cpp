// bench/classbench.*: ClassBench filter and trace parsing (errors located, never a crash), the
// weir policy of a set (checked by the front end, wildcards left out), the first-match oracle,
// frames, rule-derived headers and the family generator. No kernel needed: the kernel side is
// tests/kernel/test_classbench.cpp.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

#include "classbench.hpp"
#include "driver.hpp"
#include "interp.hpp"

using namespace weir;
namespace cb = weir::classbench;

namespace {

constexpr const char* kSample =
    "@237.73.3.4/32\t67.236.63.210/32\t0 : 65535\t1711 : 1711\t0x06/0xFF\t0x0000/0x0200\t\n"
    "@91.89.244.19/29\t245.66.202.32/28\t88 : 88\t1024 : 65535\t0x11/0xFF\t0x0000/0x0000\t\n"
    "\n"
    "@0.0.0.0/0\t10.0.0.0/8\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\t\n"
    "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\t0x0000/0x0000\t\n";

cb::Header hdr(std::uint32_t s, std::uint32_t d, std::uint16_t sp, std::uint16_t dp, std::uint8_t proto) {
    cb::Header h;
    h.src = s, h.dst = d, h.sport = sp, h.dport = dp, h.proto = proto;
    return h;
}

}  // namespace

TEST_CASE("classbench: filters parse into rules with networks, ranges and protocol wildcards") {
    auto p = cb::parse_rules(kSample, "s");
    REQUIRE_MESSAGE(p.ok(), p.error_text());
    REQUIRE(p.items.size() == 4);
    const cb::Rule& r1 = p.items[1];
    CHECK(r1.src.addr == 0x5b59f410u);  // 91.89.244.16: host bits cleared
    CHECK(r1.src.len == 29);
    CHECK(r1.dport.lo == 1024);
    CHECK(r1.dport.hi == 65535);
    CHECK(r1.proto == std::optional<std::uint8_t>(17));
    CHECK(p.items[2].line == 4);  // the blank line is skipped, the line number kept
    CHECK(!p.items[2].proto);
    CHECK(cb::weir_rule_name(p.items[2], 2) == "r3");
}

TEST_CASE("classbench: bad filter lines are located errors, never a crash") {
    struct Bad {
        const char* line;
        std::size_t col;
        const char* says;
    };
    const Bad bad[] = {
        {"1.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 : 1\t0x06/0xFF\t0x0/0x0", 1, "expected '@'"},
        {"@1.2.3/32\t1.2.3.4/32\t0 : 1\t0 : 1\t0x06/0xFF\t0x0/0x0", 7, "expected '.'"},
        {"@1.2.3.4/33\t1.2.3.4/32\t0 : 1\t0 : 1\t0x06/0xFF\t0x0/0x0", 10, "0-32"},
        {"@1.2.3.4/32\t1.2.3.256/32\t0 : 1\t0 : 1\t0x06/0xFF\t0x0/0x0", 19, "0-255"},
        {"@1.2.3.4/32\t1.2.3.4/32\t0 : 70000\t0 : 1\t0x06/0xFF\t0x0/0x0", 28, "0-65535"},
        {"@1.2.3.4/32\t1.2.3.4/32\t9 : 1\t0 : 1\t0x06/0xFF\t0x0/0x0", 27, "empty source port range"},
        {"@1.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 - 1\t0x06/0xFF\t0x0/0x0", 32, "'lo : hi'"},
        {"@1.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 : 1\t0x06/0xF0\t0x0/0x0", 41, "only 0x00"},
        {"@1.2.3.4/32\t1.2.3.4/32\t0 : 1", 1, "found 3"},
        {"@1.2.3.4/32 1.2.3.4/32 0 : 1 0 : 1 0x06/0xFF", 1, "found 1"},
        {"@99999999999999999999.2.3.4/32\t1.2.3.4/32\t0 : 1\t0 : 1\t0x06/0xFF\t0x0/0x0", 2, "0-255"},
    };
    for (const Bad& b : bad) {
        const std::string line = b.line;
        CAPTURE(line);
        std::string text = std::string(kSample) + b.line + "\n";
        auto p = cb::parse_rules(text, "f");
        REQUIRE(p.errors.size() == 1);
        CHECK(p.errors[0].line == 6);
        CHECK(p.errors[0].col == b.col);
        CHECK(p.errors[0].text().find(b.says) != std::string::npos);
        CHECK(p.errors[0].text().starts_with("f:6:"));
        CHECK(p.items.size() == 4);  // the good lines are kept
    }
    // Random bytes and mutated lines: errors or rules, nothing else.
    std::mt19937_64 rng(11);
    for (int i = 0; i < 3000; ++i) {
        std::string s = kSample;
        for (int k = int(rng() % 6); k-- > 0;) s[rng() % s.size()] = char(rng());
        if (i % 3 == 0) s.resize(rng() % s.size());
        auto p = cb::parse_rules(s, "m");
        CHECK(p.errors.size() <= cb::kMaxErrors + 1);
        auto t = cb::parse_trace(s, "m");
        CHECK(t.errors.size() <= cb::kMaxErrors + 1);
    }
    std::string many;
    for (int i = 0; i < 100; ++i) many += "garbage\n";
    CHECK(cb::parse_rules(many).errors.size() == cb::kMaxErrors + 1);
    CHECK(cb::load_rules("/nonexistent/classbench").errors.at(0).line == 0);
}

TEST_CASE("classbench: traces parse, with located errors") {
    auto p = cb::parse_trace("0\t4114795065\t0\t123\t6\t33559040\t238\n4294967295\t0\t69\t65535\t17\t0\t732\n");
    REQUIRE_MESSAGE(p.ok(), p.error_text());
    REQUIRE(p.items.size() == 2);
    CHECK(p.items[0].dst == 4114795065u);
    CHECK(p.items[1].src == 0xffffffffu);
    CHECK(p.items[1].filter == 732);
    auto bad = cb::parse_trace("1\t2\t3\t70000\t6\t0\t1\n1\t2\t3\n", "t");
    REQUIRE(bad.errors.size() == 2);
    CHECK(bad.errors[0].text() == "t:1:7: error: bad destination port: expected a decimal number up to 65535, found '70000'");
    CHECK(bad.errors[1].line == 2);
}

TEST_CASE("classbench: first match follows ClassBench semantics") {
    auto p = cb::parse_rules(kSample);
    REQUIRE(p.ok());
    const auto& rules = p.items;
    const std::uint32_t a = 0xed490304u, b = 0x43ec3fd2u;  // 237.73.3.4, 67.236.63.210
    CHECK(cb::first_match(rules, hdr(a, b, 5, 1711, 6)) == 0);
    CHECK(cb::first_match(rules, hdr(a, b, 5, 1711, 17)) == 3);   // wrong protocol: the catch-all
    CHECK(cb::first_match(rules, hdr(a, b, 5, 1712, 6)) == 3);
    CHECK(cb::first_match(rules, hdr(0x5b59f417u, 0xf542ca2fu, 88, 1024, 17)) == 1);
    CHECK(cb::first_match(rules, hdr(0x5b59f418u, 0xf542ca2fu, 88, 1024, 17)) == 3);  // past the /29
    // A port range narrower than 0-65535 needs ports: ICMP does not match rule 1's ports.
    CHECK(cb::first_match(rules, hdr(0x5b59f417u, 0x0a000001u, 88, 1024, 1)) == 2);
    CHECK(cb::first_match(std::span(rules).first(2), hdr(1, 2, 3, 4, 47)) == -1);
}

TEST_CASE("classbench: the policy leaves wildcards out and checks") {
    auto p = cb::parse_rules(kSample);
    REQUIRE(p.ok());
    std::string text = cb::policy_text(p.items, "cb");
    CHECK(text.find("r0: drop if ip4.src == 237.73.3.4/32 and ip4.dst == 67.236.63.210/32 and l4.dport == 1711 "
                    "and ip.proto == 6\n") != std::string::npos);
    CHECK(text.find("r1: drop if ip4.src == 91.89.244.16/29 and ip4.dst == 245.66.202.32/28 and l4.sport == 88 and "
                    "l4.dport == 1024-65535 and ip.proto == 17\n") != std::string::npos);
    CHECK(text.find("r3: drop if ip4.dst == 10.0.0.0/8\n") != std::string::npos);
    CHECK(text.find("r4: drop\n") != std::string::npos);
    CheckOptions copts;
    copts.lint = false;
    auto c = compile_source("cb.weir", text, copts);
    REQUIRE_MESSAGE(c->ok(), render_text(c->sources, c->diags));
}

TEST_CASE("classbench: frames carry the header, generated and derived headers fit their rules") {
    cb::Header h = hdr(0x01020304u, 0x05060708u, 1000, 2000, 6);
    auto f = cb::frame(h);
    REQUIRE(f.size() >= 54);
    CHECK(f[12] == 0x08);
    CHECK(f[23] == 6);
    CHECK(f[26] == 1);
    CHECK(f[33] == 8);
    CHECK((f[34] << 8 | f[35]) == 1000);
    CHECK((f[36] << 8 | f[37]) == 2000);
    CHECK(cb::frame(hdr(1, 2, 3, 4, 17))[23] == 17);
    CHECK(cb::frame(hdr(1, 2, 3, 4, 1))[34] == 8);  // echo request
    CHECK(cb::frame(hdr(1, 2, 3, 4, 0)).size() == 14 + 20 + 8);

    for (cb::Family fam : cb::kFamilies) {
        auto rules = cb::generate_rules(fam, 500, 3);
        auto again = cb::generate_rules(fam, 500, 3);
        REQUIRE(rules.size() == 500);
        CHECK(cb::rules_text(rules) == cb::rules_text(again));  // deterministic
        // Written out and read back, the same set.
        auto back = cb::parse_rules(cb::rules_text(rules));
        REQUIRE_MESSAGE(back.ok(), back.error_text());
        CHECK(cb::rules_text(back.items) == cb::rules_text(rules));
        auto headers = cb::headers_from_rules(rules);
        REQUIRE(headers.size() == rules.size());
        for (std::size_t i = 0; i < rules.size(); ++i) {
            CAPTURE(cb::rule_line(rules[i]));
            CHECK(cb::matches(rules[i], headers[i]));
        }
        std::size_t wild_proto = 0, ranges = 0, wild_src = 0;
        for (const cb::Rule& r : rules) {
            wild_proto += !r.proto;
            ranges += (!r.dport.any() && r.dport.lo != r.dport.hi) || (!r.sport.any() && r.sport.lo != r.sport.hi);
            wild_src += r.src.len == 0;
        }
        const std::string family = cb::family_name(fam);
        CAPTURE(family);
        CHECK(wild_proto > 0);
        CHECK(ranges > 0);
        if (fam == cb::Family::Fw) CHECK(wild_src > rules.size() / 4);
        if (fam == cb::Family::Acl) CHECK(wild_src < rules.size() / 8);
        auto gen = cb::generate_headers(rules, 2000, 5);
        std::size_t hit = 0;
        for (const auto& g : gen) hit += cb::first_match(rules, g) >= 0;
        CHECK(hit > 500);
        if (fam != cb::Family::Fw) CHECK(hit < 2000);  // fw ends with a catch-all
    }
}

TEST_CASE("classbench: pcap files") {
    std::string path = std::filesystem::temp_directory_path() / ("weir-cb-" + std::to_string(::getpid()) + ".pcap");
    std::vector<std::vector<std::uint8_t>> frames = {cb::frame(hdr(1, 2, 3, 4, 6)), cb::frame(hdr(1, 2, 3, 4, 17))};
    std::string err;
    REQUIRE_MESSAGE(cb::write_pcap(path, frames, err), err);
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(bytes.size() == 24 + 2 * 16 + frames[0].size() + frames[1].size());
    std::filesystem::remove(path);
    CHECK(!cb::write_pcap("/nonexistent/dir/x.pcap", frames, err));
    CHECK(!err.empty());
}
