#include "loaded_policy.hpp"

#include <net/if.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "limits.hpp"
#include "maps.hpp"
#include "verifier_log.hpp"
#include "weir_abi.h"

namespace weir {

std::size_t set_table_key_size(TableKind kind) {
    switch (kind) {
        case TableKind::V4: return sizeof(weir_key_v4);
        case TableKind::V6: return sizeof(weir_key_v6);
        case TableKind::Port: return sizeof(weir_key_port);
        case TableKind::Proto: return sizeof(weir_key_proto);
        case TableKind::Mac: return sizeof(weir_key_mac);
    }
    return 0;
}

namespace {

// Copies `n` values of `size` bytes into an mmap-able array map (BPF_F_MMAPABLE).
bpf::Status write_mapped(int fd, const void* values, std::size_t n, std::size_t size) {
    if (n == 0) return bpf::ok();
    const std::size_t stride = (size + 7) / 8 * 8;  // array values are 8-byte aligned
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t len = (n * stride + page - 1) / page * page;
    void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return bpf::Error{std::string("mmap: ") + std::strerror(errno), {}, -errno};
    const auto* src = static_cast<const std::uint8_t*>(values);
    auto* dst = static_cast<std::uint8_t*>(m);
    if (stride == size)
        std::memcpy(dst, src, n * size);
    else
        for (std::size_t i = 0; i < n; ++i) std::memcpy(dst + i * stride, src + i * size, size);
    munmap(m, len);
    return bpf::ok();
}

bpf::Status fill_classifier(const bpf::Object& obj, const Plan& plan) {
    if (plan.groups.empty()) return bpf::ok();
    auto nodes = obj.map_fd(WEIR_MAP_CLS_NODES);
    auto refs = obj.map_fd(WEIR_MAP_CLS_REFS);
    if (!nodes) return nodes.error();
    if (!refs) return refs.error();
    std::vector<weir_cls_ref> r(plan.cls.refs.size());
    for (std::size_t i = 0; i < r.size(); ++i) {
        const ClsRef& ref = plan.cls.refs[i];
        const PlannedRule& pr = plan.rules.at(ref.rule);
        const std::size_t nd = plan.groups.at(static_cast<std::size_t>(pr.group)).dims.size();
        r[i].order = ref.rule;
        r[i].decision = weir_decision(pr.slot, pr.action);
        for (std::size_t d = 0; d < WEIR_CLS_MAX_DIMS; ++d)
            r[i].span[d] = d < nd ? weir_cls_span{plan.cls.boxes[ref.box + d].lo, plan.cls.boxes[ref.box + d].hi}
                                  : weir_cls_span{0, ~std::uint64_t{0}};
    }
    if (auto s = write_mapped(*nodes, plan.cls.nodes.data(), plan.cls.nodes.size(), sizeof(std::uint64_t)); !s) return s;
    return write_mapped(*refs, r.data(), r.size(), sizeof(weir_cls_ref));
}

}  // namespace

namespace {

// One key into `key` (set_table_key_size(kind) bytes, zeroed).
void write_set_key(std::uint8_t* key, TableKind kind, std::uint32_t set, const TablePrefix& p) {
    const unsigned bits = table_value_bits(kind);
    const std::uint32_t prefixlen = WEIR_SET_ID_BITS + p.len;
    std::memcpy(key + offsetof(weir_key_v4, prefixlen), &prefixlen, sizeof prefixlen);  // host order
    std::memcpy(key + offsetof(weir_key_v4, set), &set, sizeof set);
    u128 value = p.value;
    if (bits < 128) value &= (u128{1} << bits) - 1;
    if (p.len == 0)
        value = 0;  // the whole space (a shift by 128 bits would be undefined)
    else if (p.len < bits)
        value &= ~((u128{1} << (bits - p.len)) - 1);
    const std::size_t at = offsetof(weir_key_v4, value);  // the same in every key struct
    for (unsigned i = 0; i < bits / 8; ++i)
        key[at + i] = static_cast<std::uint8_t>(value >> (bits - 8 * (i + 1)));
}

}  // namespace

std::vector<std::uint8_t> set_table_key(TableKind kind, std::uint32_t set, const TablePrefix& p) {
    std::vector<std::uint8_t> key(set_table_key_size(kind), 0);
    write_set_key(key.data(), kind, set, p);
    return key;
}

std::vector<std::uint8_t> set_table_keys(TableKind kind, std::uint32_t set, std::span<const TablePrefix> prefixes) {
    const std::size_t ks = set_table_key_size(kind);
    std::vector<std::uint8_t> keys(prefixes.size() * ks, 0);
    auto before = [&](const TablePrefix& a, const TablePrefix& b) {
        return a.value != b.value ? a.value < b.value : a.len < b.len;
    };
    if (std::is_sorted(prefixes.begin(), prefixes.end(), before)) {
        for (std::size_t i = 0; i < prefixes.size(); ++i) write_set_key(&keys[i * ks], kind, set, prefixes[i]);
        return keys;
    }
    if (table_value_bits(kind) <= 56) {
        // Value and length packed in one integer (8 bytes an entry, sorted in cache).
        std::vector<std::uint64_t> packed(prefixes.size());
        for (std::size_t i = 0; i < packed.size(); ++i)
            packed[i] = static_cast<std::uint64_t>(prefixes[i].value) << 8 | prefixes[i].len;
        std::sort(packed.begin(), packed.end());
        for (std::size_t i = 0; i < packed.size(); ++i)
            write_set_key(&keys[i * ks], kind, set,
                          TablePrefix{packed[i] >> 8, static_cast<std::uint8_t>(packed[i] & 0xff)});
        return keys;
    }
    std::vector<TablePrefix> sorted(prefixes.begin(), prefixes.end());
    std::sort(sorted.begin(), sorted.end(), before);
    for (std::size_t i = 0; i < sorted.size(); ++i) write_set_key(&keys[i * ks], kind, set, sorted[i]);
    return keys;
}

const char* set_hash_map_name(TableKind k) {
    return k == TableKind::V4 ? WEIR_MAP_SETH_V4 : k == TableKind::V6 ? WEIR_MAP_SETH_V6 : nullptr;
}
const char* set_desc_map_name(TableKind k) {
    return k == TableKind::V4 ? WEIR_MAP_SETD_V4 : k == TableKind::V6 ? WEIR_MAP_SETD_V6 : nullptr;
}

SetMaps set_maps(TableKind k, const std::function<int(const char*)>& fd_of) {
    SetMaps m;
    m.trie = fd_of(table_map_name(k));
    if (const char* h = set_hash_map_name(k)) m.hash = fd_of(h);
    if (const char* d = set_desc_map_name(k)) m.desc = fd_of(d);
    if (m.hash < 0 || m.desc < 0) m.hash = m.desc = -1;  // both or neither
    return m;
}

namespace {

bpf::Result<weir_set_desc> read_slot(int desc_fd, std::uint32_t id) {
    const std::uint32_t slot = id & (WEIR_SET_DESC_SLOTS - 1);
    weir_set_desc d{};
    if (bpf_map_lookup_elem(desc_fd, &slot, &d) != 0)
        return bpf::Error{std::string("read set descriptor: ") + std::strerror(errno), {}, -errno};
    return d;
}

bpf::Status write_keys(int fd, TableKind kind, const std::vector<std::uint8_t>& keys, std::size_t* written = nullptr) {
    const std::uint8_t present = 1;
    bpf::ManyUpdate u;
    u.keys = keys.data();
    u.key_size = set_table_key_size(kind);
    u.values = &present;
    u.value_size = sizeof present;
    u.same_value = true;
    u.n = keys.size() / u.key_size;
    return bpf::update_many(fd, u, written);
}

}  // namespace

bpf::Result<std::optional<weir_set_desc>> hashed_desc(const SetMaps& m, std::uint32_t id) {
    if (m.desc < 0) return std::optional<weir_set_desc>{};
    auto d = read_slot(m.desc, id);
    if (!d) return d.error();
    if (d->hashed && d->set == id) return std::optional<weir_set_desc>(*d);
    return std::optional<weir_set_desc>{};
}

bpf::Result<bool> desc_slot_free(const SetMaps& m, std::uint32_t id) {
    if (m.desc < 0 || m.hash < 0) return false;
    auto d = read_slot(m.desc, id);
    if (!d) return d.error();
    return !d->hashed || d->set == id;
}

bpf::Status write_set_desc(const SetMaps& m, const weir_set_desc& d) {
    const std::uint32_t slot = d.set & (WEIR_SET_DESC_SLOTS - 1);
    if (bpf_map_update_elem(m.desc, &slot, &d, BPF_ANY) != 0)
        return bpf::Error{std::string("write set descriptor: ") + std::strerror(errno), {}, -errno};
    return bpf::ok();
}

std::vector<std::uint8_t> prefix_lengths(std::span<const TablePrefix> prefixes) {
    std::array<bool, 129> seen{};
    for (const TablePrefix& p : prefixes) seen[std::min<unsigned>(p.len, 128)] = true;
    std::vector<std::uint8_t> out;
    for (int l = 128; l >= 0; --l)
        if (seen[static_cast<std::size_t>(l)]) out.push_back(static_cast<std::uint8_t>(l));
    return out;
}

bpf::Status fill_set_table(const SetMaps& m, const SetTable& t) {
    const std::vector<std::uint8_t> lens = prefix_lengths(t.prefixes);
    if (lens.size() <= WEIR_SET_HASH_LENS) {
        auto free = desc_slot_free(m, t.id);
        if (!free) return free.error();
        if (*free) {
            // Entries first, then the descriptor that makes the program probe them. A hash
            // takes keys in any order: no sort.
            const std::size_t ks = set_table_key_size(t.kind);
            std::vector<std::uint8_t> keys(t.prefixes.size() * ks, 0);
            for (std::size_t i = 0; i < t.prefixes.size(); ++i) write_set_key(&keys[i * ks], t.kind, t.id, t.prefixes[i]);
            std::size_t written = 0;
            auto st = write_keys(m.hash, t.kind, keys, &written);
            if (st) {
                weir_set_desc d{};
                d.set = t.id;
                d.hashed = 1;
                d.n = static_cast<std::uint8_t>(lens.size());
                std::copy(lens.begin(), lens.end(), d.len);
                return write_set_desc(m, d);
            }
            // The hash is full (e.g. a swap between two sets of a million: both are in the maps
            // until the old one goes): the trie takes this one.
            if (st.error().code != -E2BIG) return st;
            for (std::size_t i = 0; i < written; ++i) (void)bpf_map_delete_elem(m.hash, &keys[i * ks]);
        }
    }
    if (m.trie < 0) return bpf::Error{std::string("no set table ") + table_map_name(t.kind), {}, -ENOENT};
    if (auto st = write_keys(m.trie, t.kind, set_table_keys(t.kind, t.id, t.prefixes)); !st) return st;
    // A descriptor of this id from before (a refill): the trie holds the set now.
    if (auto d = hashed_desc(m, t.id); d && *d) {
        weir_set_desc z = **d;
        z.hashed = 0;
        return write_set_desc(m, z);
    }
    return bpf::ok();
}

bpf::Result<bool> set_member(const SetMaps& m, TableKind kind, std::uint32_t id, u128 value) {
    auto d = hashed_desc(m, id);
    if (!d) return d.error();
    std::uint8_t v = 0;
    if (!*d) {
        const auto key = set_table_key(kind, id, {value, static_cast<std::uint8_t>(table_value_bits(kind))});
        return m.trie >= 0 && bpf_map_lookup_elem(m.trie, key.data(), &v) == 0;
    }
    for (unsigned i = 0; i < (*d)->n && i < WEIR_SET_HASH_LENS; ++i) {
        const auto key = set_table_key(kind, id, {value, (*d)->len[i]});  // the key masks the value
        if (bpf_map_lookup_elem(m.hash, key.data(), &v) == 0) return true;
    }
    return false;
}

bpf::Status drop_sets_except(const SetMaps& m, TableKind k, const std::set<std::uint32_t>& keep) {
    const std::size_t ks = set_table_key_size(k);
    for (int fd : {m.trie, m.hash}) {
        if (fd < 0) continue;
        std::vector<unsigned char> cur(ks), next(ks);
        std::vector<std::vector<unsigned char>> doomed;
        const void* prev = nullptr;
        while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
            std::uint32_t id;
            std::memcpy(&id, next.data() + offsetof(weir_key_v4, set), sizeof id);
            if (!keep.count(id)) doomed.push_back(next);
            cur = next;
            prev = cur.data();
        }
        for (const auto& key : doomed)
            if (bpf_map_delete_elem(fd, key.data()) != 0 && errno != ENOENT)
                return bpf::Error{std::string("delete an old set entry: ") + std::strerror(errno), {}, -errno};
    }
    if (m.desc < 0) return bpf::ok();
    for (std::uint32_t slot = 0; slot < WEIR_SET_DESC_SLOTS; ++slot) {
        weir_set_desc d{};
        if (bpf_map_lookup_elem(m.desc, &slot, &d) != 0)
            return bpf::Error{std::string("read set descriptor: ") + std::strerror(errno), {}, -errno};
        if (d.hashed && !keep.count(d.set)) {
            const weir_set_desc zero{};
            if (bpf_map_update_elem(m.desc, &slot, &zero, BPF_ANY) != 0)
                return bpf::Error{std::string("clear a set descriptor: ") + std::strerror(errno), {}, -errno};
        }
    }
    return bpf::ok();
}

