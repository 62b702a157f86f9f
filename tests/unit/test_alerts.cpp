// Alerts in the language (docs/language.md "Alerts"): parse errors, checks with their ranges,
// the checked form (`--emit checked`), fmt round trips. The evaluator: test_daemon_alerts.cpp.
#include <doctest/doctest.h>

#include "checked_dump.hpp"
#include "driver.hpp"
#include "fmt.hpp"
#include "parser.hpp"

using namespace weir;

namespace {

const char* kPolicy =
    "policy edge default pass {\n"
    "    ssh-other: drop if tcp.dport == 22\n"
    "    web: pass if tcp.dport == 443\n"
    "}\n";

std::unique_ptr<Compilation> compile(const std::string& text) {
    CheckOptions o;
    o.lint = false;
    return compile_source("alerts.weir", text, o);
}

// "LINE:COL: message" of the first error, or "" when it compiles.
std::string first_error(const Compilation& c) {
    for (const auto& d : c.diags.list()) {
        if (d.severity != Severity::Error) continue;
        LineCol lc = c.sources.line_col(d.range.file, d.range.begin);
        return std::to_string(lc.line) + ":" + std::to_string(lc.col) + ": " + d.message;
    }
    return "";
}
std::string first_code(const Compilation& c) {
    for (const auto& d : c.diags.list())
        if (d.severity == Severity::Error) return d.code;
    return "";
}
std::string error_text(const Compilation& c) {
    for (const auto& d : c.diags.list())
        if (d.severity == Severity::Error) return std::string(c.sources.text(d.range));
    return "";
}

}  // namespace

TEST_CASE("alert statements check to rates per second") {
    auto c = compile(std::string(kPolicy) +
                     "alert ssh-scan when rate(ssh-other) > 50/s for 10s severity warning \"SSH scan\"\n"
                     "alert web-bytes on edge when rate(web, bytes) >= 10mbytes/s severity info \"busy\"\n"
                     "alert drops when rate(verdict drop) > 2.5k/s for 500ms severity critical \"drops\"\n"
                     "alert bad when rate(malformed) > 0/s severity critical \"malformed packets\"\n"
                     "alert quiet when rate(default, packets) < 1/s for 2m severity info \"no default traffic\"\n");
    REQUIRE_MESSAGE(c->ok(), first_error(*c));
    const auto& a = c->program.alerts;
    REQUIRE(a.size() == 5);
    CHECK(a[0].name == "ssh-scan");
    CHECK(a[0].policy == 0);
    CHECK(a[0].source == Alert::Source::Rule);
    CHECK(a[0].counter == "ssh-other");
    CHECK(!a[0].bytes);
    CHECK(a[0].op == Cmp::Gt);
    CHECK(a[0].threshold == 50);
    CHECK(a[0].for_ms == 10000);
    CHECK(a[0].severity == Alert::Severity::Warning);
    CHECK(a[0].message == "SSH scan");
    CHECK(a[1].bytes);
    CHECK(a[1].threshold == 10e6);
    CHECK(a[1].op == Cmp::Ge);
    CHECK(a[1].for_ms == 0);
    CHECK(a[2].source == Alert::Source::Verdict);
    CHECK(a[2].counter == "drop");
    CHECK(a[2].threshold == 2500);
    CHECK(a[2].for_ms == 500);
    CHECK(a[3].source == Alert::Source::Malformed);
    CHECK(a[4].source == Alert::Source::Default);
    CHECK(a[4].op == Cmp::Lt);
    CHECK(a[4].for_ms == 120000);

    std::string d = dump(c->program);
    CHECK(d.find("alert ssh-scan on edge when rate(ssh-other) > 50/s for 10s severity warning \"SSH scan\"\n") !=
          std::string::npos);
    CHECK(d.find("alert web-bytes on edge when rate(web, bytes) >= 10000000bytes/s for 0s severity info \"busy\"\n") !=
          std::string::npos);
    CHECK(d.find("alert drops on edge when rate(verdict drop) > 2500/s for 500ms severity critical") != std::string::npos);
}

