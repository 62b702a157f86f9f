// Prometheus text exposition (format 0.0.4) for GET /metrics: a writer, a registry of collectors,
// and the families every enforced policy exports (read through the public API).
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "weir/weir.hpp"

namespace weir::daemon {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Prometheus text exposition format 0.0.4: a family header (HELP, TYPE), then its samples.
class MetricsWriter {
public:
    // type: "counter" or "gauge"
    void family(const std::string& name, const char* type, const std::string& help);
    void sample(const std::string& name, const Labels& labels, double value);
    void sample(const std::string& name, const Labels& labels, std::uint64_t value);
    const std::string& text() const { return out_; }

private:
    void labels(const Labels& l);
    std::string out_;
};

// Collectors render their families in registration order. Thread-safe: collectors run on the
// HTTP server's threads, so they must only read state they lock themselves.
class MetricsRegistry {
public:
    using Collector = std::function<void(MetricsWriter&)>;
    void add(std::string name, Collector c);
    std::string render() const;

private:
    mutable std::mutex mu_;
    std::vector<std::pair<std::string, Collector>> collectors_;
};

// What one scrape reads through the API for the enforced policies (status, counters, the sizes
// of named sets), then renders.
struct PolicyReadings {
    struct SetSize {
        std::string ifname, set;
        std::uint64_t elements = 0;
    };
    std::vector<api::Status> statuses;    // the interfaces whose state could be read
    std::vector<api::Counters> counters;  // the interfaces whose counters could be read
    std::vector<SetSize> set_elements;    // named sets only (inline ones belong to their rule)
};
PolicyReadings read_policies(const std::vector<std::string>& ifnames);
// The weir_policy_*, weir_set_*, weir_rule_*, weir_default_*, weir_verdict_* ... families.
void render_policy_metrics(MetricsWriter& w, const PolicyReadings& r);
// Both, for `ifnames`.
void collect_policy_metrics(MetricsWriter& w, const std::vector<std::string>& ifnames);

}  // namespace weir::daemon
