// weir fmt FILE... [--write | --check]
#include <iostream>

#include "commands.hpp"

namespace weir::cli {

int cmd_fmt(const FmtArgs& a, const CommonOptions& o) {
    bool color = use_color(o.color);
    int rc = kExitOk;
    for (const auto& path : a.files) {
        api::Formatted f = api::format_file(path, color);
        if (f.error.kind == api::ErrorKind::Environment) {
            std::cerr << "weir fmt: " << f.error.message << "\n";
            rc = kExitUsage;
            continue;
        }
        if (f.error) {
            std::cerr << f.diagnostics_text;
            if (rc == kExitOk) rc = kExitFindings;
            continue;
        }
        if (a.check) {
            if (f.changed) {
                std::cerr << path << ": not formatted (run 'weir fmt --write " << path << "')\n";
                if (rc == kExitOk) rc = kExitFindings;
            }
        } else if (a.write) {
            std::string err;
            if (f.changed && !write_file_atomic(path, f.text, err)) {
                std::cerr << "weir fmt: cannot write '" << path << "': " << err << "\n";
                rc = kExitUsage;
            }
        } else {
            std::cout << f.text;
        }
    }
    return rc;
}

}  // namespace weir::cli