TEST_CASE("alert syntax errors") {
    struct Case {
        const char* src;
        const char* error;
    };
    const Case cases[] = {
        {"alert", "1:6: expected an alert name after 'alert', found the end of the file"},
        {"alert x rate(r) > 1/s severity info \"m\"",
         "1:9: expected 'when' after 'x' (alert NAME [on POLICY] when rate(...) ...)"},
        {"alert x when count(r) > 1/s severity info \"m\"",
         "1:14: expected 'rate(COUNTER)' after 'when' (a rule name, verdict V, malformed or default)"},
        {"alert x when rate r > 1/s severity info \"m\"", "1:19: expected '(' after 'rate'"},
        {"alert x when rate(verdict) > 1/s severity info \"m\"",
         "1:26: expected a verdict (pass, drop, tx, redirect, aborted) after 'verdict'"},
        {"alert x when rate(r,) > 1/s severity info \"m\"", "1:21: expected 'packets' or 'bytes' after ','"},
        {"alert x when rate(r bytes) > 1/s severity info \"m\"", "1:21: expected ')' or ', bytes' after 'r'"},
        {"alert x when rate(r) == 1/s severity info \"m\"",
         "1:22: expected a comparison (>, >=, <, <=) after 'rate(...)'"},
        {"alert x when rate(r) > fast severity info \"m\"",
         "1:24: expected a threshold after '>': a rate such as 50/s, 2k/s or 10mbytes/s"},
        {"alert x when rate(r) > 50pps severity info \"m\"",
         "1:26: a threshold is a rate per second: write NUMBER/s (packets: 50/s, 2k/s) or NUMBER followed by bytes, "
         "kbytes, mbytes or gbytes and /s (10mbytes/s)"},
        {"alert x when rate(r) > 50 severity info \"m\"",
         "1:27: a threshold is a rate per second: write NUMBER/s (packets: 50/s, 2k/s) or NUMBER followed by bytes, "
         "kbytes, mbytes or gbytes and /s (10mbytes/s)"},
        {"alert x when rate(r) > 5/s for 10 severity info \"m\"",
         "1:32: expected a duration after 'for' (500ms, 10s, 5m, 1h)"},
        {"alert x when rate(r) > 5/s \"m\"", "1:28: expected 'for DURATION' or 'severity LEVEL' after the threshold"},
        {"alert x when rate(r) > 5/s severity \"m\"", "1:37: expected a severity (info, warning, critical) after 'severity'"},
        {"alert x when rate(r) > 5/s severity info", "1:41: expected the alert's message in quotes after the severity, found the end of the file"},
    };
    for (const auto& k : cases) {
        CAPTURE(k.src);
        auto c = compile(k.src);
        CHECK(first_code(*c) == "syntax");
        CHECK(first_error(*c) == k.error);
    }
}

