// Prometheus text rendering and the policies' families (metrics.hpp).
#include "metrics.hpp"

#include <cstdio>

#include "program_cost.hpp"
#include "weir/weir.hpp"

namespace weir::daemon {

void MetricsWriter::family(const std::string& name, const char* type, const std::string& help) {
    out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void MetricsWriter::labels(const Labels& l) {
    if (l.empty()) return;
    out_ += '{';
    for (std::size_t i = 0; i < l.size(); ++i) {
        if (i) out_ += ',';
        out_ += l[i].first + "=\"";
        for (char c : l[i].second) {
            if (c == '\\') out_ += "\\\\";
            else if (c == '"') out_ += "\\\"";
            else if (c == '\n') out_ += "\\n";
            else out_ += c;
        }
        out_ += '"';
    }
    out_ += '}';
}

void MetricsWriter::sample(const std::string& name, const Labels& l, double value) {
    out_ += name;
    labels(l);
    char buf[64];
    std::snprintf(buf, sizeof buf, " %.17g\n", value);
    out_ += buf;
}

void MetricsWriter::sample(const std::string& name, const Labels& l, std::uint64_t value) {
    out_ += name;
    labels(l);
    out_ += ' ' + std::to_string(value) + '\n';
}

void MetricsRegistry::add(std::string name, Collector c) {
    std::lock_guard lock(mu_);
    collectors_.emplace_back(std::move(name), std::move(c));
}

std::string MetricsRegistry::render() const {
    std::vector<Collector> cs;
    {
        std::lock_guard lock(mu_);
        for (const auto& [name, c] : collectors_) cs.push_back(c);
    }
    MetricsWriter w;
    for (const auto& c : cs) c(w);
    return w.text();
}

PolicyReadings read_policies(const std::vector<std::string>& ifnames) {
    PolicyReadings r;
    for (const std::string& ifn : ifnames) {
        api::Attachment a(ifn);
        if (auto st = a.status(); st.ok()) r.statuses.push_back(*st);
        if (auto c = a.counters(); c.ok()) r.counters.push_back(*c);
    }
    for (const auto& s : r.statuses)
        for (const auto& set : s.sets) {
            if (set.type.empty()) continue;  // inline sets are part of their rule
            api::SetEdit list = api::Attachment(s.ifname).edit_set(api::SetOp::List, set.name);
            if (list.ok()) r.set_elements.push_back({s.ifname, set.name, list.elements.size()});
        }
    return r;
}

namespace {

void status_families(MetricsWriter& w, const PolicyReadings& r) {
    const auto& statuses = r.statuses;
    w.family("weir_policy_info", "gauge",
             "The policy enforced on an interface (value 1): name, source hash, attach mode, program id.");
    for (const auto& s : statuses)
        w.sample("weir_policy_info",
                 {{"interface", s.ifname}, {"policy", s.policy}, {"source_hash", s.source_hash},
                  {"mode", s.mode}, {"prog_id", std::to_string(s.prog_id)}},
                 std::uint64_t{1});
    w.family("weir_policy_enforcing", "gauge", "1 when the pinned link runs the recorded program.");
    for (const auto& s : statuses) w.sample("weir_policy_enforcing", {{"interface", s.ifname}}, std::uint64_t{s.enforcing});
    w.family("weir_policy_swaps_total", "counter", "Hot swaps recorded in the pinned state (any client).");
    for (const auto& s : statuses) w.sample("weir_policy_swaps_total", {{"interface", s.ifname}}, std::uint64_t{s.swaps});
    w.family("weir_policy_loaded_timestamp_seconds", "gauge", "Unix time the running program was loaded.");
    for (const auto& s : statuses)
        w.sample("weir_policy_loaded_timestamp_seconds", {{"interface", s.ifname}}, double(s.loaded_at));
    w.family("weir_set_elements", "gauge", "Elements of a named set, as `weir set list` shows them.");
    for (const auto& e : r.set_elements)
        w.sample("weir_set_elements", {{"interface", e.ifname}, {"set", e.set}}, e.elements);
    w.family("weir_set_live_edits", "gauge", "Live set-edit batches since the set table was filled.");
    for (const auto& s : statuses)
        for (const auto& t : s.tables)
            w.sample("weir_set_live_edits", {{"interface", s.ifname}, {"set", t.name}, {"kind", t.kind}},
                     std::uint64_t{t.live_edits});
}

void counter_families(MetricsWriter& w, const std::vector<api::Counters>& counters) {
    w.family("weir_rule_packets_total", "counter", "Packets a rule matched.");
    for (const auto& c : counters)
        for (const auto& r : c.rules)
            w.sample("weir_rule_packets_total",
                     {{"interface", c.ifname}, {"policy", c.policy}, {"rule", r.name}, {"action", r.action}},
                     r.counter.packets);
    w.family("weir_rule_bytes_total", "counter", "Bytes of the packets a rule matched.");
    for (const auto& c : counters)
        for (const auto& r : c.rules)
            w.sample("weir_rule_bytes_total",
                     {{"interface", c.ifname}, {"policy", c.policy}, {"rule", r.name}, {"action", r.action}},
                     r.counter.bytes);
    w.family("weir_default_packets_total", "counter", "Packets no rule decided (the policy default).");
    for (const auto& c : counters)
        w.sample("weir_default_packets_total",
                 {{"interface", c.ifname}, {"policy", c.policy}, {"verdict", c.default_verdict}},
                 c.default_decisions.packets);
    w.family("weir_default_bytes_total", "counter", "Bytes no rule decided (the policy default).");
    for (const auto& c : counters)
        w.sample("weir_default_bytes_total",
                 {{"interface", c.ifname}, {"policy", c.policy}, {"verdict", c.default_verdict}},
                 c.default_decisions.bytes);
    w.family("weir_verdict_packets_total", "counter", "Packets per final XDP verdict.");
    for (const auto& c : counters)
        for (const auto& [v, n] : c.verdicts)
            w.sample("weir_verdict_packets_total", {{"interface", c.ifname}, {"verdict", v}}, n.packets);
    w.family("weir_verdict_bytes_total", "counter", "Bytes per final XDP verdict.");
    for (const auto& c : counters)
        for (const auto& [v, n] : c.verdicts)
            w.sample("weir_verdict_bytes_total", {{"interface", c.ifname}, {"verdict", v}}, n.bytes);
    w.family("weir_malformed_packets_total", "counter", "Packets the parser rejected as malformed.");
    for (const auto& c : counters) w.sample("weir_malformed_packets_total", {{"interface", c.ifname}}, c.malformed.packets);
    w.family("weir_error_packets_total", "counter", "Packets that hit an internal error path.");
    for (const auto& c : counters) w.sample("weir_error_packets_total", {{"interface", c.ifname}}, c.errors.packets);
    w.family("weir_log_ring_drops_total", "counter", "Log records lost because the log ring was full.");
    for (const auto& c : counters) w.sample("weir_log_ring_drops_total", {{"interface", c.ifname}}, c.log_drops.packets);
}

}  // namespace

void render_policy_metrics(MetricsWriter& w, const PolicyReadings& r) {
    status_families(w, r);
    counter_families(w, r.counters);
    program_families(w, r.counters);
}

void collect_policy_metrics(MetricsWriter& w, const std::vector<std::string>& ifnames) {
    render_policy_metrics(w, read_policies(ifnames));
}

}  // namespace weir::daemon
