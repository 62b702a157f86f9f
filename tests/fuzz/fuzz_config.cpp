// libFuzzer target: the daemon's config parser (daemon/config.hpp parse_config, the JSON of
// docs/cli.md "weir daemon") and its listen-address parser, on arbitrary text. A config that
// parses must hold what the daemon relies on: at least one binding, each with an interface name
// of 1-15 bytes and an absolute policy path, no interface twice, and a listen address that is
// "off" or parses.
#include <cstdint>
#include <set>
#include <string>

#include "config.hpp"
#include "fuzz_common.hpp"

namespace {
constexpr const char* kTarget = "fuzz_config";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string text(reinterpret_cast<const char*>(data), size);
    using weir::fuzz::fail;

    // The first line alone as a listen address ("HOST:PORT", "[V6]:PORT").
    std::string host, error;
    int port = -1;
    if (weir::daemon::parse_listen(text.substr(0, text.find('\n')), host, port, error)) {
        if (port < 0 || port > 65535) fail(kTarget, "parse_listen accepted a port out of range", text);
    } else if (error.empty()) {
        fail(kTarget, "parse_listen refused without saying why", text);
    }

    // The config file sits in a folder that does not exist: nothing is read from disk.
    auto r = weir::daemon::parse_config("/nonexistent/weir-daemon.json", text);
    if (!r.ok()) return 0;
    const auto& c = r.config;
    if (c.bindings.empty()) fail(kTarget, "a config without bindings parsed", text);
    std::set<std::string> seen;
    for (const auto& b : c.bindings) {
        if (b.interface.empty() || b.interface.size() > 15) fail(kTarget, "bad interface name accepted", b.interface);
        if (b.file.empty() || b.file[0] != '/') fail(kTarget, "a policy path that is not absolute", b.file);
        if (!seen.insert(b.interface).second) fail(kTarget, "an interface configured twice", b.interface);
        for (const auto& d : b.include_dirs)
            if (d.empty() || d[0] != '/') fail(kTarget, "an include folder that is not absolute", d);
    }
    if (c.listen != "off") {
        std::string h, e;
        int p = 0;
        if (!weir::daemon::parse_listen(c.listen, h, p, e)) fail(kTarget, "a listen address that does not parse", c.listen);
    }
    return 0;
}
