// The daemon's pure parts (daemon/): config parsing and validation, the listen address, the
// Prometheus text rendering, the event lines, the retry backoff and the folders a symlinked
// policy file is watched through. No kernel, no network.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "config.hpp"
#include "daemon.hpp"
#include "event_log.hpp"
#include "metrics.hpp"
#include "watch.hpp"

using namespace weir;
using namespace weir::daemon;
namespace fs = std::filesystem;

namespace {

const std::string kPath = "/etc/weir/daemon.json";

bool has_error(const ConfigResult& r, const std::string& part) {
    return std::any_of(r.errors.begin(), r.errors.end(),
                       [&](const std::string& e) { return e.find(part) != std::string::npos; });
}

std::string errors_of(const ConfigResult& r) {
    std::string out;
    for (const auto& e : r.errors) out += e + "\n";
    return out;
}

}  // namespace

TEST_CASE("config: a full config, relative paths from the config's folder, comments allowed") {
    ConfigResult r = parse_config(kPath, R"({
        // the metrics address
        "listen": "[::1]:9000",
        "debounce_ms": 100,
        "include_dirs": ["lib"],
        "allowed_dirs": ["/etc/weir"],
        "interfaces": [
            {"interface": "eth1", "file": "edge.weir", "policy": "edge", "mode": "native",
             "include_dirs": ["/etc/weir/more"]},
            {"interface": "eth2", "file": "sub/../core.weir"}
        ]
    })");
    REQUIRE_MESSAGE(r.ok(), errors_of(r));
    CHECK(r.config.listen == "[::1]:9000");
    CHECK(r.config.debounce == std::chrono::milliseconds(100));
    REQUIRE(r.config.bindings.size() == 2);
    const Binding& a = r.config.bindings[0];
    CHECK(a.interface == "eth1");
    CHECK(a.file == "/etc/weir/edge.weir");
    CHECK(a.policy == "edge");
    CHECK(a.mode == api::Mode::Native);
    // the top-level folders first, then the interface's own
    CHECK(a.include_dirs == std::vector<std::string>{"/etc/weir/lib", "/etc/weir/more"});
    CHECK(a.allowed_dirs == std::vector<std::string>{"/etc/weir"});
    const Binding& b = r.config.bindings[1];
    CHECK(b.file == "/etc/weir/core.weir");
    CHECK(b.policy.empty());
    CHECK(b.mode == api::Mode::Auto);
    CHECK(b.include_dirs == std::vector<std::string>{"/etc/weir/lib"});
}

TEST_CASE("config: defaults") {
    ConfigResult r = parse_config(kPath, R"({"interfaces": [{"interface": "eth0", "file": "/p/a.weir"}]})");
    REQUIRE_MESSAGE(r.ok(), errors_of(r));
    CHECK(r.config.listen == "127.0.0.1:9464");
    CHECK(r.config.debounce == std::chrono::milliseconds(250));
    CHECK(r.config.bindings[0].file == "/p/a.weir");
}

TEST_CASE("config: shadow rollouts per interface") {
    ConfigResult r = parse_config(kPath, R"({"interfaces": [
        {"interface": "eth0", "file": "/p/a.weir", "shadow_seconds": 300, "shadow_max_packets": 10},
        {"interface": "eth1", "file": "/p/b.weir"}]})");
    REQUIRE_MESSAGE(r.ok(), errors_of(r));
    CHECK(r.config.bindings[0].shadow_seconds == 300);
    CHECK(r.config.bindings[0].shadow_max_packets == 10);
    CHECK(r.config.bindings[1].shadow_seconds == 0);  // off: changes swap at once
    CHECK(has_error(parse_config(kPath, R"({"interfaces": [{"interface": "eth0", "file": "/p/a.weir",
        "shadow_seconds": 86401}]})"), "shadow_seconds must be a whole number, 0 to 86400"));
    CHECK(has_error(parse_config(kPath, R"({"interfaces": [{"interface": "eth0", "file": "/p/a.weir",
        "shadow_max_packets": "many"}]})"), "shadow_max_packets must be a whole number"));
}

