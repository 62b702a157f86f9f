// The attached programs' own cost (program_cost.hpp).
#include "program_cost.hpp"

namespace weir::daemon {

namespace {
Labels program_labels(const std::string& ifname, std::uint32_t prog_id) {
    return {{"interface", ifname}, {"prog_id", std::to_string(prog_id)}};
}
}  // namespace

ProgramCost::ProgramCost(bool hold) {
    if (!hold) return;
    stats_ = std::make_unique<api::RunTimeStatistics>();
    error_ = stats_->error;
}

void ProgramCost::tick(const std::map<std::string, api::Counters>& readings) {
    std::lock_guard lock(mu_);
    std::map<std::string, std::pair<api::Counters, api::Counters>> next;
    for (const auto& [ifn, c] : readings) {
        auto it = readings_.find(ifn);
        next.emplace(ifn, std::make_pair(it == readings_.end() ? c : std::move(it->second.second), c));
    }
    readings_ = std::move(next);
}

void ProgramCost::collect(MetricsWriter& w) const {
    std::lock_guard lock(mu_);
    w.family("weir_program_run_seconds_per_packet", "gauge",
             "Mean run time of the attached XDP program per packet, in seconds, over the daemon's last second "
             "(absent: no statistics, or no packet).");
    for (const auto& [ifn, r] : readings_)
        if (auto c = api::cost_rate(r.second, &r.first); c.valid && !c.idle)
            w.sample("weir_program_run_seconds_per_packet", program_labels(ifn, r.second.prog_id), c.ns_per_packet / 1e9);
    w.family("weir_program_packets_per_second", "gauge",
             "Runs of the attached XDP program per second over the daemon's last second.");
    for (const auto& [ifn, r] : readings_)
        if (auto c = api::cost_rate(r.second, &r.first); c.valid)
            w.sample("weir_program_packets_per_second", program_labels(ifn, r.second.prog_id), c.pps);
}

void program_families(MetricsWriter& w, const std::vector<api::Counters>& counters) {
    auto labels = [](const api::Counters& c) { return program_labels(c.ifname, c.prog_id); };
    w.family("weir_program_runs_total", "counter",
             "Runs of the attached XDP program counted while the kernel's run-time statistics were on.");
    for (const auto& c : counters)
        if (c.program.measured) w.sample("weir_program_runs_total", labels(c), c.program.runs);
    w.family("weir_program_run_seconds_total", "counter",
             "Time spent in the attached XDP program while the kernel's run-time statistics were on.");
    for (const auto& c : counters)
        if (c.program.measured)
            w.sample("weir_program_run_seconds_total", labels(c), double(c.program.run_time_ns) / 1e9);
    w.family("weir_program_instructions", "gauge", "BPF instructions of the attached program (after the verifier).");
    for (const auto& c : counters) w.sample("weir_program_instructions", labels(c), std::uint64_t{c.program.insns});
    w.family("weir_program_jited_bytes", "gauge", "Size of the attached program's JIT-compiled code.");
    for (const auto& c : counters) w.sample("weir_program_jited_bytes", labels(c), std::uint64_t{c.program.jited_bytes});
}

}  // namespace weir::daemon
