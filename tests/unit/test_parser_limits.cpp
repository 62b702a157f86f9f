// The nesting limit (parser.hpp kMaxNesting, docs/language.md "Limits"): conditions nested far
// past it get one located `nesting-too-deep` error instead of overflowing the stack, and nesting
// right up to it still goes through every pass (parse, check, lint, fmt, dumps, plan,
// interpreter) on a 1 MiB thread stack, which the ASan pass makes a real bound.
#include <doctest/doctest.h>
#include <pthread.h>

#include <functional>
#include <string>

#include "ast_dump.hpp"
#include "checked_dump.hpp"
#include "driver.hpp"
#include "fmt.hpp"
#include "interp.hpp"
#include "parse.h"
#include "parser.hpp"
#include "plan.hpp"
#include "plan_dump.hpp"

using namespace weir;

namespace {

constexpr const char* kPath = "/nonexistent/limits.weir";
constexpr const char* kHead = "policy p default pass {\n    r: drop if ";

std::string repeat(std::string_view s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

// A rule whose condition opens `opens` levels of `open` around `tcp.dport == 22`.
std::string nested(std::string_view open, std::string_view close, int opens) {
    return std::string(kHead) + repeat(open, opens) + "tcp.dport == 22" + repeat(close, opens) + "\n}\n";
}

std::unique_ptr<Compilation> compile(const std::string& text) {
    CheckOptions o;
    o.lint = true;
    return compile_source(kPath, text, o);
}

// The single error of c; its code, and the column its range starts at on line 2.
void check_too_deep(const Compilation& c, std::uint32_t opening_offset, std::uint32_t opening_len) {
    REQUIRE(c.diags.list().size() == 1);
    const Diagnostic& d = c.diags.list()[0];
    CHECK(d.code == "nesting-too-deep");
    CHECK(d.severity == Severity::Error);
    CHECK(d.range.begin == opening_offset);
    CHECK(d.range.end == opening_offset + opening_len);
    CHECK(render_text(c.sources, c.diags).find("more than 256 levels") != std::string::npos);
}

// Runs f on a thread with a 1 MiB stack (a daemon worker thread's size, not the main thread's 8).
void on_small_stack(std::function<void()> f) {
    pthread_attr_t attr;
    REQUIRE(pthread_attr_init(&attr) == 0);
    REQUIRE(pthread_attr_setstacksize(&attr, 1 << 20) == 0);
    pthread_t t;
    auto run = [](void* p) -> void* {
        (*static_cast<std::function<void()>*>(p))();
        return nullptr;
    };
    REQUIRE(pthread_create(&t, &attr, run, &f) == 0);
    REQUIRE(pthread_join(t, nullptr) == 0);
    pthread_attr_destroy(&attr);
}

// A TCP/IPv4 frame to port `dport` (Ethernet + IPv4 + TCP headers, no payload).
std::vector<std::uint8_t> tcp_frame(std::uint16_t dport) {
    std::vector<std::uint8_t> f(14 + 20 + 20, 0);
    f[12] = 0x08;
    f[14] = 0x45;
    f[16] = 0;
    f[17] = 40;
    f[22] = 64;
    f[23] = 6;
    f[14 + 20 + 2] = static_cast<std::uint8_t>(dport >> 8);
    f[14 + 20 + 3] = static_cast<std::uint8_t>(dport);
    f[14 + 20 + 12] = 0x50;
    return f;
}

}  // namespace

TEST_CASE("10,000 nested parentheses: nesting-too-deep at the 257th '('") {
    std::string text = nested("(", ")", 10000);
    auto c = compile(text);
    CHECK_FALSE(c->ok());
    check_too_deep(*c, static_cast<std::uint32_t>(std::string(kHead).size()) + kMaxNesting, 1);
    std::string out = render_text(c->sources, c->diags);
    CHECK(out.find("limits.weir:2:" + std::to_string(16 + kMaxNesting) + ": error:") != std::string::npos);
}

TEST_CASE("10,000 nested 'not's: nesting-too-deep at the 257th 'not'") {
    auto c = compile(nested("not ", "", 10000));
    CHECK_FALSE(c->ok());
    check_too_deep(*c, static_cast<std::uint32_t>(std::string(kHead).size()) + 4 * kMaxNesting, 3);
}

TEST_CASE("parentheses and 'not' count together") {
    // 128 x "not (" is 256 levels; one more '(' is the 257th.
    std::string text = std::string(kHead) + repeat("not (", kMaxNesting / 2) + "(tcp.dport == 22)" +
                       repeat(")", kMaxNesting / 2) + "\n}\n";
    auto c = compile(text);
    check_too_deep(*c, static_cast<std::uint32_t>(std::string(kHead).size()) + 5 * (kMaxNesting / 2), 1);
}

TEST_CASE("the count is per condition: two rules nested 200 deep each are fine") {
    std::string rule = repeat("(", 200) + "tcp.dport == 22" + repeat(")", 200);
    std::string text = "policy p default pass {\n    a: count if " + rule + "\n    b: drop if " + rule +
                       " and tcp.dport not in { 1 }\n}\n";
    auto c = compile(text);
    CHECK_MESSAGE(c->ok(), render_text(c->sources, c->diags));
}

TEST_CASE("nesting exactly at the limit goes through every pass on a 1 MiB stack") {
    // 256 levels alternating `not` and '(': an even number of nots, so the rule drops port 22.
    std::string text = std::string(kHead) + repeat("not (", kMaxNesting / 2) + "tcp.dport == 22" +
                       repeat(")", kMaxNesting / 2) + "\n}\n";
    on_small_stack([&] {
        auto c = compile(text);
        REQUIRE_MESSAGE(c->ok(), render_text(c->sources, c->diags));
        REQUIRE(c->files.size() == 1);
        std::string formatted = format(c->sources, c->files[0]);
        // fmt drops the redundant parentheses and keeps every `not`.
        CHECK(formatted.find(repeat("not ", kMaxNesting / 2) + "tcp.dport == 22") != std::string::npos);
        auto again = compile(formatted);
        CHECK(again->ok());
        CHECK(dump(again->program) == dump(c->program));
        CHECK_FALSE(dump_ast(c->sources, c->files[0]).empty());

        const Program& prog = c->program;
        REQUIRE(prog.policies.size() == 1);
        Plan plan = plan_policy(prog, 0);
        CHECK_FALSE(dump_plan(plan).empty());
        for (std::uint16_t port : {22, 23}) {
            auto f = tcp_frame(port);
            weir_pkt pkt{};
            weir_parse(f.data(), f.data() + f.size(), &pkt);
            Decision d = evaluate(prog, prog.policies[0], pkt, f, "lo");
            CHECK(d.rule == (port == 22 ? 0 : -1));
        }
    });
}
