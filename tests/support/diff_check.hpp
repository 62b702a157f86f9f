// Helpers for the diff tests: compile two policy texts, diff them, and check every witness on its
// own: its `packet` text read back by the checker gives the same frame, and the interpreter gives
// both claimed decisions (and counted rules).
#pragma once
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "diff.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "parse.h"
#include "test_frames.hpp"

namespace weir::test {

inline std::unique_ptr<Compilation> compile_text(const std::string& name, const std::string& text) {
    CheckOptions opts;
    opts.lint = false;
    return compile_source(name, text, opts);
}

struct DiffRun {
    std::unique_ptr<Compilation> a, b;
    diff::DiffResult res;
};

inline DiffRun run_diff(const std::string& old_text, const std::string& new_text, diff::DiffLimits lim = {}) {
    DiffRun r;
    r.a = compile_text("old.weir", old_text);
    r.b = compile_text("new.weir", new_text);
    if (!r.a->ok() || !r.b->ok()) {
        r.res.error = "compile error:";
        for (auto* c : {r.a.get(), r.b.get()})
            for (const auto& d : c->diags.list()) r.res.error += " " + d.message;
        return r;
    }
    r.res = diff::diff({&r.a->program, 0, "old.weir"}, {&r.b->program, 0, "new.weir"}, lim);
    return r;
}

inline std::vector<std::uint8_t> frame_of(const PacketSpec& s) {
    if (s.is_raw) return s.raw;
    return build_packet(s).bytes;
}

inline Decision decide(const Program& p, const std::vector<std::uint8_t>& frame, const std::string& iface) {
    weir_pkt pkt{};
    weir_parse(frame.data(), frame.data() + frame.size(), &pkt);
    return evaluate(p, p.policies.at(0), pkt, frame, iface);
}

// "" when the witness reads back to the same frame; else what went wrong.
inline std::string reparse_problem(const diff::Witness& w) {
    std::string text = "policy w default pass {\n}\ntest \"w\" policy w {\n    " + w.text + " expect pass\n}\n";
    auto c = compile_text("w.weir", text);
    if (!c->ok() || c->program.tests.empty() || c->program.tests[0].probes.empty()) {
        std::string msg = "does not compile: " + w.text;
        for (const auto& d : c->diags.list()) msg += " | " + d.message;
        return msg;
    }
    const PacketSpec& back = c->program.tests[0].probes[0].packet;
    if (frame_of(back) != frame_of(w.spec) || back.iface != w.spec.iface) return "reads back differently: " + w.text;
    return {};
}

// "" when every verdict change's witness is real on both sides; else the first problem.
inline std::string witness_problem(const DiffRun& r) {
    for (const auto& c : r.res.changes) {
        if (auto p = reparse_problem(c.witness); !p.empty()) return p;
        auto f = frame_of(c.witness.spec);
        Decision da = decide(r.a->program, f, c.witness.spec.iface);
        Decision db = decide(r.b->program, f, c.witness.spec.iface);
        if (da.rule != c.before.rule || da.verdict != c.before.verdict || db.rule != c.after.rule ||
            db.verdict != c.after.verdict)
            return "witness does not give the claimed decisions: " + c.witness.text;
    }
    for (const auto& c : r.res.counters) {
        if (auto p = reparse_problem(c.witness); !p.empty()) return p;
        auto f = frame_of(c.witness.spec);
        auto counted = [&](const Program& p, const Decision& d) {
            return std::any_of(d.counted.begin(), d.counted.end(),
                               [&](int i) { return p.policies[0].rules[static_cast<std::size_t>(i)].name == c.rule; });
        };
        if (counted(r.a->program, decide(r.a->program, f, c.witness.spec.iface)) != c.counted_before ||
            counted(r.b->program, decide(r.b->program, f, c.witness.spec.iface)) != c.counted_after)
            return "counter witness does not count as claimed: " + c.witness.text;
    }
    return {};
}

}  // namespace weir::test
