// weir: the command line. A thin layer over the library: main() parses the command line and
// hands over to one command (commands.hpp, one cmd_*.cpp each). Exit codes: 0 ok, 1 errors
// found (or warnings with --werror, or a failing check or test), 2 usage, I/O or privilege
// problems.
#include <CLI/CLI.hpp>

#include <functional>
#include <iostream>
#include <memory>
#include <vector>
#include <nlohmann/json.hpp>

#include "commands.hpp"

using namespace weir::cli;

namespace {

// `weir --list-options` (hidden): every option CLI11 registers, per subcommand, as JSON
// (tests/cli/option_coverage.py fails when one is passed to weir by no test). Each entry:
// command ("" for the top level), names, positional, hidden, choices (of an IsMember check).
nlohmann::json list_options(const CLI::App& app) {
    nlohmann::json out = nlohmann::json::array();
    auto add = [&](const CLI::App& a, const std::string& cmd) {
        for (const CLI::Option* o : a.get_options()) {
            if (o == a.get_help_ptr() || o->get_lnames() == std::vector<std::string>{"list-options"}) continue;
            nlohmann::json names = nlohmann::json::array();
            for (const auto& n : o->get_snames()) names.push_back("-" + n);
            for (const auto& n : o->get_lnames()) names.push_back("--" + n);
            if (!o->nonpositional()) names.push_back(o->get_name());
            // IsMember's description is the set, "{a,b,c}", appended to the type name.
            nlohmann::json choices = nlohmann::json::array();
            const std::string type = o->get_type_name();
            if (auto b = type.find(":{"); b != std::string::npos) {
                std::string set = type.substr(b + 2, type.find('}', b) - b - 2);
                for (std::size_t i = 0; i <= set.size();) {
                    std::size_t j = std::min(set.find(',', i), set.size());
                    choices.push_back(set.substr(i, j - i));
                    i = j + 1;
                }
            }
            out.push_back({{"command", cmd}, {"names", names}, {"positional", !o->nonpositional()},
                           {"hidden", o->get_group().empty()}, {"choices", choices}});
        }
    };
    add(app, "");
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) add(*sub, sub->get_name());
    return out;
}

// One subcommand: its CLI11 node and what runs it (with the options parsed into it).
struct Command {
    CLI::App* sub;
    std::function<int()> run;
};

// Options several commands share: -I (for the commands that follow `include`) and --color.
struct Shared {
    CommonOptions common;
    void add_color(CLI::App* sub) {
        sub->add_option("--color", common.color, "colored diagnostics (auto: on a terminal, unless NO_COLOR is set)")
            ->check(CLI::IsMember({"auto", "always", "never"}));
    }
    void add_common(CLI::App* sub) {
        // One folder per -I (repeatable), so that `-I DIR FILE` leaves FILE to the command.
        sub->add_option("-I,--include-dir", common.include_dirs, "add a folder to the include search path")
            ->allow_extra_args(false);
        add_color(sub);
    }
};

