#include "limits.hpp"

#include <algorithm>

#include "field_access.hpp"
#include "weir_abi.h"

namespace weir {

unsigned limit_key_words(FieldId f) {
    FieldType t = field(f).type;
    return t == FieldType::Ip6 || t == FieldType::IpAny ? 2 : 1;
}

std::uint32_t limit_id(const std::string& rule, const std::vector<FieldId>& key) {
    std::uint32_t h = 2166136261u;
    auto mix = [&](std::string_view s) {
        for (unsigned char c : s) h = (h ^ c) * 16777619u;
        h = (h ^ 0xffu) * 16777619u;  // separator
    };
    mix(rule);
    for (FieldId f : key) mix(field(f).name);
    return h;
}

namespace {
void collect(const Expr& e, std::vector<const Expr*>& out) {
    if (e.kind == Expr::Kind::Limit) out.push_back(&e);
    for (const auto& k : e.kids) collect(k, out);
}
std::string amount(std::uint64_t n, bool bytes) { return std::to_string(n) + (bytes ? "bytes" : ""); }
}  // namespace

std::vector<const Expr*> policy_limits(const Policy& pol) {
    std::vector<const Expr*> out;
    for (const Rule& r : pol.rules) collect(r.cond, out);
    return out;
}

std::uint64_t limit_entries(const Policy& pol) {
    std::uint64_t n = 0;
    for (const Expr* e : policy_limits(pol)) n += e->limit->size;
    return n;
}

std::uint64_t limit_table_capacity(const Policy& pol, unsigned cpus) {
    std::uint64_t n = limit_entries(pol);
    return n ? n + std::uint64_t{kLimitSlackPerCpu} * std::max(1u, cpus) : 0;
}

std::string limit_text(const LimitSpec& l) {
    std::string s = "over " + amount(l.amount, l.bytes) + (l.period_s == 60 ? "/m" : "/s") + " burst " +
                    amount(l.burst, l.bytes);
    if (!l.key.empty()) {
        s += " per ";
        if (l.key.size() > 1) s += "(";
        for (std::size_t i = 0; i < l.key.size(); ++i) s += (i ? ", " : "") + std::string(field(l.key[i]).name);
        if (l.key.size() > 1) s += ")";
        s += " size " + std::to_string(l.size);
    }
    return s;
}

bool limit_over(const LimitSpec& l, const weir_pkt& pkt, LimitState* state) {
    std::vector<std::uint64_t> key{l.id, 0};
    for (std::size_t i = 0; i < l.key.size(); ++i) {
        FieldId f = l.key[i];
        std::optional<u128> v;
        if (field(f).type == FieldType::IpAny) {
            const FieldAccess& a = field_access(f);
            if (pkt.present & WEIR_H_IP4) {
                v = field_value(a.v4, pkt);
            } else if (pkt.present & WEIR_H_IP6) {
                v = field_value(a.v6, pkt);
                key[1] |= 1u << i;
            }
        } else {
            v = field_value(f, pkt);
        }
        if (!v) return false;
        if (limit_key_words(f) == 2) {
            bool v6 = field(f).type == FieldType::Ip6 || (key[1] >> i & 1);
            key.push_back(v6 ? hi64(*v) : lo64(*v));
            key.push_back(v6 ? lo64(*v) : 0);
        } else {
            key.push_back(static_cast<std::uint64_t>(*v));
        }
    }
    const std::uint64_t cost = l.bytes ? std::min<std::uint64_t>(pkt.len, 65535) : 1;
    const std::uint64_t inc = cost * l.interval;
    const std::uint64_t now = (state ? state->now_ns : WEIR_LIMIT_TEST_CLOCK_NS) << WEIR_LIMIT_FP_SHIFT;
    __u64 next = 0;
    if (!state) return weir_limit_step(now, now, inc, l.tau, &next) != 0;
    // A new key that is over at once (cost above the burst) is not stored, as in the datapath.
    const std::uint64_t tat = state->touch(key).value_or(now);
    if (weir_limit_step(tat, now, inc, l.tau, &next)) return true;
    state->store(key, next);
    return false;
}

std::optional<std::uint64_t> LimitState::touch(const Key& key) {
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    uses_.splice(uses_.begin(), uses_, it->second.use);
    return it->second.tat;
}

void LimitState::store(const Key& key, std::uint64_t tat) {
    if (auto it = entries_.find(key); it != entries_.end()) {
        it->second.tat = tat;
        uses_.splice(uses_.begin(), uses_, it->second.use);
        return;
    }
    if (capacity && entries_.size() >= capacity) {
        entries_.erase(uses_.back());
        uses_.pop_back();
        ++evictions_;
    }
    uses_.push_front(key);
    entries_.emplace(key, Entry{tat, uses_.begin()});
}

}  // namespace weir
