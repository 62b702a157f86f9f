// The planner (plan.hpp): decides which sets become lookup tables and in what form codegen
// evaluates the rules; classifier.cpp and classifier_tree.cpp build the classifier groups.
#include <algorithm>
#include <bit>
#include <optional>
#include <set>

#include "plan.hpp"
#include "values.hpp"
#include "weir_abi.h"

namespace weir {

unsigned table_value_bits(TableKind k) {
    switch (k) {
        case TableKind::V4: return 32;
        case TableKind::V6: return 128;
        case TableKind::Port: return 16;
        case TableKind::Proto: return 8;
        case TableKind::Mac: return 48;
    }
    return 0;
}

const char* table_map_name(TableKind k) {
    switch (k) {
        case TableKind::V4: return WEIR_MAP_SET_V4;
        case TableKind::V6: return WEIR_MAP_SET_V6;
        case TableKind::Port: return WEIR_MAP_SET_PORT;
        case TableKind::Proto: return WEIR_MAP_SET_PROTO;
        case TableKind::Mac: return WEIR_MAP_SET_MAC;
    }
    return "";
}

const char* table_kind_name(TableKind k) {
    switch (k) {
        case TableKind::V4: return "v4";
        case TableKind::V6: return "v6";
        case TableKind::Port: return "port";
        case TableKind::Proto: return "proto";
        case TableKind::Mac: return "mac";
    }
    return "?";
}

const SetTable* Plan::table_for(int program_set, TableKind kind) const {
    for (const auto& t : tables)
        if (t.program_set == program_set && t.kind == kind) return &t;
    return nullptr;
}

std::uint32_t Plan::slot_count() const {
    std::uint32_t n = 1;
    for (const auto& r : rules) n = std::max(n, r.slot + 1);
    return n;
}

std::optional<unsigned> block_bits(u128 lo, u128 hi, unsigned bits) {
    const u128 all = bits >= 128 ? ~u128{0} : (u128{1} << bits) - 1;
    const u128 span = hi - lo;
    if (lo > hi || hi > all || (span & (span + 1)) != 0 || (lo & span) != 0) return std::nullopt;
    return static_cast<unsigned>(std::popcount(static_cast<std::uint64_t>(span)) +
                                 std::popcount(static_cast<std::uint64_t>(span >> 64)));
}

std::vector<TablePrefix> range_to_prefixes(u128 lo, u128 hi, unsigned bits) {
    std::vector<TablePrefix> out;
    if (lo > hi) return out;
    const u128 all = bits >= 128 ? ~u128{0} : (u128{1} << bits) - 1;
    hi &= all;
    while (true) {
        // The largest aligned block that starts at lo and ends at or before hi.
        unsigned size_bits = 0;
        while (size_bits < bits) {
            if (size_bits + 1 == 128) {  // a block of 2^128 (not representable): the whole space
                if (lo == 0 && hi == all) ++size_bits;
                break;
            }
            u128 doubled = u128{1} << (size_bits + 1);  // size_bits + 1 < 128
            if ((lo & (doubled - 1)) != 0) break;      // lo is not aligned to the doubled block
            u128 last = lo + (doubled - 1);
            if (last < lo || last > hi) break;          // overflow, or past hi
            ++size_bits;
        }
        out.push_back({lo, static_cast<std::uint8_t>(bits - size_bits)});
        u128 last = size_bits >= 128 ? all : lo + ((u128{1} << size_bits) - 1);
        if (last >= hi) break;
        lo = last + 1;
    }
    return out;
}

namespace {

// The table kind for values of a field (by type and width).
TableKind kind_for_field(const FieldDef& f) {
    switch (f.type) {
        case FieldType::Ip4: return TableKind::V4;
        case FieldType::Ip6: return TableKind::V6;
        case FieldType::Mac: return TableKind::Mac;
        default: break;
    }
    if (f.bits <= 8) return TableKind::Proto;
    if (f.bits <= 16) return TableKind::Port;
    if (f.bits <= 32) return TableKind::V4;
    return TableKind::V6;
}

class Planner {
public:
    Planner(const Program& prog, int policy, const PlanOptions& opts) : opts_(opts) {
        plan_.program = &prog;
        plan_.policy = policy;
    }

    Plan run() {
        const Policy& pol = plan_.pol();
        plan_.default_action = pol.default_verdict == Verdict::Drop ? WEIR_ACT_DROP : WEIR_ACT_PASS;
        for (std::size_t i = 0; i < pol.rules.size(); ++i) {
            const Rule& r = pol.rules[i];
            PlannedRule pr;
            pr.rule = static_cast<int>(i);
            pr.slot = static_cast<std::uint32_t>(i);
            pr.src = &r;
            pr.terminal = r.action.terminal();
            pr.action = action_code(r.action.kind);
            plan_.rules.push_back(pr);
        }
        if (opts_.mode == PlanOptions::Mode::Auto) classify();
        for (const auto& pr : plan_.rules)
            if (pr.group < 0 && pr.src->has_cond) walk(pr.src->cond, *pr.src);
        plan_.strategy = plan_.groups.empty() ? Strategy::Linear : Strategy::Classifier;
        return std::move(plan_);
    }

private:
    static std::uint32_t action_code(Action::Kind k) {
        switch (k) {
            case Action::Kind::Pass: return WEIR_ACT_PASS;
            case Action::Kind::Drop: return WEIR_ACT_DROP;
            case Action::Kind::Tx: return WEIR_ACT_TX;
            case Action::Kind::Redirect: return WEIR_ACT_REDIRECT;
            case Action::Kind::Count:
            case Action::Kind::Log: return 0;
        }
        return 0;
    }

