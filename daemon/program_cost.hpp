// The attached programs' own cost for /metrics: the daemon holds the kernel's run-time statistics
// on (api::RunTimeStatistics) and reads each program's run time and runs once a tick, so that
// ns/packet and packets per second over the last interval are gauges, beside the totals.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics.hpp"
#include "weir/weir.hpp"

namespace weir::daemon {

class ProgramCost {
public:
    // `hold`: turn the statistics on (else only what others turned on is read).
    explicit ProgramCost(bool hold);
    // Why the statistics could not be turned on ("" when on, or not asked for).
    const std::string& error() const { return error_; }
    // Main loop, once a tick: the new reading of each interface (ifname -> counters).
    void tick(const std::map<std::string, api::Counters>& readings);
    // weir_program_run_seconds_per_packet, weir_program_packets_per_second (last interval).
    void collect(MetricsWriter& w) const;

private:
    std::unique_ptr<api::RunTimeStatistics> stats_;
    std::string error_;
    mutable std::mutex mu_;
    std::map<std::string, std::pair<api::Counters, api::Counters>> readings_;  // ifname -> (before, now)
};

// The totals of each reading: weir_program_runs_total, weir_program_run_seconds_total (only when
// measured: never a made-up zero), weir_program_instructions, weir_program_jited_bytes.
void program_families(MetricsWriter& w, const std::vector<api::Counters>& counters);

}  // namespace weir::daemon