TEST_CASE("config: text that is no config object") {
    CHECK(has_error(parse_config(kPath, "{"), "/etc/weir/daemon.json: not valid JSON"));
    CHECK(has_error(parse_config(kPath, "{\"debounce_ms\": 1e500}"), "not valid JSON"));
    CHECK(has_error(parse_config(kPath, "[1, 2]"), "the config must be a JSON object"));
    CHECK(has_error(parse_config(kPath, "{}"), "\"interfaces\" must be a non-empty array"));
    CHECK(has_error(parse_config(kPath, R"({"interfaces": []})"), "\"interfaces\" must be a non-empty array"));
}

TEST_CASE("config: every problem is reported, and a config with one has no bindings to trust") {
    ConfigResult r = parse_config(kPath, R"({
        "listen": 9464, "debounce_ms": 60001, "colour": "blue", "include_dirs": "lib",
        "interfaces": [
            "eth0",
            {"interface": "eth1234567890123", "file": "a.weir"},
            {"interface": "eth2"},
            {"interface": "eth3", "file": "a.weir", "mode": "fast"},
            {"interface": "eth4", "file": "a.weir", "weight": "1"},
            {"interface": "eth5", "file": 5}
        ]
    })");
    CHECK_FALSE(r.ok());
    CHECK(has_error(r, "\"listen\" must be a string"));
    CHECK(has_error(r, "\"debounce_ms\" must be a whole number of milliseconds, 0 to 60000"));
    CHECK(has_error(r, "unknown key \"colour\""));
    CHECK(has_error(r, "\"include_dirs\" must be an array of strings"));
    CHECK(has_error(r, "interfaces[0] must be an object"));
    CHECK(has_error(r, "interfaces[1].interface must be an interface name (1 to 15 characters)"));
    CHECK(has_error(r, "interfaces[2].file must name a policy file"));
    CHECK(has_error(r, "interfaces[3].mode must be auto, native or generic, not \"fast\""));
    CHECK(has_error(r, "interfaces[4]: unknown key \"weight\""));
    CHECK(has_error(r, "interfaces[5].file must be a string"));
    CHECK(has_error(r, "interfaces[5].file must name a policy file"));  // the one it has is no name
    CHECK(r.errors.size() == 11);
    CHECK(r.config.bindings.empty());
}

TEST_CASE("config: an interface twice, a file outside allowed_dirs") {
    ConfigResult r = parse_config(kPath, R"({
        "allowed_dirs": ["/etc/weir/policies"],
        "interfaces": [
            {"interface": "eth0", "file": "policies/a.weir"},
            {"interface": "eth0", "file": "policies/b.weir"},
            {"interface": "eth1", "file": "policies/../secret.weir"},
            {"interface": "eth2", "file": "/etc/weir/policies-other/c.weir"}
        ]
    })");
    CHECK(has_error(r, "interfaces[1]: interface 'eth0' is configured twice"));
    CHECK(has_error(r, "interfaces[2].file '/etc/weir/secret.weir' is outside \"allowed_dirs\""));
    CHECK(has_error(r, "interfaces[3].file '/etc/weir/policies-other/c.weir' is outside \"allowed_dirs\""));
    CHECK(r.errors.size() == 3);
}

TEST_CASE("config: listen addresses") {
    std::string host, error;
    int port = -1;
    CHECK(parse_listen("127.0.0.1:9464", host, port, error));
    CHECK(host == "127.0.0.1");
    CHECK(port == 9464);
    CHECK(parse_listen("[::1]:0", host, port, error));
    CHECK(host == "::1");
    CHECK(port == 0);
    CHECK_FALSE(parse_listen("9464", host, port, error));
    CHECK(error.find("expected HOST:PORT") != std::string::npos);
    CHECK_FALSE(parse_listen(":9464", host, port, error));
    CHECK_FALSE(parse_listen("localhost:", host, port, error));
    CHECK_FALSE(parse_listen("localhost:65536", host, port, error));
    CHECK(error.find("bad port '65536'") != std::string::npos);
    CHECK_FALSE(parse_listen("localhost:-1", host, port, error));
    CHECK_FALSE(parse_listen("localhost:1234567", host, port, error));
    CHECK(has_error(parse_config(kPath, R"({"listen": "nowhere", "interfaces": [{"interface": "e", "file": "f"}]})"),
                    "\"listen\": expected HOST:PORT"));
    CHECK(parse_config(kPath, R"({"listen": "off", "interfaces": [{"interface": "e", "file": "f"}]})").ok());
}

