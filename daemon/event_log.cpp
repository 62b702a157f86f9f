// The daemon's JSON event lines (event_log.hpp).
#include "event_log.hpp"

#include <cstdio>
#include <ctime>
#include <ostream>

namespace weir::daemon {

namespace {

std::string iso_now() {
    std::timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    std::tm tm{};
    gmtime_r(&ts.tv_sec, &tm);
    char buf[40];
    std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return buf;
}

}  // namespace

void EventLog::emit(const std::string& event, nlohmann::ordered_json fields) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();  // "event" and "time" first
    j["event"] = event;
    j["time"] = iso_now();
    for (auto& [k, v] : fields.items()) j[k] = v;
    std::lock_guard lock(mu_);
    out_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

}  // namespace weir::daemon