// Writing and checking policies: check, fmt, compile, test, fields.
void add_policy_commands(CLI::App& app, Shared& sh, std::vector<Command>& out) {
    CommonOptions& common = sh.common;
    auto check_args = std::make_shared<CheckArgs>();
    auto* check = app.add_subcommand("check", "parse, check and lint policy files");
    check->add_option("files", check_args->files, "policy files")->required();
    check->add_flag("--werror", common.werror, "treat warnings as errors");
    check->add_option("--format", common.format, "diagnostics format")->check(CLI::IsMember({"text", "json"}));
    check->add_flag("--kernel", check_args->kernel,
                    "also compile every policy and load it into the kernel verifier (needs root)");
    sh.add_common(check);
    out.push_back({check, [check_args, &common] { return cmd_check(*check_args, common); }});

    auto fmt_args = std::make_shared<FmtArgs>();
    auto* fmt = app.add_subcommand("fmt", "print policy files in canonical layout");
    fmt->add_option("files", fmt_args->files, "policy files")->required();
    auto* w = fmt->add_flag("--write", fmt_args->write, "rewrite the files in place");
    fmt->add_flag("--check", fmt_args->check, "exit 1 if a file is not formatted")->excludes(w);
    sh.add_color(fmt);
    out.push_back({fmt, [fmt_args, &common] { return cmd_fmt(*fmt_args, common); }});

    auto compile_args = std::make_shared<CompileArgs>();
    auto* compile = app.add_subcommand("compile", "compile a policy and print a stage");
    compile->add_option("file", compile_args->file, "policy file")->required();
    compile->add_option("--policy", compile_args->policy, "policy to compile (default: the only one)");
    compile->add_option("--emit", compile_args->emit, "stage to print: ast, checked, plan, ir, asm, obj")
        ->check(CLI::IsMember({"ast", "checked", "plan", "ir", "asm", "obj"}));
    compile->add_option("-o,--output", compile_args->output, "write to a file instead of stdout");
    compile->add_option("--plan", compile_args->plan,
                        "auto: the planner chooses (classifier trees for long runs of rules); linear: every "
                        "rule as straight-line code")
        ->check(CLI::IsMember({"auto", "linear"}));
    sh.add_common(compile);
    out.push_back({compile, [compile_args, &common] { return cmd_compile(*compile_args, common); }});

    auto test_args = std::make_shared<TestArgs>();
    auto* test = app.add_subcommand("test", "run the test blocks of policy files, or replay a capture");
    test->add_option("files", test_args->files, "policy files")->required();
    auto* tk = test->add_flag("--kernel", test_args->kernel,
                              "run in the kernel with BPF_PROG_TEST_RUN (needs root)");
    test->add_flag("--interp", test_args->interp, "run in the reference interpreter")->excludes(tk);
    auto* pcap = test->add_option("--pcap", test_args->pcap,
                                  "replay an Ethernet capture through the policies instead");
    test->add_option("--policy", test_args->policy, "with --pcap: only this policy")->needs(pcap);
    test->add_flag("--json", test_args->json, "print one JSON object");
    sh.add_common(test);
    out.push_back({test, [test_args, &common] { return cmd_test(*test_args, common); }});

    auto diff_args = std::make_shared<DiffArgs>();
    auto* diff = app.add_subcommand("diff", "what changes when one policy replaces another: witness packets");
    diff->add_option("files", diff_args->files, "OLD.weir NEW.weir, or NEW.weir with --dev")->required();
    diff->add_option("--dev", diff_args->dev, "compare with the policy running on this interface (needs root)");
    diff->add_option("--old-policy", diff_args->old_policy, "policy of OLD (default: the only one)");
    diff->add_option("--new-policy", diff_args->new_policy, "policy of NEW (default: the only one)");
    diff->add_flag("--json", diff_args->json, "print one JSON object");
    diff->add_flag("--all", diff_args->all, "list every changed rule pair (default: the first 20)");
    diff->add_option("--budget", diff_args->budget, "give up after this many seconds (exit 2)")
        ->check(CLI::PositiveNumber);
    sh.add_common(diff);
    out.push_back({diff, [diff_args, &common] { return cmd_diff(*diff_args, common); }});

    auto markdown = std::make_shared<bool>(false);
    auto* fields = app.add_subcommand("fields", "list the packet fields rules can match");
    fields->add_flag("--markdown", *markdown, "as a Markdown table");
    out.push_back({fields, [markdown] { return cmd_fields(*markdown); }});
}

