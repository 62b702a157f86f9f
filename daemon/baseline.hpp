// A counter rate's learned normal, for anomaly alerts (docs/deploy.md, "Alerts"): pure logic
// over (time, rate) samples, no clock of its own, so it is unit-tested with synthetic series
// (tests/unit/test_daemon_baseline.cpp). The daemon feeds it one rate a second per alert.
//
// Two baselines, each a mean and a variance:
// - short-term: exponentially weighted with a half-life (default 10 minutes) in real time, so a
//   gap between samples weighs what it lasted. It follows slow drift (1% a minute stays within
//   about 1.3 deviations) but not a jump: a sample beyond `sensitivity` deviations is clamped to
//   that bound before it is learned, so an anomaly teaches the baseline slowly, not at once.
// - seasonal (daily or weekly): one bucket per hour of the day (or of the week, UTC), each
//   learned from that hour's mean and spread, one fold per hour seen, exponentially weighted over
//   days (weight 0.3 for the newest). A bucket is used once it holds two days.
// A rate is anomalous when it is `sensitivity` deviations or more from the short-term baseline,
// and, where the hour's bucket is ready, also from the seasonal one: the usual noon peak is no
// anomaly once two noons were seen; the same peak at 3 a.m. is.
// The deviation is never divided by less than `relative_floor` of the mean nor `absolute_floor`
// per second, so a perfectly flat series does not turn noise into alerts.
// No verdict ("warming up") until the short-term baseline has `warmup` of history; a gap of more
// than a half-life between samples starts the short-term part over (the seasonal part stays).
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace weir::baseline {

enum class Season { None, Daily, Weekly };

struct Params {
    double sensitivity = 4;                 // deviations that count as anomalous
    std::chrono::seconds half_life{600};    // of the short-term baseline
    std::chrono::seconds warmup{900};       // history before any verdict
    Season season = Season::Daily;
    double relative_floor = 0.1;            // a deviation is at least this share of the mean
    double absolute_floor = 1.0;            // and at least this many per second
};

// A mean and a variance, exponentially weighted.
struct Moments {
    double mean = 0, var = 0;
    bool seeded = false;
    // Folds `x` in with weight `alpha` (the first value seeds the mean).
    void add(double x, double alpha);
};

struct Verdict {
    bool ready = false;      // false: warming up; nothing else is meaningful
    double expected = 0;     // the baseline the rate was compared to (seasonal where ready)
    double deviation = 0;    // (rate - expected) / spread, signed
    bool seasonal = false;   // expected came from the hour's seasonal bucket
    bool anomalous = false;
};

class Baseline {
public:
    explicit Baseline(Params p = {}) : p_(p) {}

    // One rate sample at unix time `t` (seconds; later than the previous sample): the verdict
    // on it against what was learned before it, then it is learned.
    Verdict observe(double t, double rate);

    const Params& params() const { return p_; }
    const Moments& short_term() const { return short_; }
    // The seasonal bucket of unix time `t`, and how many days (or weeks) it holds (none: empty).
    Moments bucket(double t) const { return buckets_.empty() ? Moments{} : buckets_[bucket_of(t)].m; }
    unsigned bucket_days(double t) const { return buckets_.empty() ? 0 : buckets_[bucket_of(t)].days; }

    // The learned state as JSON, for the daemon's state file, and back. `from_json` refuses
    // (nullopt, `error` says why) text that is not such a state or was learned with another season.
    std::string to_json() const;
    static std::optional<Baseline> from_json(const std::string& text, Params p, std::string& error);

private:
    struct Bucket {
        Moments m;
        unsigned days = 0;
    };
    struct Hour {  // the hour being seen now, folded into its bucket when it ends
        long slot = -1;       // hours since the epoch
        double n = 0, sum = 0, sumsq = 0;
    };
    std::size_t bucket_of(double t) const;
    double spread(const Moments& m) const;
    void fold_hour();

    Params p_;
    Moments short_;
    double first_ = -1, last_ = -1;  // short-term history: first and last sample times
    std::vector<Bucket> buckets_ = std::vector<Bucket>(p_.season == Season::Weekly ? 168
                                                       : p_.season == Season::Daily ? 24 : 0);
    Hour hour_;
};

}  // namespace weir::baseline
