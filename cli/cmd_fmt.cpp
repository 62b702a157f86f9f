// weir fmt FILE... [--write | --check]
#include <iostream>

#include "commands.hpp"
#include "fmt.hpp"
#include "parser.hpp"

namespace weir::cli {

int cmd_fmt(const FmtArgs& a, const CommonOptions& o) {
    bool color = use_color(o.color);
    int rc = kExitOk;
    for (const auto& path : a.files) {
        SourceManager sm;
        Diagnostics diags;
        std::string err;
        FileId id = sm.load(path, err);
        if (id == kNoFile) {
            std::cerr << "weir fmt: cannot read '" << path << "': " << err << "\n";
            rc = kExitUsage;
            continue;
        }
        auto file = parse(sm, id, diags);
        if (!file) {
            std::cerr << render_text(sm, diags, color);
            if (rc == kExitOk) rc = kExitFindings;
            continue;
        }
        std::string out = format(sm, *file);
        bool same = out == sm.file(id).text;
        if (a.check) {
            if (!same) {
                std::cerr << path << ": not formatted (run 'weir fmt --write " << path << "')\n";
                if (rc == kExitOk) rc = kExitFindings;
            }
        } else if (a.write) {
            if (!same && !write_file_atomic(path, out, err)) {
                std::cerr << "weir fmt: cannot write '" << path << "': " << err << "\n";
                rc = kExitUsage;
            }
        } else {
            std::cout << out;
        }
    }
    return rc;
}

}  // namespace weir::cli
