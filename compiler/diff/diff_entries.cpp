// Diff steps 0 and 1: each rule's condition as entries (one per DNF conjunction) with opaque atoms
// keyed by content, the per-state boxes K_s that make the model exact for real frames (parse.h),
// and the alignment of identical rules in the same relative order.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "diff_internal.hpp"

namespace weir::diff::detail {

namespace {

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}
std::uint64_t combine(std::uint64_t h, std::uint64_t v) {
    return mix(h ^ mix(v));
}
std::uint64_t hash128(std::uint64_t h, u128 v) {
    return combine(combine(h, static_cast<std::uint64_t>(v)), static_cast<std::uint64_t>(v >> 64));
}
std::uint64_t hash_str(std::uint64_t h, const std::string& s) {
    for (unsigned char c : s) h = combine(h, c);
    return combine(h, s.size());
}

void key_elements(std::string& k, const std::vector<Element>& elems) {
    for (const auto& e : elems)
        k += std::to_string(static_cast<int>(e.family)) + ":" + logic::hex128(e.lo) + "-" + logic::hex128(e.hi) + ";";
}

// The content of an opaque atom: equal strings are the same boolean in both programs.
std::string var_key(const Program& prog, const Expr& e) {
    std::string k;
    if (e.kind == Expr::Kind::Limit) {
        const LimitSpec& l = *e.limit;
        k = "L" + std::to_string(l.id) + "|" + std::to_string(l.amount) + "|" + std::to_string(l.period_s) + "|" +
            std::to_string(l.burst) + "|" + (l.bytes ? "b" : "p") + "|";
        for (FieldId f : l.key) k += std::to_string(static_cast<int>(f)) + ",";
        return k;
    }
    if (e.kind == Expr::Kind::Payload) {
        k = "P" + std::to_string(static_cast<int>(e.op)) + "|" + std::to_string(e.offset) + "|";
        for (auto b : e.bytes) k += logic::hex128(b) + ",";
        return k;
    }
    k = "O" + std::to_string(static_cast<int>(e.kind)) + "|" + std::to_string(static_cast<int>(e.field)) + "|" +
        std::to_string(static_cast<int>(e.op)) + "|" + (e.negated ? "n" : "p") + "|";
    if (e.kind == Expr::Kind::Compare) key_elements(k, {e.value});
    if (e.kind == Expr::Kind::In)
        key_elements(k, e.set >= 0 ? prog.sets.at(static_cast<std::size_t>(e.set)).elems : e.elems);
    return k;
}

std::uint64_t box_hash(const Entry& e) {
    std::uint64_t h = 0x5eed;
    for (const auto& [f, s] : e.box.fields) {
        h = combine(h, static_cast<std::uint64_t>(f) * 2 + (s.absent ? 1 : 0));
        for (const auto& v : s.v) {
            h = combine(h, v.size());
            for (const auto& x : v) h = hash128(hash128(h, x.lo), x.hi);
        }
    }
    for (const auto& v : e.vars) h = combine(hash_str(h, v.key), v.value ? 1 : 0);
    return h;
}

std::uint32_t pktlen_min(const logic::HeaderState& h) {
    std::uint32_t n = 14 + (h.vlan ? 4 : 0);
    if (h.net == 4) n += 20;
    if (h.net == 6) n += 40;
    switch (h.l4) {
        case logic::L4Header::Tcp: n += 20; break;
        case logic::L4Header::Udp:
        case logic::L4Header::Icmp:
        case logic::L4Header::Icmp6: n += 8; break;
        case logic::L4Header::None: break;
    }
    return n;
}

bool overlaps(const logic::Intervals& a, const logic::Intervals& b) {
    return !logic::intersect(a, b).empty();
}

// Header states where some packet of the entry's box lies in K_s.
std::uint32_t live_states(const logic::Box& box) {
    std::uint32_t mask = logic::state_mask(box), out = 0;
    for (int s = 0; s < logic::kStateCount; ++s) {
        if (!(mask >> s & 1) || !state_possible(s)) continue;
        bool ok = true;
        for (const auto& [f, set] : box.fields) {
            // Only these fields are narrowed by K_s; state_mask already checked the others.
            if (f != FieldId::IpProto && f != FieldId::EthType && f != FieldId::IpVersion && f != FieldId::PktLen)
                continue;
            int v = logic::state_variant(f, s);
            if (v >= 0 && !overlaps(set.v[static_cast<std::size_t>(v)], state_domain(f, s))) ok = false;
        }
        if (ok) out |= std::uint32_t{1} << s;
    }
    return out;
}

}  // namespace

