// weir: the command line. A thin layer over the library: every command is a few calls into
// compiler/ (and, later, runtime/). Exit codes: 0 ok, 1 errors found (or warnings with --werror,
// or a failing check), 2 usage or I/O problems.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "driver.hpp"
#include "dump.hpp"
#include "fields.hpp"
#include "fmt.hpp"
#include "parser.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFindings = 1;
constexpr int kExitUsage = 2;

struct CommonOptions {
    std::vector<std::string> include_dirs;
    bool werror = false;
    std::string format = "text";
    std::string color = "auto";
};

bool use_color(const std::string& mode) {
    if (mode == "always") return true;
    if (mode == "never") return false;
    return isatty(STDERR_FILENO) && std::getenv("NO_COLOR") == nullptr;
}

weir::CheckOptions check_options(const CommonOptions& o) {
    weir::CheckOptions opts;
    opts.load.include_dirs = o.include_dirs;
    opts.werror = o.werror;
    return opts;
}

// Writes `data` to `path` atomically (temp file in the same folder, then rename).
bool write_file_atomic(const std::string& path, const std::string& data, std::string& err) {
    std::string tmp = path + ".weir-tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) {
            err = std::strerror(errno);
            return false;
        }
        out << data;
        if (!out.flush()) {
            err = std::strerror(errno);
            return false;
        }
    }
    std::error_code ec;
    // Keep the original's permissions.
    auto perms = std::filesystem::status(path, ec).permissions();
    if (!ec) std::filesystem::permissions(tmp, perms, ec);
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        err = ec.message();
        std::filesystem::remove(tmp, ec);
        return false;
    }
    return true;
}

int cmd_check(const std::vector<std::string>& files, const CommonOptions& o) {
    bool color = use_color(o.color);
    bool any_errors = false, any_io = false;
    nlohmann::json all = nlohmann::json::array();
    for (const auto& path : files) {
        auto c = weir::compile_file(path, check_options(o));
        if (c->io_error) any_io = true;
        if (!c->ok()) any_errors = true;
        if (o.format == "json") {
            for (auto& d : nlohmann::json::parse(weir::render_json(c->sources, c->diags))) {
                if (!d.contains("file")) d["file"] = path;
                all.push_back(std::move(d));
            }
            continue;
        }
        std::cerr << weir::render_text(c->sources, c->diags, color);
        if (c->io_error) continue;
        std::size_t e = c->diags.errors(), w = c->diags.warnings();
        if (e == 0 && w == 0) {
            std::size_t rules = 0;
            for (const auto& p : c->program.policies) rules += p.rules.size();
            std::cout << path << ": ok (" << c->program.policies.size() << " polic"
                      << (c->program.policies.size() == 1 ? "y" : "ies") << ", " << rules << " rule"
                      << (rules == 1 ? "" : "s") << ", " << c->program.sets.size() << " set"
                      << (c->program.sets.size() == 1 ? "" : "s") << ", " << c->program.tests.size()
                      << " test" << (c->program.tests.size() == 1 ? "" : "s") << ")\n";
        } else {
            std::cerr << path << ": " << e << " error" << (e == 1 ? "" : "s") << ", " << w << " warning"
                      << (w == 1 ? "" : "s") << "\n";
        }
    }
    if (o.format == "json") std::cout << all.dump(2) << "\n";
    if (any_io) return kExitUsage;
    return any_errors ? kExitFindings : kExitOk;
}

int cmd_fmt(const std::vector<std::string>& files, bool write, bool check, const CommonOptions& o) {
    bool color = use_color(o.color);
    int rc = kExitOk;
    for (const auto& path : files) {
        weir::SourceManager sm;
        weir::Diagnostics diags;
        std::string err;
        weir::FileId id = sm.load(path, err);
        if (id == weir::kNoFile) {
            std::cerr << "weir fmt: cannot read '" << path << "': " << err << "\n";
            rc = kExitUsage;
            continue;
        }
        auto file = weir::parse(sm, id, diags);
        if (!file) {
            std::cerr << weir::render_text(sm, diags, color);
            if (rc == kExitOk) rc = kExitFindings;
            continue;
        }
        std::string out = weir::format(sm, *file);
        bool same = out == sm.file(id).text;
        if (check) {
            if (!same) {
                std::cerr << path << ": not formatted (run 'weir fmt --write " << path << "')\n";
                if (rc == kExitOk) rc = kExitFindings;
            }
        } else if (write) {
            if (!same && !write_file_atomic(path, out, err)) {
                std::cerr << "weir fmt: cannot write '" << path << "': " << err << "\n";
                rc = kExitUsage;
            }
        } else {
            std::cout << out;
        }
    }
    return rc;
}

