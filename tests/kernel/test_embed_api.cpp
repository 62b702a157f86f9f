// The embedding API's front half (include/weir/weir.hpp) without the kernel: compiling from a
// string and a file, structured diagnostics, and refusals that must not touch any interface.
// The kernel half (attach, swap, sets, counters, unload) is tests/kernel/embed_test.sh.
#include <doctest/doctest.h>

#include <weir/weir.hpp>

namespace wa = weir::api;

TEST_CASE("from_string: a good policy compiles, its policies are listed") {
    wa::Policy p = wa::Policy::from_string("/tmp/x/good.weir",
                                           "policy one default pass {\n    ssh: drop if tcp.dport == 22\n}\n"
                                           "policy two default drop {\n    web: pass if tcp.dport == 80\n}\n");
    CHECK(p.ok());
    CHECK_FALSE(p.io_error());
    CHECK(p.errors() == 0);
    CHECK(p.name() == "/tmp/x/good.weir");
    CHECK(p.policy_names() == std::vector<std::string>{"one", "two"});
}

TEST_CASE("from_string: errors are structured records and rendered text") {
    wa::Policy p = wa::Policy::from_string("bad.weir", "policy p default pass {\n    r: drop if ip.nosuch == 1\n}\n");
    REQUIRE_FALSE(p.ok());
    REQUIRE(p.errors() == 1);
    const wa::Diagnostic& d = p.diagnostics().at(0);
    CHECK(d.severity == wa::Severity::Error);
    CHECK(d.code == "unknown-field");
    CHECK(d.where.file == "bad.weir");
    CHECK(d.where.line == 2);
    CHECK(d.where.column == 16);
    CHECK(d.where.end_column == 16 + std::string("ip.nosuch").size());
    CHECK(p.diagnostics_text().find("bad.weir:2:16: error") != std::string::npos);
    CHECK(p.diagnostics_json().find("\"unknown-field\"") != std::string::npos);
}

TEST_CASE("from_file: a missing file is an io error") {
    wa::Policy p = wa::Policy::from_file("/nonexistent/weir/embed.weir");
    CHECK_FALSE(p.ok());
    CHECK(p.io_error());
    CHECK(p.policy_names().empty());
}

TEST_CASE("attach refuses a policy that does not compile, before touching the interface") {
    wa::Policy p = wa::Policy::from_string("bad.weir", "policy p default pass {\n    r: drop if\n}\n");
    REQUIRE_FALSE(p.ok());
    wa::LoadReport r = wa::attach("wte-none0", p);
    CHECK_FALSE(r.ok());
    CHECK(r.error.kind == wa::ErrorKind::Policy);
    CHECK(r.error.step == "compile");
    CHECK(r.steps.empty());
    CHECK_FALSE(r.diagnostics.empty());
    CHECK(r.attachment().ifname() == "wte-none0");
}

TEST_CASE("an Attachment on an interface without weir state reports errors, never throws") {
    wa::Attachment a("wte-none0");
    wa::Policy p = wa::Policy::from_string("ok.weir", "policy p default pass {\n    r: drop if tcp.dport == 1\n}\n");
    REQUIRE(p.ok());
    wa::LoadReport r = a.replace(p);
    CHECK_FALSE(r.ok());
    CHECK(r.error.step == "replace");
    CHECK(r.error.kind == wa::ErrorKind::Environment);
    auto c = a.counters();
    CHECK_FALSE(c.ok());
    CHECK(c.error.kind == wa::ErrorKind::Environment);
    CHECK_FALSE(a.set_list("x").ok());
    CHECK(a.unload());
}
