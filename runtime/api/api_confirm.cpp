// Confirmed swaps in the public API (include/weir/weir.hpp: AttachOptions::confirm_within,
// Attachment::confirm, Status::confirm_deadline) over runtime/attach/confirm.hpp.
#include "api_impl.hpp"
#include "confirm.hpp"
#include "weir/weir.hpp"

namespace weir::api {

void confirm_status(const attach::Attachment& a, Status& s) {
    if (!a.rollback) return;
    s.confirm_deadline = attach::confirm::deadline_unix(*a.rollback);
    s.rollback_policy = a.rollback->previous ? a.rollback->previous->policy : std::string();
    s.confirm_watcher_pid = a.rollback->watcher_pid;
    s.confirm_watcher_unit = a.rollback->watcher_unit;
}

namespace {

Error outcome_error(attach::confirm::Outcome o, const std::string& message) {
    using attach::confirm::Outcome;
    if (o == Outcome::Done) return {};
    return {o == Outcome::Nothing ? ErrorKind::Policy : ErrorKind::Environment, "confirm", message};
}

}  // namespace

Error Attachment::confirm() const {
    std::vector<std::string> names;
    if (attach::Failure f = attach::interfaces(names, ifname_)) return {f.problem, "confirm", f.message};
    std::string message;
    auto o = attach::confirm::confirm(ifname_, message);
    return outcome_error(o, message);
}

Error watch_confirmation(const std::string& ifname, const std::string& token, std::string* rolled_back) {
    std::string message;
    auto o = attach::confirm::watch(ifname, token, message);
    if (rolled_back) *rolled_back = message;
    return outcome_error(o, message);
}

}  // namespace weir::api
