// `weir daemon` as one call (library weir_daemon, built on weir.hpp; docs/cli.md "weir daemon",
// docs/deploy.md): reads the JSON config, then keeps its policies enforcing on their interfaces,
// hot-swaps them when their files change and serves Prometheus metrics, until SIGTERM / SIGINT.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

namespace weir::daemon {

struct RunOptions {
    std::string config;           // the JSON config file
    std::string listen;           // "HOST:PORT" or "off": overrides the config's "listen" (empty: keep it)
    bool once = false;            // reconcile every interface, then return (no HTTP, no watching)
    bool detach_on_exit = false;  // unload the policies on SIGTERM / SIGINT
};

// Events go to `events`, one JSON object a line. Returns the exit code: 2 with `config_errors`
// filled ("FILE: message", every problem) when the config or `listen` is bad, before anything
// changes; otherwise as docs/cli.md says (0; with `once` 1 if a policy failed, 2 for an
// environment problem; 2 if the metrics address cannot be bound).
int run(const RunOptions& options, std::ostream& events, std::vector<std::string>& config_errors);

}  // namespace weir::daemon
