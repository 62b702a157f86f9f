// weir confirm --dev IFACE: keeps the policy a `weir load --confirm-within` put on the interface
// (weir::api::Attachment::confirm). Exit 0 confirmed, 1 nothing awaits confirmation (none was
// armed, or it already rolled back), 2 environment.
//
// weir confirm-watch --dev IFACE --token T (hidden): the watcher such a load starts, detached
// or as a systemd timer unit. It sleeps until the deadline and rolls back unless the load was
// confirmed or replaced. Exit 0 rolled back, 1 nothing to do, 2 environment.
#include <cctype>
#include <iostream>

#include "commands.hpp"

namespace weir::cli {

std::optional<std::chrono::seconds> parse_duration(const std::string& text) {
    std::size_t i = 0;
    unsigned long long n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && n < 10'000'000)
        n = n * 10 + static_cast<unsigned>(text[i++] - '0');
    if (i == 0 || n == 0) return std::nullopt;
    const std::string unit = text.substr(i);
    unsigned long long scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : 0;
    if (scale == 0 || n * scale > 7 * 86400) return std::nullopt;  // a week: surely a typo beyond
    return std::chrono::seconds(static_cast<long long>(n * scale));
}

int cmd_confirm(const ConfirmArgs& a) {
    api::Attachment at(a.dev);
    if (api::Error e = at.confirm()) {
        std::cerr << "weir confirm: " << e.message << "\n";
        return exit_code(e);
    }
    auto st = at.status();
    std::cout << "weir confirm: " << (st ? "policy '" + st->policy + "'" : std::string("the policy")) << " on '"
              << a.dev << "' confirmed: it stays\n";
    return kExitOk;
}

int cmd_confirm_watch(const ConfirmArgs& a) {
    std::string what;
    if (api::Error e = api::watch_confirmation(a.dev, a.token, &what)) {
        std::cerr << "weir confirm-watch: " << e.message << "\n";
        return exit_code(e);
    }
    std::cerr << "weir confirm-watch: " << what << "\n";
    return kExitOk;
}

}  // namespace weir::cli
