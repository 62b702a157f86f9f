// Live edits of a running policy's named sets (`weir set add|del|list|flush`): the pinned set
// tables (pins.hpp) are changed in place, without recompiling or swapping; the next packet sees
// the change (map updates are immediate). An address set stays in the kind's hash while it has
// at most WEIR_SET_HASH_LENS prefix lengths (weir_abi.h): an add lists a new length after
// writing its entries, and one beyond that moves the set into the LPM trie (entries first, the
// descriptor flipped last). docs/operations.md, "Editing sets live".
//
//   sets::EditOptions o;
//   o.ifname = "eth1"; o.set = "blocked"; o.op = sets::Op::Add;
//   o.elements = {"198.51.100.7", "203.0.113.0/24", "10.0.0.1-10.0.0.9"};
//   sets::EditOutcome r = sets::edit(o);
//   render_text(r.sources, r.diags) ... r.ok(), r.problem (Policy: exit 1, Environment: exit 2)
//
// Elements are converted exactly as in a policy (the checker itself converts them, against the
// set's declared type): addresses, CIDRs (host bits set: warning cidr-host-bits), numbers,
// protocol names, ranges a-b. Their diagnostics point into a source named "<command line>"
// whose text is the set name and the elements, space-separated.
// A batch is all-or-nothing: every element is checked (and for `del`, found exactly as stored)
// before anything is written; an undo journal (set_journal.hpp) written first lets a kernel
// update failing midway, or the next command after a `kill -9` (recover() below), put the set
// back exactly as it was.
// Every change is recorded in weir_meta (SetRecord::live_edits, edited_at). Live contents
// survive a hot swap that keeps the set's declaration (attach.hpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attach.hpp"
#include "bpf.hpp"
#include "diagnostics.hpp"
#include "plan.hpp"
#include "source.hpp"

namespace weir::sets {

using Op = api::SetOp;  // named by api::set_op_name

struct EditOptions {
    std::string ifname;
    std::string set;
    Op op = Op::List;
    std::vector<std::string> elements;  // Add/Del: one element per string
    // Test hook (also $WEIR_SET_FAIL_AFTER): the kernel write after this many succeeded fails
    // (-EIO), so the rollback runs. -1: off.
    int fail_after = -1;
};

// One table of the set and what the edit did to it.
struct TableChange {
    TableKind kind = TableKind::V4;
    std::uint32_t id = 0;
    std::size_t written = 0;    // entries added (Add) or deleted (Del, Flush)
    std::size_t unchanged = 0;  // Add: entries that were already there
};

struct EditOutcome {
    attach::Problem problem = attach::Problem::None;
    std::string message;     // failure: one line, says that nothing changed (or what did)
    SourceManager sources;   // "<command line>"
    Diagnostics diags;       // element and set-name diagnostics (errors and warnings)
    std::string set_type;    // "ip", "ip4", ...
    std::vector<TableChange> tables;
    std::vector<std::string> elements;  // List: the contents, canonical text, sorted by value
    std::vector<std::string> notes;     // e.g. recovery of an interrupted swap
    std::size_t written() const;
    std::size_t unchanged() const;
    bool ok() const { return problem == attach::Problem::None; }
};

EditOutcome edit(const EditOptions& opts);

// An edit killed midway left its undo journal (set_journal.hpp): rolls the set back to exactly
// what it held before and says so ("rolled back an interrupted set edit of @blocked (add, 3
// elements): ..."); "" if there was none. Call with the interface's lock held; the first step of
// attach::recover(), so every command on the interface runs it first.
std::string recover(const std::string& ifname, attach::Failure& failure);

// The prefixes of set `id` in a pinned set table, sorted by value then length.
bpf::Result<std::vector<TablePrefix>> read_table(int map_fd, TableKind kind, std::uint32_t id);
// Canonical text of a table's prefixes: CIDRs for addresses (hosts without /len), ranges
// merged from adjacent prefixes for ports, protocols (names where they have one) and MACs.
std::vector<std::string> format_prefixes(TableKind kind, const std::vector<TablePrefix>& prefixes);

}  // namespace weir::sets