TEST_CASE("config: read_config refuses what is not a regular file") {
    CHECK_FALSE(read_config("/nonexistent/weir/daemon.json").ok());
    CHECK_FALSE(read_config("/").ok());
}

TEST_CASE("metrics: families, labels escaped, integer and floating values") {
    MetricsWriter w;
    w.family("weir_x_total", "counter", "Things counted.");
    w.sample("weir_x_total", {{"interface", "eth0"}, {"rule", "a\"b\\c\nd"}}, std::uint64_t{18446744073709551615u});
    w.sample("weir_x_total", {}, std::uint64_t{0});
    w.family("weir_y", "gauge", "A level.");
    w.sample("weir_y", {{"interface", "eth0"}}, 0.5);
    w.sample("weir_y", {}, 1700000000.0);
    CHECK(w.text() ==
          "# HELP weir_x_total Things counted.\n"
          "# TYPE weir_x_total counter\n"
          "weir_x_total{interface=\"eth0\",rule=\"a\\\"b\\\\c\\nd\"} 18446744073709551615\n"
          "weir_x_total 0\n"
          "# HELP weir_y A level.\n"
          "# TYPE weir_y gauge\n"
          "weir_y{interface=\"eth0\"} 0.5\n"
          "weir_y 1700000000\n");
}

TEST_CASE("metrics: the registry renders its collectors in registration order") {
    MetricsRegistry reg;
    reg.add("b", [](MetricsWriter& w) { w.family("weir_b", "gauge", "B."); });
    reg.add("a", [](MetricsWriter& w) { w.family("weir_a", "gauge", "A."); });
    CHECK(reg.render() == "# HELP weir_b B.\n# TYPE weir_b gauge\n# HELP weir_a A.\n# TYPE weir_a gauge\n");
    CHECK(MetricsRegistry{}.render().empty());
}

TEST_CASE("metrics: the policy families from synthetic readings") {
    PolicyReadings r;
    api::Status st;
    st.ifname = "eth1";
    st.policy = "edge";
    st.source_hash = "ab12";
    st.mode = "native";
    st.prog_id = 42;
    st.enforcing = true;
    st.swaps = 3;
    st.loaded_at = 1700000000;
    st.tables.push_back({"blocked", "v4", 1, true, 2, 0});
    r.statuses.push_back(st);
    r.set_elements.push_back({"eth1", "blocked", 5});
    api::Counters c;
    c.ifname = "eth1";
    c.policy = "edge";
    c.rules.push_back({"ssh", "drop", {10, 600}, 0});
    c.default_verdict = "pass";
    c.default_decisions = {7, 700};
    c.verdicts["drop"] = {10, 600};
    c.malformed = {1, 60};
    c.log_drops = {4, 0};
    r.counters.push_back(c);

    MetricsWriter w;
    render_policy_metrics(w, r);
    const std::string& t = w.text();
    auto has = [&](const std::string& line) { return t.find("\n" + line + "\n") != std::string::npos; };
    CHECK(has("weir_policy_info{interface=\"eth1\",policy=\"edge\",source_hash=\"ab12\",mode=\"native\",prog_id=\"42\"} 1"));
    CHECK(has("weir_policy_enforcing{interface=\"eth1\"} 1"));
    CHECK(has("weir_policy_swaps_total{interface=\"eth1\"} 3"));
    CHECK(has("weir_policy_loaded_timestamp_seconds{interface=\"eth1\"} 1700000000"));
    CHECK(has("weir_set_elements{interface=\"eth1\",set=\"blocked\"} 5"));
    CHECK(has("weir_set_live_edits{interface=\"eth1\",set=\"blocked\",kind=\"v4\"} 2"));
    CHECK(has("weir_rule_packets_total{interface=\"eth1\",policy=\"edge\",rule=\"ssh\",action=\"drop\"} 10"));
    CHECK(has("weir_rule_bytes_total{interface=\"eth1\",policy=\"edge\",rule=\"ssh\",action=\"drop\"} 600"));
    CHECK(has("weir_default_packets_total{interface=\"eth1\",policy=\"edge\",verdict=\"pass\"} 7"));
    CHECK(has("weir_default_bytes_total{interface=\"eth1\",policy=\"edge\",verdict=\"pass\"} 700"));
    CHECK(has("weir_verdict_packets_total{interface=\"eth1\",verdict=\"drop\"} 10"));
    CHECK(has("weir_verdict_bytes_total{interface=\"eth1\",verdict=\"drop\"} 600"));
    CHECK(has("weir_malformed_packets_total{interface=\"eth1\"} 1"));
    CHECK(has("weir_error_packets_total{interface=\"eth1\"} 0"));
    CHECK(has("weir_log_ring_drops_total{interface=\"eth1\"} 4"));

    // No policy anywhere: every family is still declared, with no samples.
    MetricsWriter empty;
    render_policy_metrics(empty, {});
    CHECK(empty.text().find("# TYPE weir_rule_packets_total counter\n") != std::string::npos);
    CHECK(empty.text().find("weir_rule_packets_total{") == std::string::npos);
}

