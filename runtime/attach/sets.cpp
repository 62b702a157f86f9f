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

namespace {

// Why an edit stopped: the outcome's problem and one-line message (the diagnostics, if any,
// are already in the outcome).
struct Stop {
    Problem problem;
    std::string message;
};
Stop env_stop(std::string msg) { return {Problem::Environment, std::move(msg)}; }
Stop policy_stop(std::string msg) { return {Problem::Policy, std::move(msg)}; }

// The command line as a source: "SET ELEM ELEM ...".
struct CommandLine {
    FileId file;
    SourceRange set;                                          // the set's name
    std::vector<std::pair<std::uint32_t, std::uint32_t>> at;  // each element's [begin, end)
};

CommandLine command_line(const EditOptions& opts, SourceManager& sources) {
    CommandLine cl;
    std::string text = opts.set;
    for (const auto& e : opts.elements) {
        text += ' ';
        cl.at.emplace_back(static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(text.size() + e.size()));
        text += e;
    }
    cl.file = sources.add("<command line>", text);
    cl.set = SourceRange{cl.file, 0, static_cast<std::uint32_t>(opts.set.size())};
    return cl;
}

// The interface's pinned state, read under its lock (held while this lives).
struct Opened {
    std::optional<pins::Lock> lock;
    std::optional<pins::Pinned> pinned;
    std::optional<pins::Meta> meta;  // with a current policy
};

std::optional<Stop> open_policy(const std::string& ifname, Opened& o, std::vector<std::string>& notes) {
    if (::access(pins::dir(ifname).c_str(), F_OK) != 0 && (errno == EACCES || errno == EPERM))
        return env_stop("not privileged: cannot read " + pins::root() + " (run as root)");
    if (!pins::exists(pins::dir(ifname))) {
        if (if_nametoindex(ifname.c_str()) == 0) return env_stop("no interface named '" + ifname + "'");
        return env_stop("no weir policy on '" + ifname + "'");
    }
    auto lock = pins::Lock::acquire(ifname);
    if (!lock) {
        if (lock.error().code == -EACCES || lock.error().code == -EPERM)
            return env_stop("not privileged: " + lock.error().message + " (run as root)");
        return env_stop(lock.error().message);
    }
    o.lock.emplace(std::move(*lock));
    attach::Failure f;
    if (std::string note = attach::recover(ifname, f); !note.empty()) notes.push_back(note);
    if (f) return env_stop(f.message);
    if (!pins::exists(pins::dir(ifname))) return env_stop("no weir policy on '" + ifname + "'");
    auto p = pins::open_pinned(ifname);
    if (!p) {
        if (p.error().code == -EACCES || p.error().code == -EPERM)
            return env_stop("not privileged: " + p.error().message + " (run as root)");
        return env_stop(p.error().message);
    }
    o.pinned.emplace(std::move(*p));
    if (!o.pinned->meta) return env_stop("no weir policy on '" + ifname + "' (weir_meta is not pinned)");
    auto meta = pins::read_meta(o.pinned->meta.get());
    if (!meta) return env_stop(meta.error().message);
    if (!meta->current) return env_stop("no weir policy on '" + ifname + "'");
    o.meta.emplace(std::move(*meta));
    return std::nullopt;
}

// The set's tables (c.recs) and their type; an unknown set is a diagnostic that lists the others.
std::optional<Stop> find_set(const EditOptions& opts, pins::PolicyMeta& cur, const SourceRange& set_range,
                             EditOutcome& r, Change& c) {
    for (auto& s : cur.sets)
        if (s.named && s.name == opts.set) c.recs.push_back(&s);
    if (c.recs.empty()) {
        std::set<std::string> names;
        for (const auto& s : cur.sets)
            if (s.named) names.insert(s.name);
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        auto& d = r.diags.error("unknown-set", set_range,
                                "policy '" + cur.policy + "' on '" + opts.ifname + "' has no set named '" + opts.set + "'");
        if (opts.set.starts_with("inline@"))
            d.notes.push_back({{}, "inline sets are part of their rule; edit the policy and `weir load` it"});
        else if (!names.empty())
            d.notes.push_back({{}, "its sets: " + list + " (sets no rule looks up are not in the program)"});
        else
            d.notes.push_back({{}, "the policy looks up no named set"});
        return policy_stop("nothing changed");
    }
    std::vector<const pins::SetRecord*> crecs(c.recs.begin(), c.recs.end());
    r.set_type = derive_type(crecs);
    return std::nullopt;
}

// Each table's maps; c.fds is where its entries are: the hash of its kind if the set is
// hashed (weir_abi.h), else the trie.
std::optional<Stop> open_tables(const pins::Pinned& p, const std::string& ifname, Change& c, EditOutcome& r) {
    for (const auto* s : c.recs) {
        SetMaps m = set_maps(s->kind, [&](const char* n) { return p.map(n); });
        if (m.trie < 0) return env_stop(std::string(table_map_name(s->kind)) + " is not pinned for '" + ifname + "'");
        auto d = hashed_desc(m, s->id);
        if (!d) return env_stop(d.error().message);
        c.maps.push_back(m);
        c.descs.push_back(*d);
        c.fds.push_back(*d ? m.hash : m.trie);
        r.tables.push_back({s->kind, s->id, 0, 0});
    }
    return std::nullopt;
}

std::optional<Stop> list_contents(const Change& c, EditOutcome& r) {
    for (std::size_t i = 0; i < c.recs.size(); ++i) {
        auto prefixes = read_table(c.fds[i], c.recs[i]->kind, c.recs[i]->id);
        if (!prefixes) return env_stop(prefixes.error().message);
        for (auto& s : format_prefixes(c.recs[i]->kind, *prefixes)) r.elements.push_back(std::move(s));
    }
    return std::nullopt;
}

// Flush: every entry of the set.
std::optional<Stop> flush_entries(Change& c) {
    for (std::size_t i = 0; i < c.recs.size(); ++i) {
        auto prefixes = read_table(c.fds[i], c.recs[i]->kind, c.recs[i]->id);
        if (!prefixes) return env_stop(prefixes.error().message);
        for (const auto& pf : *prefixes)
            c.entries.push_back({static_cast<int>(i), set_table_key(c.recs[i]->kind, c.recs[i]->id, pf), {}});
    }
    return std::nullopt;
}

// Add/Del: the elements converted with the checker, as a one-set program
// "set SET : TYPE = { ELEMS }". Plain addresses and prefixes (most of a large batch) are read
// directly, as in set files; everything else goes through the checker.
std::optional<Stop> check_elements(const EditOptions& opts, const CommandLine& cl, EditOutcome& r,
                                   std::vector<Element>& elems) {
    if (opts.elements.empty()) return policy_stop("no elements given: nothing changed");
    ast::SetDecl decl;
    decl.name = {opts.set, cl.set};
    decl.type = {r.set_type, cl.set};
    decl.range = cl.set;
    bool lexical_ok = true;
    decl.items.reserve(opts.elements.size());
    const bool addresses = r.set_type == "ip" || r.set_type == "ip4" || r.set_type == "ip6";
    std::vector<Element> plain;
    if (addresses) plain.reserve(opts.elements.size());
    for (std::size_t i = 0; i < opts.elements.size(); ++i) {
        const std::string& tok = opts.elements[i];
        const auto [b, e] = cl.at[i];
        if (addresses) {
            auto el = parse_ip_plain(tok);
            if (el && (r.set_type == "ip" || (el->family == Family::V4) == (r.set_type == "ip4"))) {
                el->range = SourceRange{cl.file, b, e};
                plain.push_back(*el);
                continue;
            }
        }
        // Blanks are not allowed in an argument (the shell splits elements).
        auto item = tok.find_first_of(" \t") == std::string::npos ? element_token(tok, cl.file, b) : std::nullopt;
        if (!item) {
            SourceRange whole{cl.file, b, e};
            r.diags.error("invalid-element", whole.end > whole.begin ? whole : cl.set,
                          "one element per argument: an address, prefix, number, name or range a-b; got '" + tok +
                              "'");
            lexical_ok = false;
            continue;
        }
        decl.items.push_back(std::move(*item));
    }
    std::vector<ast::File> files(1);
    files[0].id = cl.file;
    files[0].decls.emplace_back(std::move(decl));
    Diagnostics checked;
    Program prog = check(r.sources, std::move(files), checked);
    for (const auto& d : checked.list()) r.diags.add(d);
    if (!lexical_ok || r.diags.has_errors() || prog.sets.size() != 1) return policy_stop("nothing changed");
    elems = std::move(plain);
    elems.insert(elems.end(), prog.sets[0].elems.begin(), prog.sets[0].elems.end());
    return std::nullopt;
}

// The elements' prefixes, one entry per key (the first element that gives it), in key order:
// sorted, the kernel writes them faster, and duplicates sit side by side.
std::optional<Stop> element_entries(const std::vector<Element>& elems, const EditOptions& opts,
                                    const std::string& policy, Change& c, EditOutcome& r) {
    auto& entries = c.entries;
    entries.reserve(elems.size());
    for (const Element& el : elems) {
        TableKind kind = el.family == Family::V4   ? TableKind::V4
                         : el.family == Family::V6 ? TableKind::V6
                         : r.set_type == "port"    ? TableKind::Port
                         : r.set_type == "proto"   ? TableKind::Proto
                                                   : TableKind::Mac;
        int table = -1;
        for (std::size_t i = 0; i < c.recs.size(); ++i)
            if (c.recs[i]->kind == kind) table = static_cast<int>(i);
        if (table < 0) {
            auto& d = r.diags.error("set-table-unused", el.range,
                                    "policy '" + policy + "' never looks up " + kind_family_text(kind) + " in set '" +
                                        opts.set + "', so this element could never match");
            d.notes.push_back({{}, "the running program has a table of set '" + opts.set + "' only for " +
                                       kind_family_text(c.recs[0]->kind)});
            continue;
        }
        for (const TablePrefix& pf : range_to_prefixes(el.lo, el.hi, table_value_bits(kind)))
            entries.push_back({table, set_table_key(kind, c.recs[table]->id, pf), el.range});
    }
    if (r.diags.has_errors()) return policy_stop("nothing changed");
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.table != b.table ? a.table < b.table : a.key < b.key;
    });
    entries.erase(std::unique(entries.begin(), entries.end(),
                              [](const Entry& a, const Entry& b) { return a.table == b.table && a.key == b.key; }),
                  entries.end());
    return std::nullopt;
}

