// weir set add|del|list|flush --dev IFACE SET [ELEM...] [--json]
//
// Edits a named set of the policy running on an interface in place (runtime/sets.hpp): no
// recompilation, no swap; the next packet sees the change. Elements are written as in a policy
// (one per argument: address, CIDR, number, protocol name, range a-b) and checked against the
// set's declared type; a batch is all-or-nothing. Diagnostics point into "<command line>".
// Exit: 0 ok, 1 a bad element / unknown set / element not in the set (nothing changed),
// 2 environment (no such interface, no weir policy there, not privileged, kernel refused).
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "sets.hpp"

namespace weir::cli {

int cmd_set(const SetArgs& a, const CommonOptions& o) {
    sets::EditOptions eo;
    eo.ifname = a.dev;
    eo.set = a.set;
    eo.op = a.op == "add" ? sets::Op::Add : a.op == "del" ? sets::Op::Del : a.op == "flush" ? sets::Op::Flush
                                                                                            : sets::Op::List;
    eo.elements = a.elements;
    if ((eo.op == sets::Op::Add || eo.op == sets::Op::Del) && eo.elements.empty()) {
        std::cerr << "weir set " << a.op << ": give at least one element after the set name\n";
        return kExitUsage;
    }
    if ((eo.op == sets::Op::List || eo.op == sets::Op::Flush) && !eo.elements.empty()) {
        std::cerr << "weir set " << a.op << ": takes no elements (got '" << eo.elements[0] << "')\n";
        return kExitUsage;
    }
    sets::EditOutcome r = sets::edit(eo);
    std::cerr << render_text(r.sources, r.diags, use_color(o.color));
    for (const auto& n : r.notes) std::cerr << "weir set: note: " << n << "\n";
    if (!r.ok()) {
        std::cerr << "weir set " << a.op << ": " << r.message << "\n";
        return r.problem == attach::Problem::Policy ? kExitFindings : kExitUsage;
    }
    const std::string where = "set '" + a.set + "' on '" + a.dev + "'";
    switch (eo.op) {
        case sets::Op::List:
            if (a.json) {
                nlohmann::json j = {{"interface", a.dev}, {"set", a.set}, {"type", r.set_type}, {"elements", r.elements}};
                std::cout << j.dump() << "\n";
            } else {
                for (const auto& e : r.elements) std::cout << e << "\n";
            }
            break;
        case sets::Op::Add:
            std::cout << "weir set add: " << plural(a.elements.size(), "element", "elements") << " -> " << where << ": "
                      << plural(r.written(), "entry", "entries") << " added";
            if (r.unchanged()) std::cout << ", " << r.unchanged() << " already present";
            std::cout << "\n";
            break;
        case sets::Op::Del:
            std::cout << "weir set del: " << plural(a.elements.size(), "element", "elements") << " removed from "
                      << where << ": " << plural(r.written(), "entry", "entries") << " deleted\n";
            break;
        case sets::Op::Flush:
            std::cout << "weir set flush: " << where << " emptied: " << plural(r.written(), "entry", "entries")
                      << " deleted\n";
            break;
    }
    return kExitOk;
}

}  // namespace weir::cli
