#include "set_write.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>

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
    jr.op = api::set_op_name(opts.op);
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

// A write that failed: what it was, and how many entries had changed by then.
struct WriteFailure {
    std::string what;
    std::size_t changed = 0;
};

// Add: batched per table, in key order (maps.hpp update_many); empties c.entries.
std::optional<WriteFailure> add_batched(Change& c, EditOutcome& r) {
    std::vector<Entry>& entries = c.entries;
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
        if (auto st = bpf::update_many(c.fds[table], u, &written); !st) {
            const std::size_t failed_at = begin + written;
            return WriteFailure{"add set entry " + std::to_string(failed_at + 1) + " of " +
                                    std::to_string(entries.size()) + ": " + st.error().message,
                                failed_at};
        }
        r.tables[table].written += end - begin - c.moved[table].size();
        begin = end;
    }
    entries.clear();
    return std::nullopt;
}

// One kernel write per entry (deletes, and the rollback test hook); stops at the first failure.
std::optional<WriteFailure> write_each(const Change& c, bool adding, Writer& w, EditOutcome& r) {
    const std::vector<Entry>& entries = c.entries;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const Entry& e = entries[i];
        int err = adding ? w.add(c.fds[e.table], e.key) : w.del(c.fds[e.table], e.key);
        if (err == 0) {
            if (!adding || e.range.valid()) ++r.tables[e.table].written;  // not the moved ones
            continue;
        }
        return WriteFailure{std::string(adding ? "add" : "delete") + " set entry " + std::to_string(i + 1) + " of " +
                                std::to_string(entries.size()) + ": " + std::strerror(-err),
                            i};
    }
    return std::nullopt;
}

// Descriptors, once the entries are written.
std::optional<WriteFailure> write_descriptors(const EditOptions& opts, const Change& c, const EditOutcome& r) {
    const bool adding = opts.op == Op::Add;
    const auto fail = [&](const bpf::Error& e) {
        return WriteFailure{"update the descriptor of set '" + opts.set + "': " + e.message, r.written()};
    };
    for (std::size_t i = 0; i < c.recs.size(); ++i) {
        const SetMaps& m = c.maps[i];
        if (adding && c.to_trie[i]) {
            // Into the trie: clear `hashed` (the trie holds everything now), then the hash entries.
            weir_set_desc d = *c.descs[i];
            d.hashed = 0;
            if (auto st = write_set_desc(m, d); !st) return fail(st.error());
            for (const Key& k : c.moved[i]) (void)bpf_map_delete_elem(m.hash, k.data());
        } else if (adding && c.descs[i] && !c.new_lens[i].empty()) {
            // The lengths after their entries: slots first, then the count that lists them.
            weir_set_desc d = *c.descs[i];
            for (std::size_t j = 0; j < c.new_lens[i].size(); ++j) d.len[d.n + j] = c.new_lens[i][j];
            if (auto st = write_set_desc(m, d); !st) return fail(st.error());
            d.n = static_cast<std::uint8_t>(d.n + c.new_lens[i].size());
            if (auto st = write_set_desc(m, d); !st) return fail(st.error());
        } else if (opts.op == Op::Flush) {
            // Empty: it lists no length (hashed), or becomes hashed if its slot allows.
            auto free = desc_slot_free(m, c.recs[i]->id);
            if (free && *free) {
                weir_set_desc d{};
                d.set = c.recs[i]->id;
                d.hashed = 1;
                if (auto st = write_set_desc(m, d); !st) return fail(st.error());
            }
        }
    }
    return std::nullopt;
}

// The live edit in weir_meta's records of the tables it changed (`meta` is the one c.recs
// point into). A failure here is only a note: the set itself did change.
void record_edit(const Change& c, const pins::Pinned& p, pins::Meta& meta, EditOutcome& r) {
    if (r.written() == 0) return;
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    for (std::size_t i = 0; i < c.recs.size(); ++i)
        if (r.tables[i].written > 0) {
            ++c.recs[i]->live_edits;
            c.recs[i]->edited_at = now;
        }
    if (auto st = pins::write_meta(p.meta.get(), meta); !st)
        r.notes.push_back("the set changed, but weir_meta could not record the edit: " + st.error().message);
}

void fail_env(EditOutcome& r, std::string msg) {
    r.problem = Problem::Environment;
    r.message = std::move(msg);
}

// A write failing midway: the journal puts everything back, then goes.
void undo(const EditOptions& opts, EditOutcome& r, const pins::Pinned& p, const journal::Journal& jr,
          const WriteFailure& f) {
    for (auto& t : r.tables) t.written = 0;
    if (auto st = journal::rollback(p, jr); !st)
        return fail_env(r, f.what + "; restoring set '" + opts.set + "' failed (" + st.error().message +
                               "): the next weir command on '" + opts.ifname + "' restores it from its journal");
    if (auto st = journal::remove(opts.ifname); !st) return fail_env(r, f.what + "; " + st.error().message);
    fail_env(r, f.what + "; the " + std::to_string(f.changed) + " entries already changed were restored: nothing changed");
}

}  // namespace

// The kill points (attach::detail::maybe_kill) mark each step of the write sequence for the
// crash tests: journal, entries, descriptors, weir_meta, then the journal goes.
void apply(const EditOptions& opts, EditOutcome& r, const pins::Pinned& p, pins::Meta& meta, Change& c, Writer& w) {
    const std::string& ifname = opts.ifname;
    // The undo journal, on disk before the first write (set_journal.hpp).
    const bool adding = opts.op == Op::Add;
    auto made = make_journal(opts, c);
    if (!made) return fail_env(r, made.error().message + ": nothing changed");
    const journal::Journal& jr = *made;
    if (auto st = journal::write(ifname, jr); !st) return fail_env(r, st.error().message + ": nothing changed");
    attach::detail::maybe_kill("set-after-journal");

    // Adds go batched; the per-entry path stays for deletes and for the rollback test hook.
    if (adding && w.fail_after < 0 && !c.entries.empty())
        if (auto f = add_batched(c, r)) return undo(opts, r, p, jr, *f);
    if (auto f = write_each(c, adding, w, r)) return undo(opts, r, p, jr, *f);
    attach::detail::maybe_kill("set-after-entries");

    if (auto f = write_descriptors(opts, c, r)) return undo(opts, r, p, jr, *f);
    attach::detail::maybe_kill("set-after-desc");

    record_edit(c, p, meta, r);
    attach::detail::maybe_kill("set-after-meta");
    if (auto st = journal::remove(ifname); !st)
        return fail_env(r, "set '" + opts.set + "' changed, but " + st.error().message +
                               ": the next weir command on '" + ifname + "' rolls the edit back");
}

}  // namespace weir::sets::detail
