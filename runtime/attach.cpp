// Load / hot swap / unload / status of attached policies (attach.hpp, docs/operations.md).
#include "attach.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include "capacity.hpp"
#include "codegen.hpp"
#include "interp.hpp"
#include "limits.hpp"
#include "loaded_policy.hpp"
#include "packet.hpp"
#include "weir_abi.h"

namespace weir::attach {
namespace {

// The lint budget of a load (CheckOptions::lint_comparisons): `weir check` does the full analysis.
constexpr long kLoadLintComparisons = 2'000'000;

using Clock = std::chrono::steady_clock;
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

}  // namespace

std::string source_hash(const SourceManager& sm) {
    std::string all;
    for (FileId i = 0; i < sm.size(); ++i) {
        const SourceFile& f = sm.file(i);
        all += f.path;
        all += '\0';
        all += std::to_string(f.text.size());
        all += '\0';
        all += f.text;
    }
    return pins::sha256_hex(all);
}

namespace {

std::string table_hash(const SetTable& t) {
    std::string all = pins::kind_name(t.kind);
    for (const TablePrefix& p : t.prefixes) {
        for (int i = 0; i < 16; ++i) all += static_cast<char>(static_cast<std::uint8_t>(p.value >> (8 * i)));
        all += static_cast<char>(p.len);
    }
    return pins::sha256_hex(all);
}

// Counter slots and set ids of the new program, from the running one's (`cur`, may be null).
// Kept rule names keep their slots; new rules take slots the running program does not use.
// Unchanged tables keep their ids; others get fresh ones (returned in `fill`).
void assign(Plan& plan, const pins::PolicyMeta* cur, pins::PolicyMeta& next, std::vector<int>& fill) {
    const Policy& pol = plan.pol();
    std::set<std::uint32_t> used;
    if (cur)
        for (const auto& [name, slot] : cur->slots) used.insert(slot);
    std::set<std::uint32_t> taken;
    // Kept names first.
    for (PlannedRule& pr : plan.rules) {
        const std::string& name = pol.rules.at(pr.rule).name;
        if (cur)
            if (auto it = cur->slots.find(name); it != cur->slots.end()) {
                pr.slot = it->second;
                taken.insert(pr.slot);
            }
    }
    std::uint32_t candidate = 0;
    for (PlannedRule& pr : plan.rules) {
        const std::string& name = pol.rules.at(pr.rule).name;
        if (cur && cur->slots.count(name)) continue;
        while (used.count(candidate) || taken.count(candidate)) ++candidate;
        pr.slot = candidate;
        taken.insert(candidate);
    }
    next.slots.clear();
    for (const PlannedRule& pr : plan.rules) next.slots[pol.rules.at(pr.rule).name] = pr.slot;
    next.rules.clear();
    for (const Rule& r : pol.rules)  // policy order, for `weir stats`
        next.rules.push_back({r.name, action_name(r.action.kind)});
    next.default_verdict = verdict_name(pol.default_verdict);

    next.sets.clear();
    if (cur) next.next_set_id = cur->next_set_id;
    std::map<std::pair<std::string, int>, unsigned> ordinals;
    for (std::size_t i = 0; i < plan.tables.size(); ++i) {
        SetTable& t = plan.tables[i];
        pins::SetRecord r;
        r.name = t.name;
        r.kind = t.kind;
        r.ordinal = ordinals[{t.name, static_cast<int>(t.kind)}]++;
        r.hash = table_hash(t);
        r.named = t.program_set >= 0;
        if (r.named) r.type = set_type_name(plan.program->sets.at(t.program_set).type);
        const pins::SetRecord* old = nullptr;
        if (cur)
            for (const auto& s : cur->sets)
                if (s.name == r.name && s.kind == r.kind && s.ordinal == r.ordinal && s.hash == r.hash) old = &s;
        if (old) {
            r.id = old->id;
            r.live_edits = old->live_edits;  // live contents are kept: so is the record of edits
            r.edited_at = old->edited_at;
        } else {
            r.id = next.next_set_id[static_cast<int>(t.kind)]++;
            fill.push_back(static_cast<int>(i));
        }
        t.id = r.id;
        next.sets.push_back(std::move(r));
    }
}

// Deletes every set-table entry whose set id the policy does not use.
bpf::Status gc_sets(const pins::Pinned& p, const pins::PolicyMeta& keep) {
    for (TableKind k : kTableKinds) {
        std::set<std::uint32_t> ids;
        for (const auto& s : keep.sets)
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

void maybe_kill(const LoadOptions& o, const char* point) {
    const char* env = std::getenv("WEIR_INJECT_KILL");
    if ((env && std::strcmp(env, point) == 0) || o.inject_kill == point) ::raise(SIGKILL);
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

std::string foreign_text(std::uint32_t id) {
    std::string s = "program id " + std::to_string(id);
    if (auto fd = pins::prog_by_id(id))
        if (auto pi = pins::prog_info(fd->get()); pi && !pi->name.empty()) s += " '" + pi->name + "'";
    return s;
}

Failure env_failure(std::string msg) { return {Problem::Environment, std::move(msg)}; }

// Privilege and bpffs, as Failures.
Failure prepare_environment(bool mount) {
    if (auto st = bpf::probe_xdp_support(); !st) {
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

}  // namespace

const char* mode_name(Mode m) {
    switch (m) {
        case Mode::Auto: return "auto";
        case Mode::Native: return "native";
        case Mode::Generic: return "generic";
    }
    return "?";
}

const std::vector<std::string>& inject_points() {
    static const std::vector<std::string> v = {"after-compile", "after-verify",      "after-selftest",
                                               "after-pending", "after-prepare",     "after-link-update",
                                               "after-pin",     "after-cleanup",     "after-meta"};
    return v;
}

std::string recover(const std::string& ifname, Failure& failure) {
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
        (void)cleanup(*p, std::nullopt, *meta->current);
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
    (void)cleanup(*p, std::nullopt, *meta->current);
    return "undid an interrupted swap to policy '" + pending.policy + "'; policy '" + meta->current->policy +
           "' kept running";
}

LoadOutcome load(const LoadOptions& o) {
    LoadOutcome out;
    auto fail = [&](Problem pr, std::string step, std::string msg) -> LoadOutcome {
        static const std::set<std::string> named = {"compile", "verify", "self-test", "pending",
                                                    "prepare", "swap", "attach"};
        if (named.count(step)) msg = step + " failed" + (msg.starts_with("(") ? " " : ": ") + msg;
        out.problem = pr;
        out.failed_step = std::move(step);
        out.message = std::move(msg);
        return std::move(out);
    };
    auto t0 = Clock::now();
    auto step_done = [&](std::string name, std::string detail) {
        auto t1 = Clock::now();
        Step s{std::move(name), std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0), std::move(detail)};
        t0 = t1;
        if (o.on_step) o.on_step(s);
        out.steps.push_back(std::move(s));
    };

    // --- environment ---
    const unsigned ifindex = if_nametoindex(o.ifname.c_str());
    if (ifindex == 0) return fail(Problem::Environment, "interface", "no interface named '" + o.ifname + "'");
    if (Failure f = prepare_environment(true)) return fail(Problem::Environment, "environment", f.message);
    auto lock = pins::Lock::acquire(o.ifname);
    if (!lock) return fail(Problem::Environment, "lock", lock.error().message);
    {
        Failure f;
        std::string note = recover(o.ifname, f);
        if (f) return fail(Problem::Environment, "recover", f.message);
        if (!note.empty()) out.notes.push_back(note);
    }

    pins::Pinned pinned;
    std::optional<pins::Meta> meta;  // of the running weir policy
    if (pins::exists(pins::dir(o.ifname))) {
        auto p = pins::open_pinned(o.ifname);
        if (!p) return fail(Problem::Environment, "state", p.error().message);
        pinned = std::move(*p);
        bool live = false;
        if (pinned.link && pinned.meta)
            if (auto li = pins::link_info(pinned.link.get()); li && li->ifindex == ifindex) live = true;
        if (live) {
            auto m = pins::read_meta(pinned.meta.get());
            if (!m || !m->current) return fail(Problem::Environment, "state", "cannot read weir_meta");
            meta = std::move(*m);
        } else {
            // The link's interface is gone (this name is a new interface): stale pins.
            if (auto st = pins::remove_dir(o.ifname); !st) return fail(Problem::Environment, "state", st.error().message);
            out.notes.push_back("removed stale pins of an interface '" + o.ifname + "' that no longer exists");
            pinned = {};
        }
    }
    const bool swap = meta.has_value();
    out.hot_swap = swap;
    if (swap) out.replaced = meta->current->policy;

    // Someone else's XDP program?
    std::set<std::uint32_t> running = xdp_prog_ids(ifindex);
    std::uint32_t ours = 0;
    if (swap)
        if (auto li = pins::link_info(pinned.link.get())) ours = li->prog_id;
    for (std::uint32_t id : running)
        if (id != ours)
            return fail(Problem::Environment, "interface",
                        "another XDP program (" + foreign_text(id) + ", not weir's) is attached to '" + o.ifname +
                            "'; detach it first (ip link set dev " + o.ifname + " xdp off)");
    if (swap && o.mode != Mode::Auto && meta->current->mode != mode_name(o.mode))
        return fail(Problem::Environment, "mode",
                    "the running policy '" + meta->current->policy + "' is attached in " + meta->current->mode +
                        " mode, which a swap keeps; unload first to change to " + mode_name(o.mode));
    const std::string untouched =
        swap ? "the running policy '" + meta->current->policy + "' is untouched" : "nothing was attached";

    // --- compile ---
    CheckOptions check = o.check;
    check.keep_ast = false;  // only the checked program is needed from here on
    check.lint_comparisons = std::min(check.lint_comparisons, kLoadLintComparisons);
    out.compilation = o.source_text ? compile_source(o.file, *o.source_text, check) : compile_file(o.file, check);
    Compilation& c = *out.compilation;
    if (c.io_error) return fail(Problem::Environment, "compile", "cannot read '" + o.file + "': " + untouched);
    if (!c.ok()) return fail(Problem::Policy, "compile", "the policy does not compile: " + untouched);
    int pidx = -1;
    for (std::size_t i = 0; i < c.program.policies.size(); ++i)
        if (o.policy.empty() ? c.program.policies.size() == 1 : c.program.policies[i].name == o.policy)
            pidx = static_cast<int>(i);
    if (pidx < 0) {
        std::string names;
        for (const auto& pol : c.program.policies) names += (names.empty() ? "" : ", ") + pol.name;
        return fail(Problem::Policy, "compile",
                    (o.policy.empty() ? "the file has " + std::to_string(c.program.policies.size()) +
                                            " policies (" + names + "); choose one with --policy"
                                      : "the file has no policy '" + o.policy + "' (it has: " + names + ")") +
                        ": " + untouched);
    }
    const Policy& pol = c.program.policies[pidx];
    Plan plan = plan_policy(c.program, pidx);
    pins::PolicyMeta next;
    std::vector<int> fill;  // tables to fill before the swap
    assign(plan, swap ? &*meta->current : nullptr, next, fill);
    next.policy = pol.name;
    std::error_code ec;
    auto abs = std::filesystem::absolute(o.file, ec);
    next.source = ec || o.source_text ? o.file : abs.lexically_normal().string();
    next.source_hash = source_hash(c.sources);
    CodegenOptions cg;
    cg.ifindex_of = [](const std::string& name) -> std::optional<std::uint32_t> {
        unsigned i = if_nametoindex(name.c_str());
        if (i == 0) return std::nullopt;
        return i;
    };
    cg.unverifiable_rule = o.unverifiable_rule;
    CodegenResult obj = codegen(plan, c.sources, EmitKind::Obj, cg);
    if (!obj.ok()) return fail(Problem::Policy, "compile", "cannot compile policy '" + pol.name + "': " + obj.error + ": " + untouched);
    step_done("compile", std::to_string(pol.rules.size()) + " rules, " + std::to_string(plan.tables.size()) + " set tables");
    maybe_kill(o, "after-compile");

    // --- verify: a private instance with fresh maps ---
    KernelLoadOptions klo;
    klo.object_name = pol.name;
    // Only the self-test reads the private instance's sets: without test blocks they stay empty
    // (the live instance fills its own), which halves the load of a million-entry blocklist.
    klo.fill_sets = std::any_of(c.program.tests.begin(), c.program.tests.end(),
                                [&](const TestCase& t) { return t.policy == pidx; });
    auto priv = LoadedPolicy::load(plan, c.sources, obj.bytes, out.kernel_diags, klo);
    if (!priv) {
        bool perm = false;
        for (const auto& d : out.kernel_diags.list()) perm |= d.code == "bpf-permission-denied";
        return fail(perm ? Problem::Environment : Problem::Policy, "verify",
                    "the kernel refused policy '" + pol.name + "': " + untouched);
    }
    step_done("verify", std::to_string(priv->stats().xlated_insns) + " instructions, verifier " +
                            std::to_string(priv->stats().load_time.count() / 1000) + " us");
    maybe_kill(o, "after-verify");

    // --- self-test: the policy's own test blocks on the private instance ---
    std::size_t skipped = 0;
    for (const TestCase& t : c.program.tests) {
        if (t.policy != pidx) continue;
        // Rate limits: every test block starts with full buckets at a frozen clock (as in `weir test`).
        if (auto st = priv->reset_limits(WEIR_LIMIT_TEST_CLOCK_NS); !st)
            return fail(Problem::Environment, "self-test", st.error().message);
        for (const Probe& probe : t.probes) {
            BuiltPacket built = build_packet(probe.packet);
            std::uint32_t in_if = 0;
            if (!probe.packet.iface.empty()) in_if = if_nametoindex(probe.packet.iface.c_str());
            if (!built.ok() || built.bytes.size() < 14 || (!probe.packet.iface.empty() && in_if == 0)) {
                ++skipped;
                continue;
            }
            ++out.probes;
            auto r = priv->run(built.bytes, in_if);
            ProbeFailure pf;
            pf.test = t.name;
            if (probe.range.valid()) {
                LineCol lc = c.sources.line_col(probe.range.file, probe.range.begin);
                pf.location = c.sources.file(probe.range.file).path + ":" + std::to_string(lc.line) + ":" +
                              std::to_string(lc.col);
            }
            pf.expected = verdict_name(probe.expect);
            if (probe.by_default) pf.expected += " by default";
            else if (probe.by_rule >= 0) pf.expected += " by " + pol.rules.at(probe.by_rule).name;
            if (!r) {
                pf.actual = "not run: " + r.error().message;
                out.probe_failures.push_back(pf);
                continue;
            }
            Decision d;
            d.rule = r->rule;
            std::optional<Verdict> v;
            switch (r->action) {
                case WEIR_ACT_PASS: v = Verdict::Pass; break;
                case WEIR_ACT_DROP: v = Verdict::Drop; break;
                case WEIR_ACT_TX: v = Verdict::Tx; break;
                case WEIR_ACT_REDIRECT: v = Verdict::Redirect; break;
                default: break;
            }
            if (v) d.verdict = *v;
            if (!v || !meets_expectation(probe, d)) {
                pf.actual = std::string(v ? verdict_name(*v) : "aborted") + " by " +
                            (r->rule < 0 ? std::string("default") : pol.rules.at(r->rule).name);
                out.probe_failures.push_back(pf);
            }
        }
    }
    if (!out.probe_failures.empty())
        return fail(Problem::Policy, "self-test",
                    "(" + std::to_string(out.probe_failures.size()) + " of " +
                        std::to_string(out.probes) + " probes): " + untouched);
    step_done("self-test", std::to_string(out.probes) + " probes" +
                               (skipped ? ", " + std::to_string(skipped) + " skipped (interface not on this host)" : ""));
    priv.reset();
    maybe_kill(o, "after-selftest");

    // --- capacity ---
    std::uint32_t cur_capacity = 0;
    if (swap) {
        auto cap = pins::map_max_entries(pinned.map(WEIR_MAP_RULES));
        if (!cap) return fail(Problem::Environment, "state", cap.error().message);
        cur_capacity = *cap;
    }
    const std::uint32_t needed = plan.slot_count();
    const bool grow = !swap || needed > cur_capacity;
    next.rule_capacity = grow ? rule_capacity_for(pol.rules.size(), needed) : cur_capacity;

    // Rate-limit buckets are kept (pinned weir_limits) unless the policy's limits need more
    // entries than the pinned table has: then a bigger, empty table replaces it.
    bool limits_grow = false;
    if (swap && pinned.map(WEIR_MAP_LIMITS) >= 0 && limit_entries(pol) > 0) {
        auto cap = pins::map_max_entries(pinned.map(WEIR_MAP_LIMITS));
        limits_grow = cap && *cap < limit_entries(pol);
    }
    auto live_options = [&]() {
        KernelLoadOptions lo;
        lo.object_name = pol.name;
        lo.rule_slots = next.rule_capacity;
        lo.set_capacity = kSetCapacity;
        if (swap) {
            lo.fill_sets = false;
            for (const auto& [name, fd] : pinned.maps)
                if (!(grow && name == WEIR_MAP_RULES) && !(name == WEIR_MAP_LIMITS && limits_grow))
                    lo.reuse_maps.emplace_back(name, fd.get());
        }
        return lo;
    };

    if (o.dry_run) {
        if (swap) {  // the live instance's load, sharing the pinned maps, changes nothing
            auto live = LoadedPolicy::load(plan, c.sources, obj.bytes, out.kernel_diags, live_options());
            if (!live)
                return fail(Problem::Policy, "verify", "the kernel refused policy '" + pol.name +
                                                           "' with the pinned maps: " + untouched);
            step_done("prepare", "dry run: verified with the pinned maps");
        }
        out.message = "dry run: policy '" + pol.name + "' would " +
                      (swap ? "replace '" + meta->current->policy + "' on '" + o.ifname + "'"
                            : "be attached to '" + o.ifname + "'");
        return out;
    }

    // --- pending ---
    const std::int64_t now = now_unix();
    next.loaded_at = now;
    next.attached_at = swap ? meta->current->attached_at : now;
    next.swaps = swap ? meta->current->swaps + 1 : 0;
    if (!swap) {
        if (auto st = pins::remove_dir(o.ifname); !st) return fail(Problem::Environment, "pending", st.error().message);
        if (::mkdir(pins::dir(o.ifname).c_str(), 0700) != 0)
            return fail(Problem::Environment, "pending", "create " + pins::dir(o.ifname) + ": " + std::strerror(errno));
        auto mfd = pins::create_meta_map();
        if (!mfd) return fail(Problem::Environment, "pending", mfd.error().message);
        if (auto st = pins::pin(mfd->get(), pins::path(o.ifname, pins::kMeta)); !st)
            return fail(Problem::Environment, "pending", st.error().message);
        pinned.ifname = o.ifname;
        pinned.meta = std::move(*mfd);
        meta = pins::Meta{};
    }
    meta->pending = next;
    if (auto st = pins::write_meta(pinned.meta.get(), *meta); !st) {
        if (!swap) (void)pins::remove_dir(o.ifname);
        meta->pending.reset();
        return fail(Problem::Policy, "pending", st.error().message + ": " + untouched);
    }
    maybe_kill(o, "after-pending");

    // From here until the swap, a failure undoes what was prepared.
    auto undo = [&](Problem pr, std::string step, std::string msg) -> LoadOutcome {
        if (!swap) {
            (void)pins::remove_dir(o.ifname);
        } else {
            meta->pending.reset();
            (void)pins::write_meta(pinned.meta.get(), *meta);
            (void)gc_sets(pinned, *meta->current);
        }
        return fail(pr, std::move(step), std::move(msg) + ": " + untouched);
    };

    // --- prepare ---
    if (swap) {
        if (!grow) {
            std::set<std::uint32_t> fresh, old = slot_values(*meta->current);
            for (const auto& [n, s] : next.slots)
                if (!meta->current->slots.count(n)) fresh.insert(s);
            if (auto st = zero_slots(pinned.map(WEIR_MAP_RULES), fresh); !st)
                return undo(Problem::Environment, "prepare", "zero new counter slots: " + st.error().message);
        }
        for (int ti : fill) {
            const SetTable& t = plan.tables[ti];
            if (auto st = fill_set_table(set_maps(t.kind, [&](const char* n) { return pinned.map(n); }), t); !st)
                return undo(Problem::Environment, "prepare", "fill set '" + t.name + "': " + st.error().message);
        }
    }
    auto live = LoadedPolicy::load(plan, c.sources, obj.bytes, out.kernel_diags, live_options());
    if (!live) return undo(Problem::Policy, "prepare", "the kernel refused the live instance of policy '" + pol.name + "'");
    if (swap && grow) {
        // A bigger weir_rules: copy the kept rules' counters (increments between this copy and
        // the swap are lost, see docs/operations.md).
        int oldfd = pinned.map(WEIR_MAP_RULES), newfd = live->map_fd(WEIR_MAP_RULES);
        for (const auto& [n, s] : next.slots) {
            if (!meta->current->slots.count(n)) continue;
            auto raw = bpf::lookup_percpu(oldfd, s, sizeof(weir_counter));
            if (!raw) return undo(Problem::Environment, "prepare", "copy counters: " + raw.error().message);
            if (auto st = bpf::update(newfd, s, std::span<const unsigned char>(*raw)); !st)
                return undo(Problem::Environment, "prepare", "copy counters: " + st.error().message);
        }
    }
    auto pi = pins::prog_info(live->program_fd());
    if (!pi) return undo(Problem::Environment, "prepare", pi.error().message);
    next.prog_id = pi->id;
    next.prog_tag = pi->tag;
    if (!swap) {
        next.mode = o.mode == Mode::Generic ? "generic" : "native";  // refined at attach
        for (const auto& name : pins::shared_maps()) {
            int fd = live->map_fd(name);
            if (fd < 0) continue;
            if (auto st = pins::pin(fd, pins::path(o.ifname, name)); !st)
                return undo(Problem::Environment, "prepare", st.error().message);
            if (auto dup = pins::open_pin(pins::path(o.ifname, name))) pinned.maps[name] = std::move(*dup);
        }
        if (auto st = pins::pin(live->program_fd(), pins::path(o.ifname, pins::kProg)); !st)
            return undo(Problem::Environment, "prepare", st.error().message);
    } else {
        next.mode = meta->current->mode;
    }
    meta->pending = next;
    if (auto st = pins::write_meta(pinned.meta.get(), *meta); !st)
        return undo(Problem::Policy, "prepare", st.error().message);
    step_done("prepare", "verified with the pinned maps, " + std::to_string(fill.size()) + " set tables filled");
    maybe_kill(o, "after-prepare");

    // --- swap / attach ---
    if (swap) {
        if (bpf_link_update(pinned.link.get(), live->program_fd(), nullptr) != 0)
            return undo(Problem::Environment, "swap", std::string("bpf_link_update: ") + std::strerror(errno));
        step_done("swap", "bpf_link_update, prog id " + std::to_string(next.prog_id));
    } else {
        std::vector<std::pair<std::uint32_t, const char*>> tries;
        if (o.mode != Mode::Generic) tries.emplace_back(XDP_FLAGS_DRV_MODE, "native");
        if (o.mode != Mode::Native) tries.emplace_back(XDP_FLAGS_SKB_MODE, "generic");
        int link = -1, err = 0;
        for (auto [flags, name] : tries) {
            bpf_link_create_opts lo{};
            lo.sz = sizeof lo;
            lo.flags = flags;
            link = bpf_link_create(live->program_fd(), static_cast<int>(ifindex), BPF_XDP, &lo);
            if (link >= 0) {
                next.mode = name;
                break;
            }
            err = errno;
        }
        if (link < 0) {
            if (err == EBUSY || err == EEXIST)
                return undo(Problem::Environment, "attach", "another XDP program is attached to '" + o.ifname + "'");
            return undo(Problem::Environment, "attach",
                        std::string("attach to '") + o.ifname + "' in " + mode_name(o.mode) + " mode: " + std::strerror(err));
        }
        pinned.link.reset(link);
        if (auto st = pins::pin(link, pins::path(o.ifname, pins::kLink)); !st) {
            bpf_link_detach(link);
            return undo(Problem::Environment, "attach", st.error().message);
        }
        meta->pending = next;  // the mode
        (void)pins::write_meta(pinned.meta.get(), *meta);
        step_done("attach", std::string(next.mode) + " mode, prog id " + std::to_string(next.prog_id));
    }
    maybe_kill(o, "after-link-update");

    // --- pin, meta, cleanup: the new policy runs; errors here are repaired by recover() ---
    if (swap) {
        if (auto st = finish_pins(pinned, live->program_fd()); !st)
            out.notes.push_back("could not re-pin yet (the next weir command repairs it): " + st.error().message);
    }
    step_done("pin", "");
    maybe_kill(o, "after-pin");
    // Cleanup before the meta: a crash in between leaves `pending`, which recovery finishes.
    std::optional<pins::PolicyMeta> old = meta->current;
    if (swap)
        if (auto st = cleanup(pinned, old, next); !st) out.notes.push_back("cleanup: " + st.error().message);
    step_done("cleanup", "");
    maybe_kill(o, "after-cleanup");
    meta->current = next;
    meta->pending.reset();
    if (auto st = pins::write_meta(pinned.meta.get(), *meta); !st)
        out.notes.push_back("could not write weir_meta (the next weir command repairs it): " + st.error().message);
    step_done("meta", "");
    maybe_kill(o, "after-meta");
    out.now = next;
    out.message = swap ? "policy '" + pol.name + "' replaced '" + old->policy + "' on '" + o.ifname + "'"
                       : "policy '" + pol.name + "' attached to '" + o.ifname + "' (" + next.mode + ")";
    return out;
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
        if (Failure f = prepare_environment(false)) return f;
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
    if (removed && p->meta)
        if (auto m = pins::read_meta(p->meta.get()); m && m->current) *removed = m->current;
    if (p->link && bpf_link_detach(p->link.get()) != 0 && errno != ENOLINK && errno != EINVAL)
        return env_failure(std::string("detach: ") + std::strerror(errno));
    if (auto st = pins::remove_dir(ifname); !st) return env_failure(st.error().message);
    return {};
}

}  // namespace weir::attach