TEST_CASE("events: one JSON object a line, event and time first") {
    std::ostringstream out;
    EventLog log(out);
    log.emit("loaded", {{"interface", "eth0"}, {"prog_id", 7}});
    log.emit("sighup");
    std::istringstream lines(out.str());
    std::string first, second, rest;
    REQUIRE(std::getline(lines, first));
    REQUIRE(std::getline(lines, second));
    CHECK_FALSE(std::getline(lines, rest));
    auto j = nlohmann::ordered_json::parse(first);
    CHECK(j.begin().key() == "event");
    CHECK(std::next(j.begin()).key() == "time");
    CHECK(j["event"] == "loaded");
    CHECK(j["interface"] == "eth0");
    CHECK(j["prog_id"] == 7);
    const std::string time = j["time"];
    CHECK(time.size() == 24);  // 2026-01-02T03:04:05.678Z
    CHECK(time.back() == 'Z');
    CHECK(nlohmann::json::parse(second)["event"] == "sighup");
}

TEST_CASE("retries: 1 s doubling to 60 s") {
    CHECK(retry_delay(1) == std::chrono::seconds(1));
    CHECK(retry_delay(2) == std::chrono::seconds(2));
    CHECK(retry_delay(6) == std::chrono::seconds(32));
    CHECK(retry_delay(7) == std::chrono::seconds(60));
    CHECK(retry_delay(1000) == std::chrono::seconds(60));
}

TEST_CASE("watch: the folders of a ConfigMap mount, symlinks followed") {
    // mount/edge.weir -> ..data/edge.weir, ..data -> ..2024_01_01 (a Kubernetes ConfigMap volume)
    fs::path root = fs::temp_directory_path() / ("weir_test_daemon_" + std::to_string(getpid()));
    fs::remove_all(root);
    fs::create_directories(root / "mount" / "..2024_01_01");
    std::ofstream(root / "mount" / "..2024_01_01" / "edge.weir") << "policy edge { default pass }\n";
    fs::create_directory_symlink("..2024_01_01", root / "mount" / "..data");
    fs::create_symlink("..data/edge.weir", root / "mount" / "edge.weir");
    fs::create_directories(root / "plain");

    std::set<std::string> dirs = Watcher::folders_of((root / "mount" / "edge.weir").string());
    CHECK(dirs == std::set<std::string>{(root / "mount").string(), (root / "mount" / "..2024_01_01").string()});
    // a file not there yet: its folder all the same
    CHECK(Watcher::folders_of((root / "plain" / "later.weir").string()) ==
          std::set<std::string>{(root / "plain").string()});
    // a symlink loop ends
    fs::create_symlink("loop", root / "loop");
    CHECK(Watcher::folders_of((root / "loop").string()).count(root.string()));
    fs::remove_all(root);
}
