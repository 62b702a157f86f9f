// weir unload --dev IFACE: detaches the interface's weir policy and removes its pins and
// metadata (counters and set contents go with them), through weir::api::Attachment::unload.
// Exit 2 when there is nothing to unload.
#include <iostream>

#include "commands.hpp"

namespace weir::cli {

int cmd_unload(const UnloadArgs& a) {
    std::string removed;
    if (api::Error e = api::Attachment(a.dev).unload(&removed)) {
        std::cerr << "weir unload: " << e.message << "\n";
        return exit_code(e);
    }
    std::cout << "weir unload: " << (removed.empty() ? std::string("state ") : "policy '" + removed + "' ")
              << "removed from '" << a.dev << "'\n";
    return kExitOk;
}

}  // namespace weir::cli
