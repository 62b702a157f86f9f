// include/weir/test.hpp over the interpreter (compiler/interp) and the kernel probe runner
// (runtime/kernel/probe.hpp): a policy file's test blocks and capture replays. The kernel engine
// loads each policy's built artifact once, privately (nothing attached).
#include "weir/test.hpp"

#include <pcap/pcap.h>

#include <map>
#include <memory>

#include "actions.hpp"
#include "api_impl.hpp"
#include "artifact.hpp"
#include "interp.hpp"
#include "parse.h"
#include "probe.hpp"

namespace weir::api {

const char* engine_name(TestEngine e) { return e == TestEngine::Kernel ? "kernel" : "interpreter"; }

EngineChoice choose_test_engine(std::optional<TestEngine> wanted) {
    EngineChoice out;
    if (wanted == TestEngine::Interpreter) {
        out.why = "asked for";
        return out;
    }
    bpf::Status k = bpf::probe_xdp_support();
    if (wanted == TestEngine::Kernel) {
        out.engine = TestEngine::Kernel;
        out.why = k ? "asked for" : k.error().message;
        if (!k) out.error = {ErrorKind::Environment, "test", "cannot run tests in the kernel: " + k.error().message};
        return out;
    }
    if (k) {
        out.engine = TestEngine::Kernel;
        out.why = "this process can load BPF programs (use --interp for the interpreter)";
    } else {
        out.why = k.error().message;
    }
    return out;
}

namespace {

// The file's policies, each loaded into the kernel on first use (kernel engine).
class Programs {
public:
    Programs(std::shared_ptr<const Compilation> c, bool color) : c_(std::move(c)), color_(color) {}

    // Policy `p`'s program, or nullptr with `error` saying why (its diagnostics kept).
    LoadedPolicy* get(int p, std::string& error) {
        if (auto it = loaded_.find(p); it != loaded_.end()) return it->second.get();
        if (auto it = failed_.find(p); it != failed_.end()) {
            error = it->second;
            return nullptr;
        }
        const weir::Policy& pol = c_->program.policies[static_cast<std::size_t>(p)];
        auto lp = load_unattached(c_, pol.name, host_codegen_options(true, nullptr, true), diags_, error);
        if (!lp) {
            failed_[p] = error;
            return nullptr;
        }
        return (loaded_[p] = std::move(lp)).get();
    }

