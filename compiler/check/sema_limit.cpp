// The checker's part for rate limits: `over RATE [burst N] [per KEY] [size N]` -> LimitSpec
// (policy.hpp), and where an `over` may stand in a rule (place_limit). docs/language.md
// "Rate limits" states the rules checked here.
#include <algorithm>
#include <charconv>
#include <set>

#include "limits.hpp"
#include "sema_check.hpp"
#include "weir_abi.h"

namespace weir::sema_detail {

namespace {

struct Amount {
    std::uint64_t n = 0;
    bool bytes = false;
    bool ok = false;
};

// "4000", "64kbytes", "10mbytes": decimal multipliers (k = 1000).
Amount parse_amount(std::string_view t) {
    Amount a;
    std::size_t digits = 0;
    while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
    auto [p, ec] = std::from_chars(t.data(), t.data() + digits, a.n);
    if (ec != std::errc() || p != t.data() + digits) return a;
    std::string_view unit = t.substr(digits);
    std::uint64_t mul = 1;
    if (!unit.empty()) {
        a.bytes = true;
        if (unit[0] == 'k') mul = 1000;
        else if (unit[0] == 'm') mul = 1000000;
        else if (unit[0] == 'g') mul = 1000000000;
    }
    if (a.n > UINT64_MAX / mul) return a;
    a.n *= mul;
    a.ok = true;
    return a;
}

constexpr std::uint64_t kMaxFixed = std::uint64_t{1} << 62;

}  // namespace

Expr Checker::check_over(const ast::Expr& e, const std::string& rule) {
    Expr out;
    out.range = e.range;
    const ast::Limit& in = *e.limit;
    LimitSpec l;
    bool ok = true;

    // rate: AMOUNT/s or AMOUNT/m
    std::string_view rt = in.rate.text;
    std::size_t slash = rt.rfind('/');
    Amount rate = parse_amount(rt.substr(0, slash));
    l.period_s = slash != std::string_view::npos && rt.substr(slash + 1) == "m" ? 60 : 1;
    const unsigned __int128 period_fp = (static_cast<unsigned __int128>(l.period_s) * 1000000000u) << WEIR_LIMIT_FP_SHIFT;
    if (!rate.ok || rate.n == 0) {
        diags_.error("invalid-limit", in.rate.range, "a rate is a positive number of packets or bytes per second or minute");
        ok = false;
    } else if (rate.n > period_fp) {
        diags_.error("invalid-limit", in.rate.range,
                     "rate '" + in.rate.text + "' is too high: limits go up to 1000000000000 units per second");
        ok = false;
    }
    l.bytes = rate.bytes;
    l.amount = rate.n;
    if (ok) l.interval = static_cast<std::uint64_t>(period_fp / l.amount);

    // burst: default one second of rate
    if (in.burst) {
        Amount b = parse_amount(in.burst->text);
        if (!b.ok || b.n == 0) {
            diags_.error("invalid-limit", in.burst->range, "a burst is a positive amount");
            ok = false;
        } else if (b.bytes != l.bytes) {
            diags_.error("limit-units", in.burst->range,
                         l.bytes ? "the rate counts bytes, so the burst does too: write it with a byte unit (e.g. " +
                                       in.burst->text + "bytes)"
                                 : "the rate counts packets, so the burst does too: write it as a number of packets");
            ok = false;
        }
        l.burst = b.n;
    } else {
        l.burst = std::max<std::uint64_t>(1, (l.amount + l.period_s - 1) / l.period_s);
    }
    if (ok) {
        unsigned __int128 tau = static_cast<unsigned __int128>(l.burst) * l.interval;
        unsigned __int128 worst = static_cast<unsigned __int128>(l.bytes ? 65535 : 1) * l.interval;
        if (tau >= kMaxFixed || worst >= kMaxFixed) {
            diags_.error("invalid-limit", in.burst ? in.burst->range : in.rate.range,
                         "this burst lasts too long at this rate (more than 52 days of traffic); lower it");
            ok = false;
        }
        l.tau = static_cast<std::uint64_t>(tau);
    }

    // key
    std::set<FieldId> seen;
    unsigned words = 0;
    for (const ast::Name& n : in.key) {
        const FieldDef* f = lookup_field(n);
        if (!f) {
            ok = false;
            continue;
        }
        if (f->type == FieldType::Bool || f->type == FieldType::Iface) {
            diags_.error("invalid-limit-key", n.range,
                         std::string(f->name) + (f->type == FieldType::Bool ? " is a flag" : " is an interface name") +
                             " and cannot key a limit; key by addresses, ports or other numbers");
            ok = false;
            continue;
        }
        if (!seen.insert(f->id).second) {
            diags_.error("invalid-limit-key", n.range, std::string(f->name) + " appears twice in the key");
            ok = false;
            continue;
        }
        words += limit_key_words(f->id);
        l.key.push_back(f->id);
    }
    if (words > WEIR_LIMIT_KEY_WORDS) {
        diags_.error("invalid-limit-key", in.key.front().range,
                     "this key is too wide: a limit key holds at most 6 words (an IPv6-capable address takes 2, "
                     "any other field 1)");
        ok = false;
    }

    // size
    if (in.size) {
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(in.size->text.data(), in.size->text.data() + in.size->text.size(), n);
        if (in.key.empty()) {
            diags_.error("invalid-limit", in.size->range,
                         "a limit without 'per' has one bucket; 'size' sets how many keys a keyed limit tracks");
            ok = false;
        } else if (ec != std::errc() || p != in.size->text.data() + in.size->text.size() || n == 0 ||
                   n > kMaxLimitSize) {
            diags_.error("invalid-limit", in.size->range,
                         "a limit's size is 1 to " + std::to_string(kMaxLimitSize) + " entries");
            ok = false;
        }
        l.size = static_cast<std::uint32_t>(n);
    } else {
        l.size = in.key.empty() ? 1 : kDefaultLimitSize;
    }
    if (!ok) return out;
    l.id = limit_id(rule, l.key);
    out.kind = Expr::Kind::Limit;
    out.limit = std::move(l);
    return out;
}

void Checker::place_limit(Rule& r) {
    std::vector<const Expr*> all;
    auto walk = [&all](const Expr& e, auto&& self) -> void {
        if (e.kind == Expr::Kind::Limit) all.push_back(&e);
        for (const auto& k : e.kids) self(k, self);
    };
    walk(r.cond, walk);
    if (all.empty()) return;
    if (all.size() > 1) {
        auto& d = diags_.error("limit-twice", all[1]->range, "rule '" + r.name + "' already has an 'over'; a rule has one limit");
        d.notes.push_back({all[0]->range, "the first 'over' is here"});
        return;
    }
    if (r.cond.kind == Expr::Kind::Limit) return;
    if (r.cond.kind == Expr::Kind::And) {
        auto& kids = r.cond.kids;
        auto it = std::find_if(kids.begin(), kids.end(), [](const Expr& k) { return k.kind == Expr::Kind::Limit; });
        if (it != kids.end()) {
            // Last in the conjunction: only packets matching the rest of the rule take tokens.
            Expr lim = std::move(*it);
            kids.erase(it);
            kids.push_back(std::move(lim));
            return;
        }
    }
    diags_.error("limit-placement", all[0]->range,
                 "'over' must be the rule's whole condition or joined to it with 'and' at the top level (not "
                 "inside 'or', 'not' or parentheses): only then is it clear which packets take tokens");
}

}  // namespace weir::sema_detail
