// Recovery, status and unload of attached policies (attach.hpp, docs/operations.md); the load
// itself is load.cpp.
#include "attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "attach_detail.hpp"
#include "confirm.hpp"
#include "loaded_policy.hpp"
#include "sets.hpp"
#include "weir_abi.h"

namespace weir::attach {
namespace detail {

// Deletes every set-table entry whose set id the policy (or its shadow candidate) does not use.
bpf::Status gc_sets(const pins::Pinned& p, const pins::PolicyMeta& keep) {
    for (TableKind k : kTableKinds) {
        std::set<std::uint32_t> ids;
        for (const auto& s : keep.sets)
            if (s.kind == k) ids.insert(s.id);
        if (keep.shadow)
            for (const auto& s : keep.shadow->sets)
                if (s.kind == k) ids.insert(s.id);
        if (auto st = drop_sets_except(set_maps(k, [&](const char* n) { return p.map(n); }), k, ids); !st) return st;
    }
    return bpf::ok();
}

bpf::Status zero_slots(int rules_fd, const std::set<std::uint32_t>& slots) {
    for (std::uint32_t s : slots)
        if (auto st = bpf::zero_percpu(rules_fd, s, sizeof(weir_counter)); !st) return st;
    return bpf::ok();
}

std::set<std::uint32_t> slot_values(const pins::PolicyMeta& m) {
    std::set<std::uint32_t> out;
    for (const auto& [n, s] : m.slots) out.insert(s);
    if (m.shadow)
        for (const auto& [n, s] : m.shadow->slots) out.insert(s);
    return out;
}

// After the link runs the pending program: pins point at it and its maps, the meta says so, old
// set ids and freed slots are cleaned. Idempotent (recovery runs it again after a crash).
bpf::Status finish_pins(pins::Pinned& p, int prog_fd) {
    if (auto st = pins::replace_pin(prog_fd, pins::path(p.ifname, pins::kProg)); !st) return st;
    auto maps = pins::prog_maps(prog_fd);
    if (!maps) return maps.error();
    for (const auto& name : pins::shared_maps()) {
        auto it = maps->find(name);
        if (it == maps->end()) continue;
        if (auto st = pins::replace_pin(it->second.get(), pins::path(p.ifname, name)); !st) return st;
        p.maps[name] = std::move(it->second);
    }
    return bpf::ok();
}

bpf::Status cleanup(const pins::Pinned& p, const std::optional<pins::PolicyMeta>& old, const pins::PolicyMeta& now) {
    if (auto st = gc_sets(p, now); !st) return st;
    int rules = p.map(WEIR_MAP_RULES);
    if (rules < 0) return bpf::ok();
    std::set<std::uint32_t> keep = slot_values(now), freed;
    if (old) {
        for (std::uint32_t s : slot_values(*old))
            if (!keep.count(s)) freed.insert(s);
    } else {  // recovery: every slot the policy does not use
        auto cap = pins::map_max_entries(rules);
        if (cap)
            for (std::uint32_t s = 0; s < *cap; ++s)
                if (!keep.count(s)) freed.insert(s);
    }
    return zero_slots(rules, freed);
}

// Program ids XDP runs on the interface, in any mode.
std::set<std::uint32_t> xdp_prog_ids(unsigned ifindex) {
    std::set<std::uint32_t> ids;
    bpf_xdp_query_opts q{};
    q.sz = sizeof q;
    if (bpf_xdp_query(static_cast<int>(ifindex), 0, &q) != 0) return ids;
    for (std::uint32_t id : {q.prog_id, q.drv_prog_id, q.skb_prog_id, q.hw_prog_id})
        if (id) ids.insert(id);
    return ids;
}

Failure env_failure(std::string msg) { return {Problem::Environment, std::move(msg)}; }

std::string_view inject_kill_env() {
    const char* e = std::getenv("WEIR_INJECT_KILL");
    return e ? e : "";
}

void maybe_kill(std::string_view point, std::string_view requested) {
    if (inject_kill_env() == point || requested == point) ::raise(SIGKILL);
}

Failure prepare_environment(bool probe, bool mount) {
    if (auto st = probe ? bpf::probe_xdp_support() : bpf::ok(); !st) {
        if (st.error().code == -EPERM || st.error().code == -EACCES)
            return env_failure("not privileged: " + st.error().message);
        return env_failure("this kernel cannot load XDP programs: " + st.error().message);
    }
    if (mount)
        if (auto st = pins::ensure_bpffs(); !st) {
            if (st.error().code == -EPERM) return env_failure("not privileged: " + st.error().message);
            if (st.error().code == -EUCLEAN) return env_failure(st.error().message);
            return env_failure("bpffs is not usable: " + st.error().message);
        }
    return {};
}

}  // namespace detail

using namespace detail;

const std::vector<std::string>& inject_points() {
    static const std::vector<std::string> v = {"after-compile", "after-verify",      "after-selftest",
                                               "after-pending", "after-prepare",     "after-link-update",
                                               "after-pin",     "after-cleanup",     "after-meta"};
    return v;
}

static std::string recover_swap(const std::string& ifname, Failure& failure);

std::string recover(const std::string& ifname, Failure& failure) {
    // An interrupted set edit first: it began on a recovered interface, after any swap.
    const std::string set_note = sets::recover(ifname, failure);
    if (failure) return set_note;
    std::string note = set_note;
    for (auto step : {recover_swap, confirm::expire}) {
        const std::string n = step(ifname, failure);
        if (!n.empty()) note += (note.empty() ? "" : "; ") + n;
        if (failure) break;
    }
    return note;
}

static std::string recover_swap(const std::string& ifname, Failure& failure) {
    if (!pins::exists(pins::dir(ifname))) return {};
    auto p = pins::open_pinned(ifname);
    if (!p) {
        failure = env_failure(p.error().message);
        return {};
    }
    if (!p->meta) {
        // weir_meta is pinned first: without it nothing else was made.
        if (p->link) bpf_link_detach(p->link.get());
        if (auto st = pins::remove_dir(ifname); !st) failure = env_failure(st.error().message);
        return "removed the incomplete state of an interrupted first load";
    }
    auto meta = pins::read_meta(p->meta.get());
    if (!meta) {
        failure = env_failure("cannot read " + pins::path(ifname, pins::kMeta) + ": " + meta.error().message);
        return {};
    }
    if (!meta->pending) return {};
    const pins::PolicyMeta pending = *meta->pending;
    std::uint32_t running = 0;
    if (p->link)
        if (auto li = pins::link_info(p->link.get()); li && li->ifindex != 0) running = li->prog_id;
    if (pending.prog_id != 0 && running == pending.prog_id) {
        auto prog = pins::prog_by_id(running);
        if (!prog) {
            failure = env_failure(prog.error().message);
            return {};
        }
        if (auto st = finish_pins(*p, prog->get()); !st) {
            failure = env_failure("finish an interrupted swap: " + st.error().message);
            return {};
        }
        std::optional<pins::PolicyMeta> old = meta->current;
        meta->current = pending;
        meta->pending.reset();
        if (auto st = pins::write_meta(p->meta.get(), *meta); !st) {
            failure = env_failure(st.error().message);
            return {};
        }
        (void)cleanup(*p, std::nullopt, confirm::keep(*meta, *meta->current));
        return "finished an interrupted " + std::string(old ? "swap" : "first load") + " to policy '" +
               pending.policy + "' (the kernel already ran it)";
    }
    if (!meta->current) {
        if (p->link) bpf_link_detach(p->link.get());
        if (auto st = pins::remove_dir(ifname); !st) failure = env_failure(st.error().message);
        return "removed the state of an interrupted first load of policy '" + pending.policy + "'";
    }
    meta->pending.reset();
    if (auto st = pins::write_meta(p->meta.get(), *meta); !st) {
        failure = env_failure(st.error().message);
        return {};
    }
    (void)cleanup(*p, std::nullopt, confirm::keep(*meta, *meta->current));
    return "undid an interrupted swap to policy '" + pending.policy + "'; policy '" + meta->current->policy +
           "' kept running";
}

Failure interfaces(std::vector<std::string>& names, const std::string& ifname) {
    if (!ifname.empty()) {
        if (::access(pins::dir(ifname).c_str(), F_OK) != 0 && (errno == EACCES || errno == EPERM))
            return env_failure("not privileged: cannot read " + pins::root() + " (run as root)");
        if (!pins::exists(pins::dir(ifname))) {
            if (if_nametoindex(ifname.c_str()) == 0) return env_failure("no interface named '" + ifname + "'");
            return env_failure("no weir policy on '" + ifname + "'");
        }
        names.push_back(ifname);
    } else {
        struct stat st{};
        if (::stat(pins::root().c_str(), &st) != 0) {
            if (errno == EACCES || errno == EPERM)
                return env_failure("not privileged: cannot read " + pins::root() + " (run as root)");
            return {};
        }
        if (::access(pins::root().c_str(), R_OK | X_OK) != 0)
            return env_failure("not privileged: cannot read " + pins::root() + " (run as root)");
        names = pins::pinned_interfaces();
    }
    return {};
}

Failure status(std::vector<Attachment>& out, const std::string& ifname) {
    std::vector<std::string> names;
    if (Failure f = interfaces(names, ifname)) return f;
    for (const auto& name : names) {
        auto lock = pins::Lock::acquire(name);
        if (!lock) return env_failure(lock.error().message);
        Attachment a;
        a.ifname = name;
        Failure f;
        std::string note = recover(name, f);
        if (f) return f;
        if (!note.empty()) a.notes.push_back(note);
        if (!pins::exists(pins::dir(name))) continue;  // recovery removed it
        auto p = pins::open_pinned(name);
        if (!p) return env_failure(p.error().message);
        if (!p->meta) continue;
        auto m = pins::read_meta(p->meta.get());
        if (!m) return env_failure(m.error().message);
        if (!m->current) continue;
        a.meta = *m->current;
        a.rollback = m->rollback;
        a.ifindex = if_nametoindex(name.c_str());
        if (p->link)
            if (auto li = pins::link_info(p->link.get()); li) {
                std::set<std::uint32_t> ids = a.ifindex ? xdp_prog_ids(a.ifindex) : std::set<std::uint32_t>{};
                a.enforcing = li->ifindex == a.ifindex && a.ifindex != 0 && li->prog_id == a.meta.prog_id &&
                              ids.count(li->prog_id);
                if (li->ifindex == 0) a.notes.push_back("the interface is gone; `weir unload` removes the pins");
            }
        out.push_back(std::move(a));
    }
    return {};
}

Failure unload(const std::string& ifname, std::optional<pins::PolicyMeta>* removed) {
    if (!pins::exists(pins::dir(ifname))) {
        if (Failure f = prepare_environment(true, false)) return f;
        if (if_nametoindex(ifname.c_str()) == 0) return env_failure("no interface named '" + ifname + "'");
        return env_failure("no weir policy on '" + ifname + "'");
    }
    auto lock = pins::Lock::acquire(ifname);
    if (!lock) return env_failure(lock.error().message);
    Failure f;
    (void)recover(ifname, f);
    if (f) return f;
    if (!pins::exists(pins::dir(ifname))) return env_failure("no weir policy on '" + ifname + "'");
    auto p = pins::open_pinned(ifname);
    if (!p) return env_failure(p.error().message);
    if (p->meta)
        if (auto m = pins::read_meta(p->meta.get())) {
            if (removed && m->current) *removed = m->current;
            if (m->rollback) confirm::stop_watcher(*m->rollback);  // nothing left to roll back
        }
    if (p->link && bpf_link_detach(p->link.get()) != 0 && errno != ENOLINK && errno != EINVAL)
        return env_failure(std::string("detach: ") + std::strerror(errno));
    if (auto st = pins::remove_dir(ifname); !st) return env_failure(st.error().message);
    return {};
}

}  // namespace weir::attach
