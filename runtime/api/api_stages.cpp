// The API's view of the stages without attaching (weir.hpp "the stages"): emit one stage's text,
// verify every policy in the kernel, format a file, list the field table. `weir compile`,
// `weir check --kernel`, `weir fmt` and `weir fields` are these calls.
#include <nlohmann/json.hpp>

#include "api_impl.hpp"
#include "artifact.hpp"
#include "ast_dump.hpp"
#include "bpf.hpp"
#include "checked_dump.hpp"
#include "fields.hpp"
#include "fmt.hpp"
#include "loaded_policy.hpp"
#include "parser.hpp"
#include "plan_dump.hpp"
#include "probe.hpp"

namespace weir::api {
namespace {

// Step "select": which policy (the CLI's usage error); "codegen": LLVM failed on the policy.
Error emit_error(std::string message, const char* step = "select") {
    return {ErrorKind::Policy, step, std::move(message)};
}

// The policy a later stage is for: `name`, or the program's only one; -1 with `error` set.
int pick_policy(const Program& prog, const std::string& name, const std::string& file, Error& error) {
    std::string why;
    int p = select_policy(prog, name, file, why);
    if (p < 0) error = emit_error(std::move(why));
    return p;
}

}  // namespace

Result<std::string> emit(const Policy& policy, Stage stage, const EmitOptions& opts) {
    const Compilation& c = *PolicyAccess::of(policy).compilation;
    Result<std::string> out;
    if (stage == Stage::Ast) {
        // The root file is the first one loaded; its tree exists when it parsed.
        for (const auto& f : c.files)
            if (f.id == 0) out.value = dump_ast(c.sources, f);
        if (c.files.empty() || out.value.empty())
            out.error = emit_error(c.io_error ? "cannot read " + policy.name() : policy.name() + " did not parse", "parse");
        return out;
    }
    if (!c.ok()) {
        out.error = emit_error("the policy does not compile", "compile");
        return out;
    }
    if (!opts.policy.empty() && pick_policy(c.program, opts.policy, policy.name(), out.error) < 0) return out;
    if (stage == Stage::Checked) {
        out.value = dump(c.program);
        return out;
    }
    int p = pick_policy(c.program, opts.policy, policy.name(), out.error);
    if (p < 0) return out;
    PlanOptions popts;
    if (opts.linear) popts.mode = PlanOptions::Mode::Linear;
    Plan plan = plan_policy(c.program, p, popts);
    if (stage == Stage::Plan) {
        out.value = dump_plan(plan);
        return out;
    }
    EmitKind kind = stage == Stage::Ir ? EmitKind::IR : stage == Stage::Asm ? EmitKind::Asm : EmitKind::Obj;
    CodegenResult r = codegen(plan, c.sources, kind, host_codegen_options(false, nullptr));
    if (!r.ok()) {
        out.error = emit_error("cannot compile policy '" + c.program.policies[p].name + "': " + r.error, "codegen");
        return out;
    }
    out.value.assign(r.bytes.begin(), r.bytes.end());
    return out;
}

std::unique_ptr<LoadedPolicy> load_unattached(const std::shared_ptr<const Compilation>& c, const std::string& name,
                                              const CodegenOptions& cg, Diagnostics& diags, std::string& error) {
    BuildResult built = build_artifact(c, name, cg);
    const int p = c->program.find_policy(name);
    SourceRange at = p >= 0 ? c->program.policies[static_cast<std::size_t>(p)].name_range : SourceRange{};
    if (!built.ok()) {
        diags.add({weir::Severity::Error, "codegen-failed", at, built.error, {}});
        error = "policy '" + name + "' could not be compiled";
        return nullptr;
    }
    const Artifact& art = *built.artifact;
    KernelLoadOptions lo;
    lo.placeholder_redirects = true;
    lo.object_name = name;
    auto lp = LoadedPolicy::load(art.plan, art.sources(), art.object, diags, lo);
    if (!lp) error = "policy '" + name + "' could not be loaded into the kernel";
    return lp;
}

KernelCheck verify_in_kernel(const Policy& policy, bool color) {
    KernelCheck out;
    const Compilation& c = *PolicyAccess::of(policy).compilation;
    if (!c.ok()) {
        out.error = {ErrorKind::Policy, "compile", "the policy does not compile"};
        return out;
    }
    if (bpf::Status k = bpf::probe_xdp_support(); !k) {
        out.error = {ErrorKind::Environment, "verify", "cannot load policies into the kernel: " + k.error().message};
        return out;
    }
    Diagnostics diags;
    for (std::size_t p = 0; p < c.program.policies.size(); ++p) {
        const weir::Policy& pol = c.program.policies[p];
        std::vector<std::string> placeholders;
        CodegenOptions cg = host_codegen_options(true, &placeholders);
        std::string error;
        auto lp = load_unattached(PolicyAccess::of(policy).compilation, pol.name, cg, diags, error);
        for (const auto& name : placeholders)
            diags.add({weir::Severity::Note, "iface-placeholder", pol.name_range,
                       "interface '" + name + "' (pkt.iface) does not exist on this host; "
                       "verified with a placeholder ifindex",
                       {}});
        if (!lp) continue;
        const LoadStats& s = lp->stats();
        out.verified.push_back({pol.name, s.xlated_insns, s.jited_bytes, s.verified_insns, s.load_time});
    }
    convert(c.sources, diags, out.diagnostics);
    out.errors = diags.errors();
    out.diagnostics_text = render_text(c.sources, diags, color);
    out.diagnostics_json = render_json(c.sources, diags);
    return out;
}

Formatted format_file(const std::string& path, bool color) {
    Formatted out;
    SourceManager sm;
    Diagnostics diags;
    std::string err;
    FileId id = sm.load(path, err);
    if (id == kNoFile) {
        out.error = {ErrorKind::Environment, "read", "cannot read '" + path + "': " + err};
        return out;
    }
    auto file = parse(sm, id, diags);
    if (!file) {
        out.error = {ErrorKind::Policy, "parse", path + " does not parse"};
        out.diagnostics_text = render_text(sm, diags, color);
        return out;
    }
    out.text = format(sm, *file);
    out.changed = out.text != sm.file(id).text;
    return out;
}

std::vector<FieldInfo> fields() {
    std::vector<FieldInfo> out;
    for (const auto& f : all_fields())
        out.push_back({std::string(f.name), int(f.bits), field_type_text(f.type), header_text(f.header),
                       std::string(symbol_table_name(f.symbols)), std::string(f.doc)});
    return out;
}

}  // namespace weir::api