namespace {

// Each load step below reports its own failure into `diags` and returns false.
bool load_failed(const Policy& pol, Diagnostics& diags, const std::string& what, const bpf::Error& e) {
    auto& d = diags.error("bpf-load-failed", pol.name_range,
                          "cannot load policy '" + pol.name + "': " + what + ": " + e.message);
    if (!e.log.empty()) d.notes.push_back({SourceRange{}, "libbpf said: " + e.log});
    return false;
}

// Map sizes: one counter and one redirect slot per counter slot (`slots`), one trie entry per
// set prefix, the classifier's entries, the rate limits, the log ring.
bool size_maps(bpf::Object& obj, const Plan& plan, const KernelLoadOptions& opts, std::uint32_t slots,
               Diagnostics& diags) {
    const Policy& pol = plan.pol();
    for (const char* map : {WEIR_MAP_RULES, WEIR_MAP_REDIRECT})
        if (auto st = obj.set_max_entries(map, slots); !st) return load_failed(pol, diags, "size the maps", st.error());
    std::map<TableKind, std::size_t> entries;
    for (const SetTable& t : plan.tables) entries[t.kind] += t.prefixes.size();
    for (TableKind k : kTableKinds) {
        auto n = static_cast<std::uint32_t>(std::max<std::size_t>(1, entries[k]));
        if (opts.set_capacity) n = std::max(n, opts.set_capacity);
        // A set lives in its kind's trie or in its hash: each has room for all of them.
        for (const char* name : {table_map_name(k), set_hash_map_name(k)})
            if (name)
                if (auto st = obj.set_max_entries(name, n); !st)
                    return load_failed(pol, diags, "size the set tables", st.error());
    }
    // Classifier tables: exactly the plan's entries (at least one: nodes[0] is the empty leaf).
    const std::size_t cls_sizes[] = {plan.cls.nodes.size(), plan.cls.refs.size()};
    const char* cls_maps[] = {WEIR_MAP_CLS_NODES, WEIR_MAP_CLS_REFS};
    for (int i = 0; i < 2; ++i)
        if (auto st = obj.set_max_entries(cls_maps[i], static_cast<std::uint32_t>(std::max<std::size_t>(1, cls_sizes[i])));
            !st)
            return load_failed(pol, diags, "size the classifier tables", st.error());
    // Rate-limit table: the limits' sizes plus slack for the kernel's per-CPU LRU batches.
    auto cpus = bpf::possible_cpus();
    std::uint64_t n = std::clamp<std::uint64_t>(limit_table_capacity(pol, cpus ? *cpus : 1), 1, UINT32_MAX);
    if (auto st = obj.set_max_entries(WEIR_MAP_LIMITS, static_cast<std::uint32_t>(n)); !st)
        return load_failed(pol, diags, "size the rate-limit table", st.error());
    if (opts.log_ring_bytes)
        if (auto st = obj.set_max_entries(WEIR_MAP_LOG, opts.log_ring_bytes); !st)
            return load_failed(pol, diags, "size the log ring", st.error());
    return true;
}

// Shared maps (after sizing: reuse takes the existing map's definition). `reused_rule_slots`:
// the size of a reused weir_rules, else 0.
bool reuse_maps(bpf::Object& obj, const Plan& plan, const KernelLoadOptions& opts, std::uint32_t& reused_rule_slots,
                Diagnostics& diags) {
    const Policy& pol = plan.pol();
    reused_rule_slots = 0;
    for (const auto& [name, fd] : opts.reuse_maps) {
        bpf_map* m = bpf_object__find_map_by_name(obj.get(), name.c_str());
        if (!m)
            return load_failed(pol, diags, "reuse map '" + name + "'",
                               bpf::Error{"the object has no such map", {}, -ENOENT});
        if (int err = bpf_map__reuse_fd(m, fd); err)
            return load_failed(pol, diags, "reuse map '" + name + "'", bpf::Error{std::strerror(-err), {}, err});
        if (name == WEIR_MAP_RULES) reused_rule_slots = bpf_map__max_entries(m);
    }
    if (reused_rule_slots && reused_rule_slots < plan.slot_count())
        return load_failed(pol, diags, "reuse map '" WEIR_MAP_RULES "'",
                           bpf::Error{"it has " + std::to_string(reused_rule_slots) + " slots, the policy needs " +
                                          std::to_string(plan.slot_count()),
                                      {}, -ERANGE});
    return true;
}

// Loads the object into the kernel; a refusal is reported by its cause.
bool load_object(bpf::Object& obj, const Plan& plan, const SourceManager& sources, Diagnostics& diags,
                 std::chrono::steady_clock::duration& load_time) {
    const Policy& pol = plan.pol();
    auto t0 = std::chrono::steady_clock::now();
    auto st = obj.load();
    load_time = std::chrono::steady_clock::now() - t0;
    if (st) return true;
    const bpf::Error& e = st.error();
    // A program the verifier refused comes with its log (bpf::Object::load names the
    // program then); EPERM/EACCES otherwise is the kernel refusing this process.
    if (e.message.rfind("load program ", 0) == 0 && !e.log.empty()) {
        report_verifier_rejection(plan, sources, e.log, e.message, diags);
        return false;
    }
    if (e.code == -EPERM || e.code == -EACCES) {
        diags.error("bpf-permission-denied", pol.name_range,
                    "cannot load policy '" + pol.name + "' into the kernel: " + e.message +
                        " (loading BPF needs root, or CAP_BPF with CAP_NET_ADMIN)");
        return false;
    }
    return load_failed(pol, diags, "the kernel refused it", e);
}

// Set tables.
bool fill_sets(const LoadedPolicy& lp, const Plan& plan, Diagnostics& diags) {
    for (const SetTable& t : plan.tables) {
        const SetMaps m = set_maps(t.kind, [&](const char* name) { return lp.map_fd(name); });
        if (m.trie < 0)
            return load_failed(plan.pol(), diags, "find its set tables",
                               bpf::Error{"no map " + std::string(table_map_name(t.kind)), {}, -ENOENT});
        if (auto s = fill_set_table(m, t); !s) return load_failed(plan.pol(), diags, "fill set '" + t.name + "'", s.error());
    }
    return true;
}

// Redirect targets, per rule slot (the plan's rules, then `extra`); an interface missing here is
// an error, or with `placeholders` the loopback interface.
bool fill_redirects(const LoadedPolicy& lp, int redirect_fd, const Policy& pol, const KernelLoadOptions& opts,
                    Diagnostics& diags) {
    auto fill = [&](std::uint32_t slot, const std::string& rule, const std::string& ifname, SourceRange range) {
        unsigned ifindex = if_nametoindex(ifname.c_str());
        if (ifindex == 0) {
            if (!opts.placeholder_redirects) {
                diags.error("redirect-unknown-interface", range,
                            "rule '" + rule + "' redirects to interface '" + ifname +
                                "', which does not exist on this host");
                return false;
            }
            ifindex = if_nametoindex("lo");
            if (ifindex == 0) ifindex = 1;
            diags.add({Severity::Note, "redirect-placeholder", range,
                       "interface '" + ifname + "' of rule '" + rule +
                           "' does not exist on this host; its redirects go to the loopback "
                           "interface here",
                       {}});
        }
        if (auto s = bpf::update(redirect_fd, slot, std::uint32_t(ifindex)); !s)
            return load_failed(pol, diags, "set the redirect target of rule '" + rule + "'", s.error());
        return true;
    };
    for (std::size_t i = 0; i < pol.rules.size(); ++i) {
        const Rule& r = pol.rules[i];
        if (r.action.kind == Action::Kind::Redirect && !fill(lp.slot_of(i), r.name, r.action.ifname, r.action.range))
            return false;
    }
    for (const auto& x : opts.extra_redirects)
        if (!fill(x.slot, x.rule, x.ifname, SourceRange{})) return false;
    return true;
}

}  // namespace