TEST_CASE("alert checks: unknown names with a did-you-mean, units, severities, policies") {
    struct Case {
        std::string alert;
        const char* code;
        const char* at;
        const char* message;  // a part of the message
    };
    const Case cases[] = {
        {"alert a when rate(ssh-othr) > 5/s severity info \"m\"", "unknown-rule", "ssh-othr",
         "policy 'edge' has no rule 'ssh-othr'; did you mean 'ssh-other'?"},
        {"alert a on egde when rate(web) > 5/s severity info \"m\"", "unknown-policy", "egde",
         "unknown policy 'egde'; did you mean 'edge'?"},
        {"alert a when rate(verdict dorp) > 5/s severity info \"m\"", "unknown-verdict", "dorp",
         "unknown verdict 'dorp'; did you mean 'drop'?"},
        {"alert a when rate(web, byte) > 5/s severity info \"m\"", "unknown-rate-unit", "byte",
         "unknown unit 'byte'; did you mean 'bytes'?"},
        {"alert a when rate(web) > 5mbytes/s severity info \"m\"", "unit-mismatch", "5mbytes/s",
         "rate(web) counts packets but the threshold 5mbytes/s is in bytes; write rate(web, bytes)"},
        {"alert a when rate(web, bytes) > 5k/s severity info \"m\"", "unit-mismatch", "5k/s",
         "rate(web, bytes) counts bytes but the threshold 5k/s is a packet rate"},
        {"alert a when rate(web) > 5/s severity critcal \"m\"", "unknown-severity", "critcal",
         "unknown severity 'critcal'; did you mean 'critical'?"},
        {"alert a when rate(web) > 5/s for 200h severity info \"m\"", "invalid-duration", "200h",
         "'for 200h' is longer than a week"},
        {"alert a when rate(web) > 5/s severity info \"\"", "empty-alert-message", "\"\"",
         "an alert's message must not be empty"},
    };
    for (const auto& k : cases) {
        CAPTURE(k.alert);
        auto c = compile(std::string(kPolicy) + k.alert + "\n");
        CHECK(first_code(*c) == k.code);
        CHECK(error_text(*c) == k.at);
        CHECK(first_error(*c).find(k.message) != std::string::npos);
        CHECK(c->program.alerts.empty());
    }

    SUBCASE("duplicate alert names") {
        auto c = compile(std::string(kPolicy) + "alert a when rate(web) > 5/s severity info \"m\"\n" +
                         "alert a when rate(web) > 9/s severity info \"m\"\n");
        CHECK(first_code(*c) == "duplicate-alert");
        CHECK(first_error(*c) == "6:7: there is already an alert named 'a'");
    }
    SUBCASE("no policy named, two in the file") {
        auto c = compile(std::string(kPolicy) + "policy other default drop { }\n" +
                         "alert a when rate(web) > 5/s severity info \"m\"\n");
        CHECK(first_code(*c) == "ambiguous-alert-policy");
        CHECK(first_error(*c).find("names no policy and its file declares 2 (edge, other)") != std::string::npos);
        auto ok = compile(std::string(kPolicy) + "policy other default drop { }\n" +
                          "alert a on other when rate(verdict drop) > 5/s severity info \"m\"\n");
        REQUIRE_MESSAGE(ok->ok(), first_error(*ok));
        CHECK(ok->program.alerts.at(0).policy == 1);
    }
    SUBCASE("a rule named like an alert's counter words is still a rule") {
        auto c = compile("policy p default pass { verdict: drop if udp.dport == 1 }\n"
                         "alert a when rate(verdict) > 5/s severity info \"m\"\n");
        // `verdict` in rate() always starts a verdict total
        CHECK(first_code(*c) == "syntax");
    }
}

TEST_CASE("fmt: alerts are one canonical line, long ones break, the round trip checks the same") {
    auto fmt = [](const std::string& src) {
        SourceManager sm;
        Diagnostics diags;
        FileId id = sm.add("fmt.weir", src);
        auto f = parse(sm, id, diags);
        REQUIRE(f.has_value());
        return format(sm, *f);
    };
    std::string src = std::string(kPolicy) +
                      "alert   ssh-scan   when rate( ssh-other )>50/s  for 10s\n   severity warning \"SSH scan\"  # c\n"
                      "alert web on edge when rate(web,bytes) >= 10mbytes/s severity info \"a very long message that "
                      "makes this line longer than one hundred columns\"\n";
    std::string out = fmt(src);
    CHECK(out == std::string("policy edge default pass {\n"
                             "    ssh-other: drop if tcp.dport == 22\n"
                             "    web:       pass if tcp.dport == 443\n"
                             "}\n") +
                     "\n"
                     "alert ssh-scan when rate(ssh-other) > 50/s for 10s severity warning \"SSH scan\"  # c\n"
                     "\n"
                     "alert web on edge when rate(web, bytes) >= 10mbytes/s severity info\n"
                     "    \"a very long message that makes this line longer than one hundred columns\"\n");
    CHECK(fmt(out) == out);
    auto a = compile(src), b = compile(out);
    REQUIRE(a->ok());
    REQUIRE(b->ok());
    CHECK(dump(a->program) == dump(b->program));
}