bool state_possible(int s) {
    logic::HeaderState h = logic::header_state(s);
    if (!h.eth) return false;  // frames under 14 bytes are malformed: no rule sees them
    if (h.net == 6 && h.l4 == logic::L4Header::Icmp) return false;
    if (h.net == 4 && h.l4 == logic::L4Header::Icmp6) return false;
    return true;
}

logic::Intervals state_domain(FieldId canon, int s) {
    int v = logic::state_variant(canon, s);
    if (v < 0 || !state_possible(s)) return {};
    logic::HeaderState h = logic::header_state(s);
    const u128 max = logic::variant_max(canon, v);
    auto one = [](u128 x) { return logic::Intervals{{x, x}}; };
    switch (canon) {
        case FieldId::IpProto:
            switch (h.l4) {
                case logic::L4Header::Tcp: return one(6);
                case logic::L4Header::Udp: return one(17);
                case logic::L4Header::Icmp: return one(1);
                case logic::L4Header::Icmp6: return one(58);
                case logic::L4Header::None: break;
            }
            break;
        case FieldId::EthType:
            if (h.net == 4) return one(0x0800);
            if (h.net == 6) return one(0x86dd);
            break;
        case FieldId::IpVersion: return one(static_cast<u128>(h.net));
        case FieldId::PktLen: return {{pktlen_min(h), max}};
        default: break;
    }
    return {{0, max}};
}

Decided decided_of(const Side& side, int rule) {
    Decided d;
    d.rule = rule;
    if (rule < 0) {
        d.verdict = side.policy->default_verdict;
        return d;
    }
    const Rule& r = side.policy->rules.at(static_cast<std::size_t>(rule));
    switch (r.action.kind) {
        case Action::Kind::Drop: d.verdict = Verdict::Drop; break;
        case Action::Kind::Redirect: d.verdict = Verdict::Redirect; break;
        case Action::Kind::Tx: d.verdict = Verdict::Tx; break;
        default: d.verdict = Verdict::Pass; break;
    }
    if (d.verdict == Verdict::Redirect) d.ifname = r.action.ifname;
    d.rule_name = r.name;
    d.where = r.range;
    return d;
}

Side build_side(const DiffInput& in, std::size_t dnf_cap, std::uint64_t seed) {
    Side side;
    side.program = in.program;
    side.policy = &in.program->policies.at(static_cast<std::size_t>(in.policy));
    side.file = in.file;
    logic::Space space(*in.program, logic::SpaceOptions{.exact_not_in = true});
    const auto& rules = side.policy->rules;
    side.rule_hash.resize(rules.size());
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const Rule& r = rules[i];
        std::uint64_t rh = combine(static_cast<std::uint64_t>(r.action.kind), 0);
        rh = hash_str(rh, r.action.ifname);
        if (!r.action.terminal()) rh = hash_str(rh, r.name);  // counters are reported by name
        auto dnf = space.dnf(r.cond, true, dnf_cap);
        if (!dnf) {
            side.too_large.push_back(static_cast<int>(i));
            side.rule_hash[i] = mix(seed ^ mix(i + 1));  // aligned with nothing
            continue;
        }
        for (const auto& conj : *dnf) {
            Entry e;
            e.rule = static_cast<int>(i);
            e.terminal = r.action.terminal();
            e.verdict = decided_of(side, e.rule).verdict;
            e.ifname = &r.action.ifname;
            e.box = conj.box;
            e.box.vars.clear();
            e.box.never = false;
            for (int li : conj.lits) {
                const logic::Lit& l = space.lit(li);
                if (l.kind == logic::Lit::Kind::Var) e.vars.push_back({var_key(*in.program, *l.atom), l.positive});
            }
            std::sort(e.vars.begin(), e.vars.end());
            e.vars.erase(std::unique(e.vars.begin(), e.vars.end()), e.vars.end());
            bool contradiction = false;
            for (std::size_t k = 1; k < e.vars.size(); ++k) contradiction |= e.vars[k].key == e.vars[k - 1].key;
            if (contradiction) continue;
            e.states = live_states(e.box);
            rh = combine(rh, box_hash(e));
            if (e.states == 0) continue;
            e.zobrist = mix(seed ^ mix(side.entries.size() * 0x100000001b3ull + 7));
            side.entries.push_back(std::move(e));
        }
        side.rule_hash[i] = rh;
    }
    side.rule_entries = side.entries.size();
    return side;
}