std::unique_ptr<LoadedPolicy> LoadedPolicy::load(const Plan& plan, const SourceManager& sources,
                                                 std::span<const std::uint8_t> elf,
                                                 Diagnostics& diags, const KernelLoadOptions& opts) {
    const Policy& pol = plan.pol();
    auto failed = [&](const std::string& what, const bpf::Error& e) {
        load_failed(pol, diags, what, e);
        return nullptr;
    };
    auto obj = bpf::Object::open(elf, opts.object_name);
    if (!obj) return failed("the object is unusable", obj.error());

    // By default one counter slot per rule.
    const std::uint32_t slots = std::max(opts.rule_slots, plan.slot_count());
    if (!size_maps(*obj, plan, opts, slots, diags)) return nullptr;
    std::uint32_t reused_rule_slots = 0;
    if (!reuse_maps(*obj, plan, opts, reused_rule_slots, diags)) return nullptr;
    std::chrono::steady_clock::duration load_time{};
    if (!load_object(*obj, plan, sources, diags, load_time)) return nullptr;

    std::unique_ptr<LoadedPolicy> lp(new LoadedPolicy(std::move(*obj)));
    lp->rules_ = pol.rules.size();
    lp->slots_ = reused_rule_slots ? reused_rule_slots : slots;
    lp->slot_of_.resize(pol.rules.size());
    for (std::size_t i = 0; i < pol.rules.size(); ++i) lp->slot_of_[i] = static_cast<std::uint32_t>(i);
    for (const PlannedRule& pr : plan.rules)
        if (pr.rule >= 0 && static_cast<std::size_t>(pr.rule) < pol.rules.size()) lp->slot_of_[pr.rule] = pr.slot;
    lp->stats_.load_time = std::chrono::duration_cast<std::chrono::nanoseconds>(load_time);
    auto prog = lp->obj_.program_fd(WEIR_PROG_XDP);
    if (!prog) return failed("find its program", prog.error());
    lp->prog_ = *prog;
    if (auto info = bpf::program_info(lp->prog_); info) {
        lp->stats_.xlated_insns = info->xlated_insns;
        lp->stats_.jited_bytes = info->jited_bytes;
        lp->stats_.verified_insns = info->verified_insns;
    }
    struct Wanted {
        const char* name;
        int* fd;
    };
    int redirect_fd = -1;
    for (Wanted w : {Wanted{WEIR_MAP_RULES, &lp->rules_fd_}, Wanted{WEIR_MAP_VERDICTS, &lp->verdicts_fd_},
                     Wanted{WEIR_MAP_STATS, &lp->stats_fd_}, Wanted{WEIR_MAP_LAST, &lp->last_fd_},
                     Wanted{WEIR_MAP_REDIRECT, &redirect_fd}}) {
        auto fd = lp->obj_.map_fd(w.name);
        if (!fd) return failed("find its maps", fd.error());
        *w.fd = *fd;
    }

    if (opts.fill_sets && !fill_sets(*lp, plan, diags)) return nullptr;
    // Classifier tables, each written in one copy through its memory mapping.
    if (auto s = fill_classifier(lp->obj_, plan); !s) return failed("fill the classifier tables", s.error());
    if (!fill_redirects(*lp, redirect_fd, pol, opts, diags)) return nullptr;
    return lp;
}

