// weir unload --dev IFACE: detaches the interface's weir policy and removes its pins and
// metadata (counters and set contents go with them). Exit 2 when there is nothing to unload.
#include <iostream>

#include "attach.hpp"
#include "commands.hpp"

namespace weir::cli {

int cmd_unload(const UnloadArgs& a) {
    std::optional<pins::PolicyMeta> removed;
    attach::Failure f = attach::unload(a.dev, &removed);
    if (f) {
        std::cerr << "weir unload: " << f.message << "\n";
        return f.problem == attach::Problem::Policy ? kExitFindings : kExitUsage;
    }
    std::cout << "weir unload: " << (removed ? "policy '" + removed->policy + "' " : std::string("state "))
              << "removed from '" << a.dev << "'\n";
    return kExitOk;
}

}  // namespace weir::cli
