// A counter rate's learned normal (baseline.hpp).
#include "baseline.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace weir::baseline {

namespace {

constexpr double kDayWeight = 0.3;  // of the newest day in a seasonal bucket

const char* season_name(Season s) { return s == Season::Weekly ? "weekly" : s == Season::Daily ? "daily" : "none"; }

nlohmann::json moments_json(const Moments& m) { return {{"mean", m.mean}, {"var", m.var}, {"seeded", m.seeded}}; }

Moments moments_of(const nlohmann::json& j) {
    Moments m;
    m.mean = j.at("mean").get<double>();
    m.var = j.at("var").get<double>();
    m.seeded = j.at("seeded").get<bool>();
    if (!std::isfinite(m.mean) || !std::isfinite(m.var) || m.var < 0) throw std::runtime_error("bad moments");
    return m;
}

}  // namespace

void Moments::add(double x, double alpha) {
    if (!seeded) {
        mean = x, var = 0, seeded = true;
        return;
    }
    const double d = x - mean;
    mean += alpha * d;
    var = (1 - alpha) * (var + alpha * d * d);
}

std::size_t Baseline::bucket_of(double t) const {
    if (buckets_.empty()) return 0;
    const auto hours = static_cast<long>(std::floor(t / 3600));
    return static_cast<std::size_t>(((hours % static_cast<long>(buckets_.size())) + static_cast<long>(buckets_.size())) %
                                    static_cast<long>(buckets_.size()));
}

double Baseline::spread(const Moments& m) const {
    return std::max({std::sqrt(m.var), p_.relative_floor * std::fabs(m.mean), p_.absolute_floor});
}

void Baseline::fold_hour() {
    if (hour_.slot < 0 || hour_.n <= 0 || buckets_.empty()) return;
    Bucket& b = buckets_[bucket_of(double(hour_.slot) * 3600)];
    const double mean = hour_.sum / hour_.n;
    const double var = std::max(0.0, hour_.sumsq / hour_.n - mean * mean);
    if (!b.m.seeded) {
        b.m.mean = mean, b.m.var = var, b.m.seeded = true;
    } else {
        const double d = mean - b.m.mean;
        b.m.mean += kDayWeight * d;
        b.m.var = (1 - kDayWeight) * (b.m.var + kDayWeight * d * d) + kDayWeight * var;
    }
    ++b.days;
}

Verdict Baseline::observe(double t, double rate) {
    Verdict v;
    const double half_life = double(p_.half_life.count());
    if (last_ >= 0 && t - last_ > half_life) {  // a long gap: the short-term part starts over
        short_ = {};
        first_ = -1;
    }
    if (first_ < 0) first_ = t;
    const double dt = last_ >= 0 ? std::max(0.0, t - last_) : 0;

    // The verdict, against what was learned before this sample.
    v.ready = short_.seeded && t - first_ >= double(p_.warmup.count());
    const double zs = short_.seeded ? (rate - short_.mean) / spread(short_) : 0;
    v.expected = short_.mean;
    v.deviation = zs;
    v.anomalous = std::fabs(zs) >= p_.sensitivity;
    if (!buckets_.empty()) {
        const Bucket& b = buckets_[bucket_of(t)];
        if (b.days >= 2) {
            const double zb = (rate - b.m.mean) / spread(b.m);
            v.seasonal = true;
            v.expected = b.m.mean;
            v.deviation = zb;
            v.anomalous = v.anomalous && std::fabs(zb) >= p_.sensitivity;
        }
    }
    if (!v.ready) v.anomalous = false;

    // Learning: short-term with the sample clamped to the anomaly bound, seasonal per hour.
    double learned = rate;
    if (short_.seeded) {
        const double bound = p_.sensitivity * spread(short_);
        learned = std::clamp(rate, short_.mean - bound, short_.mean + bound);
    }
    short_.add(learned, dt > 0 ? 1 - std::exp2(-dt / half_life) : (short_.seeded ? 0.0 : 1.0));
    const auto slot = static_cast<long>(std::floor(t / 3600));
    if (slot != hour_.slot) {
        fold_hour();
        hour_ = Hour{slot};
    }
    hour_.n += 1, hour_.sum += rate, hour_.sumsq += rate * rate;
    last_ = t;
    return v;
}

std::string Baseline::to_json() const {
    nlohmann::json buckets = nlohmann::json::array();
    for (const Bucket& b : buckets_) {
        nlohmann::json j = moments_json(b.m);
        j["days"] = b.days;
        buckets.push_back(std::move(j));
    }
    nlohmann::json j = {{"version", 1},
                        {"season", season_name(p_.season)},
                        {"short", moments_json(short_)},
                        {"first", first_},
                        {"last", last_},
                        {"buckets", buckets},
                        {"hour", {{"slot", hour_.slot}, {"n", hour_.n}, {"sum", hour_.sum}, {"sumsq", hour_.sumsq}}}};
    return j.dump();
}

std::optional<Baseline> Baseline::from_json(const std::string& text, Params p, std::string& error) {
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        if (j.at("version").get<int>() != 1) {
            error = "unknown baseline state version";
            return std::nullopt;
        }
        Baseline b(p);
        if (j.at("season").get<std::string>() != season_name(p.season)) {
            error = "the state was learned with another season";
            return std::nullopt;
        }
        b.short_ = moments_of(j.at("short"));
        b.first_ = j.at("first").get<double>();
        b.last_ = j.at("last").get<double>();
        const auto& buckets = j.at("buckets");
        if (buckets.size() != b.buckets_.size()) {
            error = "the state has the wrong number of seasonal buckets";
            return std::nullopt;
        }
        for (std::size_t i = 0; i < buckets.size(); ++i) {
            b.buckets_[i].m = moments_of(buckets[i]);
            b.buckets_[i].days = buckets[i].at("days").get<unsigned>();
        }
        const auto& h = j.at("hour");
        b.hour_ = Hour{h.at("slot").get<long>(), h.at("n").get<double>(), h.at("sum").get<double>(),
                       h.at("sumsq").get<double>()};
        return b;
    } catch (const std::exception& e) {
        error = std::string("not a baseline state: ") + e.what();
        return std::nullopt;
    }
}

}  // namespace weir::baseline
