// Shadow mode (shadow.hpp): the candidate's plan, the three swaps, and the transition report.
#include "shadow.hpp"

#include <bpf/bpf.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <set>

#include "actions.hpp"
#include "assign.hpp"
#include "attach_detail.hpp"
#include "weir_abi.h"

namespace weir::attach::shadow {
namespace {

LoadOutcome failed(Problem pr, std::string step, std::string msg,
                   std::shared_ptr<const Compilation> c = nullptr) {
    LoadOutcome out;
    out.problem = pr;
    out.failed_step = std::move(step);
    out.message = std::move(msg);
    out.compilation = std::move(c);
    return out;
}

std::string absolute(const std::string& file) {
    std::error_code ec;
    auto abs = std::filesystem::absolute(file, ec);
    return ec ? file : abs.lexically_normal().string();
}

// The running policy's record on `ifname`, or a failed outcome.
std::optional<pins::PolicyMeta> running(const std::string& ifname, LoadOutcome& out) {
    std::vector<Attachment> st;
    if (Failure f = status(st, ifname)) {
        out = failed(f.problem, "state", f.message);
        return std::nullopt;
    }
    if (st.empty() || st.front().meta.policy.empty()) {
        out = failed(Problem::Environment, "state", "no weir policy runs on '" + ifname + "'");
        return std::nullopt;
    }
    return st.front().meta;
}

// A recorded source compiled again; its hash must be the recorded one (what ran is what builds).
std::shared_ptr<const Compilation> recompile(const std::string& source, const std::string& hash,
                                             const std::string& what, const CheckOptions& check, LoadOutcome& out) {
    std::shared_ptr<const Compilation> c = compile_file(source, check);
    if (c->io_error || !c->ok()) {
        out = failed(Problem::Environment, "compile", "cannot compile " + what + " '" + source + "' again", c);
        return nullptr;
    }
    if (weir::source_hash(c->sources) != hash) {
        out = failed(Problem::Environment, "compile",
                     what + " '" + source + "' changed since it was loaded (its hash differs): nothing was changed");
        return nullptr;
    }
    return c;
}

LoadOutcome load_recorded(const LoadOptions& o, const std::string& source, const std::string& policy,
                          const std::string& hash, const std::string& what) {
    LoadOutcome out;
    auto c = recompile(source, hash, what, o.check, out);
    if (!c) return out;
    LoadOptions lo = o;
    lo.file = source;
    lo.policy = policy;
    lo.shadow.reset();
    BuildResult b = build_artifact(c, policy, load_codegen_options(lo));
    if (!b.ok()) return failed(Problem::Policy, "compile", b.error, c);
    return load(*b.artifact, lo);
}

}  // namespace

std::optional<Planned> plan_candidate(const ShadowCandidate& cand, const Plan& enforcing, pins::PolicyMeta& next,
                                      const pins::PolicyMeta* cur, std::string& why) {
    if (!cur || cur->source_hash != next.source_hash) {
        why = "a shadow runs beside the running policy, which changed meanwhile";
        return std::nullopt;
    }
    PlanOptions po;
    po.mode = PlanOptions::Mode::Linear;  // the classifier's maps hold the enforcing policy's trees
    Planned out;
    out.plan = plan_policy(cand.compilation->program, cand.policy, po);
    // Slots above every slot the enforcing policy or the running program's candidate uses.
    std::uint32_t base = enforcing.slot_count();
    for (const auto& [n, s] : next.slots) base = std::max(base, s + 1);
    if (cur && cur->shadow)
        for (const auto& [n, s] : cur->shadow->slots) base = std::max(base, s + 1);
    const Policy& pol = out.plan.pol();
    for (PlannedRule& pr : out.plan.rules) pr.slot = base + static_cast<std::uint32_t>(pr.rule);
    // Tables equal to the enforcing policy's share their ids; the running candidate's keep
    // theirs (a new shadow of the same sets refills nothing); the others are filled afresh.
    pins::ShadowMeta& m = out.meta;
    m.sets = number_tables(out.plan, {&next.sets, cur->shadow ? &cur->shadow->sets : nullptr}, next.next_set_id, out.fill);
    m.policy = pol.name;
    m.source = cand.source;
    m.source_hash = cand.source_hash;
    m.loaded_at = static_cast<std::int64_t>(std::time(nullptr));
    for (const PlannedRule& pr : out.plan.rules) m.slots[pol.rules.at(pr.rule).name] = pr.slot;
    for (const Rule& r : pol.rules) m.rules.push_back({r.name, action_name(r.action.kind)});
    m.default_verdict = verdict_name(pol.default_verdict);
    return out;
}

LoadOutcome start(const LoadOptions& o, std::shared_ptr<const Compilation> enforcing,
                  std::shared_ptr<const Compilation> candidate) {
    LoadOutcome out;
    auto cur = running(o.ifname, out);
    if (!cur) return out;
    std::shared_ptr<const Compilation> cc = candidate ? candidate : compile_file(o.file, o.check);
    if (cc->io_error) return failed(Problem::Environment, "compile", "cannot read '" + o.file + "'", cc);
    if (!cc->ok()) return failed(Problem::Policy, "compile", "the candidate does not compile: nothing was changed", cc);
    std::string why;
    const int index = select_policy(cc->program, o.policy, o.file, why);
    if (index < 0) return failed(Problem::Policy, "compile", why, cc);
    auto cand = std::make_shared<ShadowCandidate>();
    cand->compilation = cc;
    cand->policy = index;
    cand->source = absolute(o.file);
    cand->source_hash = weir::source_hash(cc->sources);

    auto ec = enforcing ? enforcing : recompile(cur->source, cur->source_hash, "the running policy's source", o.check, out);
    if (!ec) return out;
    if (weir::source_hash(ec->sources) != cur->source_hash)
        return failed(Problem::Environment, "compile", "the running policy is not the one given: nothing was changed");
    LoadOptions lo = o;
    lo.file = cur->source;
    lo.policy = cur->policy;
    lo.shadow = cand;
    BuildResult b = build_artifact(ec, cur->policy, load_codegen_options(lo));
    if (!b.ok()) return failed(Problem::Policy, "compile", b.error, ec);
    out = load(*b.artifact, lo);
    if (!out.compilation || out.problem == Problem::Policy) out.compilation = out.compilation ? out.compilation : cc;
    return out;
}

LoadOutcome promote(const LoadOptions& o) {
    LoadOutcome out;
    auto cur = running(o.ifname, out);
    if (!cur) return out;
    if (!cur->shadow) return failed(Problem::Environment, "shadow", "no shadow policy runs on '" + o.ifname + "'");
    return load_recorded(o, cur->shadow->source, cur->shadow->policy, cur->shadow->source_hash, "the candidate's source");
}

LoadOutcome stop(const LoadOptions& o) {
    LoadOutcome out;
    auto cur = running(o.ifname, out);
    if (!cur) return out;
    if (!cur->shadow) return failed(Problem::Environment, "shadow", "no shadow policy runs on '" + o.ifname + "'");
    return load_recorded(o, cur->source, cur->policy, cur->source_hash, "the running policy's source");
}

namespace {

std::string name_of(const std::map<std::string, std::uint32_t>& slots, std::uint32_t slot) {
    if (slot == WEIR_RULE_DEFAULT) return "default";
    for (const auto& [n, s] : slots)
        if (s == slot) return n;
    return "slot " + std::to_string(slot);
}

weir_counter sum(const std::vector<unsigned char>& raw) {
    weir_counter total{};
    const std::size_t stride = bpf::percpu_stride(sizeof(weir_counter));
    for (std::size_t at = 0; at + sizeof(weir_counter) <= raw.size(); at += stride) {
        weir_counter c;
        std::memcpy(&c, raw.data() + at, sizeof c);
        total.packets += c.packets;
        total.bytes += c.bytes;
    }
    return total;
}

std::uint64_t slot_packets(int fd, std::uint32_t slot) {
    auto raw = bpf::lookup_percpu(fd, slot, sizeof(weir_counter));
    return raw ? sum(*raw).packets : 0;
}

}  // namespace

Failure report(const std::string& ifname, Report& out) {
    std::vector<Attachment> st;
    if (Failure f = status(st, ifname)) return f;
    if (st.empty() || !st.front().meta.shadow)
        return detail::env_failure("no shadow policy runs on '" + ifname + "'");
    out.ifname = ifname;
    out.meta = st.front().meta;
    auto p = pins::open_pinned(ifname);
    if (!p || !p->prog) return detail::env_failure("cannot open the pinned program of '" + ifname + "'");
    auto maps = pins::prog_maps(p->prog.get());
    if (!maps) return detail::env_failure(maps.error().message);
    auto tx = maps->find(WEIR_MAP_SHADOW_TX), sst = maps->find(WEIR_MAP_SHADOW_STATS);
    if (tx == maps->end() || sst == maps->end())
        return detail::env_failure("the program on '" + ifname + "' has no shadow maps (its record says it should)");
    auto cpus = bpf::possible_cpus();
    if (!cpus) return detail::env_failure(cpus.error().message);
    std::vector<unsigned char> raw(*cpus * bpf::percpu_stride(sizeof(weir_counter)));
    weir_shadow_key key{}, next{};
    const void* prev = nullptr;
    const pins::ShadowMeta& cand = *out.meta.shadow;
    while (bpf_map_get_next_key(tx->second.get(), prev, &next) == 0) {
        key = next;
        prev = &key;
        if (bpf_map_lookup_elem(tx->second.get(), &key, raw.data()) != 0) continue;
        weir_counter c = sum(raw);
        Transition t;
        t.from_rule = name_of(out.meta.slots, key.enforced);
        t.from_verdict = action_name(key.actions >> 8);
        t.to_rule = name_of(cand.slots, key.candidate);
        t.to_verdict = action_name(key.actions & 0xff);
        t.packets = c.packets;
        t.bytes = c.bytes;
        out.transitions.push_back(std::move(t));
    }
    std::sort(out.transitions.begin(), out.transitions.end(), [](const Transition& a, const Transition& b) {
        return a.packets != b.packets ? a.packets > b.packets
                                      : std::tie(a.from_rule, a.to_rule) < std::tie(b.from_rule, b.to_rule);
    });
    out.lost_packets = slot_packets(sst->second.get(), WEIR_SHADOW_STAT_LOST);
    out.same_packets = slot_packets(sst->second.get(), WEIR_SHADOW_STAT_SAME);
    out.candidate_default_packets = slot_packets(sst->second.get(), WEIR_SHADOW_STAT_DEFAULT);
    if (int rules = p->map(WEIR_MAP_RULES); rules >= 0)
        for (const auto& r : cand.rules)
            if (auto it = cand.slots.find(r.name); it != cand.slots.end())
                out.candidate_rules.emplace_back(r.name, slot_packets(rules, it->second));
    return {};
}

}  // namespace weir::attach::shadow
