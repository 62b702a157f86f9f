#include <thread>
#include "interp.hpp"

#include <algorithm>

#include "field_access.hpp"
#include "parse.h"
#include "test_frames.hpp"
#include "values.hpp"

namespace weir {

namespace {

// The address an ip.src/ip.dst comparison with a `family` literal reads.
std::optional<u128> ip_any_value(FieldId id, Family family, const weir_pkt& pkt) {
    const FieldAccess& a = field_access(id);
    if (family == Family::V4) return field_value(a.v4, pkt);
    if (family == Family::V6) return field_value(a.v6, pkt);
    return std::nullopt;
}

bool within(const Element& e, u128 v) { return e.lo <= v && v <= e.hi; }

// The packed interface name, as iface_element() packs policy literals.
u128 packed_iface(std::string_view name) { return iface_element(name).lo; }

bool compare(const Expr& e, const weir_pkt& pkt, std::string_view iface) {
    const FieldDef& f = field(e.field);
    std::optional<u128> v;
    if (f.type == FieldType::Iface)
        v = packed_iface(iface);
    else if (f.type == FieldType::IpAny)
        v = ip_any_value(e.field, e.value.family, pkt);
    else
        v = field_value(e.field, pkt);
    if (!v) return false;
    switch (e.op) {
        case Cmp::Eq: return within(e.value, *v);
        case Cmp::Ne: return !within(e.value, *v);
        case Cmp::Lt: return *v < e.value.lo;
        case Cmp::Le: return *v <= e.value.lo;
        case Cmp::Gt: return *v > e.value.lo;
        case Cmp::Ge: return *v >= e.value.lo;
    }
    return false;
}

// `field in S` / `field not in S`. Both are false when the field's header is missing. For
// ip.src/ip.dst each element is compared with the address of its own family; the header a
// `not in` needs is that of the families the set holds (IPv4 only: IPv4; IPv6 only: IPv6;
// mixed or empty: either), so `ip.src not in {10.0.0.0/8}` is false for IPv6 packets like
// `ip.src != 10.0.0.0/8`.
bool member(const Program& prog, const Expr& e, const weir_pkt& pkt, std::string_view iface) {
    const std::vector<Element>& elems =
        e.set >= 0 ? prog.sets.at(static_cast<std::size_t>(e.set)).elems : e.elems;
    const FieldDef& f = field(e.field);
    if (f.type == FieldType::IpAny) {
        bool v4 = false, v6 = false, found = false;
        auto a4 = ip_any_value(e.field, Family::V4, pkt);
        auto a6 = ip_any_value(e.field, Family::V6, pkt);
        for (const Element& el : elems) {
            if (el.family == Family::V4) {
                v4 = true;
                found = found || (a4 && within(el, *a4));
            } else if (el.family == Family::V6) {
                v6 = true;
                found = found || (a6 && within(el, *a6));
            }
        }
        if (!e.negated) return found;
        bool present = v4 && !v6   ? a4.has_value()
                       : v6 && !v4 ? a6.has_value()
                                   : (a4 || a6);
        return present && !found;
    }
    std::optional<u128> v = f.type == FieldType::Iface ? std::optional<u128>(packed_iface(iface))
                                                       : field_value(e.field, pkt);
    if (!v) return false;
    // A one-family address field (ip4.*, ip6.*) tested against a set of type `ip` uses only the
    // elements of its own family; other fields' elements carry no family.
    Family fam = f.type == FieldType::Ip4 ? Family::V4 : f.type == FieldType::Ip6 ? Family::V6 : Family::None;
    bool found = std::any_of(elems.begin(), elems.end(),
                             [&](const Element& el) { return el.family == fam && within(el, *v); });
    return e.negated ? !found : found;
}

// payload[offset : bytes.size()]: L4 payload bytes; false (for == and !=) when the packet has
// no L4 header or its payload is shorter than offset + length.
bool payload_match(const Expr& e, const weir_pkt& pkt, std::span<const std::uint8_t> frame) {
    if (!(pkt.present & (WEIR_H_L4 | WEIR_H_ICMP | WEIR_H_ICMP6))) return false;
    std::size_t need = std::size_t{e.offset} + e.bytes.size();
    if (pkt.payload_len < need) return false;
    std::size_t at = std::size_t{pkt.payload_off} + e.offset;
    if (at + e.bytes.size() > frame.size()) return false;
    bool equal = std::equal(e.bytes.begin(), e.bytes.end(), frame.begin() + static_cast<std::ptrdiff_t>(at));
    if (e.op == Cmp::Eq) return equal;
    if (e.op == Cmp::Ne) return !equal;
    return false;
}

Verdict verdict_of(const Action& a) {
    switch (a.kind) {
        case Action::Kind::Pass: return Verdict::Pass;
        case Action::Kind::Drop: return Verdict::Drop;
        case Action::Kind::Redirect: return Verdict::Redirect;
        case Action::Kind::Tx: return Verdict::Tx;
        case Action::Kind::Count:
        case Action::Kind::Log: break;
    }
    return Verdict::Pass;
}

}  // namespace

bool matches(const Program& prog, const Expr& e, const weir_pkt& pkt, std::span<const std::uint8_t> frame,
             std::string_view iface, LimitState* limits) {
    switch (e.kind) {
        case Expr::Kind::True: return true;
        case Expr::Kind::And:
            return std::all_of(e.kids.begin(), e.kids.end(),
                               [&](const Expr& k) { return matches(prog, k, pkt, frame, iface, limits); });
        case Expr::Kind::Or:
            return std::any_of(e.kids.begin(), e.kids.end(),
                               [&](const Expr& k) { return matches(prog, k, pkt, frame, iface, limits); });
        case Expr::Kind::Not: return e.kids.empty() || !matches(prog, e.kids.front(), pkt, frame, iface, limits);
        case Expr::Kind::Compare: return compare(e, pkt, iface);
        case Expr::Kind::In: return member(prog, e, pkt, iface);
        case Expr::Kind::Test: {
            auto v = field_value(e.field, pkt);
            return v && *v != 0;
        }
        case Expr::Kind::Payload: return payload_match(e, pkt, frame);
        case Expr::Kind::Limit: return limit_over(*e.limit, pkt, limits);
    }
    return false;
}

Decision evaluate(const Program& prog, const Policy& policy, const weir_pkt& pkt,
                  std::span<const std::uint8_t> frame, std::string_view iface, LimitState* limits) {
    Decision d;
    // The table holds what the kernel's holds for this policy here (limits.hpp, LimitState).
    if (limits && limits->capacity == 0)
        limits->capacity = limit_table_capacity(policy, std::thread::hardware_concurrency());
    for (std::size_t i = 0; i < policy.rules.size(); ++i) {
        const Rule& r = policy.rules[i];
        if (!matches(prog, r.cond, pkt, frame, iface, limits)) continue;
        if (!r.action.terminal()) {
            d.counted.push_back(static_cast<int>(i));
            continue;
        }
        d.verdict = verdict_of(r.action);
        d.rule = static_cast<int>(i);
        return d;
    }
    d.verdict = policy.default_verdict;
    d.rule = -1;
    return d;
}

bool meets_expectation(const Probe& probe, const Decision& d) {
    if (d.verdict != probe.expect) return false;
    if (probe.by_rule >= 0 && d.rule != probe.by_rule) return false;
    if (probe.by_default && d.rule != -1) return false;
    return true;
}

ProbeRun run_probe(const Program& prog, const Policy& policy, const Probe& probe, LimitState* limits) {
    ProbeRun run;
    BuiltPacket built = build_packet(probe.packet);
    if (!built.ok()) {
        run.error = built.error;
        return run;
    }
    run.frame = std::move(built.bytes);
    const std::uint8_t* data = run.frame.data();
    weir_parse(data, data + run.frame.size(), &run.pkt);
    run.decision = evaluate(prog, policy, run.pkt, run.frame, probe.packet.iface, limits);
    run.passed = meets_expectation(probe, run.decision);
    return run;
}

}  // namespace weir
