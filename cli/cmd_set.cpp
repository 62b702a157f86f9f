// weir set add|del|list|flush --dev IFACE SET [ELEM...] [--json]
//
// Edits a named set of the policy running on an interface in place (weir::api::Attachment::
// edit_set): no
// recompilation, no swap; the next packet sees the change. Elements are written as in a policy
// (one per argument: address, CIDR, number, protocol name, range a-b) and checked against the
// set's declared type; a batch is all-or-nothing. Diagnostics point into "<command line>".
// Exit: 0 ok, 1 a bad element / unknown set / element not in the set (nothing changed),
// 2 environment (no such interface, no weir policy there, not privileged, kernel refused).
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace weir::cli {

int cmd_set(const SetArgs& a, const CommonOptions& o) {
    const api::SetOp op = a.op == "add" ? api::SetOp::Add : a.op == "del" ? api::SetOp::Del
                          : a.op == "flush"                 ? api::SetOp::Flush
                                                            : api::SetOp::List;
    if ((op == api::SetOp::Add || op == api::SetOp::Del) && a.elements.empty()) {
        std::cerr << "weir set " << a.op << ": give at least one element after the set name\n";
        return kExitUsage;
    }
    if ((op == api::SetOp::List || op == api::SetOp::Flush) && !a.elements.empty()) {
        std::cerr << "weir set " << a.op << ": takes no elements (got '" << a.elements[0] << "')\n";
        return kExitUsage;
    }
    api::SetEdit r = api::Attachment(a.dev).edit_set(op, a.set, a.elements, use_color(o.color));
    std::cerr << r.diagnostics_text;
    for (const auto& n : r.notes) std::cerr << "weir set: note: " << n << "\n";
    if (!r.ok()) {
        std::cerr << "weir set " << a.op << ": " << r.error.message << "\n";
        return exit_code(r.error);
    }
    const std::string where = "set '" + a.set + "' on '" + a.dev + "'";
    switch (op) {
        case api::SetOp::List:
            if (a.json) {
                nlohmann::json j = {{"interface", a.dev}, {"set", a.set}, {"type", r.set_type}, {"elements", r.elements}};
                std::cout << j.dump() << "\n";
            } else {
                for (const auto& e : r.elements) std::cout << e << "\n";
            }
            break;
        case api::SetOp::Add:
            std::cout << "weir set add: " << plural(a.elements.size(), "element", "elements") << " -> " << where << ": "
                      << plural(r.written, "entry", "entries") << " added";
            if (r.unchanged) std::cout << ", " << r.unchanged << " already present";
            std::cout << "\n";
            break;
        case api::SetOp::Del:
            std::cout << "weir set del: " << plural(a.elements.size(), "element", "elements") << " removed from "
                      << where << ": " << plural(r.written, "entry", "entries") << " deleted\n";
            break;
        case api::SetOp::Flush:
            std::cout << "weir set flush: " << where << " emptied: " << plural(r.written, "entry", "entries")
                      << " deleted\n";
            break;
    }
    return kExitOk;
}

}  // namespace weir::cli
