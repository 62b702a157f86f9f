// Load and hot swap of a built policy (attach.hpp): the named steps of one load, in order.
//   open target -> link -> verify -> self-test -> capacity -> pending -> prepare -> swap/attach
//   -> pin -> cleanup -> meta
// Each step is a function over the Load state; a failure returns false with the outcome filled.
// Up to and including the swap, a failure leaves the running policy untouched.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>

#include "artifact.hpp"
#include "attach.hpp"
#include "assign.hpp"
#include "attach_detail.hpp"
#include "capacity.hpp"
#include "confirm.hpp"
#include "limits.hpp"
#include "loaded_policy.hpp"
#include "probe.hpp"
#include "shadow.hpp"
#include "weir_abi.h"

namespace weir::attach {
namespace {

using namespace detail;
using Clock = std::chrono::steady_clock;

// The lint budget of a load (CheckOptions::lint_comparisons): `weir check` does the full analysis.
constexpr long kLoadLintComparisons = 2'000'000;
constexpr std::uint32_t kMinRuleSlots = 256;
constexpr std::uint32_t kSetCapacity = kSetTableCapacity;  // capacity.hpp: what `weir check` enforces

std::int64_t now_unix() { return static_cast<std::int64_t>(std::time(nullptr)); }

std::uint32_t next_pow2(std::uint32_t v) {
    std::uint32_t p = 1;
    while (p < v) p <<= 1;
    return p;
}

std::uint32_t rule_capacity_for(std::size_t rules, std::uint32_t slots_needed) {
    return std::max({kMinRuleSlots, next_pow2(static_cast<std::uint32_t>(2 * rules)), next_pow2(slots_needed)});
}

std::string foreign_text(std::uint32_t id) {
    std::string s = "program id " + std::to_string(id);
    if (auto fd = pins::prog_by_id(id))
        if (auto pi = pins::prog_info(fd->get()); pi && !pi->name.empty()) s += " '" + pi->name + "'";
    return s;
}

// What one load carries from step to step.
struct Load {
    const Artifact& art;
    const LoadOptions& o;
    LoadOutcome& out;
    Clock::time_point t0;
    bool host_checked = false;  // load(file) probed XDP support before compiling

    unsigned ifindex = 0;
    std::optional<pins::Lock> lock;
    pins::Pinned pinned;
    std::optional<pins::Meta> meta;  // of the running weir policy
    bool swap = false;
    std::string untouched;           // what a failure says about the interface

    Plan plan;                       // the artifact's, with this interface's slots and set ids
    pins::PolicyMeta next;           // the record of the new policy
    std::vector<int> fill;           // set tables to fill before the swap
    std::vector<std::uint8_t> object;
    bool grow = false, limits_grow = false;
    std::unique_ptr<LoadedPolicy> live;
    std::optional<std::optional<pins::Rollback>> armed_from;  // arm(): the record it replaced
    std::optional<shadow::Planned> cand;  // a shadow load's candidate (LoadOptions::shadow)

    const Policy& pol() const { return art.pol(); }

    void step_done(std::string name, std::string detail) {
        auto t1 = Clock::now();
        Step s{std::move(name), std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0), std::move(detail)};
        t0 = t1;
        if (o.on_step) o.on_step(s);
        out.steps.push_back(std::move(s));
    }

    bool fail(Problem pr, std::string step, std::string msg) {
        static const std::set<std::string> named = {"compile", "verify", "self-test", "pending",
                                                    "prepare", "swap", "attach"};
        if (named.count(step)) msg = step + " failed" + (msg.starts_with("(") ? " " : ": ") + msg;
        out.problem = pr;
        out.failed_step = std::move(step);
        out.message = std::move(msg);
        return false;
    }