    template <class Run>
    void finish(Run& out) const {
        convert(c_->sources, diags_, out.diagnostics);
        out.diagnostics_text = render_text(c_->sources, diags_, color_);
    }

private:
    std::shared_ptr<const Compilation> c_;
    bool color_;
    Diagnostics diags_;
    std::map<int, std::unique_ptr<LoadedPolicy>> loaded_;
    std::map<int, std::string> failed_;
};

std::string rule_name(const weir::Policy& pol, int rule) {
    return rule < 0 ? "default" : pol.rules.at(static_cast<std::size_t>(rule)).name;
}

ProbeResult probe_result(const SourceManager& sm, const weir::Policy& pol, const Probe& p) {
    ProbeResult r;
    r.where = location(sm, p.range);
    if (p.range.valid()) {
        std::string line(sm.line_text(p.range.file, sm.line_col(p.range.file, p.range.begin).line));
        std::size_t b = line.find_first_not_of(" \t");
        r.statement = b == std::string::npos ? line : line.substr(b);
    }
    r.expected_verdict = verdict_name(p.expect);
    r.expected_rule = p.by_default ? "default" : p.by_rule >= 0 ? rule_name(pol, p.by_rule) : "";
    r.expected = expected_text(pol, p);
    return r;
}

void set_outcome(ProbeResult& r, const weir::Policy& pol, std::optional<Verdict> verdict, int rule, bool passed,
                 std::string error) {
    r.passed = passed;
    if (error.empty()) {
        r.verdict = verdict ? verdict_name(*verdict) : "aborted";
        r.rule = rule_name(pol, rule);
    }
    r.actual = outcome_text(pol, verdict, rule, error);
    r.error = std::move(error);
}

TestResult run_block(const Compilation& c, const TestCase& t, LoadedPolicy* lp) {
    const weir::Policy& pol = c.program.policies.at(static_cast<std::size_t>(t.policy));
    TestResult out{t.name, pol.name, false, {}, {}};
    LimitState limits;
    if (lp)
        if (auto st = lp->reset_limits(WEIR_LIMIT_TEST_CLOCK_NS); !st) {
            out.error = "cannot reset the rate-limit table: " + st.error().message;
            return out;
        }
    out.passed = true;
    for (const Probe& p : t.probes) {
        ProbeResult r = probe_result(c.sources, pol, p);
        if (lp) {
            KernelProbe k = run_probe(*lp, p);
            set_outcome(r, pol, k.verdict, k.rule, k.passed, std::move(k.error));
        } else {
            ProbeRun k = run_probe(c.program, pol, p, &limits);
            set_outcome(r, pol, k.decision.verdict, k.decision.rule, k.error.empty() && k.passed, k.error);
        }
        out.passed = out.passed && r.passed;
        out.probes.push_back(std::move(r));
    }
    return out;
}

}  // namespace

TestRun run_tests(const Policy& policy, TestEngine engine, bool color) {
    TestRun out;
    const auto& c = PolicyAccess::of(policy).compilation;
    if (!c->ok()) return out;
    Programs programs(c, color);
    for (const TestCase& t : c->program.tests) {
        LoadedPolicy* lp = nullptr;
        std::string error;
        if (engine == TestEngine::Kernel) lp = programs.get(t.policy, error);
        TestResult r;
        if (engine == TestEngine::Kernel && !lp) {
            r = {t.name, c->program.policies.at(static_cast<std::size_t>(t.policy)).name, false, error, {}};
        } else {
            r = run_block(*c, t, lp);
        }
        (r.passed ? out.passed : out.failed) += 1;
        out.tests.push_back(std::move(r));
    }
    programs.finish(out);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Capture replay

Result<Capture> read_capture(const std::string& path) {
    Result<Capture> out;
    auto fail = [&](std::string why) {
        out.error = {ErrorKind::Environment, "read", std::move(why)};
        return out;
    };
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<pcap_t, void (*)(pcap_t*)> p(pcap_open_offline(path.c_str(), errbuf), pcap_close);
    if (!p) return fail("cannot read capture '" + path + "': " + errbuf);
    int link = pcap_datalink(p.get());
    if (link != DLT_EN10MB) {
        const char* name = pcap_datalink_val_to_name(link);
        return fail("capture '" + path + "' has link type " + (name ? name : "?") + " (" + std::to_string(link) +
                    "); only Ethernet captures (EN10MB) can be replayed through an XDP policy");
    }
    pcap_pkthdr* hdr;
    const u_char* data;
    int rc;
    Capture& cap = out.value;
    while ((rc = pcap_next_ex(p.get(), &hdr, &data)) == 1) {
        if (hdr->caplen < hdr->len) ++cap.truncated;
        if (hdr->caplen < 14) {
            ++cap.short_frames;
            continue;
        }
        cap.frames.emplace_back(data, data + hdr->caplen);
    }
    if (rc == PCAP_ERROR) return fail("error reading capture '" + path + "': " + pcap_geterr(p.get()));
    return out;
}

namespace {

void add(Counter& c, std::uint64_t bytes) {
    ++c.packets;
    c.bytes += bytes;
}

Counter& verdict_counter(Replay& r, std::uint32_t action) {
    const std::string name = action_name(action);
    for (auto& [n, c] : r.verdicts)
        if (n == name) return c;
    return r.verdicts.emplace_back(name, Counter{}).second;
}

void replay_interp(const Program& prog, const weir::Policy& pol, const Capture& cap, Replay& r) {
    LimitState limits;
    Counter by_action[WEIR_VERDICT_SLOTS] = {};  // per frame by index; named once at the end
    for (const auto& frame : cap.frames) {
        weir_pkt pkt{};
        weir_parse(frame.data(), frame.data() + frame.size(), &pkt);
        Decision d = evaluate(prog, pol, pkt, frame, "", &limits);
        std::uint64_t len = frame.size();
        for (int i : d.counted) add(r.rules.at(static_cast<std::size_t>(i)).counter, len);
        add(d.rule >= 0 ? r.rules.at(static_cast<std::size_t>(d.rule)).counter : r.by_default, len);
        if (pkt.malformed) add(r.malformed, len);
        add(by_action[action_of_verdict(d.verdict)], len);
    }
    for (std::uint32_t a : kReportedActions) verdict_counter(r, a) = by_action[a];
}

void replay_kernel(LoadedPolicy& lp, const Capture& cap, Replay& r) {
    if (auto st = lp.reset_limits(WEIR_LIMIT_TEST_CLOCK_NS); !st) {
        r.error = "cannot reset the rate-limit table: " + st.error().message;
        return;
    }
    for (const auto& frame : cap.frames) {
        // Only the counters matter here: no need for the last decision (lp.run()).
        if (auto run = bpf::test_run(lp.program_fd(), frame); !run && r.not_run++ == 0)
            r.not_run_reason = run.error().message;
    }
    auto get = [&](bpf::Result<bpf::Counter> c, Counter& t) {
        if (!c) r.error = "reading the counters failed: " + c.error().message;
        else t = {c->packets, c->bytes};
    };
    for (std::size_t i = 0; i < r.rules.size(); ++i) get(lp.rule_counter(i), r.rules[i].counter);
    for (std::uint32_t a : kReportedActions) get(lp.verdict_counter(a), verdict_counter(r, a));
    get(lp.stat_counter(WEIR_STAT_DEFAULT), r.by_default);
    get(lp.stat_counter(WEIR_STAT_MALFORMED), r.malformed);
    get(lp.stat_counter(WEIR_STAT_ERROR), r.errors);
}

}  // namespace

ReplayRun replay(const Policy& policy, const Capture& capture, TestEngine engine, const std::string& only,
                 bool color) {
    ReplayRun out;
    const auto& c = PolicyAccess::of(policy).compilation;
    if (!c->ok()) return out;
    Programs programs(c, color);
    const Program& prog = c->program;
    for (std::size_t p = 0; p < prog.policies.size(); ++p) {
        const weir::Policy& pol = prog.policies[p];
        if (!only.empty() && pol.name != only) continue;
        Replay r;
        r.policy = pol.name;
        for (const Rule& rule : pol.rules) r.rules.push_back({rule.name, action_name(rule.action.kind), {}, 0});
        for (std::uint32_t a : kReportedActions) verdict_counter(r, a);
        if (engine == TestEngine::Kernel) {
            if (LoadedPolicy* lp = programs.get(static_cast<int>(p), r.error)) replay_kernel(*lp, capture, r);
        } else {
            replay_interp(prog, pol, capture, r);
        }
        out.replays.push_back(std::move(r));
    }
    programs.finish(out);
    return out;
}

}  // namespace weir::api
