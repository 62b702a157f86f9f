// Anomaly baselines (daemon/baseline.*) on synthetic series with a fake clock: one sample a
// second, as the daemon gives them. "Fires" means what the alert evaluator does with the
// verdicts: anomalous on every sample for `for` (30 s here).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "baseline.hpp"

using namespace weir::baseline;

namespace {

constexpr double kFor = 30;
constexpr double kDay = 86400;
constexpr double kStart = 1'700'006'400;  // a UTC midnight

// Feeds rate(t) for t in [from, to) one second apart; returns the first time an alert with
// `for` kFor fires (anomalous on every sample for kFor seconds), or -1.
double run(Baseline& b, double from, double to, const std::function<double(double)>& rate) {
    double since = -1;
    for (double t = from; t < to; t += 1) {
        Verdict v = b.observe(t, rate(t));
        if (!v.anomalous) {
            since = -1;
            continue;
        }
        if (since < 0) since = t;
        if (t - since >= kFor) return t;
    }
    return -1;
}

// Feeds rate(t) for t in [from, to), whatever the verdicts.
void feed(Baseline& b, double from, double to, const std::function<double(double)>& rate) {
    for (double t = from; t < to; t += 1) b.observe(t, rate(t));
}

Params no_season() {
    Params p;
    p.season = Season::None;
    return p;
}

}  // namespace

TEST_CASE("a step to 10x fires within `for`, and nothing fires while warming up") {
    Baseline b(no_season());
    CHECK(run(b, kStart, kStart + 600, [](double) { return 100.0; }) < 0);
    // Still warming up at 600 s (warm-up 900 s): a 10x step does not fire yet.
    CHECK(run(b, kStart + 600, kStart + 700, [](double) { return 1000.0; }) < 0);
    Baseline c(no_season());
    CHECK(run(c, kStart, kStart + 3600, [](double) { return 100.0; }) < 0);
    const double fired = run(c, kStart + 3600, kStart + 3700, [](double) { return 1000.0; });
    REQUIRE(fired > 0);
    CHECK(fired - (kStart + 3600) == doctest::Approx(kFor));
    Verdict v = c.observe(kStart + 3700, 1000);
    CHECK(v.ready);
    CHECK(v.expected < 200);  // learned slowly: the anomaly is clamped before it is learned
    CHECK(v.deviation > 4);
}

TEST_CASE("a one-second spike shorter than `for` does not fire, nor does a drop back") {
    Baseline b(no_season());
    CHECK(run(b, kStart, kStart + 3600, [](double) { return 100.0; }) < 0);
    CHECK(b.observe(kStart + 3600, 1000).anomalous);  // the spike is anomalous...
    CHECK(run(b, kStart + 3601, kStart + 7200, [](double) { return 100.0; }) < 0);  // ...but never for 30 s
    CHECK(b.short_term().mean == doctest::Approx(100).epsilon(0.01));
}

TEST_CASE("a slow drift of 1% a minute does not fire") {
    Baseline b(no_season());
    // Three hours of compounding growth: about 6x in all.
    CHECK(run(b, kStart, kStart + 3 * 3600, [](double t) { return 100.0 * std::pow(1.01, (t - kStart) / 60); }) < 0);
    Verdict v = b.observe(kStart + 3 * 3600, 100.0 * std::pow(1.01, 180.0));
    CHECK(v.ready);
    CHECK(std::fabs(v.deviation) < 2);
}

TEST_CASE("a daily pattern learned over two days: the usual noon peak is normal, the same at 3 a.m. fires") {
    Baseline b;  // daily season
    auto pattern = [](double t) {
        const double hour = std::fmod(t - kStart, kDay) / 3600;
        return hour >= 12 && hour < 13 ? 1000.0 : 100.0;
    };
    feed(b, kStart, kStart + 2 * kDay, pattern);  // the first two noons may fire: nothing learned yet
    CHECK(b.bucket_days(kStart + 12 * 3600) == 2);
    CHECK(b.bucket(kStart + 12 * 3600).mean > 700);
    // Day 3: the whole day as usual, noon included, fires nothing.
    CHECK(run(b, kStart + 2 * kDay, kStart + 3 * kDay, pattern) < 0);
    // Day 4: the noon peak at 3 a.m. fires within `for`.
    CHECK(run(b, kStart + 3 * kDay, kStart + 3 * kDay + 3 * 3600, pattern) < 0);
    const double at3 = kStart + 3 * kDay + 3 * 3600;
    const double fired = run(b, at3, at3 + 600, [](double) { return 1000.0; });
    REQUIRE(fired > 0);
    CHECK(fired - at3 == doctest::Approx(kFor));
    Verdict v = b.observe(at3 + 601, 1000);
    CHECK(v.seasonal);
    CHECK(v.expected < 200);
}

TEST_CASE("a restart with the persisted state keeps the baseline: no new warm-up") {
    Baseline b(no_season());
    CHECK(run(b, kStart, kStart + 3600, [](double) { return 100.0; }) < 0);
    const std::string state = b.to_json();
    std::string error;
    auto again = Baseline::from_json(state, no_season(), error);
    REQUIRE_MESSAGE(again, error);
    CHECK(again->short_term().mean == doctest::Approx(b.short_term().mean));
    CHECK(again->short_term().var == doctest::Approx(b.short_term().var));
    // 5 s later (the restart), a 10x step fires within `for`: the warm-up is not repeated.
    const double fired = run(*again, kStart + 3605, kStart + 3700, [](double) { return 1000.0; });
    REQUIRE(fired > 0);
    CHECK(fired - (kStart + 3605) == doctest::Approx(kFor));
    // A fresh baseline would still be warming up.
    Baseline fresh(no_season());
    CHECK(run(fresh, kStart + 3605, kStart + 3700, [](double) { return 1000.0; }) < 0);

    // Seasonal buckets survive the round trip too.
    Baseline d;
    feed(d, kStart, kStart + 2 * kDay + 3600, [](double) { return 50.0; });
    auto d2 = Baseline::from_json(d.to_json(), Params{}, error);
    REQUIRE_MESSAGE(d2, error);
    CHECK(d2->bucket_days(kStart) == 2);  // day 3's first hour is folded in when it ends
    CHECK(d2->to_json() == d.to_json());
    CHECK(d2->bucket(kStart).mean == doctest::Approx(50));
}

TEST_CASE("a state file that is not a baseline, or of another season, is refused with a reason") {
    std::string error;
    CHECK(!Baseline::from_json("{", Params{}, error));
    CHECK(error.find("not a baseline state") != std::string::npos);
    CHECK(!Baseline::from_json(R"({"version": 2})", Params{}, error));
    CHECK(error.find("version") != std::string::npos);
    Baseline daily;
    CHECK(!Baseline::from_json(daily.to_json(), no_season(), error));
    CHECK(error.find("season") != std::string::npos);
    CHECK(!Baseline::from_json(R"({"version":1,"season":"none","short":{"mean":"x"}})", no_season(), error));
}

TEST_CASE("a gap longer than a half-life starts the short-term baseline over") {
    Baseline b(no_season());
    CHECK(run(b, kStart, kStart + 3600, [](double) { return 100.0; }) < 0);
    // An hour later, at another level: warming up again, so no verdict (and no alert).
    Verdict v = b.observe(kStart + 7200, 5000);
    CHECK(!v.ready);
    CHECK(!v.anomalous);
}