    // Runs of at least min_rules consecutive terminal rules that are boxes over at most max_dims
    // dimensions become classifier groups; a group whose tree has too large a leaf is split in two.
    void classify() {
        const ClsParams& p = opts_.classifier;
        const std::size_t n = plan_.rules.size();
        if (n < p.min_rules) return;
        ClsBoxer boxer(*plan_.program);
        std::vector<std::optional<RuleBoxes>> boxes(n);
        for (std::size_t i = 0; i < n; ++i)
            if (plan_.rules[i].terminal) boxes[i] = boxer.boxes(*plan_.rules[i].src, p.max_boxes_per_rule);
        std::size_t i = 0;
        while (i < n) {
            if (!boxes[i]) {
                ++i;
                continue;
            }
            std::set<FieldId> dims;
            std::size_t j = i;
            for (; j < n && boxes[j]; ++j) {
                std::set<FieldId> more = dims;
                for (const auto& b : boxes[j]->boxes)
                    for (const auto& f : b) more.insert(f.first);
                if (more.size() > std::min<std::size_t>(p.max_dims, WEIR_CLS_MAX_DIMS)) break;
                dims = std::move(more);
            }
            if (j == i) j = i + 1;  // one rule alone needs more dimensions than a tree has
            else if (j - i >= p.min_rules) group(boxes, i, j);
            i = j;
        }
    }

    void group(const std::vector<std::optional<RuleBoxes>>& boxes, std::size_t first, std::size_t end) {
        const ClsParams& p = opts_.classifier;
        if (end - first < p.min_rules) return;
        std::vector<RuleBoxes> rb;
        for (std::size_t k = first; k < end; ++k) rb.push_back(*boxes[k]);
        ClsGroup g;
        g.first = first;
        g.count = end - first;
        if (!build_group(g, rb, p, plan_.cls)) {
            std::size_t mid = first + (end - first) / 2;
            group(boxes, first, mid);
            group(boxes, mid, end);
            return;
        }
        for (std::size_t k = first; k < end; ++k) plan_.rules[k].group = static_cast<int>(plan_.groups.size());
        plan_.groups.push_back(std::move(g));
    }

    void walk(const Expr& e, const Rule& r) {
        for (const auto& k : e.kids) walk(k, r);
        if (e.kind != Expr::Kind::In) return;
        const FieldDef& f = field(e.field);
        if (f.type == FieldType::Iface) return;  // names resolve at load time: compared inline
        if (e.set >= 0) {
            plan_.lookups[&e] = named_lookup(e.set, f);
        } else if (e.elems.size() > kInlineCompareLimit) {
            plan_.lookups[&e] = inline_lookup(e, f, r);
        }
    }

    // Adds the elements of `elems` (of the given family, for addresses) to a new table.
    int add_table(TableKind kind, int program_set, std::string name, const std::vector<Element>& elems,
                  Family family) {
        SetTable t;
        t.kind = kind;
        t.id = ++next_id_[static_cast<int>(kind)];
        t.program_set = program_set;
        t.name = std::move(name);
        unsigned bits = table_value_bits(kind);
        t.prefixes.reserve(elems.size());
        for (const auto& el : elems) {
            if (family != Family::None && el.family != family) continue;
            // One aligned block (a host, a CIDR: most of a blocklist) is its own prefix.
            if (auto size_bits = block_bits(el.lo, el.hi, bits)) {
                t.prefixes.push_back({el.lo, static_cast<std::uint8_t>(bits - *size_bits)});
                continue;
            }
            for (auto& p : range_to_prefixes(el.lo, el.hi, bits)) t.prefixes.push_back(p);
        }
        plan_.tables.push_back(std::move(t));
        return static_cast<int>(plan_.tables.size() - 1);
    }

    int named_table(int set, TableKind kind, Family family) {
        auto key = std::make_pair(set, static_cast<int>(kind));
        if (auto it = named_.find(key); it != named_.end()) return it->second;
        const SetDef& s = plan_.program->sets.at(set);
        int idx = add_table(kind, set, s.name, s.elems, family);
        named_[key] = idx;
        return idx;
    }

    InPlan named_lookup(int set, const FieldDef& f) {
        InPlan ip;
        switch (f.type) {
            case FieldType::IpAny:
                ip.v4_table = named_table(set, TableKind::V4, Family::V4);
                ip.v6_table = named_table(set, TableKind::V6, Family::V6);
                break;
            case FieldType::Ip4: ip.v4_table = named_table(set, TableKind::V4, Family::V4); break;
            case FieldType::Ip6: ip.v6_table = named_table(set, TableKind::V6, Family::V6); break;
            default: ip.table = named_table(set, kind_for_field(f), Family::None); break;
        }
        return ip;
    }

    InPlan inline_lookup(const Expr& e, const FieldDef& f, const Rule& r) {
        InPlan ip;
        std::string name = "inline@" + r.name;
        switch (f.type) {
            case FieldType::IpAny:
                ip.v4_table = add_table(TableKind::V4, -1, name, e.elems, Family::V4);
                ip.v6_table = add_table(TableKind::V6, -1, name, e.elems, Family::V6);
                break;
            case FieldType::Ip4: ip.v4_table = add_table(TableKind::V4, -1, name, e.elems, Family::V4); break;
            case FieldType::Ip6: ip.v6_table = add_table(TableKind::V6, -1, name, e.elems, Family::V6); break;
            default: ip.table = add_table(kind_for_field(f), -1, name, e.elems, Family::None); break;
        }
        return ip;
    }

    const PlanOptions& opts_;
    Plan plan_;
    std::uint32_t next_id_[5] = {};
    std::map<std::pair<int, int>, int> named_;
};

}  // namespace

Plan plan_policy(const Program& program, int policy, const PlanOptions& opts) {
    return Planner(program, policy, opts).run();
}

}  // namespace weir