    // After `pending` and before the swap: undoes what was prepared, then fails.
    bool undo(Problem pr, std::string step, std::string msg) {
        if (!swap) {
            (void)pins::remove_dir(o.ifname);
        } else {
            meta->pending.reset();
            if (armed_from) meta->rollback = *armed_from;
            (void)pins::write_meta(pinned.meta.get(), *meta);
            (void)gc_sets(pinned, confirm::keep(*meta, *meta->current));
        }
        return fail(pr, std::move(step), std::move(msg) + ": " + untouched);
    }

    void maybe_kill(const char* point) const { detail::maybe_kill(point, o.inject_kill); }
};

// The interface, its lock, its pinned state (recovered first), and no foreign XDP program.
bool open_target(Load& L) {
    const LoadOptions& o = L.o;
    L.ifindex = if_nametoindex(o.ifname.c_str());
    if (L.ifindex == 0) return L.fail(Problem::Environment, "interface", "no interface named '" + o.ifname + "'");
    if (Failure f = prepare_environment(!L.host_checked, true))
        return L.fail(Problem::Environment, "environment", f.message);
    auto lock = pins::Lock::acquire(o.ifname);
    if (!lock) return L.fail(Problem::Environment, "lock", lock.error().message);
    L.lock.emplace(std::move(*lock));
    {
        Failure f;
        std::string note = recover(o.ifname, f);
        if (f) return L.fail(Problem::Environment, "recover", f.message);
        if (!note.empty()) L.out.notes.push_back(note);
    }
    if (pins::exists(pins::dir(o.ifname))) {
        auto p = pins::open_pinned(o.ifname);
        if (!p) return L.fail(Problem::Environment, "state", p.error().message);
        L.pinned = std::move(*p);
        bool live = false;
        if (L.pinned.link && L.pinned.meta)
            if (auto li = pins::link_info(L.pinned.link.get()); li && li->ifindex == L.ifindex) live = true;
        if (live) {
            auto m = pins::read_meta(L.pinned.meta.get());
            if (!m || !m->current) return L.fail(Problem::Environment, "state", "cannot read weir_meta");
            L.meta = std::move(*m);
        } else {
            // The link's interface is gone (this name is a new interface): stale pins.
            if (auto st = pins::remove_dir(o.ifname); !st)
                return L.fail(Problem::Environment, "state", st.error().message);
            L.out.notes.push_back("removed stale pins of an interface '" + o.ifname + "' that no longer exists");
            L.pinned = {};
        }
    }
    L.swap = L.meta.has_value();
    L.out.hot_swap = L.swap;
    if (L.swap) L.out.replaced = L.meta->current->policy;

    std::uint32_t ours = 0;
    if (L.swap)
        if (auto li = pins::link_info(L.pinned.link.get())) ours = li->prog_id;
    for (std::uint32_t id : xdp_prog_ids(L.ifindex))
        if (id != ours)
            return L.fail(Problem::Environment, "interface",
                          "another XDP program (" + foreign_text(id) + ", not weir's) is attached to '" + o.ifname +
                              "'; detach it first (ip link set dev " + o.ifname + " xdp off)");
    if (L.swap && o.mode != Mode::Auto && L.meta->current->mode != mode_name(o.mode))
        return L.fail(Problem::Environment, "mode",
                      "the running policy '" + L.meta->current->policy + "' is attached in " + L.meta->current->mode +
                          " mode, which a swap keeps; unload first to change to " + mode_name(o.mode));
    if (auto r = confirm::refusal(o, L.meta); !r.empty()) return L.fail(Problem::Environment, "confirm", r);
    L.untouched = L.swap ? "the running policy '" + L.meta->current->policy + "' is untouched" : "nothing was attached";
    return true;
}

// The artifact's plan numbered for this interface (a swap keeps counter slots and set ids), and
// its object for those numbers.
bool link(Load& L) {
    L.plan = L.art.plan;
    const pins::PolicyMeta cur = L.swap ? confirm::keep(*L.meta, *L.meta->current) : pins::PolicyMeta{};
    assign(L.plan, L.swap ? &cur : nullptr, L.next, L.fill);  // keep(): no slot a rollback needs
    L.next.policy = L.pol().name;
    L.next.source = L.o.file;
    L.next.source_hash = L.art.source_hash;
    if (L.o.shadow) {  // the running policy again, with a candidate beside it (shadow.hpp)
        std::string why;
        L.cand = shadow::plan_candidate(*L.o.shadow, L.plan, L.next, L.swap ? &*L.meta->current : nullptr, why);
        if (!L.cand) return L.fail(Problem::Environment, "shadow", why + ": " + L.untouched);
        L.next.shadow = L.cand->meta;
    }
    CodegenResult obj = L.cand ? codegen_shadow(L.plan, L.art.sources(), {L.cand->plan, L.o.shadow->compilation->sources},
                                                EmitKind::Obj, L.art.codegen)
                               : relink(L.art, L.plan);
    if (!obj.ok())
        return L.fail(Problem::Policy, "compile",
                      "cannot compile policy '" + L.pol().name + "': " + obj.error + ": " + L.untouched);
    L.object = std::move(obj.bytes);
    L.step_done("compile", std::to_string(L.pol().rules.size()) + " rules, " + std::to_string(L.plan.tables.size()) +
                               " set tables");
    L.maybe_kill("after-compile");
    return true;
}

// A private instance with fresh maps, verified; then the policy's own test blocks run on it.
bool verify_and_self_test(Load& L) {
    const Program& prog = L.art.compilation->program;
    KernelLoadOptions klo;
    klo.object_name = L.pol().name;
    // Only the self-test reads the private instance's sets: without test blocks they stay empty
    // (the live instance fills its own), which halves the load of a million-entry blocklist.
    klo.fill_sets = std::any_of(prog.tests.begin(), prog.tests.end(),
                                [&](const TestCase& t) { return t.policy == L.art.policy; });
    auto priv = LoadedPolicy::load(L.plan, L.art.sources(), L.object, L.out.kernel_diags, klo);
    if (!priv) {
        bool perm = false;
        for (const auto& d : L.out.kernel_diags.list()) perm |= d.code == "bpf-permission-denied";
        return L.fail(perm ? Problem::Environment : Problem::Policy, "verify",
                      "the kernel refused policy '" + L.pol().name + "': " + L.untouched);
    }
    L.step_done("verify", std::to_string(priv->stats().xlated_insns) + " instructions, verifier " +
                              std::to_string(priv->stats().load_time.count() / 1000) + " us");
    L.maybe_kill("after-verify");

    std::size_t skipped = 0;
    const SourceManager& sm = L.art.sources();
    for (const TestCase& t : prog.tests) {
        if (t.policy != L.art.policy) continue;
        // Rate limits: every test block starts with full buckets at a frozen clock (as in `weir test`).
        if (auto st = priv->reset_limits(WEIR_LIMIT_TEST_CLOCK_NS); !st)
            return L.fail(Problem::Environment, "self-test", st.error().message);
        for (const Probe& probe : t.probes) {
            KernelProbe r = run_probe(*priv, probe);
            if (!r.runnable) {
                ++skipped;
                continue;
            }
            ++L.out.probes;
            if (r.passed) continue;
            ProbeFailure pf;
            pf.test = t.name;
            if (probe.range.valid()) {
                LineCol lc = sm.line_col(probe.range.file, probe.range.begin);
                pf.location = sm.file(probe.range.file).path + ":" + std::to_string(lc.line) + ":" + std::to_string(lc.col);
            }
            pf.expected = expected_text(L.pol(), probe);
            pf.actual = outcome_text(L.pol(), r.verdict, r.rule, r.error);
            L.out.probe_failures.push_back(std::move(pf));
        }
    }
    if (!L.out.probe_failures.empty())
        return L.fail(Problem::Policy, "self-test",
                      "(" + std::to_string(L.out.probe_failures.size()) + " of " + std::to_string(L.out.probes) +
                          " probes): " + L.untouched);
    L.step_done("self-test", std::to_string(L.out.probes) + " probes" +
                                 (skipped ? ", " + std::to_string(skipped) + " skipped (interface not on this host)" : ""));
    L.maybe_kill("after-selftest");
    return true;
}

// Counter slots and rate-limit buckets: the pinned tables are kept unless the policy needs more.
bool size_tables(Load& L) {
    std::uint32_t cur_capacity = 0;
    if (L.swap) {
        auto cap = pins::map_max_entries(L.pinned.map(WEIR_MAP_RULES));
        if (!cap) return L.fail(Problem::Environment, "state", cap.error().message);
        cur_capacity = *cap;
    }
    const std::uint32_t needed = std::max(L.plan.slot_count(), L.cand ? L.cand->plan.slot_count() : 0u);
    L.grow = !L.swap || needed > cur_capacity;
    L.next.rule_capacity = L.grow ? rule_capacity_for(L.pol().rules.size(), needed) : cur_capacity;
    if (L.swap && L.pinned.map(WEIR_MAP_LIMITS) >= 0 && limit_entries(L.pol()) > 0) {
        auto cap = pins::map_max_entries(L.pinned.map(WEIR_MAP_LIMITS));
        L.limits_grow = cap && *cap < limit_entries(L.pol());
    }
    return true;
}

// The live instance shares the pinned maps, except tables that must grow.
KernelLoadOptions live_options(const Load& L) {
    KernelLoadOptions lo;
    lo.object_name = L.pol().name;
    lo.rule_slots = L.next.rule_capacity;
    if (L.cand)
        for (const PlannedRule& pr : L.cand->plan.rules)
            if (const Rule& r = L.cand->plan.pol().rules.at(pr.rule); r.action.kind == Action::Kind::Redirect)
                lo.extra_redirects.push_back({pr.slot, r.name, r.action.ifname});
    lo.set_capacity = kSetCapacity;
    if (L.swap) {
        lo.fill_sets = false;
        for (const auto& [name, fd] : L.pinned.maps)
            if (!(L.grow && name == WEIR_MAP_RULES) && !(name == WEIR_MAP_LIMITS && L.limits_grow))
                lo.reuse_maps.emplace_back(name, fd.get());
    }
    return lo;
}

// A dry run stops here: the live instance's load, sharing the pinned maps, changes nothing.
bool dry_run(Load& L) {
    if (L.swap) {
        auto live = LoadedPolicy::load(L.plan, L.art.sources(), L.object, L.out.kernel_diags, live_options(L));
        if (!live)
            return L.fail(Problem::Policy, "verify",
                          "the kernel refused policy '" + L.pol().name + "' with the pinned maps: " + L.untouched);
        L.step_done("prepare", "dry run: verified with the pinned maps");
    }
    L.out.message = "dry run: policy '" + L.pol().name + "' would " +
                    (L.swap ? "replace '" + L.meta->current->policy + "' on '" + L.o.ifname + "'"
                            : "be attached to '" + L.o.ifname + "'");
    return true;
}

// weir_meta records the swap about to happen, so that a crash from here on is recovered.
bool pending(Load& L) {
    const std::string& ifname = L.o.ifname;
    const std::int64_t now = now_unix();
    L.next.loaded_at = now;
    L.next.attached_at = L.swap ? L.meta->current->attached_at : now;
    L.next.swaps = L.swap ? L.meta->current->swaps + 1 : 0;
    if (!L.swap) {
        if (auto st = pins::remove_dir(ifname); !st) return L.fail(Problem::Environment, "pending", st.error().message);
        if (::mkdir(pins::dir(ifname).c_str(), 0700) != 0)
            return L.fail(Problem::Environment, "pending", "create " + pins::dir(ifname) + ": " + std::strerror(errno));
        auto mfd = pins::create_meta_map();
        if (!mfd) return L.fail(Problem::Environment, "pending", mfd.error().message);
        if (auto st = pins::pin(mfd->get(), pins::path(ifname, pins::kMeta)); !st)
            return L.fail(Problem::Environment, "pending", st.error().message);
        L.pinned.ifname = ifname;
        L.pinned.meta = std::move(*mfd);
        L.meta = pins::Meta{};
    }
    L.meta->pending = L.next;
    if (auto st = pins::write_meta(L.pinned.meta.get(), *L.meta); !st) {
        if (!L.swap) (void)pins::remove_dir(ifname);
        L.meta->pending.reset();
        return L.fail(Problem::Policy, "pending", st.error().message + ": " + L.untouched);
    }
    L.maybe_kill("after-pending");
    return true;
}

// New counter slots zeroed, new set tables filled, the live instance loaded on the pinned maps
// (a first load pins its maps and program).
bool prepare(Load& L) {
    const std::string& ifname = L.o.ifname;
    const pins::PolicyMeta* cur = L.swap ? &*L.meta->current : nullptr;
    if (cur) {
        if (!L.grow) {
            std::set<std::uint32_t> fresh;
            for (const auto& [n, s] : L.next.slots)
                if (!cur->slots.count(n)) fresh.insert(s);
            if (L.next.shadow)
                for (const auto& [n, s] : L.next.shadow->slots) fresh.insert(s);
            if (auto st = zero_slots(L.pinned.map(WEIR_MAP_RULES), fresh); !st)
                return L.undo(Problem::Environment, "prepare", "zero new counter slots: " + st.error().message);
        }
        std::vector<const SetTable*> fill;
        for (int ti : L.fill) fill.push_back(&L.plan.tables[ti]);
        if (L.cand)  // the candidate's own tables (shadow.hpp)
            for (int ti : L.cand->fill) fill.push_back(&L.cand->plan.tables[ti]);
        for (const SetTable* t : fill)
            if (auto st = fill_set_table(set_maps(t->kind, [&](const char* n) { return L.pinned.map(n); }), *t); !st)
                return L.undo(Problem::Environment, "prepare", "fill set '" + t->name + "': " + st.error().message);
    }
    L.live = LoadedPolicy::load(L.plan, L.art.sources(), L.object, L.out.kernel_diags, live_options(L));
    if (!L.live)
        return L.undo(Problem::Policy, "prepare", "the kernel refused the live instance of policy '" + L.pol().name + "'");
    if (cur && L.grow) {
        // A bigger weir_rules: copy the kept rules' counters (increments between this copy and
        // the swap are lost, see docs/operations.md).
        int oldfd = L.pinned.map(WEIR_MAP_RULES), newfd = L.live->map_fd(WEIR_MAP_RULES);
        for (const auto& [n, s] : L.next.slots) {
            if (!cur->slots.count(n)) continue;
            auto raw = bpf::lookup_percpu(oldfd, s, sizeof(weir_counter));
            if (!raw) return L.undo(Problem::Environment, "prepare", "copy counters: " + raw.error().message);
            if (auto st = bpf::update(newfd, s, std::span<const unsigned char>(*raw)); !st)
                return L.undo(Problem::Environment, "prepare", "copy counters: " + st.error().message);
        }
    }
    auto pi = pins::prog_info(L.live->program_fd());
    if (!pi) return L.undo(Problem::Environment, "prepare", pi.error().message);
    L.next.prog_id = pi->id;
    L.next.prog_tag = pi->tag;
    if (!cur) {
        L.next.mode = L.o.mode == Mode::Generic ? "generic" : "native";  // refined at attach
        for (const auto& name : pins::shared_maps()) {
            int fd = L.live->map_fd(name);
            if (fd < 0) continue;
            if (auto st = pins::pin(fd, pins::path(ifname, name)); !st)
                return L.undo(Problem::Environment, "prepare", st.error().message);
            if (auto dup = pins::open_pin(pins::path(ifname, name))) L.pinned.maps[name] = std::move(*dup);
        }
        if (auto st = pins::pin(L.live->program_fd(), pins::path(ifname, pins::kProg)); !st)
            return L.undo(Problem::Environment, "prepare", st.error().message);
    } else {
        L.next.mode = cur->mode;
    }
    L.meta->pending = L.next;
    if (auto st = pins::write_meta(L.pinned.meta.get(), *L.meta); !st)
        return L.undo(Problem::Policy, "prepare", st.error().message);
    const std::size_t filled = L.fill.size() + (L.cand ? L.cand->fill.size() : 0);
    L.step_done("prepare", "verified with the pinned maps, " + std::to_string(filled) + " set tables filled");
    L.maybe_kill("after-prepare");
    return true;
}

bool arm(Load& L) {  // before the swap: the session dying right after it is covered (confirm.hpp)
    L.armed_from = L.meta->rollback;
    if (auto st = confirm::arm(L.o.ifname, L.pinned, *L.meta, L.o.confirm_within); !st)
        return L.undo(Problem::Environment, "arm", st.error().message);
    return L.step_done("arm", confirm::watcher_text(*L.meta->rollback)), true;
}

// The atomic step: bpf_link_update on a swap, a new pinned XDP link on a first load.
bool swap_or_attach(Load& L) {
    const std::string& ifname = L.o.ifname;
    if (L.swap) {
        if (bpf_link_update(L.pinned.link.get(), L.live->program_fd(), nullptr) != 0)
            return L.undo(Problem::Environment, "swap", std::string("bpf_link_update: ") + std::strerror(errno));
        L.step_done("swap", "bpf_link_update, prog id " + std::to_string(L.next.prog_id));
    } else {
        std::vector<std::pair<std::uint32_t, const char*>> tries;
        if (L.o.mode != Mode::Generic) tries.emplace_back(XDP_FLAGS_DRV_MODE, "native");
        if (L.o.mode != Mode::Native) tries.emplace_back(XDP_FLAGS_SKB_MODE, "generic");
        int link = -1, err = 0;
        for (auto [flags, name] : tries) {
            bpf_link_create_opts lo{};
            lo.sz = sizeof lo;
            lo.flags = flags;
            link = bpf_link_create(L.live->program_fd(), static_cast<int>(L.ifindex), BPF_XDP, &lo);
            if (link >= 0) {
                L.next.mode = name;
                break;
            }
            err = errno;
        }
        if (link < 0) {
            if (err == EBUSY || err == EEXIST)
                return L.undo(Problem::Environment, "attach", "another XDP program is attached to '" + ifname + "'");
            return L.undo(Problem::Environment, "attach",
                          std::string("attach to '") + ifname + "' in " + mode_name(L.o.mode) +
                              " mode: " + std::strerror(err));
        }
        L.pinned.link.reset(link);
        if (auto st = pins::pin(link, pins::path(ifname, pins::kLink)); !st) {
            bpf_link_detach(link);
            return L.undo(Problem::Environment, "attach", st.error().message);
        }
        L.meta->pending = L.next;  // the mode
        (void)pins::write_meta(L.pinned.meta.get(), *L.meta);
        L.step_done("attach", std::string(L.next.mode) + " mode, prog id " + std::to_string(L.next.prog_id));
    }
    L.maybe_kill("after-link-update");
    return true;
}

// The new policy runs: pins, clean-up and the record follow. Errors here are notes, repaired by
// the next command's recover().
void finish(Load& L) {
    if (L.swap)
        if (auto st = finish_pins(L.pinned, L.live->program_fd()); !st)
            L.out.notes.push_back("could not re-pin yet (the next weir command repairs it): " + st.error().message);
    L.step_done("pin", "");
    L.maybe_kill("after-pin");
    // Cleanup before the meta: a crash in between leaves `pending`, which recovery finishes.
    std::optional<pins::PolicyMeta> old = L.meta->current;
    if (L.swap)
        if (auto st = cleanup(L.pinned, old, confirm::keep(*L.meta, L.next)); !st)
            L.out.notes.push_back("cleanup: " + st.error().message);
    L.step_done("cleanup", "");
    L.maybe_kill("after-cleanup");
    L.meta->current = L.next;
    L.meta->pending.reset();
    if (auto st = pins::write_meta(L.pinned.meta.get(), *L.meta); !st)
        L.out.notes.push_back("could not write weir_meta (the next weir command repairs it): " + st.error().message);
    L.step_done("meta", "");
    L.maybe_kill("after-meta");
    L.out.now = L.next;
    L.out.message = L.swap ? "policy '" + L.pol().name + "' replaced '" + old->policy + "' on '" + L.o.ifname + "'"
                           : "policy '" + L.pol().name + "' attached to '" + L.o.ifname + "' (" + L.next.mode + ")";
}

LoadOutcome run_load(const Artifact& art, const LoadOptions& o, Clock::time_point started, bool host_checked) {
    LoadOutcome out;
    out.compilation = art.compilation;
    Load L{art, o, out, started, host_checked};
    if (!open_target(L) || !link(L) || !verify_and_self_test(L) || !size_tables(L)) return out;
    if (o.dry_run) {
        dry_run(L);
        return out;
    }
    if (!pending(L) || !prepare(L) || (o.confirm_within.count() > 0 && !arm(L)) || !swap_or_attach(L)) return out;
    finish(L);
    if (o.confirm_within.count() > 0) out.notes.push_back(confirm::pending_text(o.ifname, *L.meta));
    return out;
}

}  // namespace

