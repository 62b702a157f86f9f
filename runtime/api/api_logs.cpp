// The API's log reader (weir.hpp "packet logs") over runtime/attach/events.hpp, whose Record is the
// public LogRecord.
#include "events.hpp"
#include "weir/weir.hpp"
#include "weir_abi.h"

namespace weir::api {

struct LogReader::Impl {
    std::unique_ptr<events::Reader> reader;
};

LogReader::LogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogReader::~LogReader() = default;

Result<std::shared_ptr<LogReader>> LogReader::open(const std::string& ifname, const LogOptions& opts) {
    Result<std::shared_ptr<LogReader>> out;
    events::Options o;
    o.rule = opts.rule;
    o.backlog = opts.backlog;
    auto r = events::Reader::open(ifname, o);
    if (!r) {
        out.error = {ErrorKind::Environment, "read", r.error().message};
        return out;
    }
    auto impl = std::make_unique<Impl>();
    impl->reader = std::move(*r);
    out.value = std::shared_ptr<LogReader>(new LogReader(std::move(impl)));
    return out;
}

Result<int> LogReader::poll(int timeout_ms, const std::function<bool(const LogRecord&)>& fn) {
    Result<int> out;
    auto n = impl_->reader->poll(timeout_ms, fn);
    if (!n) out.error = {ErrorKind::Environment, "read", n.error().message};
    else out.value = *n;
    return out;
}

std::string log_summary(const LogRecord& r) { return events::summary(r); }
std::string log_json(const LogRecord& r) { return events::to_json(r); }
std::uint32_t log_snap_max() { return WEIR_LOG_SNAP_MAX; }

}  // namespace weir::api
