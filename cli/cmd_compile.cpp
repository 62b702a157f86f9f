// weir compile FILE [--policy NAME] [--plan auto|linear] --emit ast|checked|plan|ir|asm|obj [-o OUT]
#include <unistd.h>

#include <iostream>

#include "commands.hpp"

namespace weir::cli {

int cmd_compile(const CompileArgs& a, const CommonOptions& o) {
    api::Policy policy = api::Policy::from_file(a.file, compile_options(o));
    std::cerr << policy.diagnostics_text(use_color(o.color));
    if (policy.io_error()) return kExitUsage;
    bool to_stdout = a.output.empty() || a.output == "-";
    if (a.emit == "obj" && to_stdout && isatty(STDOUT_FILENO)) {
        std::cerr << "weir compile: not writing a binary object to a terminal (use -o FILE, or "
                     "redirect standard output)\n";
        return kExitUsage;
    }
    const api::Stage stage = a.emit == "ast"       ? api::Stage::Ast
                             : a.emit == "checked" ? api::Stage::Checked
                             : a.emit == "plan"    ? api::Stage::Plan
                             : a.emit == "ir"      ? api::Stage::Ir
                             : a.emit == "asm"     ? api::Stage::Asm
                                                   : api::Stage::Obj;
    api::EmitOptions eo;
    eo.policy = a.policy;
    eo.linear = a.plan == "linear";
    api::Result<std::string> text = api::emit(policy, stage, eo);
    if (!text) {
        // The diagnostics above said why a file does not parse or compile.
        if (text.error.step == "select") {
            std::cerr << "weir compile: " << text.error.message << "\n";
            return kExitUsage;
        }
        if (text.error.step == "codegen") std::cerr << a.file << ": error: " << text.error.message << "\n";
        return kExitFindings;
    }
    int rc = policy.ok() ? kExitOk : kExitFindings;  // only --emit ast gets here with errors
    if (to_stdout) {
        std::cout << *text << std::flush;
        return rc;
    }
    std::string err;
    if (!write_file_atomic(a.output, *text, err)) {
        std::cerr << "weir compile: cannot write '" << a.output << "': " << err << "\n";
        return kExitUsage;
    }
    return rc;
}

}  // namespace weir::cli
