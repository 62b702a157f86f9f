#include "sets.hpp"

#include <bpf/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "ast.hpp"
#include "attach_detail.hpp"
#include "loaded_policy.hpp"
#include "maps.hpp"
#include "pins.hpp"
#include "policy.hpp"
#include "sema.hpp"
#include "set_write.hpp"
#include "values.hpp"
#include "weir_abi.h"

namespace weir::sets {
namespace {

using attach::Problem;
using detail::Change;
using detail::Entry;
using detail::Key;
using detail::Writer;

std::uint32_t key_u32(const Key& k, std::size_t off) {
    std::uint32_t v;
    std::memcpy(&v, k.data() + off, sizeof v);
    return v;
}

TablePrefix decode(TableKind kind, const Key& k) {
    const unsigned bits = table_value_bits(kind);
    TablePrefix p;
    p.len = static_cast<std::uint8_t>(key_u32(k, offsetof(weir_key_v4, prefixlen)) - WEIR_SET_ID_BITS);
    for (unsigned i = 0; i < bits / 8; ++i) p.value = (p.value << 8) | k[offsetof(weir_key_v4, value) + i];
    return p;
}

// The type a set was declared with; older records lack it: derived from its tables.
std::string derive_type(const std::vector<const pins::SetRecord*>& recs) {
    for (const auto* r : recs)
        if (!r->type.empty()) return r->type;
    bool v4 = false, v6 = false;
    for (const auto* r : recs) {
        switch (r->kind) {
            case TableKind::V4: v4 = true; break;
            case TableKind::V6: v6 = true; break;
            case TableKind::Port: return "port";
            case TableKind::Proto: return "proto";
            case TableKind::Mac: return "mac";
        }
    }
    return v4 && v6 ? "ip" : v4 ? "ip4" : "ip6";
}


std::string kind_family_text(TableKind k) {
    switch (k) {
        case TableKind::V4: return "IPv4 addresses";
        case TableKind::V6: return "IPv6 addresses";
        default: return pins::kind_name(k);
    }
}

// Whether `key` itself is in a set map. A hash lookup is exact, a trie lookup finds the longest
// covering prefix; so for a trie, get_next_key: the kernel (lpm_trie.c) answers a key that is
// not in the trie with the trie's first key, and one that is with the key after it, or none.
struct ExactLookup {
    std::map<int, std::optional<Key>> first;  // per trie fd, read before anything is written
    bool has(int fd, bool trie, const Key& k) {
        std::uint8_t v = 0;
        if (bpf_map_lookup_elem(fd, k.data(), &v) != 0) return false;
        if (!trie) return true;
        auto it = first.find(fd);
        if (it == first.end()) {
            Key f(k.size());
            it = first.emplace(fd, bpf_map_get_next_key(fd, nullptr, f.data()) == 0 ? std::optional<Key>(f)
                                                                                     : std::nullopt).first;
        }
        Key next(k.size());
        if (bpf_map_get_next_key(fd, k.data(), next.data()) != 0) return errno == ENOENT;  // the last key
        return !it->second || next != *it->second;
    }
};

}  // namespace

const char* op_name(Op op) {
    switch (op) {
        case Op::Add: return "add";
        case Op::Del: return "del";
        case Op::List: return "list";
        case Op::Flush: return "flush";
    }
    return "?";
}

std::size_t EditOutcome::written() const {
    std::size_t n = 0;
    for (const auto& t : tables) n += t.written;
    return n;
}
std::size_t EditOutcome::unchanged() const {
    std::size_t n = 0;
    for (const auto& t : tables) n += t.unchanged;
    return n;
}

bpf::Result<std::vector<TablePrefix>> read_table(int fd, TableKind kind, std::uint32_t id) {
    const std::size_t ks = set_table_key_size(kind);
    Key cur(ks), next(ks);
    const void* prev = nullptr;
    std::vector<TablePrefix> out;
    while (true) {
        if (bpf_map_get_next_key(fd, prev, next.data()) != 0) {
            if (errno == ENOENT) break;
            return bpf::Error{std::string("read set table: ") + std::strerror(errno), {}, -errno};
        }
        if (key_u32(next, offsetof(weir_key_v4, set)) == id) out.push_back(decode(kind, next));
        cur = next;
        prev = cur.data();
    }
    std::sort(out.begin(), out.end(), [](const TablePrefix& a, const TablePrefix& b) {
        return a.value != b.value ? a.value < b.value : a.len < b.len;
    });
    return out;
}

std::vector<std::string> format_prefixes(TableKind kind, const std::vector<TablePrefix>& prefixes) {
    const unsigned bits = table_value_bits(kind);
    auto span = [&](const TablePrefix& p) {
        u128 size_mask = p.len >= bits       ? 0
                         : bits - p.len >= 128 ? ~u128{0}  // ::/0: a shift by 128 is undefined
                                               : ((u128{1} << (bits - p.len)) - 1);
        return std::pair<u128, u128>{p.value & ~size_mask, (p.value & ~size_mask) | size_mask};
    };
    std::vector<std::string> out;
    if (kind == TableKind::V4 || kind == TableKind::V6) {
        for (const auto& p : prefixes) {
            Element e;
            e.family = kind == TableKind::V4 ? Family::V4 : Family::V6;
            e.lo = span(p).first;
            e.hi = span(p).second;
            e.prefix = p.len;
            out.push_back(format_element(e, kind == TableKind::V4 ? FieldType::Ip4 : FieldType::Ip6,
                                         SymbolTable::None));
        }
        return out;
    }
    // Merge adjacent or overlapping prefixes into ranges.
    std::vector<std::pair<u128, u128>> ranges;
    for (const auto& p : prefixes) {
        auto [lo, hi] = span(p);
        if (!ranges.empty() && lo <= ranges.back().second + 1) {
            ranges.back().second = std::max(ranges.back().second, hi);
            continue;
        }
        ranges.emplace_back(lo, hi);
    }
    for (auto [lo, hi] : ranges) {
        Element e;
        e.lo = lo;
        e.hi = hi;
        out.push_back(format_element(e, kind == TableKind::Mac ? FieldType::Mac : FieldType::Int,
                                     kind == TableKind::Proto ? SymbolTable::Proto : SymbolTable::None));
    }
    return out;
}

EditOutcome edit(const EditOptions& opts) {
    EditOutcome r;
    auto env = [&](std::string msg) {
        r.problem = Problem::Environment;
        r.message = std::move(msg);
        return std::move(r);
    };
    auto policy_error = [&](std::string msg) {
        r.problem = Problem::Policy;
        r.message = std::move(msg);
        return std::move(r);
    };

    // The command line as a source: "SET ELEM ELEM ...".
    std::string text = opts.set;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> at;  // each element's [begin, end)
    for (const auto& e : opts.elements) {
        text += ' ';
        at.emplace_back(static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(text.size() + e.size()));
        text += e;
    }
    const FileId cmd = r.sources.add("<command line>", text);
    const SourceRange set_range{cmd, 0, static_cast<std::uint32_t>(opts.set.size())};

    // The interface and its pinned state, under its lock.
    const std::string& ifname = opts.ifname;
    if (::access(pins::dir(ifname).c_str(), F_OK) != 0 && (errno == EACCES || errno == EPERM))
        return env("not privileged: cannot read " + pins::root() + " (run as root)");
    if (!pins::exists(pins::dir(ifname))) {
        if (if_nametoindex(ifname.c_str()) == 0) return env("no interface named '" + ifname + "'");
        return env("no weir policy on '" + ifname + "'");
    }
    auto lock = pins::Lock::acquire(ifname);
    if (!lock) {
        if (lock.error().code == -EACCES || lock.error().code == -EPERM)
            return env("not privileged: " + lock.error().message + " (run as root)");
        return env(lock.error().message);
    }
    attach::Failure f;
    if (std::string note = attach::recover(ifname, f); !note.empty()) r.notes.push_back(note);
    if (f) return env(f.message);
    if (!pins::exists(pins::dir(ifname))) return env("no weir policy on '" + ifname + "'");
    auto p = pins::open_pinned(ifname);
    if (!p) {
        if (p.error().code == -EACCES || p.error().code == -EPERM)
            return env("not privileged: " + p.error().message + " (run as root)");
        return env(p.error().message);
    }
    if (!p->meta) return env("no weir policy on '" + ifname + "' (weir_meta is not pinned)");
    auto meta = pins::read_meta(p->meta.get());
    if (!meta) return env(meta.error().message);
    if (!meta->current) return env("no weir policy on '" + ifname + "'");
    pins::PolicyMeta& cur = *meta->current;

    // The set's tables.
    Change c;
    auto& recs = c.recs;
    for (auto& s : cur.sets)
        if (s.named && s.name == opts.set) recs.push_back(&s);
    if (recs.empty()) {
        std::set<std::string> names;
        for (const auto& s : cur.sets)
            if (s.named) names.insert(s.name);
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        auto& d = r.diags.error("unknown-set", set_range,
                                "policy '" + cur.policy + "' on '" + ifname + "' has no set named '" + opts.set + "'");
        if (opts.set.starts_with("inline@"))
            d.notes.push_back({{}, "inline sets are part of their rule; edit the policy and `weir load` it"});
        else if (!names.empty())
            d.notes.push_back({{}, "its sets: " + list + " (sets no rule looks up are not in the program)"});
        else
            d.notes.push_back({{}, "the policy looks up no named set"});
        return policy_error("nothing changed");
    }
    std::vector<const pins::SetRecord*> crecs(recs.begin(), recs.end());
    r.set_type = derive_type(crecs);
    // Each table's maps; `fds` is where its entries are: the hash of its kind if the set is
    // hashed (weir_abi.h), else the trie.
    auto& maps = c.maps;
    auto& descs = c.descs;
    auto& fds = c.fds;
    for (const auto* s : recs) {
        SetMaps m = set_maps(s->kind, [&](const char* n) { return p->map(n); });
        if (m.trie < 0) return env(std::string(table_map_name(s->kind)) + " is not pinned for '" + ifname + "'");
        auto d = hashed_desc(m, s->id);
        if (!d) return env(d.error().message);
        maps.push_back(m);
        descs.push_back(*d);
        fds.push_back(*d ? m.hash : m.trie);
        r.tables.push_back({s->kind, s->id, 0, 0});
    }

    if (opts.op == Op::List) {
        for (std::size_t i = 0; i < recs.size(); ++i) {
            auto prefixes = read_table(fds[i], recs[i]->kind, recs[i]->id);
            if (!prefixes) return env(prefixes.error().message);
            for (auto& s : format_prefixes(recs[i]->kind, *prefixes)) r.elements.push_back(std::move(s));
        }
        return r;
    }

    Writer w;
    w.fail_after = opts.fail_after;
    if (w.fail_after < 0)
        if (const char* e = std::getenv("WEIR_SET_FAIL_AFTER"); e && *e) w.fail_after = std::atoi(e);

    // What to change: Flush: every entry of the set; Add/Del: the elements' prefixes.
    auto& entries = c.entries;
    // Add: per table, lengths to list in its descriptor, and the hash entries moved to the trie.
    auto& new_lens = c.new_lens;
    auto& moved = c.moved;
    auto& to_trie = c.to_trie;
    new_lens.resize(recs.size());
    moved.resize(recs.size());
    to_trie.assign(recs.size(), false);
    if (opts.op == Op::Flush) {
        for (std::size_t i = 0; i < recs.size(); ++i) {
            auto prefixes = read_table(fds[i], recs[i]->kind, recs[i]->id);
            if (!prefixes) return env(prefixes.error().message);
            for (const auto& pf : *prefixes)
                entries.push_back({static_cast<int>(i), set_table_key(recs[i]->kind, recs[i]->id, pf), {}});
        }
    } else {
        if (opts.elements.empty()) return policy_error("no elements given: nothing changed");
        // Convert with the checker: a one-set program "set SET : TYPE = { ELEMS }".
        ast::SetDecl decl;
        decl.name = {opts.set, set_range};
        decl.type = {r.set_type, set_range};
        decl.range = set_range;
        bool lexical_ok = true;
        decl.items.reserve(opts.elements.size());
        // Plain addresses and prefixes (most of a large batch) are read directly, as in set
        // files; everything else goes through the checker.
        const bool addresses = r.set_type == "ip" || r.set_type == "ip4" || r.set_type == "ip6";
        std::vector<Element> plain;
        if (addresses) plain.reserve(opts.elements.size());
        for (std::size_t i = 0; i < opts.elements.size(); ++i) {
            const std::string& tok = opts.elements[i];
            const auto [b, e] = at[i];
            if (addresses) {
                auto el = parse_ip_plain(tok);
                if (el && (r.set_type == "ip" || (el->family == Family::V4) == (r.set_type == "ip4"))) {
                    el->range = SourceRange{cmd, b, e};
                    plain.push_back(*el);
                    continue;
                }
            }
            // Blanks are not allowed in an argument (the shell splits elements).
            auto item = tok.find_first_of(" \t") == std::string::npos ? element_token(tok, cmd, b) : std::nullopt;
            if (!item) {
                SourceRange whole{cmd, b, e};
                r.diags.error("invalid-element", whole.end > whole.begin ? whole : set_range,
                              "one element per argument: an address, prefix, number, name or range a-b; got '" +
                                  tok + "'");
                lexical_ok = false;
                continue;
            }
            decl.items.push_back(std::move(*item));
        }
        std::vector<ast::File> files(1);
        files[0].id = cmd;
        files[0].decls.emplace_back(std::move(decl));
        Diagnostics checked;
        Program prog = check(r.sources, std::move(files), checked);
        for (const auto& d : checked.list()) r.diags.add(d);
        if (!lexical_ok || r.diags.has_errors() || prog.sets.size() != 1)
            return policy_error("nothing changed");

        std::vector<Element> elems = std::move(plain);
        elems.insert(elems.end(), prog.sets[0].elems.begin(), prog.sets[0].elems.end());
        entries.reserve(elems.size());
        for (const Element& el : elems) {
            TableKind kind = el.family == Family::V4   ? TableKind::V4
                             : el.family == Family::V6 ? TableKind::V6
                             : r.set_type == "port"    ? TableKind::Port
                             : r.set_type == "proto"   ? TableKind::Proto
                                                       : TableKind::Mac;
            int table = -1;
            for (std::size_t i = 0; i < recs.size(); ++i)
                if (recs[i]->kind == kind) table = static_cast<int>(i);
            if (table < 0) {
                auto& d = r.diags.error("set-table-unused", el.range,
                                        "policy '" + cur.policy + "' never looks up " + kind_family_text(kind) +
                                            " in set '" + opts.set + "', so this element could never match");
                d.notes.push_back({{}, "the running program has a table of set '" + opts.set + "' only for " +
                                           kind_family_text(recs[0]->kind)});
                continue;
            }
            for (const TablePrefix& pf : range_to_prefixes(el.lo, el.hi, table_value_bits(kind))) {
                entries.push_back({table, set_table_key(kind, recs[table]->id, pf), el.range});
            }
        }
        if (r.diags.has_errors()) return policy_error("nothing changed");
        // One entry per key (the first element that gives it), in key order: sorted, the kernel
        // writes them faster, and duplicates sit side by side.
        std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
            return a.table != b.table ? a.table < b.table : a.key < b.key;
        });
        entries.erase(std::unique(entries.begin(), entries.end(),
                                  [](const Entry& a, const Entry& b) { return a.table == b.table && a.key == b.key; }),
                      entries.end());

