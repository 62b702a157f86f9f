#include "driver.hpp"

#include "capacity.hpp"
#include "lint.hpp"
#include "sema.hpp"

namespace weir {

namespace {

void run(Compilation& c, FileId root, const CheckOptions& opts) {
    c.files = load(c.sources, root, opts.load, c.diags);
    // Checking needs every file parsed; a syntax error anywhere stops here (one per file).
    if (c.diags.has_errors()) {
        c.diags.sort();
        return;
    }
    c.program = opts.keep_ast ? check(c.sources, c.files, c.diags) : check(c.sources, std::move(c.files), c.diags);
    if (!c.diags.has_errors()) check_capacity(c.program, c.diags);
    if (opts.lint && !c.diags.has_errors()) lint(c.program, c.sources, c.diags, opts.lint_comparisons);
    if (opts.werror) c.diags.promote_warnings();
    c.diags.sort();
}

void confine(Compilation& c, const CheckOptions& opts) {
    if (opts.allowed_dirs.empty()) return;
    std::vector<std::string> dirs = opts.allowed_dirs;
    if (opts.load.use_default_rules)
        for (auto& d : default_rules_dirs()) dirs.push_back(std::move(d));
    c.sources.confine(dirs);
}

}  // namespace

std::unique_ptr<Compilation> compile_file(const std::string& path, const CheckOptions& opts) {
    auto c = std::make_unique<Compilation>();
    confine(*c, opts);
    std::string err;
    FileId root = c->sources.load(path, err);
    if (root == kNoFile) {
        c->io_error = true;
        c->diags.error("io", {}, "cannot read '" + path + "': " + err);
        return c;
    }
    run(*c, root, opts);
    return c;
}

std::unique_ptr<Compilation> compile_source(const std::string& display_path, std::string text,
                                            const CheckOptions& opts) {
    auto c = std::make_unique<Compilation>();
    confine(*c, opts);
    FileId root = c->sources.add(display_path, std::move(text));
    run(*c, root, opts);
    return c;
}

}  // namespace weir