namespace {

// The entry index of each rule with exactly one entry (-1: none or several).
std::vector<int> sole_entries(const Side& s) {
    std::vector<int> out(s.rule_hash.size(), -1);
    std::vector<int> count(s.rule_hash.size(), 0);
    for (std::size_t i = 0; i < s.entries.size(); ++i) {
        auto r = static_cast<std::size_t>(s.entries[i].rule);
        if (++count[r] == 1) out[r] = static_cast<int>(i);
        else out[r] = -1;
    }
    return out;
}

// Between consecutive aligned rules, identical rules are aligned too: the gap's common prefix and
// suffix, then a longest common subsequence while the table stays small. Rules that occur more
// than once (broad catch-alls repeated near the end of a policy) are aligned this way.
void fill_gaps(const std::vector<std::uint64_t>& ha, const std::vector<std::uint64_t>& hb, std::vector<char>& in_a,
               std::vector<char>& in_b) {
    struct Gap {
        std::size_t i0, i1, j0, j1;  // [i0, i1) in a, [j0, j1) in b
    };
    std::vector<Gap> gaps;
    for (std::size_t i = 0, j = 0; i <= ha.size() && j <= hb.size();) {
        std::size_t gi = i, gj = j;
        while (gi < ha.size() && !in_a[gi]) ++gi;
        while (gj < hb.size() && !in_b[gj]) ++gj;
        gaps.push_back({i, gi, j, gj});
        i = gi + 1, j = gj + 1;
    }
    auto mark = [&](std::size_t i, std::size_t j) { in_a[i] = 1, in_b[j] = 1; };
    std::size_t budget = std::size_t{1} << 24;  // table cells over all gaps
    for (Gap g : gaps) {
        while (g.i0 < g.i1 && g.j0 < g.j1 && ha[g.i0] == hb[g.j0]) mark(g.i0++, g.j0++);
        while (g.i0 < g.i1 && g.j0 < g.j1 && ha[g.i1 - 1] == hb[g.j1 - 1]) mark(--g.i1, --g.j1);
        const std::size_t n = g.i1 - g.i0, m = g.j1 - g.j0;
        if (n == 0 || m == 0 || n * m > budget) continue;
        budget -= n * m;
        // t[i][j]: LCS length of a[i..n) and b[j..m); min(n, m) <= 4096 fits 16 bits.
        std::vector<std::uint16_t> t((n + 1) * (m + 1), 0);
        auto at = [&](std::size_t i, std::size_t j) -> std::uint16_t& { return t[i * (m + 1) + j]; };
        for (std::size_t i = n; i-- > 0;)
            for (std::size_t j = m; j-- > 0;)
                at(i, j) = ha[g.i0 + i] == hb[g.j0 + j] ? static_cast<std::uint16_t>(at(i + 1, j + 1) + 1)
                                                         : std::max(at(i + 1, j), at(i, j + 1));
        for (std::size_t i = 0, j = 0; i < n && j < m;) {
            if (ha[g.i0 + i] == hb[g.j0 + j]) mark(g.i0 + i++, g.j0 + j++);
            else if (at(i + 1, j) >= at(i, j + 1)) ++i;
            else ++j;
        }
    }
}

// Entry::twin: in each gap between consecutive aligned rules, a lone unaligned rule on each side
// with one entry each, the same action and the same opaque atoms. Where both are live and their
// boxes agree on the axes left, a packet matches both or neither, at the same place among the
// aligned rules, so the pair decides like an aligned rule there.
void pair_twins(Side& a, Side& b, const std::vector<char>& in_a, const std::vector<char>& in_b) {
    const auto ea = sole_entries(a), eb = sole_entries(b);
    std::size_t i = 0, j = 0;
    const std::size_t na = in_a.size(), nb = in_b.size();
    while (i <= na && j <= nb) {
        std::size_t gi = i, gj = j;
        while (gi < na && !in_a[gi]) ++gi;
        while (gj < nb && !in_b[gj]) ++gj;
        if (gi - i == 1 && gj - j == 1 && ea[i] >= 0 && eb[j] >= 0) {
            Entry& x = a.entries[static_cast<std::size_t>(ea[i])];
            Entry& y = b.entries[static_cast<std::size_t>(eb[j])];
            const Rule& rx = a.policy->rules[i];
            const Rule& ry = b.policy->rules[j];
            bool same = x.terminal == y.terminal && x.vars == y.vars && rx.action.kind == ry.action.kind &&
                        rx.action.ifname == ry.action.ifname && (x.terminal || rx.name == ry.name);
            if (same) {
                x.twin = ea[i] == -1 ? -1 : eb[j];
                y.twin = ea[i];
            }
        }
        i = gi + 1, j = gj + 1;  // past the aligned pair ending the gap
    }
}

}  // namespace

