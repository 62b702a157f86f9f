// include/weir/weir.hpp over the internal stages: the front end (driver.hpp), attach.hpp,
// sets.hpp and stats.hpp. Converts their results into the public value types; never throws,
// never prints.
#include "weir/weir.hpp"

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <utility>

#include "api_impl.hpp"
#include "artifact.hpp"
#include "attach.hpp"
#include "checked_dump.hpp"
#include "diagnostics.hpp"
#include "driver.hpp"
#include "sets.hpp"
#include "source.hpp"
#include "stats.hpp"

namespace weir::api {

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


void convert(const SourceManager& sm, const Diagnostics& ds, std::vector<Diagnostic>& out) {
    for (const weir::Diagnostic& d : ds.list()) {
        Diagnostic p;
        p.severity = d.severity;
        p.code = d.code;
        p.where = location(sm, d.range);
        p.message = d.message;
        for (const DiagNote& n : d.notes) p.notes.push_back({location(sm, n.range), n.message});
        out.push_back(std::move(p));
    }
}

namespace {

Error error_of(const attach::Failure& f, std::string step) {
    if (!f) return {};
    return {f.problem, std::move(step), f.message};
}

}  // namespace

// Shared with api_shadow.cpp (api_impl.hpp).
weir::CheckOptions check_options(const CompileOptions& o) {
    weir::CheckOptions c;
    c.load.include_dirs = o.include_dirs;
    c.load.use_default_rules = o.use_default_rules;
    c.lint = o.lint;
    c.werror = o.werror;
    c.allowed_dirs = o.allowed_dirs;
    return c;
}

namespace {

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
    s.prog_tag = a.meta.prog_tag;
    s.attached_at = a.meta.attached_at;
    s.loaded_at = a.meta.loaded_at;
    s.swaps = a.meta.swaps;
    for (const auto& r : a.meta.rules) s.rules.push_back(r.name);
    for (const auto& t : a.meta.sets) {
        bool seen = false;  // a set of both families has a table per family: list it once
        for (const auto& x : s.sets) seen = seen || x.name == t.name;
        if (!seen) s.sets.push_back({t.name, t.type, t.live_edits});
        s.tables.push_back({t.name, pins::kind_name(t.kind), t.id, t.named, t.live_edits, t.edited_at});
    }
    s.rule_slots = a.meta.slots;
    s.rule_capacity = a.meta.rule_capacity;
    s.pins = pins::dir(a.ifname);
    s.notes = a.notes;
    confirm_status(a, s);
    return s;
}

}  // namespace

attach::LoadOptions load_options(const std::string& ifname, const AttachOptions& opts) {
    attach::LoadOptions lo;
    lo.policy = opts.policy;
    lo.ifname = ifname;
    lo.mode = opts.mode;
    lo.dry_run = opts.dry_run;
    lo.confirm_within = opts.confirm_within;
    if (opts.on_step) {
        const auto& cb = opts.on_step;
        lo.on_step = cb;
    }
    return lo;
}

// What a load (of a file, or of a built policy) did, as the public report.
LoadReport report(const std::string& ifname, const attach::LoadOutcome& r, const AttachOptions& opts) {
    LoadReport out;
    out.ifname = ifname;
    if (!r.ok()) out.error = {r.problem, r.failed_step, r.message};
    out.steps = r.steps;
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
        out.diagnostics_text =
            render_text(sm, r.compilation->diags, opts.color) + render_text(sm, r.kernel_diags, opts.color);
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
    if (r.ok()) out.summary = r.message;
    return out;
}

namespace {

SetEdit set_edit(const std::string& ifname, const std::string& set, SetOp op,
                 const std::vector<std::string>& elements, bool color) {
    sets::EditOptions o;
    o.ifname = ifname;
    o.set = set;
    o.op = op;
    o.elements = elements;
    sets::EditOutcome r = sets::edit(o);
    SetEdit out;
    if (!r.ok()) out.error = {r.problem, std::string("set ") + set_op_name(op), r.message};
    convert(r.sources, r.diags, out.diagnostics);
    out.diagnostics_text = render_text(r.sources, r.diags, color);
    out.set_type = r.set_type;
    out.written = r.written();
    out.unchanged = r.unchanged();
    out.elements = std::move(r.elements);
    out.notes = std::move(r.notes);
    return out;
}

}  // namespace