        // Add to a hashed table: the lengths of the whole batch (present entries too, so that a
        // repeated add lists what an interrupted one wrote).
        std::vector<std::set<std::uint8_t>> batch_lens(recs.size());
        if (opts.op == Op::Add)
            for (const auto& e : entries)
                if (descs[e.table])
                    batch_lens[e.table].insert(
                        static_cast<std::uint8_t>(key_u32(e.key, offsetof(weir_key_v4, prefixlen)) - WEIR_SET_ID_BITS));

        // Add: entries already present stay; Del: every entry must be there.
        // Exact: an element inside a stored prefix is not that prefix (a del of it is an error).
        std::vector<Entry> todo;
        std::set<std::pair<std::uint32_t, std::uint32_t>> missing_reported;
        ExactLookup exact;
        for (auto& e : entries) {
            const bool present = exact.has(fds[e.table], fds[e.table] == maps[e.table].trie, e.key);
            if (opts.op == Op::Add) {
                if (present) ++r.tables[e.table].unchanged;
                else todo.push_back(std::move(e));
            } else if (!present) {
                if (missing_reported.insert({e.range.begin, e.range.end}).second)
                    r.diags.error("element-not-in-set", e.range,
                                  "'" + std::string(r.sources.text(e.range)) + "' is not in set '" + opts.set +
                                      "' (`weir set list` shows its elements as stored)");
            } else {
                todo.push_back(std::move(e));
            }
        }
        if (r.diags.has_errors()) return policy_error("nothing changed");
        if (opts.op == Op::Add) {
            // Hashed tables: the batch's lengths join the descriptor; beyond WEIR_SET_HASH_LENS
            // the set moves to the trie, its hash entries with it.
            for (std::size_t i = 0; i < recs.size(); ++i) {
                if (!descs[i]) continue;
                std::set<std::uint8_t> lens(descs[i]->len, descs[i]->len + descs[i]->n);
                lens.insert(batch_lens[i].begin(), batch_lens[i].end());
                if (lens.size() <= WEIR_SET_HASH_LENS) {
                    for (std::uint8_t l : lens)
                        if (std::find(descs[i]->len, descs[i]->len + descs[i]->n, l) == descs[i]->len + descs[i]->n)
                            new_lens[i].push_back(l);
                    continue;
                }
                auto old = read_table(maps[i].hash, recs[i]->kind, recs[i]->id);
                if (!old) return env(old.error().message);
                for (const auto& pf : *old) {
                    moved[i].push_back(set_table_key(recs[i]->kind, recs[i]->id, pf));
                    todo.push_back({static_cast<int>(i), moved[i].back(), {}});
                }
                fds[i] = maps[i].trie;
                to_trie[i] = true;
            }
        }
        entries = std::move(todo);
    }

    detail::apply(opts, r, *p, *meta, c, w);
    return r;
}

}  // namespace weir::sets