int cmd_compile(const std::string& path, const std::string& policy, const std::string& emit,
                const std::string& output, const CommonOptions& o) {
    auto c = weir::compile_file(path, check_options(o));
    std::cerr << weir::render_text(c->sources, c->diags, use_color(o.color));
    if (c->io_error) return kExitUsage;
    if (!c->ok()) return kExitFindings;
    if (!policy.empty() && c->program.find_policy(policy) < 0) {
        std::cerr << "weir compile: no policy named '" << policy << "' in " << path << "\n";
        return kExitUsage;
    }
    std::string text;
    if (emit == "checked") text = weir::dump(c->program);
    if (output.empty() || output == "-") {
        std::cout << text;
        return kExitOk;
    }
    std::string err;
    if (!write_file_atomic(output, text, err)) {
        std::cerr << "weir compile: cannot write '" << output << "': " << err << "\n";
        return kExitUsage;
    }
    return kExitOk;
}

const char* type_name(weir::FieldType t) {
    switch (t) {
        case weir::FieldType::Int: return "integer";
        case weir::FieldType::Bool: return "flag";
        case weir::FieldType::Ip4: return "IPv4 address";
        case weir::FieldType::Ip6: return "IPv6 address";
        case weir::FieldType::IpAny: return "IPv4 or IPv6 address";
        case weir::FieldType::Mac: return "MAC address";
        case weir::FieldType::Iface: return "interface name (string)";
    }
    return "?";
}

const char* header_name(weir::Header h) {
    switch (h) {
        case weir::Header::Eth: return "Ethernet";
        case weir::Header::Vlan: return "VLAN tag";
        case weir::Header::Ip: return "IPv4 or IPv6";
        case weir::Header::Ip4: return "IPv4";
        case weir::Header::Ip6: return "IPv6";
        case weir::Header::Tcp: return "TCP";
        case weir::Header::Udp: return "UDP";
        case weir::Header::L4: return "TCP or UDP";
        case weir::Header::Icmp: return "ICMP";
        case weir::Header::Icmp6: return "ICMPv6";
        case weir::Header::Pkt: return "always (metadata)";
    }
    return "?";
}

// The Markdown form is the field table of docs/language.md, which a test keeps in sync.
int cmd_fields(bool markdown) {
    if (markdown) {
        std::cout << "| Field | Bits | Type | Header required | Symbols | Meaning |\n";
        std::cout << "| --- | --- | --- | --- | --- | --- |\n";
    }
    for (const auto& f : weir::all_fields()) {
        std::string syms(weir::symbol_table_name(f.symbols));
        if (markdown) {
            std::cout << "| `" << f.name << "` | " << int(f.bits) << " | " << type_name(f.type) << " | "
                      << header_name(f.header) << " | " << syms << " | " << f.doc << " |\n";
        } else {
            std::printf("%-15s %4d  %-24s %-18s %s\n", std::string(f.name).c_str(), int(f.bits),
                        type_name(f.type), header_name(f.header), std::string(f.doc).c_str());
        }
    }
    return kExitOk;
}

}  // namespace

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

    std::vector<std::string> files;
    auto* check = app.add_subcommand("check", "parse, check and lint policy files");
    check->add_option("files", files, "policy files")->required();
    check->add_flag("--werror", common.werror, "treat warnings as errors");
    check->add_option("--format", common.format, "diagnostics format")->check(CLI::IsMember({"text", "json"}));
    add_common(check);

    bool write = false, fmt_check = false;
    auto* fmt = app.add_subcommand("fmt", "print policy files in canonical layout");
    fmt->add_option("files", files, "policy files")->required();
    auto* w = fmt->add_flag("--write", write, "rewrite the files in place");
    fmt->add_flag("--check", fmt_check, "exit 1 if a file is not formatted")->excludes(w);
    add_common(fmt);

    std::string policy, emit = "checked", output;
    auto* compile = app.add_subcommand("compile", "compile a policy and print a stage");
    compile->add_option("file", files, "policy file")->required()->expected(1);
    compile->add_option("--policy", policy, "policy to compile (default: the only one)");
    compile->add_option("--emit", emit, "stage to print")->check(CLI::IsMember({"checked"}));
    compile->add_option("-o,--output", output, "write to a file instead of stdout");
    add_common(compile);

    bool markdown = false;
    auto* fields = app.add_subcommand("fields", "list the packet fields rules can match");
    fields->add_flag("--markdown", markdown, "as a Markdown table");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitUsage;
    }
    if (check->parsed()) return cmd_check(files, common);
    if (fmt->parsed()) return cmd_fmt(files, write, fmt_check, common);
    if (compile->parsed()) return cmd_compile(files.at(0), policy, emit, output, common);
    if (fields->parsed()) return cmd_fields(markdown);
    return kExitUsage;
}
