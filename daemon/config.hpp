// The daemon's JSON config (docs/cli.md "weir daemon"): text in, the bindings to enforce out,
// with every problem reported as data ("FILE: message"), never a partial config.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "weir/weir.hpp"

namespace weir::daemon {

// One interface and the policy file to enforce there.
struct Binding {
    std::string interface;
    std::string file;    // absolute and lexically normal, symlinks NOT resolved (they are
                         // re-resolved on every change)
    std::string policy;  // which `policy` block; empty: the file's only one
    api::Mode mode = api::Mode::Auto;
    std::vector<std::string> include_dirs;
    std::vector<std::string> allowed_dirs;  // the config's "allowed_dirs" (empty: anywhere)
    // Roll a changed policy out through shadow mode first (daemon_shadow.hpp): it runs beside
    // the enforcing one this long, then is promoted if no transition saw more than
    // shadow_max_packets packets, else the running policy is kept. 0: swap at once.
    std::uint32_t shadow_seconds = 0;
    std::uint64_t shadow_max_packets = 0;
};

struct Config {
    std::vector<Binding> bindings;
    std::string listen = "127.0.0.1:9464";  // "off": no HTTP server
    std::chrono::milliseconds debounce{250};
    // Hold the kernel's BPF run-time statistics on (program_cost.hpp): the programs' ns/packet in
    // /metrics, for a per-packet cost of its own (docs/performance.md, "Run-time statistics").
    bool program_statistics = true;
};

struct ConfigResult {
    Config config;
    std::vector<std::string> errors;  // "FILE: message", one per problem
    bool ok() const { return errors.empty(); }
};

// The JSON config (format in docs/cli.md). Relative policy paths are relative to the config
// file's folder.
ConfigResult parse_config(const std::string& path, const std::string& text);
// The config must be a regular file (a FIFO or directory is an error, never a wait) of at most
// kMaxConfigBytes.
inline constexpr std::uint64_t kMaxConfigBytes = 1u << 20;
ConfigResult read_config(const std::string& path);

// "HOST:PORT" or "[V6]:PORT" (port 0: any free port).
bool parse_listen(const std::string& text, std::string& host, int& port, std::string& error);

}  // namespace weir::daemon