// ---- lint: alerts that can never fire or always fire (compiler/check/lint.cpp) ----------------------

namespace {

struct Warn {
    std::string code, at, message;
    std::vector<std::string> notes;  // "TEXT: message" for each note
};

std::vector<Warn> alert_warnings(const std::string& text) {
    auto c = compile_source("alerts.weir", text, CheckOptions{});
    REQUIRE_MESSAGE(c->ok(), first_error(*c));
    std::vector<Warn> out;
    for (const auto& d : c->diags.list()) {
        if (d.severity != Severity::Warning || d.code.rfind("alert-", 0) != 0) continue;
        Warn w{d.code, std::string(c->sources.text(d.range)), d.message, {}};
        for (const auto& n : d.notes)
            w.notes.push_back(std::string(n.range.valid() ? c->sources.text(n.range) : "") + ": " + n.message);
        out.push_back(std::move(w));
    }
    return out;
}

const char* kLintPolicy =
    "policy edge default pass {\n"
    "    web:    pass if tcp.dport in { 80, 443 }\n"
    "    https:  drop if tcp.dport == 443\n"        // shadowed by web
    "    odd:    drop if udp.dport == 1 and udp.dport == 2\n"  // contradiction
    "    seen:   count if ip.proto == udp\n"
    "    other:  drop if udp.dport == 53\n"
    "}\n";

}  // namespace

TEST_CASE("lint: a rate is never negative") {
    auto w = alert_warnings(std::string(kLintPolicy) +
                            "alert a when rate(web) < 0/s for 10s severity info \"m\"\n"
                            "alert b when rate(web, bytes) >= 0bytes/s severity info \"m\"\n"
                            "alert c when rate(web) <= 0/s for 1m severity info \"no web traffic\"\n"
                            "alert d when rate(web) > 0/s severity info \"any web traffic\"\n");
    REQUIRE(w.size() == 2);  // c and d are meaningful: silence, any traffic
    CHECK(w[0].code == "alert-never-fires");
    CHECK(w[0].at == "0/s");
    CHECK(w[0].message == "alert 'a' can never fire: rate(web) is never below 0/s");
    CHECK(w[0].notes == std::vector<std::string>{"rate(web): a rate is never negative"});
    CHECK(w[1].code == "alert-always-fires");
    CHECK(w[1].at == "0bytes/s");
    CHECK(w[1].message ==
          "alert 'b' always fires: rate(web, bytes) is always at least 0bytes/s; write '> 0bytes/s' to fire on any traffic");
}

TEST_CASE("lint: alerts over a counter that lint proves never moves") {
    auto w = alert_warnings(std::string(kLintPolicy) +
                            "alert a when rate(https) > 10/s severity warning \"m\"\n"
                            "alert b when rate(https) < 1/s for 5m severity info \"m\"\n"
                            "alert c when rate(odd, bytes) >= 1kbytes/s severity info \"m\"\n"
                            "alert d when rate(verdict tx) > 1/s severity info \"m\"\n"
                            "alert e when rate(verdict drop) > 1/s severity info \"m\"\n"
                            "alert f when rate(default) > 1/s severity info \"m\"\n"
                            "alert g when rate(seen) > 1/s severity info \"m\"\n");
    // a, b: https is shadowed by web; c: odd is a contradiction; d: no rule gives tx.
    // e (drops by other), f (the default is reachable), g (seen counts UDP) are quiet.
    REQUIRE(w.size() == 4);
    CHECK(w[0].code == "alert-never-fires");
    CHECK(w[0].at == "rate(https)");
    CHECK(w[0].message == "alert 'a' can never fire: rule 'https' (line 3) can never match, so rate(https) stays "
                          "at 0/s, never above 10/s");
    CHECK(w[0].notes == std::vector<std::string>{"https: 'https' can never match (see shadowed-rule)"});
    CHECK(w[1].code == "alert-always-fires");
    CHECK(w[1].message == "alert 'b' always fires: rule 'https' (line 3) can never match, so rate(https) stays "
                          "at 0/s, always below 1/s");
    CHECK(w[2].code == "alert-never-fires");
    CHECK(w[2].at == "rate(odd, bytes)");
    CHECK(w[2].notes == std::vector<std::string>{"odd: 'odd' can never match (see contradiction)"});
    CHECK(w[3].code == "alert-never-fires");
    CHECK(w[3].message == "alert 'd' can never fire: policy 'edge' (line 1) never gives verdict tx: no rule that "
                          "can match has action tx and its default is pass, so rate(verdict tx) stays at 0/s, never "
                          "above 1/s");
    CHECK(w[3].notes == std::vector<std::string>{"edge: policy 'edge' is declared here"});
}

