// weir daemon --config FILE [--listen HOST:PORT] [--once] [--detach-on-exit]: hands over to
// weir::daemon::run (include/weir/daemon.hpp). Events are JSON lines on stdout; config problems
// go to stderr (exit 2).
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "weir/daemon.hpp"

namespace weir::cli {

int cmd_daemon(const DaemonArgs& a) {
    daemon::RunOptions o;
    o.config = a.config;
    o.listen = a.listen;
    o.once = a.once;
    o.detach_on_exit = a.detach_on_exit;
    std::vector<std::string> errors;
    int rc = daemon::run(o, std::cout, errors);
    for (const auto& e : errors) std::cerr << "weir daemon: " << e << "\n";
    return errors.empty() ? rc : kExitUsage;
}

}  // namespace weir::cli
