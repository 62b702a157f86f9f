// The daemon's events (loaded, reloaded, reload_failed, alert_firing, ...): one JSON object a
// line on stdout, for a log collector.
#pragma once
#include <iosfwd>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace weir::daemon {

// One JSON object per line ("event", "time" and the event's fields), flushed at once.
class EventLog {
public:
    explicit EventLog(std::ostream& out) : out_(out) {}
    void emit(const std::string& event, nlohmann::ordered_json fields = nlohmann::ordered_json::object());

private:
    std::mutex mu_;
    std::ostream& out_;
};

}  // namespace weir::daemon
