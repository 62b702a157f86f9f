// The undo journal of a live set edit (sets.hpp), so that an edit is all-or-nothing even across
// `kill -9`. Before an edit touches a map it writes lock_dir()/<ifname>.set-journal whole (a
// temporary file, fsync, rename: the journal is complete or absent); after its last write it
// removes it. The journal holds what the edit is about to change: every key it writes or
// deletes with whether that key was there, each table's descriptor slot, and each table's edit
// record in weir_meta. A journal found by whoever holds the interface's lock next
// (sets::recover, the first step of attach::recover) means an edit died midway: rollback() puts
// the set back exactly as it was. Every rollback write sets an absolute state, so a rollback
// killed midway is simply run again.
//
//   journal::Journal j;  j.set = "blocked"; j.op = "add"; j.elements = 3;
//   journal::Table& t = j.tables.emplace_back(); ... t.note(trie, present, key) per key ...
//   journal::write(ifname, j);  ... the edit ...  journal::remove(ifname);
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf.hpp"
#include "capacity.hpp"
#include "pins.hpp"
#include "weir_abi.h"

namespace weir::sets::journal {

// One table of the set: its old descriptor slot and edit record, and the keys the edit changes.
struct Table {
    TableKind kind = TableKind::V4;
    std::uint32_t id = 0;
    std::uint32_t live_edits = 0;  // SetRecord's, before the edit
    std::int64_t edited_at = 0;
    std::optional<weir_set_desc> desc;  // the raw slot id % WEIR_SET_DESC_SLOTS (kinds with one)
    // Keys packed set_table_key_size(kind) apart: [trie?][was present?].
    std::vector<std::uint8_t> keys[2][2];
    void note(bool trie, bool present, const std::vector<std::uint8_t>& key);
    std::size_t changes() const;
};

struct Journal {
    std::string set;
    std::string op;             // "add", "del", "flush"
    std::size_t elements = 0;   // as given (flush: the entries it removes)
    std::vector<Table> tables;
};

std::string path(std::string_view ifname);
bpf::Status write(std::string_view ifname, const Journal& j);
// nullopt: no journal. An unreadable or malformed one is an error (never half-applied).
bpf::Result<std::optional<Journal>> read(std::string_view ifname);
bpf::Status remove(std::string_view ifname);

// Puts the set back: the keys that were there written again, the descriptor slots restored,
// then the keys that were not there deleted (the order the program's reads stay exact in, as
// weir_abi.h's set tables require), and the edit records in weir_meta. Test hook:
// $WEIR_INJECT_KILL=set-rollback-after-N raises SIGKILL after N key writes.
bpf::Status rollback(const pins::Pinned& p, const Journal& j);

}  // namespace weir::sets::journal