// Policies on interfaces: load, unload, status, set, stats, demo.
void add_attach_commands(CLI::App& app, Shared& sh, std::vector<Command>& out) {
    CommonOptions& common = sh.common;
    auto load_args = std::make_shared<LoadArgs>();
    auto* load = app.add_subcommand("load", "attach a policy to an interface, or hot-swap the one running there");
    load->add_option("file", load_args->file, "policy file");
    load->add_option("--dev", load_args->dev, "interface")->required();
    load->add_option("--shadow", load_args->shadow,
                     "run this candidate policy beside the running one, enforcing nothing (weir shadow)");
    load->add_option("--policy", load_args->policy, "policy to load (default: the only one)");
    load->add_option("--mode", load_args->mode, "XDP attach mode: native, generic or auto (native, else generic)")
        ->check(CLI::IsMember({"native", "generic", "auto"}));
    load->add_flag("--dry-run", load_args->dry_run, "compile, verify and self-test, but change nothing");
    load->add_option("--confirm-within", load_args->confirm_within,
                     "roll back unless `weir confirm` runs within this time (60s, 2m, or seconds)");
    sh.add_common(load);
    out.push_back({load, [load_args, &common] { return cmd_load(*load_args, common); }});

    auto shadow_args = std::make_shared<ShadowArgs>();
    auto* shadow = app.add_subcommand("shadow", "the candidate of `weir load --shadow`: status, report, promote, stop");
    shadow->add_option("action", shadow_args->action, "status, report (with samples), promote or stop")
        ->required()
        ->check(CLI::IsMember({"status", "report", "promote", "stop"}));
    shadow->add_option("--dev", shadow_args->dev, "interface")->required();
    shadow->add_flag("--json", shadow_args->json, "print JSON (status, report)");
    shadow->add_option("--samples-ms", shadow_args->samples_ms, "report: read samples from the log ring this long");
    shadow->add_option("--confirm-within", shadow_args->confirm_within,
                       "promote: roll back unless `weir confirm` runs within this time (60s, 2m, or seconds)");
    sh.add_common(shadow);
    out.push_back({shadow, [shadow_args, &common] { return cmd_shadow(*shadow_args, common); }});

    auto unload_args = std::make_shared<UnloadArgs>();
    auto* unload = app.add_subcommand("unload", "detach an interface's weir policy and remove its state");
    unload->add_option("--dev", unload_args->dev, "interface")->required();
    out.push_back({unload, [unload_args] { return cmd_unload(*unload_args); }});

    auto confirm_args = std::make_shared<ConfirmArgs>();
    auto* confirm = app.add_subcommand("confirm", "keep a policy loaded with --confirm-within (no rollback)");
    confirm->add_option("--dev", confirm_args->dev, "interface")->required();
    out.push_back({confirm, [confirm_args] { return cmd_confirm(*confirm_args); }});
    auto* watch = app.add_subcommand("confirm-watch", "")->group("");  // hidden: what the rollback watcher runs
    watch->add_option("--dev", confirm_args->dev, "interface")->required();
    watch->add_option("--token", confirm_args->token, "the arming to watch")->required();
    out.push_back({watch, [confirm_args] { return cmd_confirm_watch(*confirm_args); }});

    auto status_args = std::make_shared<StatusArgs>();
    auto* status = app.add_subcommand("status", "list the interfaces with a weir policy");
    status->add_option("--dev", status_args->dev, "only this interface");
    status->add_flag("--json", status_args->json, "print JSON");
    out.push_back({status, [status_args] { return cmd_status(*status_args); }});

    auto demo_args = std::make_shared<DemoArgs>();
    auto* demo = app.add_subcommand("demo", "live demo: flood a private test network, hot-swap mid-flood (root)");
    demo->add_option("--policy", demo_args->policy, "the policy loaded first");
    demo->add_option("--strict", demo_args->strict, "the policy swapped in during the flood");
    demo->add_option("--seconds", demo_args->seconds, "seconds of traffic")->check(CLI::Range(1.0, 600.0));
    demo->add_option("--swap-at", demo_args->swap_at, "seconds into the flood to swap (default: half way)");
    demo->add_option("--rate", demo_args->rate_pps, "offered packets per second (default: as fast as possible)");
    out.push_back({demo, [demo_args] { return cmd_demo(*demo_args); }});

    auto set_args = std::make_shared<SetArgs>();
    auto* set_cmd = app.add_subcommand("set", "edit a named set of the policy running on an interface, live");
    set_cmd->add_option("op", set_args->op, "add, del, list or flush")
        ->required()
        ->check(CLI::IsMember({"add", "del", "list", "flush"}));
    set_cmd->add_option("--dev", set_args->dev, "interface")->required();
    set_cmd->add_option("set", set_args->set, "set name")->required();
    set_cmd->add_option("elements", set_args->elements,
                        "elements as in a policy: address, CIDR, number, name, range a-b");
    set_cmd->add_flag("--json", set_args->json, "list: print JSON");
    sh.add_color(set_cmd);
    out.push_back({set_cmd, [set_args, &common] { return cmd_set(*set_args, common); }});

    auto stats_args = std::make_shared<StatsArgs>();
    auto* stats_cmd = app.add_subcommand("stats", "per-rule and per-verdict counters of attached policies");
    stats_cmd->add_option("--dev", stats_args->dev, "only this interface");
    stats_cmd->add_flag("--json", stats_args->json, "print JSON (with --watch: one line per round)");
    stats_cmd->add_option("--watch", stats_args->watch, "redraw every SECONDS with rates, until interrupted")
        ->check(CLI::PositiveNumber);
    stats_cmd->add_option("--count", stats_args->count, "test hook: stop --watch after this many rounds")
        ->group("");  // hidden
    out.push_back({stats_cmd, [stats_args] { return cmd_stats(*stats_args); }});
}

