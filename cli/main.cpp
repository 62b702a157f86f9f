// weir: the command line. A thin layer over the library: main() parses the command line and
// hands over to one command (commands.hpp, one cmd_*.cpp each). Exit codes: 0 ok, 1 errors
// found (or warnings with --werror, or a failing check or test), 2 usage, I/O or privilege
// problems.
#include <CLI/CLI.hpp>

#include "commands.hpp"

using namespace weir::cli;

int main(int argc, char** argv) {
    CLI::App app{"weir: packet policies compiled to XDP"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "weir 0.1.0");
    CommonOptions common;
    auto add_common = [&](CLI::App* sub) {
        sub->add_option("-I,--include-dir", common.include_dirs, "add a folder to the include search path");
        sub->add_option("--color", common.color, "colored diagnostics")
            ->check(CLI::IsMember({"auto", "always", "never"}));
    };

    CheckArgs check_args;
    auto* check = app.add_subcommand("check", "parse, check and lint policy files");
    check->add_option("files", check_args.files, "policy files")->required();
    check->add_flag("--werror", common.werror, "treat warnings as errors");
    check->add_option("--format", common.format, "diagnostics format")->check(CLI::IsMember({"text", "json"}));
    check->add_flag("--kernel", check_args.kernel,
                    "also compile every policy and load it into the kernel verifier (needs root)");
    check->add_option("--test-unverifiable-rule", check_args.unverifiable_rule,
                      "test hook: compile this rule so that the verifier rejects it")
        ->group("");  // hidden
    add_common(check);

    FmtArgs fmt_args;
    auto* fmt = app.add_subcommand("fmt", "print policy files in canonical layout");
    fmt->add_option("files", fmt_args.files, "policy files")->required();
    auto* w = fmt->add_flag("--write", fmt_args.write, "rewrite the files in place");
    fmt->add_flag("--check", fmt_args.check, "exit 1 if a file is not formatted")->excludes(w);
    add_common(fmt);

    CompileArgs compile_args;
    auto* compile = app.add_subcommand("compile", "compile a policy and print a stage");
    compile->add_option("file", compile_args.file, "policy file")->required();
    compile->add_option("--policy", compile_args.policy, "policy to compile (default: the only one)");
    compile->add_option("--emit", compile_args.emit, "stage to print: ast, checked, plan, ir, asm, obj")
        ->check(CLI::IsMember({"ast", "checked", "plan", "ir", "asm", "obj"}));
    compile->add_option("-o,--output", compile_args.output, "write to a file instead of stdout");
    add_common(compile);

    TestArgs test_args;
    auto* test = app.add_subcommand("test", "run the test blocks of policy files, or replay a capture");
    test->add_option("files", test_args.files, "policy files")->required();
    auto* tk = test->add_flag("--kernel", test_args.kernel,
                              "run in the kernel with BPF_PROG_TEST_RUN (needs root)");
    test->add_flag("--interp", test_args.interp, "run in the reference interpreter")->excludes(tk);
    auto* pcap = test->add_option("--pcap", test_args.pcap,
                                  "replay an Ethernet capture through the policies instead");
    test->add_option("--policy", test_args.policy, "with --pcap: only this policy")->needs(pcap);
    test->add_flag("--json", test_args.json, "print one JSON object");
    add_common(test);

    bool markdown = false;
    auto* fields = app.add_subcommand("fields", "list the packet fields rules can match");
    fields->add_flag("--markdown", markdown, "as a Markdown table");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitUsage;
    }
    if (check->parsed()) return cmd_check(check_args, common);
    if (fmt->parsed()) return cmd_fmt(fmt_args, common);
    if (compile->parsed()) return cmd_compile(compile_args, common);
    if (test->parsed()) return cmd_test(test_args, common);
    if (fields->parsed()) return cmd_fields(markdown);
    return kExitUsage;
}
