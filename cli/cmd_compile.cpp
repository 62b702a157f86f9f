// weir compile FILE [--policy NAME] [--plan auto|linear] --emit ast|checked|plan|ir|asm|obj [-o OUT]
#include <unistd.h>

#include <iostream>

#include "ast_dump.hpp"
#include "checked_dump.hpp"
#include "commands.hpp"
#include "plan_dump.hpp"

namespace weir::cli {
namespace {

// The policy a stage is printed for: --policy NAME, or the file's only policy; -1 after saying
// why not.
int pick_policy(const Program& prog, const std::string& name, const std::string& path) {
    if (!name.empty()) {
        int p = prog.find_policy(name);
        if (p < 0) std::cerr << "weir compile: no policy named '" << name << "' in " << path << "\n";
        return p;
    }
    if (prog.policies.size() == 1) return 0;
    if (prog.policies.empty()) {
        std::cerr << "weir compile: " << path << " has no policy to compile\n";
        return -1;
    }
    std::cerr << "weir compile: " << path << " has " << prog.policies.size() << " policies (";
    for (std::size_t i = 0; i < prog.policies.size(); ++i)
        std::cerr << (i ? ", " : "") << prog.policies[i].name;
    std::cerr << "): choose one with --policy NAME\n";
    return -1;
}

}  // namespace

int cmd_compile(const CompileArgs& a, const CommonOptions& o) {
    CheckOptions opts = check_options(o);
    opts.keep_ast = a.emit == "ast";  // other stages need only the checked program
    auto c = compile_file(a.file, opts);
    std::cerr << render_text(c->sources, c->diags, use_color(o.color));
    if (c->io_error) return kExitUsage;
    bool to_stdout = a.output.empty() || a.output == "-";
    if (a.emit == "obj" && to_stdout && isatty(STDOUT_FILENO)) {
        std::cerr << "weir compile: not writing a binary object to a terminal (use -o FILE, or "
                     "redirect standard output)\n";
        return kExitUsage;
    }

    std::string text;
    if (a.emit == "ast") {
        // The root file is the first one loaded. Its tree exists when it parsed, even if
        // checking failed (then printed, with exit 1).
        const ast::File* root = nullptr;
        for (const auto& f : c->files)
            if (f.id == 0) root = &f;
        if (!root) return kExitFindings;
        text = dump_ast(c->sources, *root);
    } else {
        if (!c->ok()) return kExitFindings;
        if (!a.policy.empty() && c->program.find_policy(a.policy) < 0) {
            std::cerr << "weir compile: no policy named '" << a.policy << "' in " << a.file << "\n";
            return kExitUsage;
        }
        if (a.emit == "checked") {
            text = dump(c->program);
        } else {
            int p = pick_policy(c->program, a.policy, a.file);
            if (p < 0) return kExitUsage;
            PlanOptions popts;
            if (a.plan == "linear") popts.mode = PlanOptions::Mode::Linear;
            Plan plan = plan_policy(c->program, p, popts);
            if (a.emit == "plan") {
                text = dump_plan(plan);
            } else {
                EmitKind kind = a.emit == "ir" ? EmitKind::IR : a.emit == "asm" ? EmitKind::Asm : EmitKind::Obj;
                CodegenResult r = codegen(plan, c->sources, kind, host_codegen_options(false, nullptr));
                if (!r.ok()) {
                    std::cerr << a.file << ": error: cannot compile policy '"
                              << c->program.policies[p].name << "': " << r.error << "\n";
                    return kExitFindings;
                }
                text.assign(r.bytes.begin(), r.bytes.end());
            }
        }
    }
    int rc = c->ok() ? kExitOk : kExitFindings;  // only --emit ast gets here with errors
    if (to_stdout) {
        std::cout << text << std::flush;
        return rc;
    }
    std::string err;
    if (!write_file_atomic(a.output, text, err)) {
        std::cerr << "weir compile: cannot write '" << a.output << "': " << err << "\n";
        return kExitUsage;
    }
    return rc;
}

}  // namespace weir::cli