TEST_CASE("lint: an unconditional rule leaves the default and the rules after it at 0/s") {
    auto w = alert_warnings("policy p default drop {\n"
                            "    ok:    pass if tcp.dport == 22\n"
                            "    all:   pass\n"
                            "    late:  drop if udp.dport == 53\n"
                            "}\n"
                            "alert a when rate(default) > 1/s severity info \"m\"\n"
                            "alert b when rate(late) <= 5/s severity info \"m\"\n"
                            "alert c when rate(verdict drop) > 1/s severity info \"m\"\n"
                            "alert d when rate(verdict pass) > 1/s severity info \"m\"\n");
    REQUIRE(w.size() == 3);
    CHECK(w[0].message == "alert 'a' can never fire: rule 'all' (line 3) decides every packet, so the default "
                          "decides none, so rate(default) stays at 0/s, never above 1/s");
    CHECK(w[0].notes == std::vector<std::string>{"all: every packet is decided here"});
    CHECK(w[1].code == "alert-always-fires");
    CHECK(w[1].notes == std::vector<std::string>{"late: 'late' can never match (see unreachable-rule)"});
    // The default is drop but no packet reaches it, and the only drop rule is unreachable.
    CHECK(w[2].message == "alert 'c' can never fire: policy 'p' (line 1) never gives verdict drop: no rule that "
                          "can match has action drop and no packet reaches its default, so rate(verdict drop) "
                          "stays at 0/s, never above 1/s");
    CHECK(w[2].notes == std::vector<std::string>{"p: policy 'p' is declared here", "all: every packet is decided here"});
}

TEST_CASE("lint: what lint did not prove stays quiet") {
    // Rules lint cannot decide (a limit may or may not be over), aborted and malformed totals.
    auto w = alert_warnings("policy p default pass {\n"
                            "    fl: drop if tcp.dport == 443 and over 10/s\n"
                            "    rd: redirect \"veth9\" if udp.dport == 9\n"
                            "}\n"
                            "alert a when rate(fl) > 1/s severity info \"m\"\n"
                            "alert b when rate(verdict aborted) > 0/s severity info \"m\"\n"
                            "alert c when rate(malformed) > 0/s severity info \"m\"\n"
                            "alert d when rate(verdict redirect) > 0/s severity info \"m\"\n");
    CHECK(w.empty());
}

TEST_CASE("lint: a `for` shorter than the daemon's evaluation interval") {
    auto w = alert_warnings(std::string(kLintPolicy) +
                            "alert a when rate(web) > 10/s for 500ms severity info \"m\"\n"
                            "alert b when rate(web) > 10/s for 1s severity info \"m\"\n"
                            "alert c when rate(web) > 10/s for 1500ms severity info \"m\"\n"
                            "alert d when rate(web) > 10/s severity info \"m\"\n");
    REQUIRE(w.size() == 1);
    CHECK(w[0].code == "alert-for-below-interval");
    CHECK(w[0].at == "500ms");
    CHECK(w[0].message ==
          "'for 500ms' is shorter than the daemon's evaluation interval (1s): alert 'a' acts as with 'for 1s'");
    CHECK(w[0].notes == std::vector<std::string>{
                            "a: the daemon evaluates alerts once every 1s: the condition must hold at two "
                            "evaluations in a row"});
}
