// include/weir/weir.hpp over the internal stages: the front end (driver.hpp), attach.hpp,
// sets.hpp and stats.hpp. Converts their results into the public value types; never throws,
// never prints.
#include "weir/weir.hpp"

#include <cstdlib>
#include <utility>

#include "attach.hpp"
#include "diagnostics.hpp"
#include "driver.hpp"
#include "sets.hpp"
#include "stats.hpp"
#include "weir_abi.h"

namespace weir::api {

struct Policy::Impl {
    std::string name;
    bool from_string = false;
    std::string text;  // from_string: the source
    CompileOptions opts;
    std::unique_ptr<Compilation> compilation;
    std::vector<Diagnostic> diags;
};

namespace {

Location location(const SourceManager& sm, SourceRange r) {
    Location l;
    if (r.file == kNoFile || r.file >= sm.size()) return l;
    l.file = sm.file(r.file).path;
    LineCol b = sm.line_col(r.file, r.begin), e = sm.line_col(r.file, r.end);
    l.line = b.line;
    l.column = b.col;
    l.end_line = e.line;
    l.end_column = e.col;
    return l;
}

Severity severity(weir::Severity s) {
    switch (s) {
        case weir::Severity::Error: return Severity::Error;
        case weir::Severity::Warning: return Severity::Warning;
        case weir::Severity::Note: return Severity::Note;
    }
    return Severity::Error;
}

void convert(const SourceManager& sm, const Diagnostics& ds, std::vector<Diagnostic>& out) {
    for (const weir::Diagnostic& d : ds.list()) {
        Diagnostic p;
        p.severity = severity(d.severity);
        p.code = d.code;
        p.where = location(sm, d.range);
        p.message = d.message;
        for (const DiagNote& n : d.notes) p.notes.push_back({location(sm, n.range), n.message});
        out.push_back(std::move(p));
    }
}

ErrorKind kind(attach::Problem p) {
    switch (p) {
        case attach::Problem::None: return ErrorKind::None;
        case attach::Problem::Policy: return ErrorKind::Policy;
        case attach::Problem::Environment: return ErrorKind::Environment;
    }
    return ErrorKind::Environment;
}

Error error_of(const attach::Failure& f, std::string step) {
    if (!f) return {};
    return {kind(f.problem), std::move(step), f.message};
}

weir::CheckOptions check_options(const CompileOptions& o) {
    weir::CheckOptions c;
    c.load.include_dirs = o.include_dirs;
    c.load.use_default_rules = o.use_default_rules;
    c.lint = o.lint;
    c.werror = o.werror;
    return c;
}

attach::Mode mode_of(Mode m) {
    switch (m) {
        case Mode::Auto: return attach::Mode::Auto;
        case Mode::Native: return attach::Mode::Native;
        case Mode::Generic: return attach::Mode::Generic;
    }
    return attach::Mode::Auto;
}

Counter counter(const bpf::Counter& c) { return {c.packets, c.bytes}; }

Status status_of(const attach::Attachment& a) {
    Status s;
    s.ifname = a.ifname;
    s.ifindex = a.ifindex;
    s.enforcing = a.enforcing;
    s.policy = a.meta.policy;
    s.source = a.meta.source;
    s.source_hash = a.meta.source_hash;
    s.mode = a.meta.mode;
    s.prog_id = a.meta.prog_id;
    s.attached_at = a.meta.attached_at;
    s.loaded_at = a.meta.loaded_at;
    s.swaps = a.meta.swaps;
    for (const auto& r : a.meta.rules) s.rules.push_back(r.name);
    for (const auto& t : a.meta.sets) {
        bool seen = false;  // a set of both families has a table per family: list it once
        for (const auto& x : s.sets) seen = seen || x.name == t.name;
        if (!seen) s.sets.push_back({t.name, t.type, t.live_edits});
    }
    s.notes = a.notes;
    return s;
}

LoadReport load(const std::string& ifname, const Policy& policy, const AttachOptions& opts) {
    const Policy::Impl& p = policy.impl();
    attach::LoadOptions lo;
    lo.file = p.name;
    if (p.from_string) lo.source_text = p.text;
    lo.policy = opts.policy;
    lo.ifname = ifname;
    lo.mode = mode_of(opts.mode);
    lo.dry_run = opts.dry_run;
    lo.check = check_options(p.opts);
    if (opts.on_step) {
        const auto& cb = opts.on_step;
        lo.on_step = [&cb](const attach::Step& s) { cb(Step{s.name, s.time, s.detail}); };
    }
    attach::LoadOutcome r = attach::load(lo);

    LoadReport out;
    out.ifname = ifname;
    if (!r.ok()) out.error = {kind(r.problem), r.failed_step, r.message};
    for (const auto& s : r.steps) out.steps.push_back({s.name, s.time, s.detail});
    out.hot_swap = r.hot_swap;
    out.replaced = r.replaced;
    if (r.now && r.ok() && !opts.dry_run) {
        out.policy = r.now->policy;
        out.prog_id = r.now->prog_id;
        out.mode = r.now->mode;
    }
    out.probes = r.probes;
    if (r.compilation) {
        const SourceManager& sm = r.compilation->sources;
        convert(sm, r.compilation->diags, out.diagnostics);
        convert(sm, r.kernel_diags, out.diagnostics);
        out.diagnostics_text = render_text(sm, r.compilation->diags) + render_text(sm, r.kernel_diags);
        for (const auto& f : r.probe_failures) {
            SelfTestFailure sf{f.test, {}, f.expected, f.actual};
            sf.where.file = f.location;  // "file:line:col"; split it back
            auto c2 = f.location.rfind(':');
            auto c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : f.location.rfind(':', c2 - 1);
            if (c1 != std::string::npos) {
                sf.where.file = f.location.substr(0, c1);
                sf.where.line = unsigned(std::strtoul(f.location.c_str() + c1 + 1, nullptr, 10));
                sf.where.column = unsigned(std::strtoul(f.location.c_str() + c2 + 1, nullptr, 10));
                sf.where.end_line = sf.where.line;
                sf.where.end_column = sf.where.column;
            }
            out.self_test_failures.push_back(std::move(sf));
        }
    }
    out.notes = r.notes;
    return out;
}

SetEdit set_edit(const std::string& ifname, const std::string& set, sets::Op op,
                 const std::vector<std::string>& elements) {
    sets::EditOptions o;
    o.ifname = ifname;
    o.set = set;
    o.op = op;
    o.elements = elements;
    sets::EditOutcome r = sets::edit(o);
    SetEdit out;
    if (!r.ok()) out.error = {kind(r.problem), std::string("set ") + sets::op_name(op), r.message};
    convert(r.sources, r.diags, out.diagnostics);
    out.diagnostics_text = render_text(r.sources, r.diags);
    out.set_type = r.set_type;
    out.written = r.written();
    out.unchanged = r.unchanged();
    out.elements = std::move(r.elements);
    out.notes = std::move(r.notes);
    return out;
}

}  // namespace

const char* severity_name(Severity s) {
    switch (s) {
        case Severity::Error: return "error";
        case Severity::Warning: return "warning";
        case Severity::Note: return "note";
    }
    return "error";
}

// --- Policy ----------------------------------------------------------------------------------

Policy Policy::from_file(const std::string& path, const CompileOptions& opts) {
    auto i = std::make_shared<Impl>();
    i->name = path;
    i->opts = opts;
    i->compilation = compile_file(path, check_options(opts));
    convert(i->compilation->sources, i->compilation->diags, i->diags);
    return Policy(std::move(i));
}

Policy Policy::from_string(const std::string& name, std::string text, const CompileOptions& opts) {
    auto i = std::make_shared<Impl>();
    i->name = name;
    i->from_string = true;
    i->text = text;
    i->opts = opts;
    i->compilation = compile_source(name, std::move(text), check_options(opts));
    convert(i->compilation->sources, i->compilation->diags, i->diags);
    return Policy(std::move(i));
}

bool Policy::ok() const { return impl_->compilation->ok(); }
bool Policy::io_error() const { return impl_->compilation->io_error; }
const std::string& Policy::name() const { return impl_->name; }
std::vector<std::string> Policy::policy_names() const {
    std::vector<std::string> out;
    if (!impl_->compilation->diags.has_errors())
        for (const auto& p : impl_->compilation->program.policies) out.push_back(p.name);
    return out;
}
const std::vector<Diagnostic>& Policy::diagnostics() const { return impl_->diags; }
std::size_t Policy::errors() const { return impl_->compilation->diags.errors(); }
std::size_t Policy::warnings() const { return impl_->compilation->diags.warnings(); }
std::string Policy::diagnostics_text(bool color) const {
    return render_text(impl_->compilation->sources, impl_->compilation->diags, color);
}
std::string Policy::diagnostics_json() const {
    return render_json(impl_->compilation->sources, impl_->compilation->diags);
}

// --- loads -----------------------------------------------------------------------------------

std::chrono::nanoseconds LoadReport::swap_time() const {
    std::chrono::nanoseconds t{};
    bool after = false;
    for (const auto& s : steps) {
        if (after) t += s.time;
        if (s.name == "self-test") after = true;
    }
    return t;
}

std::chrono::nanoseconds LoadReport::total_time() const {
    std::chrono::nanoseconds t{};
    for (const auto& s : steps) t += s.time;
    return t;
}

Attachment LoadReport::attachment() const { return Attachment(ifname); }

LoadReport attach(const std::string& ifname, const Policy& policy, const AttachOptions& opts) {
    if (!policy.ok()) {
        // Do not touch the interface for a policy known not to compile.
        LoadReport out;
        out.ifname = ifname;
        const bool io = policy.io_error();
        out.error = {io ? ErrorKind::Environment : ErrorKind::Policy, "compile",
                     (io ? "cannot read '" + policy.name() + "'" : "the policy does not compile") +
                         ": nothing was changed on '" + ifname + "'"};
        out.diagnostics = policy.diagnostics();
        out.diagnostics_text = policy.diagnostics_text();
        return out;
    }
    return load(ifname, policy, opts);
}

LoadReport Attachment::replace(const Policy& policy, const AttachOptions& opts) const {
    auto st = status();
    if (!st) {
        LoadReport out;
        out.ifname = ifname_;
        out.error = st.error;
        out.error.step = "replace";
        return out;
    }
    if (!st->enforcing && st->policy.empty()) {
        LoadReport out;
        out.ifname = ifname_;
        out.error = {ErrorKind::Environment, "replace", "no weir policy runs on '" + ifname_ + "' to replace"};
        return out;
    }
    return attach(ifname_, policy, opts);
}

Error Attachment::unload() const { return error_of(attach::unload(ifname_), "unload"); }

Result<Status> Attachment::status() const {
    Result<Status> out;
    std::vector<attach::Attachment> all;
    if (auto f = attach::status(all, ifname_)) {
        out.error = error_of(f, "status");
        return out;
    }
    if (all.empty()) {
        out.error = {ErrorKind::Environment, "status", "no weir policy on '" + ifname_ + "'"};
        return out;
    }
    out.value = status_of(all.front());
    return out;
}

Result<Counters> Attachment::counters() const {
    Result<Counters> out;
    std::vector<stats::Snapshot> snaps;
    if (auto f = stats::read(snaps, ifname_)) {
        out.error = error_of(f, "read");
        return out;
    }
    if (snaps.empty()) {
        out.error = {ErrorKind::Environment, "read", "no weir policy on '" + ifname_ + "'"};
        return out;
    }
    const stats::Snapshot& s = snaps.front();
    Counters& c = out.value;
    c.ifname = s.ifname;
    c.policy = s.policy;
    c.mode = s.mode;
    c.prog_id = s.prog_id;
    for (const auto& r : s.rules) c.rules.push_back({r.name, r.action, counter(r.counter)});
    c.default_verdict = s.default_verdict;
    c.default_decisions = counter(s.default_decisions);
    c.malformed = counter(s.malformed);
    c.errors = counter(s.errors);
    for (std::uint32_t a = WEIR_ACT_ABORTED; a <= WEIR_ACT_REDIRECT; ++a)
        c.verdicts[stats::verdict_label(a)] = counter(s.verdicts[a]);
    return out;
}

const Counter* Counters::rule(const std::string& name) const {
    for (const auto& r : rules)
        if (r.name == name) return &r.counter;
    return nullptr;
}

SetEdit Attachment::set_add(const std::string& set, const std::vector<std::string>& elements) const {
    return set_edit(ifname_, set, sets::Op::Add, elements);
}
SetEdit Attachment::set_del(const std::string& set, const std::vector<std::string>& elements) const {
    return set_edit(ifname_, set, sets::Op::Del, elements);
}
SetEdit Attachment::set_list(const std::string& set) const { return set_edit(ifname_, set, sets::Op::List, {}); }
SetEdit Attachment::set_flush(const std::string& set) const { return set_edit(ifname_, set, sets::Op::Flush, {}); }

Result<std::vector<Status>> status_all() {
    Result<std::vector<Status>> out;
    std::vector<attach::Attachment> all;
    if (auto f = attach::status(all)) {
        out.error = error_of(f, "status");
        return out;
    }
    for (const auto& a : all) out.value.push_back(status_of(a));
    return out;
}

}  // namespace weir::api
