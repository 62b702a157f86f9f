#include "set_write.hpp"

#include <cstring>
#include <ctime>

#include "attach_detail.hpp"
#include "set_journal.hpp"

namespace weir::sets::detail {

using attach::Problem;

namespace {

// What undoes `c`: each key with whether it was there, each table's descriptor slot and edit
// record, read before anything is written.
bpf::Result<journal::Journal> make_journal(const EditOptions& opts, const Change& c) {
    journal::Journal jr;
    jr.set = opts.set;
    jr.op = op_name(opts.op);
    jr.elements = opts.op == Op::Flush ? c.entries.size() : opts.elements.size();
    for (std::size_t i = 0; i < c.recs.size(); ++i) {
        journal::Table& t = jr.tables.emplace_back();
        t.kind = c.recs[i]->kind;
        t.id = c.recs[i]->id;
        t.live_edits = c.recs[i]->live_edits;
        t.edited_at = c.recs[i]->edited_at;
        if (c.maps[i].desc >= 0) {
            weir_set_desc d{};
            const std::uint32_t slot = t.id & (WEIR_SET_DESC_SLOTS - 1);
            if (bpf_map_lookup_elem(c.maps[i].desc, &slot, &d) != 0)
                return bpf::Error{std::string("read set descriptor: ") + std::strerror(errno), {}, -errno};
            t.desc = d;
        }
        for (const Key& k : c.moved[i]) t.note(false, true, k);  // deleted from the hash last
    }
    for (const Entry& e : c.entries)
        jr.tables[e.table].note(c.fds[e.table] == c.maps[e.table].trie, opts.op != Op::Add, e.key);
    return jr;
}

}  // namespace

void apply(const EditOptions& opts, EditOutcome& r, const pins::Pinned& p, pins::Meta& meta, Change& c, Writer& w) {
    auto& [recs, maps, descs, fds, entries, new_lens, moved, to_trie] = c;
    const std::string& ifname = opts.ifname;
    auto env = [&](std::string msg) {
        r.problem = Problem::Environment;
        r.message = std::move(msg);
    };
    // The undo journal, on disk before the first write (set_journal.hpp).
    const bool adding = opts.op == Op::Add;
    auto made = make_journal(opts, c);
    if (!made) return env(made.error().message + ": nothing changed");
    const journal::Journal& jr = *made;
    if (auto st = journal::write(ifname, jr); !st) return env(st.error().message + ": nothing changed");
    attach::detail::maybe_kill("set-after-journal");
    // A write failing midway: the journal puts everything back, then goes.
    auto undo = [&](const std::string& what, std::size_t changed) {
        for (auto& t : r.tables) t.written = 0;
        if (auto st = journal::rollback(p, jr); !st)
            return env(what + "; restoring set '" + opts.set + "' failed (" + st.error().message +
                       "): the next weir command on '" + ifname + "' restores it from its journal");
        if (auto st = journal::remove(ifname); !st) return env(what + "; " + st.error().message);
        return env(what + "; the " + std::to_string(changed) + " entries already changed were restored: nothing changed");
    };

    // Add: batched per table, in key order (maps.hpp update_many). The per-entry path below
    // stays for deletes and for the rollback test hook.
    if (adding && w.fail_after < 0 && !entries.empty()) {
        std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
            return a.table != b.table ? a.table < b.table : a.key < b.key;
        });
        const std::uint8_t one = 1;
        std::size_t begin = 0;
        std::vector<std::uint8_t> keys;
        while (begin < entries.size()) {
            std::size_t end = begin;
            while (end < entries.size() && entries[end].table == entries[begin].table) ++end;
            const int table = entries[begin].table;
            const std::size_t ks = entries[begin].key.size();
            keys.clear();
            keys.reserve((end - begin) * ks);
            for (std::size_t i = begin; i < end; ++i) keys.insert(keys.end(), entries[i].key.begin(), entries[i].key.end());
            bpf::ManyUpdate u;
            u.keys = keys.data();
            u.key_size = ks;
            u.values = &one;
            u.value_size = 1;
            u.same_value = true;
            u.n = end - begin;
            std::size_t written = 0;
            if (auto st = bpf::update_many(fds[table], u, &written); !st) {
                const std::size_t failed_at = begin + written;
                return undo("add set entry " + std::to_string(failed_at + 1) + " of " + std::to_string(entries.size()) +
                                ": " + st.error().message,
                            failed_at);
            }
            r.tables[table].written += end - begin - moved[table].size();
            begin = end;
        }
        entries.clear();
    }

    // Apply; undo on the first failure.
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const Entry& e = entries[i];
        int err = adding ? w.add(fds[e.table], e.key) : w.del(fds[e.table], e.key);
        if (err == 0) {
            if (!adding || e.range.valid()) ++r.tables[e.table].written;  // not the moved ones
            continue;
        }
        return undo(std::string(adding ? "add" : "delete") + " set entry " + std::to_string(i + 1) + " of " +
                        std::to_string(entries.size()) + ": " + std::strerror(-err),
                    i);
    }
    attach::detail::maybe_kill("set-after-entries");

    // Descriptors, now that the entries are written.
    for (std::size_t i = 0; i < recs.size(); ++i) {
        const auto fail = [&](const bpf::Error& e) {
            return undo("update the descriptor of set '" + opts.set + "': " + e.message, r.written());
        };
        if (adding && to_trie[i]) {
            // Into the trie: clear `hashed` (the trie holds everything now), then the hash entries.
            weir_set_desc d = *descs[i];
            d.hashed = 0;
            if (auto st = write_set_desc(maps[i], d); !st) return fail(st.error());
            for (const Key& k : moved[i]) (void)bpf_map_delete_elem(maps[i].hash, k.data());
        } else if (adding && descs[i] && !new_lens[i].empty()) {
            // The lengths after their entries: slots first, then the count that lists them.
            weir_set_desc d = *descs[i];
            for (std::size_t j = 0; j < new_lens[i].size(); ++j) d.len[d.n + j] = new_lens[i][j];
            if (auto st = write_set_desc(maps[i], d); !st) return fail(st.error());
            d.n = static_cast<std::uint8_t>(d.n + new_lens[i].size());
            if (auto st = write_set_desc(maps[i], d); !st) return fail(st.error());
        } else if (opts.op == Op::Flush) {
            // Empty: it lists no length (hashed), or becomes hashed if its slot allows.
            auto free = desc_slot_free(maps[i], recs[i]->id);
            if (free && *free) {
                weir_set_desc d{};
                d.set = recs[i]->id;
                d.hashed = 1;
                if (auto st = write_set_desc(maps[i], d); !st) return fail(st.error());
            }
        }
    }

    attach::detail::maybe_kill("set-after-desc");

    // Record the live edit.
    if (r.written() > 0) {
        const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
        for (std::size_t i = 0; i < recs.size(); ++i)
            if (r.tables[i].written > 0) {
                ++recs[i]->live_edits;
                recs[i]->edited_at = now;
            }
        if (auto st = pins::write_meta(p.meta.get(), meta); !st)
            r.notes.push_back("the set changed, but weir_meta could not record the edit: " + st.error().message);
    }
    attach::detail::maybe_kill("set-after-meta");
    if (auto st = journal::remove(ifname); !st)
        return env("set '" + opts.set + "' changed, but " + st.error().message +
                   ": the next weir command on '" + ifname + "' rolls the edit back");
}

}  // namespace weir::sets::detail
