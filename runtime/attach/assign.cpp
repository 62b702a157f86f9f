// Counter slots and set ids of a new program (assign.hpp).
#include "assign.hpp"

#include <map>
#include <set>
#include <string>

#include "sha256.hpp"

namespace weir::attach {

namespace {

// A table's identity: its kind and prefixes.
std::string table_hash(const SetTable& t) {
    std::string all = pins::kind_name(t.kind);
    for (const TablePrefix& p : t.prefixes) {
        for (int i = 0; i < 16; ++i) all += static_cast<char>(static_cast<std::uint8_t>(p.value >> (8 * i)));
        all += static_cast<char>(p.len);
    }
    return sha256_hex(all);
}

}  // namespace

void assign(Plan& plan, const pins::PolicyMeta* cur, pins::PolicyMeta& next, std::vector<int>& fill) {
    const Policy& pol = plan.pol();
    std::set<std::uint32_t> used;
    if (cur)
        for (const auto& [name, slot] : cur->slots) used.insert(slot);
    std::set<std::uint32_t> taken;
    for (PlannedRule& pr : plan.rules) {  // kept names first
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

    if (cur) next.next_set_id = cur->next_set_id;
    // A shadow candidate's own tables too: promote keeps them as the candidate filled them.
    next.sets = number_tables(plan, {cur ? &cur->sets : nullptr, cur && cur->shadow ? &cur->shadow->sets : nullptr},
                              next.next_set_id, fill);
}

std::vector<pins::SetRecord> number_tables(Plan& plan, std::initializer_list<const std::vector<pins::SetRecord>*> kept,
                                           std::array<std::uint32_t, 5>& next_set_id, std::vector<int>& fill) {
    std::vector<pins::SetRecord> out;
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
        for (const std::vector<pins::SetRecord>* in : kept) {
            if (!in) continue;
            for (const auto& s : *in)  // the last match (confirm::keep appends a rollback's records)
                if (s.name == r.name && s.kind == r.kind && s.ordinal == r.ordinal && s.hash == r.hash) old = &s;
            if (old) break;
        }
        if (old) {
            r.id = old->id;
            r.live_edits = old->live_edits;  // live contents are kept: so is the record of edits
            r.edited_at = old->edited_at;
        } else {
            r.id = next_set_id[static_cast<int>(t.kind)]++;
            fill.push_back(static_cast<int>(i));
        }
        t.id = r.id;
        out.push_back(std::move(r));
    }
    return out;
}

}  // namespace weir::attach