// Add to a hashed table: the lengths of the whole batch (present entries too, so that a
// repeated add lists what an interrupted one wrote).
std::vector<std::set<std::uint8_t>> batch_lengths(Op op, const Change& c) {
    std::vector<std::set<std::uint8_t>> lens(c.recs.size());
    if (op == Op::Add)
        for (const auto& e : c.entries)
            if (c.descs[e.table])
                lens[e.table].insert(
                    static_cast<std::uint8_t>(key_u32(e.key, offsetof(weir_key_v4, prefixlen)) - WEIR_SET_ID_BITS));
    return lens;
}

// What changes, moved out of c.entries into `todo`. Add: entries already present stay; Del:
// every entry must be there, exactly (an element inside a stored prefix is not that prefix).
std::optional<Stop> take_changes(const EditOptions& opts, Change& c, EditOutcome& r, std::vector<Entry>& todo) {
    std::set<std::pair<std::uint32_t, std::uint32_t>> missing_reported;
    ExactLookup exact;
    for (auto& e : c.entries) {
        const bool present = exact.has(c.fds[e.table], c.fds[e.table] == c.maps[e.table].trie, e.key);
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
    if (r.diags.has_errors()) return policy_stop("nothing changed");
    return std::nullopt;
}

// Add, hashed tables: the batch's lengths join the descriptor (c.new_lens); beyond
// WEIR_SET_HASH_LENS the set moves to the trie, its hash entries with it (c.moved, into `todo`).
std::optional<Stop> plan_lengths(const std::vector<std::set<std::uint8_t>>& batch_lens, Change& c,
                                 std::vector<Entry>& todo) {
    for (std::size_t i = 0; i < c.recs.size(); ++i) {
        const auto& desc = c.descs[i];
        if (!desc) continue;
        std::set<std::uint8_t> lens(desc->len, desc->len + desc->n);
        lens.insert(batch_lens[i].begin(), batch_lens[i].end());
        if (lens.size() <= WEIR_SET_HASH_LENS) {
            for (std::uint8_t l : lens)
                if (std::find(desc->len, desc->len + desc->n, l) == desc->len + desc->n) c.new_lens[i].push_back(l);
            continue;
        }
        auto old = read_table(c.maps[i].hash, c.recs[i]->kind, c.recs[i]->id);
        if (!old) return env_stop(old.error().message);
        for (const auto& pf : *old) {
            c.moved[i].push_back(set_table_key(c.recs[i]->kind, c.recs[i]->id, pf));
            todo.push_back({static_cast<int>(i), c.moved[i].back(), {}});
        }
        c.fds[i] = c.maps[i].trie;
        c.to_trie[i] = true;
    }
    return std::nullopt;
}

// Add/Del: c.entries becomes the keys to write or delete, everything checked first.
std::optional<Stop> edit_entries(const EditOptions& opts, const CommandLine& cl, const std::string& policy, Change& c,
                                 EditOutcome& r) {
    std::vector<Element> elems;
    if (auto s = check_elements(opts, cl, r, elems)) return s;
    if (auto s = element_entries(elems, opts, policy, c, r)) return s;
    const auto batch_lens = batch_lengths(opts.op, c);
    std::vector<Entry> todo;
    if (auto s = take_changes(opts, c, r, todo)) return s;
    if (opts.op == Op::Add)
        if (auto s = plan_lengths(batch_lens, c, todo)) return s;
    c.entries = std::move(todo);
    return std::nullopt;
}

}  // namespace

