// Prometheus text exposition (format 0.0.4) for GET /metrics: a writer, a registry of collectors,
// and the families every enforced policy exports (read through the public API).
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

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

// The families of the enforced policies (counters and status through the API), for `ifnames`.
void collect_policy_metrics(MetricsWriter& w, const std::vector<std::string>& ifnames);

}  // namespace weir::daemon