int LoadedPolicy::map_fd(std::string_view name) const {
    auto fd = obj_.map_fd(name);
    return fd ? *fd : -1;
}

bpf::Result<bpf::Counter> LoadedPolicy::rule_counter(std::size_t rule) const {
    if (rule >= rules_)
        return bpf::Error{"rule counter " + std::to_string(rule) + ": the policy has " +
                              std::to_string(rules_) + " rules",
                          {}, -ERANGE};
    return bpf::read_counter(rules_fd_, slot_of_[rule]);
}

int LoadedPolicy::rule_of_slot(std::uint32_t slot) const {
    for (std::size_t i = 0; i < slot_of_.size(); ++i)
        if (slot_of_[i] == slot) return static_cast<int>(i);
    return -1;
}

bpf::Result<bpf::Counter> LoadedPolicy::verdict_counter(std::uint32_t action) const {
    return bpf::read_counter(verdicts_fd_, action);
}

bpf::Result<bpf::Counter> LoadedPolicy::stat_counter(std::uint32_t stat) const {
    return bpf::read_counter(stats_fd_, stat);
}

bpf::Status LoadedPolicy::reset_counters() const {
    for (std::uint32_t i = 0; i < slots_; ++i)
        if (auto s = bpf::zero_percpu(rules_fd_, i, sizeof(weir_counter)); !s)
            return s;
    for (std::uint32_t i = 0; i < WEIR_VERDICT_SLOTS; ++i)
        if (auto s = bpf::zero_percpu(verdicts_fd_, i, sizeof(weir_counter)); !s) return s;
    for (std::uint32_t i = 0; i < WEIR_STAT_SLOTS; ++i)
        if (auto s = bpf::zero_percpu(stats_fd_, i, sizeof(weir_counter)); !s) return s;
    return bpf::ok();
}