EditOutcome edit(const EditOptions& opts) {
    EditOutcome r;
    auto stop = [&](Stop s) {
        r.problem = s.problem;
        r.message = std::move(s.message);
        return std::move(r);
    };
    const CommandLine cl = command_line(opts, r.sources);
    Opened o;  // the lock, held to the end
    if (auto s = open_policy(opts.ifname, o, r.notes)) return stop(std::move(*s));
    pins::PolicyMeta& cur = *o.meta->current;

    Change c;
    if (auto s = find_set(opts, cur, cl.set, r, c)) return stop(std::move(*s));
    if (auto s = open_tables(*o.pinned, opts.ifname, c, r)) return stop(std::move(*s));
    if (opts.op == Op::List) {
        if (auto s = list_contents(c, r)) return stop(std::move(*s));
        return r;
    }

    Writer w;
    w.fail_after = opts.fail_after;
    if (w.fail_after < 0)
        if (const char* e = std::getenv("WEIR_SET_FAIL_AFTER"); e && *e) w.fail_after = std::atoi(e);

    // Per table, for Add: lengths to list in its descriptor, and the hash entries moved to the trie.
    c.new_lens.resize(c.recs.size());
    c.moved.resize(c.recs.size());
    c.to_trie.assign(c.recs.size(), false);
    if (auto s = opts.op == Op::Flush ? flush_entries(c) : edit_entries(opts, cl, cur.policy, c, r))
        return stop(std::move(*s));

    detail::apply(opts, r, *o.pinned, *o.meta, c, w);
    return r;
}

}  // namespace weir::sets