// Watching and running: events, capture (records of `log` rules), daemon.
void add_watch_commands(CLI::App& app, std::vector<Command>& out) {
    auto follow_options = [](CLI::App* c, FollowArgs& f) {
        c->add_option("--dev", f.dev, "interface")->required();
        c->add_option("--rule", f.rule, "only records of this log rule");
        c->add_option("-c,--count", f.count, "stop after COUNT records");
        c->add_option("--timeout", f.timeout, "stop after SECONDS (exit 1 if --count was not reached)")
            ->check(CLI::PositiveNumber);
        c->add_flag("--backlog", f.backlog, "also records queued before the command started");
    };
    auto events_args = std::make_shared<EventsArgs>();
    auto* events_cmd = app.add_subcommand("events", "print the packets logged by `log` rules");
    follow_options(events_cmd, *events_args);
    events_cmd->add_flag("--json", events_args->json, "one JSON object per line");
    out.push_back({events_cmd, [events_args] { return cmd_events(*events_args); }});

    auto capture_args = std::make_shared<CaptureArgs>();
    auto* capture_cmd = app.add_subcommand("capture", "write the packets logged by `log` rules to a pcap file");
    follow_options(capture_cmd, *capture_args);
    capture_cmd->add_option("-w,--write", capture_args->output, "pcap file to write")->required();
    out.push_back({capture_cmd, [capture_args] { return cmd_capture(*capture_args); }});

    auto daemon_args = std::make_shared<DaemonArgs>();
    auto* daemon = app.add_subcommand("daemon", "enforce configured policies, reload them on change, serve metrics");
    daemon->add_option("--config", daemon_args->config, "JSON config: interfaces and policy files")->required();
    daemon->add_option("--listen", daemon_args->listen, "metrics address HOST:PORT (default 127.0.0.1:9464; off: none)");
    daemon->add_flag("--once", daemon_args->once, "load or adopt every configured policy, then exit");
    daemon->add_flag("--detach-on-exit", daemon_args->detach_on_exit, "unload the policies on SIGTERM / SIGINT");
    out.push_back({daemon, [daemon_args] { return cmd_daemon(*daemon_args); }});
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"weir: packet policies compiled to XDP"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "weir 0.1.0");
    app.add_flag_callback("--list-options", [&app] {
           std::cout << list_options(app).dump(1) << "\n";
           throw CLI::Success();
       })->group("");  // hidden
    Shared shared;
    std::vector<Command> commands;
    add_policy_commands(app, shared, commands);
    add_attach_commands(app, shared, commands);
    add_watch_commands(app, commands);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitUsage;
    }
    for (const Command& c : commands)
        if (c.sub->parsed()) return c.run();
    return kExitUsage;
}