// --- Policy ----------------------------------------------------------------------------------

Policy Policy::from_file(const std::string& path, const CompileOptions& opts) {
    auto i = std::make_shared<Impl>();
    i->name = path;
    i->compilation = compile_file(path, check_options(opts));
    convert(i->compilation->sources, i->compilation->diags, i->diags);
    return Policy(std::move(i));
}

Policy Policy::from_string(const std::string& name, std::string text, const CompileOptions& opts) {
    auto i = std::make_shared<Impl>();
    i->name = name;
    i->from_string = true;
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
Result<std::string> Policy::select(const std::string& name, const std::string& chooser) const {
    Result<std::string> out;
    const Compilation& c = *impl_->compilation;
    if (!c.ok()) {
        out.error = {ErrorKind::Policy, "compile", "the policy does not compile"};
        return out;
    }
    std::string why;
    int p = select_policy(c.program, name, impl_->name, why, chooser);
    if (p < 0) out.error = {ErrorKind::Policy, "select", std::move(why)};
    else out.value = c.program.policies[static_cast<std::size_t>(p)].name;
    return out;
}
std::vector<AlertDef> Policy::alerts(const std::string& policy) const {
    std::vector<AlertDef> out;
    if (impl_->compilation->diags.has_errors()) return out;
    const Program& prog = impl_->compilation->program;
    for (const auto& a : prog.alerts) {
        const std::string& pname = prog.policies.at(static_cast<std::size_t>(a.policy)).name;
        if (!policy.empty() && pname != policy) continue;
        AlertDef d;
        d.name = a.name;
        d.policy = pname;
        d.source = alert_source_name(a.source);
        d.counter = a.counter;
        d.bytes = a.bytes;
        d.op = cmp_text(a.op);
        d.threshold = a.threshold;
        d.for_duration = std::chrono::milliseconds(a.for_ms);
        d.severity = severity_name(a.severity);
        d.message = a.message;
        d.text = alert_text(prog, a);
        out.push_back(std::move(d));
    }
    return out;
}
std::string Policy::source_hash() const { return weir::source_hash(impl_->compilation->sources); }
const std::vector<Diagnostic>& Policy::diagnostics() const { return impl_->diags; }
std::size_t Policy::errors() const { return impl_->compilation->diags.errors(); }
std::size_t Policy::warnings() const { return impl_->compilation->diags.warnings(); }
std::string Policy::diagnostics_text(bool color) const {
    return render_text(impl_->compilation->sources, impl_->compilation->diags, color);
}
Policy::Contents Policy::contents() const {
    Contents c;
    if (!ok()) return c;
    const Program& pr = impl_->compilation->program;
    c.policies = pr.policies.size();
    for (const auto& p : pr.policies) c.rules += p.rules.size();
    c.sets = pr.sets.size();
    c.tests = pr.tests.size();
    c.alerts = pr.alerts.size();
    return c;
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
    const auto started = std::chrono::steady_clock::now();
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
    const auto& p = PolicyAccess::of(policy);
    attach::LoadOptions lo = load_options(ifname, opts);
    lo.started = started;
    lo.file = p.name;
    std::error_code ec;
    if (!p.from_string)
        if (auto abs = std::filesystem::absolute(p.name, ec); !ec) lo.file = abs.lexically_normal().string();
    BuildResult built = build_artifact(p.compilation, opts.policy, attach::load_codegen_options(lo));
    if (!built.ok()) {
        attach::LoadOutcome r;
        r.compilation = p.compilation;
        r.problem = attach::Problem::Policy;
        r.failed_step = "compile";
        r.message = "compile failed: " + built.error + ": any policy running on '" + ifname + "' is untouched";
        return report(ifname, r, opts);
    }
    return report(ifname, attach::load(*built.artifact, lo), opts);
}

LoadReport attach_file(const std::string& ifname, const std::string& path, const CompileOptions& copts,
                       const AttachOptions& opts) {
    attach::LoadOptions lo = load_options(ifname, opts);
    lo.file = path;
    lo.check = check_options(copts);
    return report(ifname, attach::load(lo), opts);
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

Error Attachment::unload(std::string* removed_policy) const {
    std::optional<pins::PolicyMeta> removed;
    Error e = error_of(attach::unload(ifname_, &removed), "unload");
    if (removed_policy) *removed_policy = removed ? removed->policy : std::string();
    return e;
}

namespace {

// The only element of `all`, or an error for the interface (it has state but no policy).
template <class T>
Result<T> only(Result<std::vector<T>> all, const std::string& ifname, const char* step) {
    Result<T> out;
    out.error = std::move(all.error);
    if (out.error) return out;
    if (all.value.empty()) {
        out.error = {ErrorKind::Environment, step, "no weir policy on '" + ifname + "'"};
        return out;
    }
    out.value = std::move(all.value.front());
    return out;
}

}  // namespace

Result<Status> Attachment::status() const { return only(status_all(ifname_), ifname_, "status"); }
Result<Counters> Attachment::counters() const { return only(counters_all(ifname_), ifname_, "read"); }

SetEdit Attachment::set_add(const std::string& set, const std::vector<std::string>& elements) const {
    return edit_set(SetOp::Add, set, elements);
}
SetEdit Attachment::set_del(const std::string& set, const std::vector<std::string>& elements) const {
    return edit_set(SetOp::Del, set, elements);
}
SetEdit Attachment::set_list(const std::string& set) const { return edit_set(SetOp::List, set); }
SetEdit Attachment::set_flush(const std::string& set) const { return edit_set(SetOp::Flush, set); }
SetEdit Attachment::edit_set(SetOp op, const std::string& set, const std::vector<std::string>& elements,
                             bool color) const {
    return set_edit(ifname_, set, op, elements, color);
}

namespace {

// What an internal reader (attach::status, stats::read) fills in, converted; or its failure.
template <class Raw, class Read, class Convert>
auto read_all(const char* step, Read read, Convert convert) {
    Result<std::vector<decltype(convert(std::declval<const Raw&>()))>> out;
    std::vector<Raw> raw;
    out.error = error_of(read(raw), step);
    if (!out.error)
        for (const auto& r : raw) out.value.push_back(convert(r));
    return out;
}

}  // namespace

Result<std::vector<Status>> status_all(const std::string& ifname) {
    return read_all<attach::Attachment>("status", [&](auto& v) { return attach::status(v, ifname); }, status_of);
}

Result<std::string> read_input_file(const std::string& path, std::uint64_t max_bytes) {
    Result<std::string> r;
    std::string error;
    if (!read_regular_file(path, max_bytes, r.value, error))
        r.error = Error{ErrorKind::Policy, "read", path + ": cannot read: " + error};
    return r;
}

Result<std::vector<std::string>> interfaces() {
    Result<std::vector<std::string>> out;
    out.error = error_of(attach::interfaces(out.value, {}), "status");
    return out;
}

Result<std::vector<Counters>> counters_all(const std::string& ifname) {
    Result<std::vector<Counters>> out;
    out.error = error_of(stats::read(out.value, ifname), "read");
    return out;
}

std::string counters_table(const std::vector<Counters>& now, const std::vector<Counters>* before) {
    return stats::format_table(now, before);
}

std::string counters_json(const Counters& now, const Counters* before, int indent) {
    return stats::to_json(now, before, indent);
}

CostRate cost_rate(const Counters& now, const Counters* before) { return stats::cost_rate(now, before); }

struct RunTimeStatistics::Held {
    bpf::RunTimeStats stats;
};

RunTimeStatistics::RunTimeStatistics() {
    auto r = bpf::RunTimeStats::enable();
    if (!r) error = r.error().message;
    else held_ = std::make_unique<Held>(Held{std::move(*r)});
}

RunTimeStatistics::~RunTimeStatistics() = default;

}  // namespace weir::api
