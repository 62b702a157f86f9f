// The built artifact (artifact.hpp): plan and object of one checked policy.
#include "artifact.hpp"

#include <filesystem>

#include "sha256.hpp"

namespace weir {

std::string source_hash(const SourceManager& sm) {
    std::string all;
    for (FileId i = 0; i < sm.size(); ++i) {
        const SourceFile& f = sm.file(i);
        // Absolute, so that the same files hash the same from any working directory: a load
        // records the absolute path, and diff --dev and shadow compile that path again.
        std::error_code ec;
        std::filesystem::path abs = f.path.starts_with('<') ? std::filesystem::path(f.path)
                                                            : std::filesystem::absolute(f.path, ec).lexically_normal();
        all += ec ? f.path : abs.string();
        all += '\0';
        all += std::to_string(f.text.size());
        all += '\0';
        all += f.text;
    }
    return sha256_hex(all);
}

int select_policy(const Program& program, const std::string& name, const std::string& file, std::string& why,
                  const std::string& chooser) {
    const auto& pols = program.policies;
    for (std::size_t i = 0; i < pols.size(); ++i)
        if (name.empty() ? pols.size() == 1 : pols[i].name == name) return static_cast<int>(i);
    std::string names;
    for (const auto& p : pols) names += (names.empty() ? "" : ", ") + p.name;
    if (!name.empty())
        why = "no policy named '" + name + "' in " + file + (names.empty() ? "" : " (it has: " + names + ")");
    else if (pols.empty())
        why = file + " has no policy";
    else
        why = file + " has " + std::to_string(pols.size()) + " policies (" + names + "): choose one with " + chooser;
    return -1;
}

BuildResult build_artifact(std::shared_ptr<const Compilation> compilation, const std::string& policy,
                           const CodegenOptions& codegen_options) {
    BuildResult out;
    if (!compilation || !compilation->ok()) {
        out.error = "the policy does not compile";
        return out;
    }
    const int index = select_policy(compilation->program, policy, compilation->sources.file(0).path, out.error);
    if (index < 0) return out;
    auto a = std::make_shared<Artifact>();
    a->compilation = compilation;
    a->policy = index;
    a->plan = plan_policy(compilation->program, index);
    a->codegen = codegen_options;
    a->source_hash = source_hash(compilation->sources);
    CodegenResult obj = codegen(a->plan, compilation->sources, EmitKind::Obj, codegen_options);
    if (!obj.ok()) {
        out.error = "cannot compile policy '" + a->pol().name + "': " + obj.error;
        return out;
    }
    a->object = std::move(obj.bytes);
    out.artifact = std::move(a);
    return out;
}

namespace {

bool same_numbers(const Plan& a, const Plan& b) {
    if (a.rules.size() != b.rules.size() || a.tables.size() != b.tables.size()) return false;
    for (std::size_t i = 0; i < a.rules.size(); ++i)
        if (a.rules[i].slot != b.rules[i].slot) return false;
    for (std::size_t i = 0; i < a.tables.size(); ++i)
        if (a.tables[i].id != b.tables[i].id) return false;
    return true;
}

}  // namespace

CodegenResult relink(const Artifact& artifact, const Plan& plan) {
    if (same_numbers(artifact.plan, plan)) return {{}, artifact.object, CodegenFailure::None};
    return codegen(plan, artifact.sources(), EmitKind::Obj, artifact.codegen);
}

}  // namespace weir
