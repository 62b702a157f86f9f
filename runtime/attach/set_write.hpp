// The write side of a live set edit (sets.hpp): sets.cpp checks the elements and works out
// what changes (a Change); apply() journals it (set_journal.hpp), writes the entries, the
// descriptors and the edit record, and undoes everything if a write fails.
#pragma once
#include <bpf/bpf.h>

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loaded_policy.hpp"
#include "pins.hpp"
#include "sets.hpp"
#include "source.hpp"
#include "weir_abi.h"

namespace weir::sets::detail {

using Key = std::vector<std::uint8_t>;

// Kernel writes, with the rollback test hook.
struct Writer {
    int fail_after = -1;
    int done = 0;
    int step() {
        if (fail_after >= 0 && done >= fail_after) return -EIO;
        ++done;
        return 0;
    }
    int add(int fd, const Key& k) {
        if (int e = step()) return e;
        const std::uint8_t one = 1;
        return bpf_map_update_elem(fd, k.data(), &one, BPF_ANY) == 0 ? 0 : -errno;
    }
    int del(int fd, const Key& k) {
        if (int e = step()) return e;
        return bpf_map_delete_elem(fd, k.data()) == 0 ? 0 : -errno;
    }
};

// One key to write or delete.
struct Entry {
    int table = 0;  // index into the set's records
    Key key;
    SourceRange range;  // the element it came from
};

// The set's tables, their maps and what an edit writes to them (edit() fills it in).
struct Change {
    std::vector<pins::SetRecord*> recs;  // into the Meta read under the lock
    std::vector<SetMaps> maps;
    std::vector<std::optional<weir_set_desc>> descs;  // hashed tables' descriptors
    std::vector<int> fds;                             // where each table's entries are
    std::vector<Entry> entries;                       // to write (Add) or delete
    std::vector<std::vector<std::uint8_t>> new_lens;  // Add: lengths to list per descriptor
    std::vector<std::vector<Key>> moved;              // Add: hash entries moved into the trie
    std::vector<bool> to_trie;
};

// Writes a checked change: journal, entries, descriptors, weir_meta's record (`meta` is the one
// `c.recs` point into); any failure undone. Fills r (problem and message on failure).
void apply(const EditOptions& opts, EditOutcome& r, const pins::Pinned& p, pins::Meta& meta, Change& c, Writer& w);

}  // namespace weir::sets::detail
