// The isolated compile (compiler/codegen/codegen_worker.*): every way LLVM can end its process, forced in
// the worker through CodegenOptions::inject_fault, comes back as a CodegenResult error naming what
// happened, and this process goes on compiling; a normal compile gives the in-process bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "codegen.hpp"
#include "driver.hpp"
#include "plan.hpp"
#include "test_runner.hpp"

using namespace weir;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Compilation> check(const std::string& text) {
    CheckOptions opts;
    opts.lint = false;
    auto c = compile_source("/tmp/weir-cgw/policy.weir", text, opts);
    REQUIRE(c->ok());
    return c;
}

const char* kSmall = R"(set admins : ip = { 198.51.100.0/24, 2001:db8:ad::/48 }

policy small default drop {
    syns:   count if tcp.flags.syn and not tcp.flags.ack
    admins: pass if tcp.dport == 22 and ip.src in @admins
    get:    drop if payload[0:4] == "GET "
    web:    pass if tcp.dport in { 80, 443, 8000-8099 }
}
)";

CodegenOptions isolated() {
    CodegenOptions o;
    o.isolate = true;
    return o;
}

CodegenOptions in_process() {
    CodegenOptions o;
    o.isolate = false;
    return o;
}

// After a failed worker, this process still compiles.
void still_compiles() {
    auto c = check(kSmall);
    Plan plan = plan_policy(c->program, 0);
    CodegenResult r = codegen(plan, c->sources, EmitKind::Obj, isolated());
    REQUIRE_MESSAGE(r.ok(), r.error);
    CHECK(r.failure == CodegenFailure::None);
    CHECK(r.bytes.size() > 0);
}

CodegenResult with_fault(const std::string& fault, CodegenOptions o = isolated()) {
    auto c = check(kSmall);
    Plan plan = plan_policy(c->program, 0);
    o.inject_fault = fault;
    CodegenResult r = codegen(plan, c->sources, EmitKind::Obj, o);
    CHECK_FALSE(r.ok());
    CHECK(r.bytes.empty());
    return r;
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#elif defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

}  // namespace

TEST_CASE("the worker's objects are the in-process bytes for every example, assembly and IR too") {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(fs::path(WEIR_SOURCE_DIR) / "examples"))
        if (e.path().extension() == ".weir") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    REQUIRE(!files.empty());
    for (const fs::path& path : files) {
        CAPTURE(path.string());
        CheckOptions copts;
        copts.lint = false;
        auto c = compile_file(path.string(), copts);
        REQUIRE(c->ok());
        for (std::size_t p = 0; p < c->program.policies.size(); ++p) {
            Plan plan = plan_policy(c->program, static_cast<int>(p));
            std::vector<EmitKind> kinds{EmitKind::Obj};
            if (path == files.front() && p == 0) kinds = {EmitKind::Obj, EmitKind::Asm, EmitKind::IR};
            for (EmitKind kind : kinds) {
                CodegenResult a = codegen(plan, c->sources, kind, isolated());
                CodegenResult b = codegen(plan, c->sources, kind, in_process());
                REQUIRE_MESSAGE(a.ok(), a.error);
                REQUIRE_MESSAGE(b.ok(), b.error);
                CHECK(a.bytes == b.bytes);
            }
        }
    }
}

TEST_CASE("a result larger than the pipe's buffer arrives whole") {
    std::string text = "policy big default pass {\n";
    for (int i = 0; i < 400; ++i)
        text += "    r" + std::to_string(i) + ": drop if tcp.dport == " + std::to_string(1000 + i) +
                " and ip.src == 198.18." + std::to_string(i % 256) + ".0/24 and ip.ttl < " +
                std::to_string(i % 200 + 2) + "\n";
    text += "}\n";
    auto c = check(text);
    PlanOptions linear;
    linear.mode = PlanOptions::Mode::Linear;
    Plan plan = plan_policy(c->program, 0, linear);
    CodegenResult a = codegen(plan, c->sources, EmitKind::Asm, isolated());
    CodegenResult b = codegen(plan, c->sources, EmitKind::Asm, in_process());
    REQUIRE_MESSAGE(a.ok(), a.error);
    REQUIRE(b.ok());
    REQUIRE(b.bytes.size() > 4 * 65536);  // well beyond a pipe's default 64 KiB
    CHECK(a.bytes == b.bytes);
}