bpf::Status LoadedPolicy::reset_limits(std::uint64_t frozen_ns) const {
    auto limits = obj_.map_fd(WEIR_MAP_LIMITS);
    auto clock = obj_.map_fd(WEIR_MAP_CLOCK);
    if (!limits) return limits.error();
    if (!clock) return clock.error();
    // Delete every key (the next key is looked up from the start each time: deleting while
    // walking would skip keys).
    weir_limit_key key{};
    while (bpf_map_get_next_key(*limits, nullptr, &key) == 0)
        if (bpf_map_delete_elem(*limits, &key) != 0)
            return bpf::Error{std::string("empty the rate-limit table: ") + std::strerror(errno), {}, -errno};
    return bpf::update(*clock, 0u, frozen_ns);
}

bpf::Result<PolicyRun> LoadedPolicy::run(std::span<const std::uint8_t> frame,
                                         std::uint32_t ingress_ifindex) const {
    if (auto s = bpf::clear_last_decision(last_fd_); !s) return s.error();
    auto r = bpf::test_run_on(prog_, frame, ingress_ifindex);
    if (!r) return r.error();
    auto last = bpf::last_decision(last_fd_);
    if (!last) return last.error();
    PolicyRun out;
    out.action = r->retval;
    out.rule = last->rule == WEIR_RULE_DEFAULT ? -1 : rule_of_slot(last->rule);
    out.malformed = last->malformed;
    out.duration_ns = r->duration_ns;
    return out;
}

}  // namespace weir
