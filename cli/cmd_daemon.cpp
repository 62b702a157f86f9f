// weir daemon --config FILE [--listen HOST:PORT] [--once] [--detach-on-exit]: reads the config,
// then hands over to weir::daemon::Daemon (runtime/daemon.hpp). Events are JSON lines on
// stdout; config problems go to stderr (exit 2).
#include <iostream>

#include "commands.hpp"
#include "daemon.hpp"

namespace weir::cli {

int cmd_daemon(const DaemonArgs& a) {
    daemon::ConfigResult cfg = daemon::read_config(a.config);
    if (!a.listen.empty()) {
        std::string host, err;
        int port = 0;
        if (a.listen != "off" && !daemon::parse_listen(a.listen, host, port, err))
            cfg.errors.push_back("--listen: " + err);
        cfg.config.listen = a.listen;
    }
    if (!cfg.ok()) {
        for (const auto& e : cfg.errors) std::cerr << "weir daemon: " << e << "\n";
        return kExitUsage;
    }
    daemon::DaemonOptions o;
    o.once = a.once;
    o.detach_on_exit = a.detach_on_exit;
    daemon::Daemon d(std::move(cfg.config), o, std::cout);
    return d.run();
}

}  // namespace weir::cli