TEST_CASE("a codegen error comes back from the worker as it is in process") {
    auto c = check(R"(policy p default pass {
    lo-only: drop if pkt.iface == "lo"
    others:  drop if pkt.iface in { "nope0", "lo" }
})");
    Plan plan = plan_policy(c->program, 0);
    CodegenResult a = codegen(plan, c->sources, EmitKind::Obj, isolated());
    CodegenResult b = codegen(plan, c->sources, EmitKind::Obj, in_process());
    CHECK_FALSE(a.ok());
    CHECK(a.failure == CodegenFailure::Error);
    CHECK(b.failure == CodegenFailure::Error);
    CHECK(a.error == b.error);
    CHECK(has(a.error, "policy.weir:2:"));
}

TEST_CASE("ifindex_of's side effects happen in the caller's process, in the worker's order") {
    auto c = check(R"(policy p default pass {
    a: drop if pkt.iface == "weirx1"
    b: drop if pkt.iface in { "weirx2", "weirx1" }
})");
    Plan plan = plan_policy(c->program, 0);
    auto run = [&](CodegenOptions o, std::vector<std::string>& seen) {
        o.ifindex_of = [&seen](const std::string& name) -> std::optional<std::uint32_t> {
            seen.push_back(name);
            return 0x7fff0000u + static_cast<std::uint32_t>(seen.size());
        };
        return codegen(plan, c->sources, EmitKind::Obj, o);
    };
    std::vector<std::string> worker, local;
    CodegenResult a = run(isolated(), worker);
    CodegenResult b = run(in_process(), local);
    REQUIRE_MESSAGE(a.ok(), a.error);
    REQUIRE(b.ok());
    CHECK(!local.empty());
    CHECK(worker == local);
    CHECK(a.bytes == b.bytes);
}

TEST_CASE("an LLVM fatal error ends the worker, not this process") {
    CodegenResult r = with_fault("fatal");
    CHECK(r.failure == CodegenFailure::LlvmFatal);
    CHECK_MESSAGE(has(r.error, "LLVM failed: injected fatal error"), r.error);
    still_compiles();
}

TEST_CASE("an abort in the worker is reported as a crash with its signal") {
    CodegenResult r = with_fault("abort");
    CHECK(r.failure == CodegenFailure::Crash);
    CHECK_MESSAGE(has(r.error, "the compiler crashed (signal 6"), r.error);
    CHECK(has(r.error, "report it"));
    still_compiles();
}

TEST_CASE("a memory blow-up stops at the worker's memory limit") {
    CodegenOptions o = isolated();
    o.memory_limit = std::uint64_t{256} << 20;
    CodegenResult r = with_fault("memory", o);
    if (kAsan) {
        // ASan ends the process itself when an allocation fails; the worker says so.
        CHECK(r.failure == CodegenFailure::Crash);
        CHECK_MESSAGE(has(r.error, "address sanitizer"), r.error);
        CHECK(has(r.error, "256 MiB memory limit"));
    } else {
        CHECK(r.failure == CodegenFailure::OutOfMemory);
        CHECK_MESSAGE(has(r.error, "the compiler ran out of its 256 MiB memory limit"), r.error);
        CHECK(has(r.error, "split the policy"));
    }
    still_compiles();
}

TEST_CASE("a hang is killed at the worker's CPU time limit") {
    CodegenOptions o = isolated();
    o.time_limit_ms = 300;  // 1 s of CPU time (whole seconds), 4 s in all
    CodegenResult r = with_fault("hang", o);
    CHECK(r.failure == CodegenFailure::Timeout);
    CHECK_MESSAGE(has(r.error, "did not finish within its time limit (1 s of CPU time, 4 s in all)"), r.error);
    still_compiles();
}

TEST_CASE("a worker that waits without using CPU is killed at the wall-time limit") {
    CodegenOptions o = isolated();
    o.time_limit_ms = 300;
    CodegenResult r = with_fault("stall", o);
    CHECK(r.failure == CodegenFailure::Timeout);
    CHECK_MESSAGE(has(r.error, "did not finish within its time limit"), r.error);
    still_compiles();
}

TEST_CASE("the fault hook refuses what could take the machine down, and unknown names") {
    CodegenOptions o = isolated();
    o.memory_limit = 0;
    CHECK(has(with_fault("memory", o).error, "needs a memory limit"));
    o = isolated();
    o.time_limit_ms = 0;
    CHECK(has(with_fault("hang", o).error, "needs a time limit"));
    CHECK(has(with_fault("stall", o).error, "needs a time limit"));
    CodegenResult r = with_fault("nonsense");
    CHECK(r.failure == CodegenFailure::Error);
    CHECK(has(r.error, "unknown inject_fault"));
}
