// weir_embed_example IFACE [auto|native|generic]
//
// Embedding weir (docs/embedding.md): compiles a policy from a string, attaches it to IFACE,
// hot-swaps it for a second policy, edits a set live, prints the counters and unloads. Sends no
// traffic itself. Also shows what a policy with an error reports. Needs root.
// Exit: 0 ok, 1 a policy failed, 2 the environment (interface, privileges, bpffs).
#include <weir/weir.hpp>

#include <cstdio>
#include <iostream>
#include <string>

namespace wa = weir::api;

namespace {

const char* kFirst = R"(policy embed-a default pass {
    ssh: drop if tcp.dport == 22
    web: count if tcp.dport == 80
}
test "ssh is dropped" {
    packet tcp 198.51.100.1:1000 -> 192.0.2.1:22 flags syn
    expect drop by ssh
}
)";

const char* kSecond = R"(set blocked : ip = { 203.0.113.0/24 }
policy embed-b default pass {
    blocked: drop if ip.src in @blocked
    telnet:  drop if tcp.dport == 23
    web:     count if tcp.dport == 80
}
test "blocked sources are dropped" {
    packet tcp 203.0.113.9:1000 -> 192.0.2.1:80 flags syn
    expect drop by blocked
}
)";

const char* kBroken = R"(policy broken default pass {
    oops: drop if tcp.dport == 22 and ip.nosuchfield == 1
}
)";

int exit_code(const wa::Error& e) { return e.kind == wa::ErrorKind::Policy ? 1 : 2; }

std::string ms(std::chrono::nanoseconds t) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f ms", double(t.count()) / 1e6);
    return buf;
}

int fail(const char* what, const wa::Error& e, const std::string& diags = {}) {
    std::cerr << diags << "embed: " << what << " failed at step '" << e.step << "': " << e.message << "\n";
    return exit_code(e);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::cerr << "usage: weir_embed_example IFACE [auto|native|generic]\n";
        return 2;
    }
    const std::string dev = argv[1];
    wa::AttachOptions opts;
    const std::string mode = argc == 3 ? argv[2] : "auto";
    if (mode == "native") opts.mode = wa::Mode::Native;
    else if (mode == "generic") opts.mode = wa::Mode::Generic;
    else if (mode != "auto") {
        std::cerr << "embed: unknown mode '" << mode << "'\n";
        return 2;
    }

    // 1. A policy with an error: structured diagnostics, and attach refuses it.
    wa::Policy broken = wa::Policy::from_string("broken.weir", kBroken);
    std::cout << "broken: ok=" << broken.ok() << " errors=" << broken.errors() << "\n";
    for (const wa::Diagnostic& d : broken.diagnostics())
        std::cout << "broken: " << d.where.file << ":" << d.where.line << ":" << d.where.column << ": "
                  << wa::severity_name(d.severity) << " [" << d.code << "] " << d.message << "\n";
    wa::LoadReport refused = wa::attach(dev, broken, opts);
    std::cout << "broken: attach refused at step '" << refused.error.step << "'\n";

    // 2. First attach.
    wa::Policy first = wa::Policy::from_string("embed-a.weir", kFirst);
    if (!first.ok()) return std::cerr << first.diagnostics_text(), 1;
    wa::LoadReport r = wa::attach(dev, first, opts);
    if (!r.ok()) return fail("attach", r.error, r.diagnostics_text);
    std::cout << "attached " << r.policy << " to " << dev << " (" << r.mode << ", prog " << r.prog_id << ", "
              << r.probes << " self-test probes, " << r.steps.size() << " steps)\n";
    wa::Attachment a = r.attachment();

    // 3. Hot swap.
    opts.on_step = [](const wa::Step& s) { std::cout << "  step " << s.name << " " << ms(s.time) << "\n"; };
    wa::Policy second = wa::Policy::from_string("embed-b.weir", kSecond);
    if (!second.ok()) return std::cerr << second.diagnostics_text(), 1;
    wa::LoadReport s = a.replace(second, opts);
    if (!s.ok()) return fail("replace", s.error, s.diagnostics_text);
    std::cout << "swapped " << s.replaced << " -> " << s.policy << " (hot_swap=" << s.hot_swap << ", swap "
              << ms(s.swap_time()) << ", total " << ms(s.total_time()) << ")\n";

    // 4. Live set edits: one good batch, one with a bad element (all-or-nothing), the contents.
    wa::SetEdit add = a.set_add("blocked", {"198.51.100.7", "192.0.2.0/28"});
    if (!add.ok()) return fail("set add", add.error, add.diagnostics_text);
    std::cout << "set add: " << add.written << " written\n";
    wa::SetEdit bad = a.set_add("blocked", {"192.0.2.99", "300.1.1.1"});
    std::cout << "set add bad: ok=" << bad.ok() << " diagnostics=" << bad.diagnostics.size();
    if (!bad.diagnostics.empty()) std::cout << " first=[" << bad.diagnostics.front().code << "]";
    std::cout << "\n";
    wa::SetEdit list = a.set_list("blocked");
    if (!list.ok()) return fail("set list", list.error, list.diagnostics_text);
    std::cout << "set blocked (" << list.set_type << "):";
    for (const auto& e : list.elements) std::cout << " " << e;
    std::cout << "\n";

    // 5. Status and counters.
    auto st = a.status();
    if (!st) return fail("status", st.error);
    std::cout << "status: " << st->policy << " enforcing=" << st->enforcing << " swaps=" << st->swaps
              << " source=" << st->source << "\n";
    auto c = a.counters();
    if (!c) return fail("counters", c.error);
    std::cout << "counters of " << c->policy << " on " << c->ifname << ":\n";
    for (const auto& rc : c->rules)
        std::cout << "  rule " << rc.name << " (" << rc.action << "): " << rc.counter.packets << " packets, "
                  << rc.counter.bytes << " bytes\n";
    std::cout << "  default (" << c->default_verdict << "): " << c->default_decisions.packets << " packets\n";
    for (const auto& [verdict, n] : c->verdicts) std::cout << "  verdict " << verdict << ": " << n.packets << "\n";
    std::cout << "  malformed: " << c->malformed.packets << "\n";

    // 6. Unload.
    if (auto e = a.unload()) return fail("unload", e);
    std::cout << "unloaded " << dev << "\n";
    // The handle stays valid; the interface has no weir policy now.
    auto gone = a.status();
    std::cout << "after unload: status ok=" << gone.ok() << "\n";
    return 0;
}
