// Counters of attached policies (`weir stats`): per rule packets and bytes, per verdict totals,
// default decisions, malformed packets and errors, read from the pinned weir_rules /
// weir_verdicts / weir_stats maps (per-CPU values summed) and named through weir_meta (rule ->
// counter slot, policy order). Reading takes no lock and changes nothing.
//
//   std::vector<stats::Snapshot> a;
//   if (auto f = stats::read(a, "eth1")) ... f.message (exit 2) ...
//   ... later ...  stats::read(b, "eth1");
//   std::cout << stats::format_table(b, &a);   // with pps/bps over the interval
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "attach.hpp"
#include "maps.hpp"
#include "weir/vocabulary.hpp"
#include "weir_abi.h"

namespace weir::stats {

// One interface at one moment: the public API's Counters (include/weir/vocabulary.hpp).
using Snapshot = api::Counters;
using RuleStat = api::RuleCounter;

// Every interface with an attached weir policy (ifname empty) or one. Failures as in
// attach::status (Environment): not privileged, no such interface, no weir policy there.
attach::Failure read(std::vector<Snapshot>& out, const std::string& ifname = {});


struct Rate {
    double pps = 0, bps = 0;  // bits per second
    bool valid = false;       // false: no earlier sample, or the counter went backwards (reset)
};
// The rate of `now` relative to `before` over `seconds`.
Rate rate(const bpf::Counter& now, const bpf::Counter* before, double seconds);

// The program's ns/packet and pps between two readings of one interface.
api::CostRate cost_rate(const Snapshot& now, const Snapshot* before);
// "program: 845 insns, 1234 bytes JIT; 31.2 ns/packet at 1.2M pps" (or why it is not known).
std::string cost_text(const Snapshot& now, const Snapshot* before);

// The earlier snapshot of the same interface, or null.
const Snapshot* find(const std::vector<Snapshot>* before, const std::string& ifname);

// Aligned table, rules in policy order then the default; with `before`, pps and bps columns
// over the interval since it.
std::string format_table(const std::vector<Snapshot>& now, const std::vector<Snapshot>* before = nullptr);
// One JSON object for one interface (rates when `before` is given).
std::string to_json(const Snapshot& now, const Snapshot* before = nullptr, int indent = -1);

// 1234567 -> "1.23M"; below 1000 as is (one decimal for fractions).
std::string si(double v);

}  // namespace weir::stats