void align(Side& a, Side& b) {
    // Rules identical on both sides and unique there, kept where their order agrees (a longest
    // increasing subsequence of their positions in b, taken in a's order).
    std::unordered_map<std::uint64_t, std::pair<int, int>> count;  // hash -> (count in a, count in b)
    for (auto h : a.rule_hash) ++count[h].first;
    for (auto h : b.rule_hash) ++count[h].second;
    std::unordered_map<std::uint64_t, int> pos_b;
    for (std::size_t j = 0; j < b.rule_hash.size(); ++j) pos_b[b.rule_hash[j]] = static_cast<int>(j);
    std::vector<std::pair<int, int>> pairs;
    for (std::size_t i = 0; i < a.rule_hash.size(); ++i) {
        auto c = count[a.rule_hash[i]];
        if (c.first == 1 && c.second == 1) pairs.push_back({static_cast<int>(i), pos_b[a.rule_hash[i]]});
    }
    std::vector<int> tails, tail_idx, prev(pairs.size(), -1);
    for (std::size_t k = 0; k < pairs.size(); ++k) {
        auto it = std::lower_bound(tails.begin(), tails.end(), pairs[k].second);
        auto at = static_cast<std::size_t>(it - tails.begin());
        if (at > 0) prev[k] = tail_idx[at - 1];
        if (it == tails.end()) {
            tails.push_back(pairs[k].second);
            tail_idx.push_back(static_cast<int>(k));
        } else {
            *it = pairs[k].second;
            tail_idx[at] = static_cast<int>(k);
        }
    }
    std::vector<char> in_a(a.rule_hash.size()), in_b(b.rule_hash.size());
    for (int k = tail_idx.empty() ? -1 : tail_idx.back(); k >= 0; k = prev[static_cast<std::size_t>(k)]) {
        in_a[static_cast<std::size_t>(pairs[static_cast<std::size_t>(k)].first)] = 1;
        in_b[static_cast<std::size_t>(pairs[static_cast<std::size_t>(k)].second)] = 1;
    }
    fill_gaps(a.rule_hash, b.rule_hash, in_a, in_b);
    for (auto& e : a.entries) e.aligned = in_a[static_cast<std::size_t>(e.rule)] != 0;
    for (auto& e : b.entries) e.aligned = in_b[static_cast<std::size_t>(e.rule)] != 0;
    pair_twins(a, b, in_a, in_b);
}

void add_hulls(Side& a, Side& b, std::size_t cap) {
    static const std::string kNoIf;
    std::vector<Entry> hulls;
    for (const Side* s : {&a, &b})
        for (const Entry& e : s->entries) {
            if (e.aligned || e.hull) continue;
            if (hulls.size() == cap) return;
            Entry h;
            h.hull = h.aligned = true;
            h.ifname = &kNoIf;
            h.states = e.states;
            for (const auto& [f, set] : e.box.fields) {
                logic::FieldSet hs;
                hs.absent = set.absent;
                for (std::size_t v = 0; v < set.v.size(); ++v)
                    if (!set.v[v].empty()) hs.v[v] = {{set.v[v].front().lo, set.v[v].back().hi}};
                h.box.fields.push_back({f, std::move(hs)});
            }
            h.zobrist = mix(0x9e3779b97f4a7c15ull ^ mix(hulls.size() + 1));
            hulls.push_back(std::move(h));
        }
    a.entries.insert(a.entries.end(), hulls.begin(), hulls.end());
    b.entries.insert(b.entries.end(), hulls.begin(), hulls.end());
}

double log2_add(double a, double b) {
    if (std::isinf(a) && a < 0) return b;
    if (std::isinf(b) && b < 0) return a;
    double hi = std::max(a, b), lo = std::min(a, b);
    return hi + std::log2(1.0 + std::exp2(lo - hi));
}

}  // namespace weir::diff::detail