LoadOutcome load(const Artifact& artifact, const LoadOptions& o) {
    return run_load(artifact, o, o.started.value_or(Clock::now()), false);
}

LoadOutcome load(const LoadOptions& o) {
    const auto started = o.started.value_or(Clock::now());
    // The host first: an unprivileged user or a missing interface is told so before any compile.
    {
        LoadOutcome out;
        const Artifact none;
        Load L{none, o, out, started};
        if (if_nametoindex(o.ifname.c_str()) == 0)
            return L.fail(Problem::Environment, "interface", "no interface named '" + o.ifname + "'"), out;
        if (Failure f = prepare_environment(true, false))
            return L.fail(Problem::Environment, "environment", f.message), out;
    }
    CheckOptions check = o.check;
    check.keep_ast = false;  // only the checked program is needed from here on
    check.lint_comparisons = std::min(check.lint_comparisons, kLoadLintComparisons);
    std::shared_ptr<const Compilation> c =
        o.source_text ? compile_source(o.file, *o.source_text, check) : compile_file(o.file, check);
    LoadOutcome out;
    out.compilation = c;
    auto fail = [&](Problem pr, std::string msg) {
        out.problem = pr;
        out.failed_step = "compile";
        out.message = "compile failed: " + std::move(msg);
        return std::move(out);
    };
    const std::string untouched = "any policy running on '" + o.ifname + "' is untouched";
    if (c->io_error) return fail(Problem::Environment, "cannot read '" + o.file + "': " + untouched);
    if (!c->ok()) return fail(Problem::Policy, "the policy does not compile: " + untouched);
    BuildResult built = build_artifact(c, o.policy, load_codegen_options(o));
    if (!built.ok()) return fail(Problem::Policy, built.error + ": " + untouched);
    LoadOptions named = o;
    std::error_code ec;
    auto abs = std::filesystem::absolute(o.file, ec);
    if (!ec && !o.source_text) named.file = abs.lexically_normal().string();
    return run_load(*built.artifact, named, started, true);
}

CodegenOptions load_codegen_options(const LoadOptions& o) {
    CodegenOptions cg = host_codegen_options(false, nullptr);
    cg.unverifiable_rule = o.unverifiable_rule;
    return cg;
}

}  // namespace weir::attach
