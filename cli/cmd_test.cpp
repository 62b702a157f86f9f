// weir test FILE... [--kernel | --interp] [--pcap CAPTURE [--policy NAME]] [--json]
//
// Runs every test block of the files (weir::api::run_tests): in the kernel (each policy compiled
// and loaded once, each probe's frame run with BPF_PROG_TEST_RUN) or in the reference
// interpreter. With --pcap, replays a capture through the policies instead (weir::api::replay)
// and reports verdict totals and per-rule hits.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "weir/test.hpp"

namespace weir::cli {
namespace {

using json = nlohmann::json;
using api::TestEngine;

api::EngineChoice choose_engine(const TestArgs& a) {
    std::optional<TestEngine> wanted;
    if (a.interp) wanted = TestEngine::Interpreter;
    if (a.kernel) wanted = TestEngine::Kernel;
    api::EngineChoice c = api::choose_test_engine(wanted);
    if (wanted && !c.error) c.why = a.interp ? "--interp given" : "--kernel given";
    return c;
}

std::string location(const api::Location& l) {
    if (!l.valid()) return "?";
    return l.file + ":" + std::to_string(l.line) + ":" + std::to_string(l.column);
}

json probe_json(const api::ProbeResult& p) {
    json j;
    if (p.where.valid()) {
        j["file"] = p.where.file;
        j["line"] = p.where.line;
        j["column"] = p.where.column;
    }
    j["passed"] = p.passed;
    j["expected"] = {{"verdict", p.expected_verdict},
                     {"rule", p.expected_rule.empty() ? json(nullptr) : json(p.expected_rule)}};
    if (p.error.empty())
        j["actual"] = {{"verdict", p.verdict}, {"rule", p.rule}};
    else
        j["error"] = p.error;
    return j;
}

void print_test(const api::TestResult& t) {
    std::cout << (t.passed ? "PASS " : "FAIL ") << t.name << "\n";
    if (!t.error.empty()) std::cout << "    " << t.error << "\n";
    for (const auto& p : t.probes) {
        if (p.passed) continue;
        std::cout << "    " << location(p.where) << ": " << p.statement << "\n"
                  << "        expected: " << p.expected << "\n"
                  << "        actual:   " << p.actual << "\n";
    }
}

int run_tests(const TestArgs& a, const CommonOptions& o, const api::EngineChoice& engine) {
    bool color = use_color(o.color);
    std::size_t passed = 0, failed = 0;
    bool io = false;
    json tests = json::array();
    for (const auto& path : a.files) {
        api::Policy policy = api::Policy::from_file(path, compile_options(o));
        std::cerr << policy.diagnostics_text(color);
        if (policy.io_error()) {
            io = true;
            continue;
        }
        if (!policy.ok()) {
            // A file that does not check has no runnable tests: it counts as one failure.
            ++failed;
            if (!a.json) std::cout << "FAIL " << path << ": the file has errors\n";
            tests.push_back({{"file", path}, {"name", nullptr}, {"passed", false},
                             {"error", "the file has errors"}});
            continue;
        }
        if (!a.json) std::cout << path << ": " << plural(policy.contents().tests, "test", "tests") << "\n" << std::flush;
        api::TestRun run = api::run_tests(policy, engine.engine, color);
        std::cerr << run.diagnostics_text;
        passed += run.passed;
        failed += run.failed;
        for (const auto& t : run.tests) {
            json tj = {{"file", path}, {"name", t.name}, {"policy", t.policy}, {"passed", t.passed}};
            if (!t.error.empty()) tj["error"] = t.error;
            json pj = json::array();
            for (const auto& p : t.probes) pj.push_back(probe_json(p));
            tj["probes"] = std::move(pj);
            tests.push_back(std::move(tj));
            if (!a.json) print_test(t);
        }
    }
    if (a.json) {
        json j = {{"mode", api::engine_name(engine.engine)}, {"mode_reason", engine.why}, {"tests", tests},
                  {"passed", passed}, {"failed", failed}};
        std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    } else {
        std::cout << passed << " passed, " << failed << " failed\n";
    }
    if (io) return kExitUsage;
    return failed ? kExitFindings : kExitOk;
}

// ---------------------------------------------------------------------------------------------
// Capture replay

struct FileReplay {
    std::string file;
    api::Replay r;
};

json counter_json(const api::Counter& t) { return {{"packets", t.packets}, {"bytes", t.bytes}}; }

void print_replays_json(const TestArgs& a, const api::EngineChoice& engine, const api::Capture& cap,
                        const std::vector<FileReplay>& replays) {
    json pols = json::array();
    for (const auto& [file, r] : replays) {
        json pj = {{"file", file}, {"policy", r.policy}};
        if (!r.error.empty()) {
            pj["error"] = r.error;
            pols.push_back(std::move(pj));
            continue;
        }
        json v = json::object();
        for (const auto& [name, c] : r.verdicts) v[name] = counter_json(c);
        pj["verdicts"] = std::move(v);
        pj["default"] = counter_json(r.by_default);
        pj["malformed"] = counter_json(r.malformed);
        pj["errors"] = counter_json(r.errors);
        pj["not_run"] = r.not_run;
        if (r.not_run) pj["not_run_reason"] = r.not_run_reason;
        json rules = json::array();
        for (const auto& rule : r.rules)
            rules.push_back({{"rule", rule.name}, {"action", rule.action}, {"packets", rule.counter.packets},
                             {"bytes", rule.counter.bytes}});
        pj["rules"] = std::move(rules);
        pols.push_back(std::move(pj));
    }
    json j = {{"mode", api::engine_name(engine.engine)}, {"mode_reason", engine.why},
              {"capture", a.pcap},                       {"packets", cap.frames.size()},
              {"skipped_short", cap.short_frames},       {"truncated", cap.truncated},
              {"policies", pols}};
    std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

void print_replay(const FileReplay& fr, bool kernel) {
    const api::Replay& r = fr.r;
    std::cout << "\npolicy '" << r.policy << "' (" << fr.file << ")\n";
    if (!r.error.empty()) {
        std::cout << "    " << r.error << "\n";
        return;
    }
    std::cout << "  verdicts:";
    for (const auto& [name, t] : r.verdicts) {
        if (name == "aborted" && t.packets == 0) continue;
        std::cout << "  " << name << " " << t.packets << " (" << t.bytes << " bytes)";
    }
    std::cout << "\n  default: " << r.by_default.packets << " (" << r.by_default.bytes
              << " bytes)  malformed: " << r.malformed.packets;
    if (kernel) std::cout << "  errors: " << r.errors.packets;
    std::cout << "\n";
    if (r.not_run) std::cout << "  not run: " << r.not_run << " (the first: " << r.not_run_reason << ")\n";
    std::size_t width = 4;
    for (const auto& rule : r.rules) width = std::max(width, rule.name.size());
    std::printf("  %-*s %10s %12s\n", int(width), "rule", "packets", "bytes");
    for (const auto& rule : r.rules)
        std::printf("  %-*s %10llu %12llu\n", int(width), rule.name.c_str(),
                    (unsigned long long)rule.counter.packets, (unsigned long long)rule.counter.bytes);
    std::fflush(stdout);
}

int run_pcap(const TestArgs& a, const CommonOptions& o, const api::EngineChoice& engine) {
    bool color = use_color(o.color);
    api::Result<api::Capture> cap = api::read_capture(a.pcap);
    if (!cap) {
        std::cerr << "weir test: " << cap.error.message << "\n";
        return kExitUsage;
    }
    int rc = kExitOk;
    std::vector<FileReplay> replays;
    for (const auto& path : a.files) {
        api::Policy policy = api::Policy::from_file(path, compile_options(o));
        std::cerr << policy.diagnostics_text(color);
        if (policy.io_error()) {
            rc = kExitUsage;
            continue;
        }
        if (!policy.ok()) {
            if (rc == kExitOk) rc = kExitFindings;
            continue;
        }
        if (!a.policy.empty())
            if (auto chosen = policy.select(a.policy); !chosen) {
                std::cerr << "weir test: " << chosen.error.message << "\n";
                rc = kExitUsage;
                continue;
            }
        api::ReplayRun run = api::replay(policy, *cap, engine.engine, a.policy, color);
        std::cerr << run.diagnostics_text;
        for (auto& r : run.replays) {
            if (!r.error.empty() && rc == kExitOk) rc = kExitFindings;
            replays.push_back({path, std::move(r)});
        }
    }
    if (a.json) {
        print_replays_json(a, engine, *cap, replays);
        return rc;
    }
    std::cout << a.pcap << ": " << plural(cap->frames.size(), "packet", "packets");
    if (cap->short_frames) std::cout << ", " << cap->short_frames << " shorter than 14 bytes skipped";
    if (cap->truncated) std::cout << ", " << cap->truncated << " truncated by the capture's snap length";
    std::cout << "\n";
    for (const auto& fr : replays) print_replay(fr, engine.engine == TestEngine::Kernel);
    return rc;
}

}  // namespace

int cmd_test(const TestArgs& a, const CommonOptions& o) {
    api::EngineChoice engine = choose_engine(a);
    if (engine.error) {
        std::cerr << "weir test: --kernel: " << engine.error.message << "\n";
        return kExitUsage;
    }
    std::string line = std::string("weir test: using the ") +
                       (engine.engine == TestEngine::Kernel ? "kernel (BPF_PROG_TEST_RUN)" : "interpreter") +
                       ": " + engine.why;
    if (!a.json) std::cout << line << "\n" << std::flush;
    return a.pcap.empty() ? run_tests(a, o, engine) : run_pcap(a, o, engine);
}

}  // namespace weir::cli
