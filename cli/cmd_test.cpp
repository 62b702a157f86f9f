// weir test FILE... [--kernel | --interp] [--pcap CAPTURE [--policy NAME]] [--json]
//
// Runs every test block of the files: in the kernel (each policy compiled and loaded once, each
// probe's frame run with BPF_PROG_TEST_RUN, the deciding rule read from weir_last) or in the
// reference interpreter. With --pcap, replays a capture through the policies instead and
// reports verdict totals and per-rule hits.
#include <net/if.h>
#include <pcap/pcap.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "actions.hpp"
#include "artifact.hpp"
#include "commands.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "loaded_policy.hpp"
#include "parse.h"
#include "probe.hpp"
#include "test_frames.hpp"

namespace weir::cli {
namespace {

using json = nlohmann::json;

enum class Mode { Kernel, Interp };

struct ModeChoice {
    Mode mode = Mode::Interp;
    std::string why;
    bool usable = true;  // false: --kernel asked for but impossible (exit 2)
};

ModeChoice choose_mode(const TestArgs& a) {
    if (a.interp) return {Mode::Interp, "--interp given", true};
    bpf::Status k = bpf::probe_xdp_support();
    if (a.kernel) {
        if (!k) return {Mode::Kernel, k.error().message, false};
        return {Mode::Kernel, "--kernel given", true};
    }
    if (k) return {Mode::Kernel, "this process can load BPF programs (use --interp for the interpreter)", true};
    return {Mode::Interp, k.error().message, true};
}

CheckOptions check_options(const CommonOptions& o) {
    CheckOptions opts;
    opts.load.include_dirs = o.include_dirs;
    opts.werror = o.werror;
    return opts;
}

const char* mode_name(Mode m) { return m == Mode::Kernel ? "kernel" : "interpreter"; }

std::string location(const SourceManager& sm, SourceRange r) {
    if (!r.valid()) return "?";
    LineCol lc = sm.line_col(r.file, r.begin);
    return sm.file(r.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.col);
}

// One compiled file, and per policy its loaded program (kernel mode, loaded on first use).
struct FileRun {
    std::string path;
    std::shared_ptr<const Compilation> c;
    std::map<int, std::unique_ptr<LoadedPolicy>> loaded;
    std::map<int, std::string> load_error;  // policy -> why it could not be loaded
};

// The loaded program of policy `p`, or nullptr with load_error[p] set (diagnostics printed): the
// policy's built artifact, as `weir load` builds it, loaded privately (nothing attached).
LoadedPolicy* loaded_policy(FileRun& f, int p, bool color) {
    if (auto it = f.loaded.find(p); it != f.loaded.end()) return it->second.get();
    if (f.load_error.count(p)) return nullptr;
    const Policy& pol = f.c->program.policies[p];
    BuildResult built = build_artifact(f.c, pol.name, host_codegen_options(true, nullptr, true));
    if (!built.ok()) {
        std::cerr << f.path << ": error: " << built.error << "\n";
        f.load_error[p] = "policy '" + pol.name + "' could not be compiled";
        return nullptr;
    }
    const Artifact& art = *built.artifact;
    Diagnostics diags;
    KernelLoadOptions lo;
    lo.placeholder_redirects = true;
    lo.object_name = pol.name;
    auto lp = LoadedPolicy::load(art.plan, art.sources(), art.object, diags, lo);
    std::cerr << render_text(f.c->sources, diags, color);
    if (!lp) {
        f.load_error[p] = "policy '" + pol.name + "' could not be loaded into the kernel";
        return nullptr;
    }
    return (f.loaded[p] = std::move(lp)).get();
}

// ---------------------------------------------------------------------------------------------
// Test blocks

struct ProbeOutcome {
    const Probe* probe = nullptr;
    bool passed = false;
    std::string error;             // could not run
    std::optional<Verdict> verdict;  // nullopt: the program aborted (or did not run)
    int rule = -1;                 // deciding rule, -1: default
};

ProbeOutcome run_in_kernel(const LoadedPolicy& lp, const Probe& probe) {
    KernelProbe k = run_probe(lp, probe);
    ProbeOutcome out;
    out.probe = &probe;
    out.error = std::move(k.error);
    out.verdict = k.verdict;
    out.rule = k.rule;
    out.passed = k.passed;
    return out;
}

ProbeOutcome run_in_interp(const Program& prog, const Policy& pol, const Probe& probe, LimitState& limits) {
    ProbeOutcome out;
    out.probe = &probe;
    ProbeRun r = run_probe(prog, pol, probe, &limits);
    if (!r.error.empty()) {
        out.error = r.error;
        return out;
    }
    out.verdict = r.decision.verdict;
    out.rule = r.decision.rule;
    out.passed = r.passed;
    return out;
}

std::string rule_text(const Policy& pol, int rule) { return rule < 0 ? "default" : pol.rules.at(rule).name; }

json probe_json(const SourceManager& sm, const Policy& pol, const ProbeOutcome& o) {
    const Probe& p = *o.probe;
    json j;
    if (p.range.valid()) {
        LineCol lc = sm.line_col(p.range.file, p.range.begin);
        j["file"] = sm.file(p.range.file).path;
        j["line"] = lc.line;
        j["column"] = lc.col;
    }
    j["passed"] = o.passed;
    j["expected"] = {{"verdict", verdict_name(p.expect)},
                     {"rule", p.by_default ? json("default")
                              : p.by_rule >= 0 ? json(pol.rules.at(p.by_rule).name)
                                               : json(nullptr)}};
    if (o.error.empty())
        j["actual"] = {{"verdict", o.verdict ? verdict_name(*o.verdict) : "aborted"},
                       {"rule", rule_text(pol, o.rule)}};
    else
        j["error"] = o.error;
    return j;
}

int run_tests(const TestArgs& a, const CommonOptions& o, const ModeChoice& mode) {
    bool color = use_color(o.color);
    std::size_t passed = 0, failed = 0;
    bool io = false;
    json tests = json::array();
    for (const auto& path : a.files) {
        FileRun f{path, compile_file(path, check_options(o)), {}, {}};
        std::cerr << render_text(f.c->sources, f.c->diags, color);
        if (f.c->io_error) {
            io = true;
            continue;
        }
        if (!f.c->ok()) {
            // A file that does not check has no runnable tests: it counts as one failure.
            ++failed;
            if (!a.json) std::cout << "FAIL " << path << ": the file has errors\n";
            tests.push_back({{"file", path}, {"name", nullptr}, {"passed", false},
                             {"error", "the file has errors"}});
            continue;
        }
        const Program& prog = f.c->program;
        if (!a.json) std::cout << path << ": " << plural(prog.tests.size(), "test", "tests") << "\n";
        for (const TestCase& t : prog.tests) {
            const Policy& pol = prog.policies.at(t.policy);
            std::vector<ProbeOutcome> outcomes;
            std::string setup_error;
            LoadedPolicy* lp = nullptr;
            if (mode.mode == Mode::Kernel) {
                lp = loaded_policy(f, t.policy, color);
                if (!lp) setup_error = f.load_error[t.policy];
            }
            bool ok = setup_error.empty();
            // Rate limits: each test block starts with full buckets, its probes all arrive at
            // WEIR_LIMIT_TEST_CLOCK_NS (docs/language.md "Rate limits"), in both modes.
            LimitState limits;
            if (lp && ok)
                if (auto st = lp->reset_limits(WEIR_LIMIT_TEST_CLOCK_NS); !st) {
                    setup_error = "cannot reset the rate-limit table: " + st.error().message;
                    ok = false;
                }
            if (ok)
                for (const Probe& p : t.probes) {
                    outcomes.push_back(lp ? run_in_kernel(*lp, p) : run_in_interp(prog, pol, p, limits));
                    ok = ok && outcomes.back().passed;
                }
            (ok ? passed : failed) += 1;
            json tj = {{"file", path}, {"name", t.name}, {"policy", pol.name}, {"passed", ok}};
            if (!setup_error.empty()) tj["error"] = setup_error;
            json pj = json::array();
            for (const auto& out : outcomes) pj.push_back(probe_json(f.c->sources, pol, out));
            tj["probes"] = std::move(pj);
            tests.push_back(std::move(tj));
            if (a.json) continue;
            std::cout << (ok ? "PASS " : "FAIL ") << t.name << "\n";
            if (!setup_error.empty()) std::cout << "    " << setup_error << "\n";
            for (const auto& out : outcomes) {
                if (out.passed) continue;
                const SourceManager& sm = f.c->sources;
                std::string line;
                if (out.probe->range.valid())
                    line = std::string(sm.line_text(out.probe->range.file,
                                                    sm.line_col(out.probe->range.file,
                                                                out.probe->range.begin).line));
                std::size_t b = line.find_first_not_of(" \t");
                std::cout << "    " << location(sm, out.probe->range) << ": "
                          << (b == std::string::npos ? line : line.substr(b)) << "\n"
                          << "        expected: " << expected_text(pol, *out.probe) << "\n"
                          << "        actual:   " << outcome_text(pol, out.verdict, out.rule, out.error) << "\n";
            }
        }
    }
    if (a.json) {
        json j = {{"mode", mode_name(mode.mode)}, {"mode_reason", mode.why}, {"tests", tests},
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

struct Tally {
    std::uint64_t packets = 0, bytes = 0;
    void add(std::uint64_t b) {
        ++packets;
        bytes += b;
    }
};

struct Replay {
    std::string file;
    int policy = -1;
    const Policy* pol = nullptr;
    std::vector<Tally> rules;
    std::map<std::uint32_t, Tally> verdicts;  // by XDP action
    Tally by_default, malformed, errors;
    std::string error;                        // the policy could not be replayed at all
    std::uint64_t not_run = 0;                // frames the kernel refused to run
    std::string not_run_reason;               // why, for the first of them
};

struct Capture {
    std::vector<std::vector<std::uint8_t>> frames;
    std::uint64_t truncated = 0;  // captured with a snap length shorter than the packet
    std::uint64_t short_frames = 0;  // under 14 bytes: not replayed
};

// Reads every frame of an Ethernet capture; false after printing why not.
bool read_capture(const std::string& path, Capture& cap) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    if (!p) {
        std::cerr << "weir test: cannot read capture '" << path << "': " << errbuf << "\n";
        return false;
    }
    int link = pcap_datalink(p);
    if (link != DLT_EN10MB) {
        const char* name = pcap_datalink_val_to_name(link);
        std::cerr << "weir test: capture '" << path << "' has link type " << (name ? name : "?")
                  << " (" << link << "); only Ethernet captures (EN10MB) can be replayed through "
                  << "an XDP policy\n";
        pcap_close(p);
        return false;
    }
    pcap_pkthdr* hdr;
    const u_char* data;
    int rc;
    while ((rc = pcap_next_ex(p, &hdr, &data)) == 1) {
        if (hdr->caplen < hdr->len) ++cap.truncated;
        if (hdr->caplen < 14) {
            ++cap.short_frames;
            continue;
        }
        cap.frames.emplace_back(data, data + hdr->caplen);
    }
    if (rc == PCAP_ERROR) {
        std::cerr << "weir test: error reading capture '" << path << "': " << pcap_geterr(p) << "\n";
        pcap_close(p);
        return false;
    }
    pcap_close(p);
    return true;
}

// Rate limits in a replay: the whole capture arrives at one instant (WEIR_LIMIT_TEST_CLOCK_NS)
// with full buckets, in both modes, so the two agree.
void replay_interp(const Program& prog, const Capture& cap, Replay& r) {
    LimitState limits;
    for (const auto& frame : cap.frames) {
        weir_pkt pkt{};
        weir_parse(frame.data(), frame.data() + frame.size(), &pkt);
        Decision d = evaluate(prog, *r.pol, pkt, frame, "", &limits);
        std::uint64_t len = frame.size();
        for (int c : d.counted) r.rules.at(c).add(len);
        if (d.rule >= 0) r.rules.at(d.rule).add(len);
        else r.by_default.add(len);
        if (pkt.malformed) r.malformed.add(len);
        r.verdicts[action_of_verdict(d.verdict)].add(len);
    }
}

void replay_kernel(LoadedPolicy& lp, const Capture& cap, Replay& r) {
    if (auto st = lp.reset_limits(WEIR_LIMIT_TEST_CLOCK_NS); !st)
        std::cerr << "weir test: cannot reset the rate-limit table: " << st.error().message << "\n";
    for (const auto& frame : cap.frames) {
        // Only the counters matter here: no need for the last decision (lp.run()).
        auto run = bpf::test_run(lp.program_fd(), frame);
        if (!run) {
            // E.g. a frame larger than BPF_PROG_TEST_RUN takes (about 3.5 KB: a capture of
            // GRO-merged packets): counted, and the replay goes on.
            if (r.not_run++ == 0) r.not_run_reason = run.error().message;
        }
    }
    auto get = [&](bpf::Result<bpf::Counter> c, Tally& t) {
        if (!c) {
            r.error = "reading the counters failed: " + c.error().message;
            return;
        }
        t.packets = c->packets;
        t.bytes = c->bytes;
    };
    for (std::size_t i = 0; i < r.rules.size(); ++i) get(lp.rule_counter(i), r.rules[i]);
    for (std::uint32_t a : kReportedActions) get(lp.verdict_counter(a), r.verdicts[a]);
    get(lp.stat_counter(WEIR_STAT_DEFAULT), r.by_default);
    get(lp.stat_counter(WEIR_STAT_MALFORMED), r.malformed);
    get(lp.stat_counter(WEIR_STAT_ERROR), r.errors);
}

json tally_json(const Tally& t) { return {{"packets", t.packets}, {"bytes", t.bytes}}; }

int run_pcap(const TestArgs& a, const CommonOptions& o, const ModeChoice& mode) {
    bool color = use_color(o.color);
    Capture cap;
    if (!read_capture(a.pcap, cap)) return kExitUsage;
    int rc = kExitOk;
    std::vector<FileRun> files;
    std::vector<Replay> replays;
    for (const auto& path : a.files) {
        FileRun f{path, compile_file(path, check_options(o)), {}, {}};
        std::cerr << render_text(f.c->sources, f.c->diags, color);
        if (f.c->io_error) {
            rc = kExitUsage;
            continue;
        }
        if (!f.c->ok()) {
            if (rc == kExitOk) rc = kExitFindings;
            continue;
        }
        const Program& prog = f.c->program;
        if (!a.policy.empty() && prog.find_policy(a.policy) < 0) {
            std::cerr << "weir test: no policy named '" << a.policy << "' in " << path << "\n";
            rc = kExitUsage;
            continue;
        }
        for (std::size_t p = 0; p < prog.policies.size(); ++p) {
            if (!a.policy.empty() && prog.policies[p].name != a.policy) continue;
            Replay r;
            r.file = path;
            r.policy = int(p);
            r.pol = &prog.policies[p];
            r.rules.resize(r.pol->rules.size());
            if (mode.mode == Mode::Kernel) {
                LoadedPolicy* lp = loaded_policy(f, int(p), color);
                if (lp) replay_kernel(*lp, cap, r);
                else r.error = f.load_error[int(p)];
            } else {
                replay_interp(prog, cap, r);
            }
            if (!r.error.empty() && rc == kExitOk) rc = kExitFindings;
            replays.push_back(std::move(r));
        }
        files.push_back(std::move(f));  // keeps the policies the replays point into alive
    }

    if (a.json) {
        json pols = json::array();
        for (const Replay& r : replays) {
            json pj = {{"file", r.file}, {"policy", r.pol->name}};
            if (!r.error.empty()) {
                pj["error"] = r.error;
                pols.push_back(std::move(pj));
                continue;
            }
            json v = json::object();
            for (std::uint32_t act : kReportedActions) {
                auto it = r.verdicts.find(act);
                v[action_name(act)] = tally_json(it == r.verdicts.end() ? Tally{} : it->second);
            }
            pj["verdicts"] = std::move(v);
            pj["default"] = tally_json(r.by_default);
            pj["malformed"] = tally_json(r.malformed);
            pj["errors"] = tally_json(r.errors);
            pj["not_run"] = r.not_run;
            if (r.not_run) pj["not_run_reason"] = r.not_run_reason;
            json rules = json::array();
            for (std::size_t i = 0; i < r.rules.size(); ++i) {
                const Rule& rule = r.pol->rules[i];
                rules.push_back({{"rule", rule.name},
                                 {"action", action_name(rule.action.kind)},
                                 {"packets", r.rules[i].packets},
                                 {"bytes", r.rules[i].bytes}});
            }
            pj["rules"] = std::move(rules);
            pols.push_back(std::move(pj));
        }
        json j = {{"mode", mode_name(mode.mode)},  {"mode_reason", mode.why},
                  {"capture", a.pcap},             {"packets", cap.frames.size()},
                  {"skipped_short", cap.short_frames}, {"truncated", cap.truncated},
                  {"policies", pols}};
        std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
        return rc;
    }

    std::cout << a.pcap << ": " << plural(cap.frames.size(), "packet", "packets");
    if (cap.short_frames) std::cout << ", " << cap.short_frames << " shorter than 14 bytes skipped";
    if (cap.truncated) std::cout << ", " << cap.truncated << " truncated by the capture's snap length";
    std::cout << "\n";
    for (const Replay& r : replays) {
        std::cout << "\npolicy '" << r.pol->name << "' (" << r.file << ")\n";
        if (!r.error.empty()) {
            std::cout << "    " << r.error << "\n";
            continue;
        }
        std::cout << "  verdicts:";
        for (std::uint32_t act : kReportedActions) {
            auto it = r.verdicts.find(act);
            Tally t = it == r.verdicts.end() ? Tally{} : it->second;
            if (act == WEIR_ACT_ABORTED && t.packets == 0) continue;
            std::cout << "  " << action_name(act) << " " << t.packets << " (" << t.bytes << " bytes)";
        }
        std::cout << "\n  default: " << r.by_default.packets << " (" << r.by_default.bytes
                  << " bytes)  malformed: " << r.malformed.packets;
        if (mode.mode == Mode::Kernel) std::cout << "  errors: " << r.errors.packets;
        std::cout << "\n";
        if (r.not_run)
            std::cout << "  not run: " << r.not_run << " (the first: " << r.not_run_reason << ")\n";
        std::size_t width = 4;
        for (const Rule& rule : r.pol->rules) width = std::max(width, rule.name.size());
        std::printf("  %-*s %10s %12s\n", int(width), "rule", "packets", "bytes");
        std::fflush(stdout);
        for (std::size_t i = 0; i < r.rules.size(); ++i)
            std::printf("  %-*s %10llu %12llu\n", int(width), r.pol->rules[i].name.c_str(),
                        (unsigned long long)r.rules[i].packets, (unsigned long long)r.rules[i].bytes);
        std::fflush(stdout);
    }
    return rc;
}

}  // namespace

int cmd_test(const TestArgs& a, const CommonOptions& o) {
    ModeChoice mode = choose_mode(a);
    if (!mode.usable) {
        std::cerr << "weir test: --kernel: cannot run tests in the kernel: " << mode.why << "\n";
        return kExitUsage;
    }
    std::string line = std::string("weir test: using the ") +
                       (mode.mode == Mode::Kernel ? "kernel (BPF_PROG_TEST_RUN)" : "interpreter") +
                       ": " + mode.why;
    if (!a.json) std::cout << line << "\n" << std::flush;
    return a.pcap.empty() ? run_tests(a, o, mode) : run_pcap(a, o, mode);
}

}  // namespace weir::cli
