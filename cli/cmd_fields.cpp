// weir fields [--markdown]
#include <cstdio>
#include <iostream>

#include "commands.hpp"

namespace weir::cli {

// The Markdown form is the field table of docs/language.md, which a test keeps in sync.
int cmd_fields(bool markdown) {
    if (markdown) {
        std::cout << "| Field | Bits | Type | Header required | Symbols | Meaning |\n";
        std::cout << "| --- | --- | --- | --- | --- | --- |\n";
    }
    for (const api::FieldInfo& f : api::fields()) {
        if (markdown) {
            std::cout << "| `" << f.name << "` | " << f.bits << " | " << f.type << " | " << f.header << " | "
                      << f.symbols << " | " << f.doc << " |\n";
        } else {
            std::printf("%-15s %4d  %-24s %-18s %s\n", f.name.c_str(), f.bits, f.type.c_str(), f.header.c_str(),
                        f.doc.c_str());
        }
    }
    return kExitOk;
}

}  // namespace weir::cli
