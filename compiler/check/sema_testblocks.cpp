// Stage 2, test blocks: `test "name" policy P { packet ... expect ... }` -> TestCase.
#include <algorithm>

#include "sema_check.hpp"
#include "values.hpp"

namespace weir::sema_detail {

namespace {

using K = ast::Value::Kind;

// Packet options and the field each one's values are read as (empty: handled specially).
struct OptionDef {
    std::string_view key;
    std::string_view field;
    std::size_t max_values;
};
constexpr OptionDef kOptions[] = {
    {"flags", "", 8},           {"len", "pkt.len", 1},       {"ttl", "ip.ttl", 1},
    {"vlan", "vlan.id", kMaxVlanTags},
    {"pcp", "vlan.pcp", 1},     {"payload", "", 1},          {"type", "", 1},
    {"code", "", 1},            {"window", "tcp.window", 1}, {"dscp", "ip.dscp", 1},
    {"flowlabel", "ip6.flowlabel", 1},
    {"frag", "", 1},            {"iface", "pkt.iface", 1},   {"src-mac", "eth.src", 1},
    {"dst-mac", "eth.dst", 1},  {"proto", "ip.proto", 1},
};

const OptionDef* find_option(std::string_view key) {
    for (const auto& o : kOptions)
        if (o.key == key) return &o;
    return nullptr;
}

std::optional<Verdict> verdict_from(std::string_view s) {
    if (s == "pass") return Verdict::Pass;
    if (s == "drop") return Verdict::Drop;
    if (s == "tx") return Verdict::Tx;
    if (s == "redirect") return Verdict::Redirect;
    return std::nullopt;
}


std::optional<Verdict> action_verdict(Action::Kind k) {
    switch (k) {
        case Action::Kind::Pass: return Verdict::Pass;
        case Action::Kind::Drop: return Verdict::Drop;
        case Action::Kind::Tx: return Verdict::Tx;
        case Action::Kind::Redirect: return Verdict::Redirect;
        case Action::Kind::Count:
        case Action::Kind::Log: return std::nullopt;
    }
    return std::nullopt;
}

void put_mac(std::uint8_t (&dst)[6], u128 v) {
    for (int i = 5; i >= 0; --i) {
        dst[i] = static_cast<std::uint8_t>(v & 0xff);
        v >>= 8;
    }
}

}  // namespace

std::optional<std::uint64_t> Checker::option_number(const ast::Value& v, std::string_view field_name,
                                                    std::string_view key) {
    const FieldDef* f = find_field(field_name);
    if (!f) return std::nullopt;
    auto e = convert_value(v, field_domain(*f, key), diags_);
    if (!e) return std::nullopt;
    return static_cast<std::uint64_t>(e->lo);
}

int Checker::owner_policy(const std::optional<ast::Name>& named, SourceRange at, FileId file,
                          const OwnerWords& w) {
    if (named) {
        int p = prog_.find_policy(named->text);
        if (p < 0) {
            std::vector<std::string> cands;
            for (const auto& pol : prog_.policies) cands.push_back(pol.name);
            diags_.error("unknown-policy", named->range,
                         "unknown policy '" + named->text + "'" + did_you_mean(named->text, cands));
        }
        return p;
    }
    std::vector<int> here;
    for (std::size_t i = 0; i < prog_.policies.size(); ++i)
        if (prog_.policies[i].name_range.file == file) here.push_back(static_cast<int>(i));
    if (here.size() == 1) return here.front();
    std::string names;
    for (int i : here) names += (names.empty() ? "" : ", ") + prog_.policies[i].name;
    std::string msg = here.empty() ? w.what + " names no policy and its file declares none; write " + w.hint_none
                                   : w.what + " names no policy and its file declares " +
                                         std::to_string(here.size()) + " (" + names + "); write " + w.hint_many;
    auto& d = diags_.error(w.code, at, msg);
    for (int i : here)
        d.notes.push_back({prog_.policies[i].name_range, "policy '" + prog_.policies[i].name + "' is declared here"});
    return -1;
}

int Checker::test_policy(const ast::Test& t, FileId file) {
    std::string quoted = quote_string(t.name.text);
    return owner_policy(t.policy, t.name.range, file,
                        {"test " + quoted, "`test " + quoted + " policy NAME { ... }`",
                         "`policy NAME` after the test name", "ambiguous-test-policy"});
}

void Checker::check_packet(const ast::Packet& p, PacketSpec& spec) {
    const std::string& proto = p.proto.text;
    bool raw = proto == "hex";
    if (raw) {
        spec.is_raw = true;
        std::string problem;
        auto bytes = p.hex.kind == K::String || p.hex.kind == K::Bytes || p.hex.kind == K::Int
                         ? hex_bytes(p.hex.text, true, problem)
                         : std::nullopt;
        if (!bytes)
            diags_.error("invalid-hex", p.hex.range,
                         "packet hex " + (problem.empty() ? std::string("takes a string of hex digits") : problem));
        else
            spec.raw = *bytes;
    } else if (proto == "ip") {
        spec.proto = 253;  // RFC 3692 experimental; `proto` overrides
    } else if (auto n = find_symbol(SymbolTable::Proto, proto)) {
        // The grammar admits only tcp, udp, icmp, icmp6, ip and hex (anything else is `syntax`).
        spec.proto = static_cast<std::uint8_t>(*n);
    } else {
        return;
    }
    PacketKind kind{proto, raw, !raw && proto == "tcp", !raw && proto == "udp",
                    !raw && (proto == "icmp" || proto == "icmp6")};
    if (proto == "icmp6") spec.icmp_type = 128;  // echo request
    if (!raw && p.src && p.dst) check_endpoints(p, kind, spec);
    check_packet_options(p, kind, spec);
}

void Checker::check_endpoints(const ast::Packet& p, const PacketKind& kind, PacketSpec& spec) {
    const std::string& proto = kind.proto;
    std::optional<Element> src, dst;
    for (int i = 0; i < 2; ++i) {
        const ast::Endpoint& ep = i == 0 ? *p.src : *p.dst;
        std::optional<Element> e;
        if (ep.addr.kind != K::Ipv4 && ep.addr.kind != K::Ipv6)
            diags_.error("type-mismatch", ep.addr.range,
                         "a packet endpoint is an IPv4 or IPv6 address, not '" + ep.addr.text + "'");
        else
            e = parse_ip(ep.addr, diags_);  // one address: the grammar takes no prefix here
        if (ep.port) {
            if (!kind.tcp && !kind.udp)
                diags_.error("packet-port", ep.port->range,
                             "ports are only for tcp and udp packets, not " + proto + " packets");
            else if (auto n = parse_uint(*ep.port, 65535, "port", diags_))
                (i == 0 ? spec.sport : spec.dport) = static_cast<std::uint16_t>(*n);
        }
        (i == 0 ? src : dst) = e;
    }
    if (!src || !dst) return;
    if (src->family != dst->family) {
        auto& d = diags_.error("packet-family-mismatch", p.dst->addr.range,
                               "source and destination of a packet must be the same family; " +
                                   p.dst->addr.text + " is " +
                                   (dst->family == Family::V4 ? "IPv4" : "IPv6") + " and " +
                                   p.src->addr.text + " is not");
        d.notes.push_back({p.src->addr.range, "source address"});
    } else if ((proto == "icmp" && src->family != Family::V4) ||
               (proto == "icmp6" && src->family != Family::V6)) {
        diags_.error("packet-family-mismatch", p.proto.range,
                     proto == "icmp" ? "icmp packets are IPv4; use icmp6 for IPv6 addresses"
                                     : "icmp6 packets are IPv6; use icmp for IPv4 addresses");
    }
    spec.family = src->family;
    spec.src = src->lo;
    spec.dst = dst->lo;
}

void Checker::check_packet_options(const ast::Packet& p, const PacketKind& kind, PacketSpec& spec) {
    std::map<std::string, SourceRange> seen;
    std::optional<std::uint64_t> pcp;
    SourceRange pcp_range;
    for (const auto& o : p.opts) {
        const std::string& key = o.key.text;
        const OptionDef* def = find_option(key);
        if (!def) {
            std::vector<std::string> cands;
            for (const auto& x : kOptions) cands.emplace_back(x.key);
            diags_.error("unknown-option", o.key.range,
                         "unknown packet option '" + key + "'" + did_you_mean(key, cands));
            continue;
        }
        if (auto [it, fresh] = seen.try_emplace(key, o.key.range); !fresh) {
            auto& d = diags_.error("duplicate-option", o.key.range, "packet option '" + key + "' is given twice");
            d.notes.push_back({it->second, "first given here"});
            continue;
        }
        if (o.values.empty() || o.values.size() > def->max_values) {
            diags_.error("option-arity", o.range,
                         "packet option '" + key + "' takes " +
                             (def->max_values == 1 ? std::string("one value")
                                                   : "1 to " + std::to_string(def->max_values) + " values") +
                             ", got " + std::to_string(o.values.size()));
            continue;
        }
        if (kind.raw && key != "iface") {
            diags_.error("option-not-applicable", o.key.range,
                         "packet option '" + key + "' does not apply to a `packet hex` frame (only iface does)");
            continue;
        }
        if (key == "pcp") {
            // Applied once every option is read: it goes into the first `vlan` tag.
            pcp = option_number(o.values.front(), def->field, key);
            pcp_range = o.key.range;
            continue;
        }
        check_packet_option(o, def->field, kind, spec);
    }
    if (pcp) {
        if (spec.vlans.empty())
            diags_.error("option-not-applicable", pcp_range, "packet option 'pcp' needs a `vlan` tag");
        else
            spec.vlans.front() = static_cast<std::uint16_t>(spec.vlans.front() | (*pcp << 13));
    }
}

void Checker::check_tcp_flags(const ast::PacketOpt& o, PacketSpec& spec) {
    for (const auto& fv : o.values) {
        if (fv.kind == K::Symbol) {
            auto bit = find_symbol(SymbolTable::TcpFlag, fv.text);
            if (!bit) {
                std::vector<std::string> cands;
                for (const auto& s : symbols(SymbolTable::TcpFlag)) cands.emplace_back(s.name);
                diags_.error("unknown-symbol", fv.range,
                             "unknown TCP flag '" + fv.text + "'" + did_you_mean(fv.text, cands) +
                                 " (flags are fin, syn, rst, psh, ack, urg, ece, cwr)");
                continue;
            }
            spec.tcp_flags |= static_cast<std::uint8_t>(*bit);
        } else if (auto n = parse_uint(fv, 255, "TCP flags", diags_)) {
            spec.tcp_flags |= static_cast<std::uint8_t>(*n);
        }
    }
}

// One option that is known, given once and applies to this packet; `field` is the field its
// values are read as (kOptions).
void Checker::check_packet_option(const ast::PacketOpt& o, std::string_view field, const PacketKind& kind,
                                  PacketSpec& spec) {
    const std::string& key = o.key.text;
    const std::string& proto = kind.proto;
    auto not_here = [&](const std::string& why) {
        diags_.error("option-not-applicable", o.key.range, "packet option '" + key + "' " + why);
    };
    const ast::Value& v = o.values.front();
    if (key == "flags") {
        if (!kind.tcp) return not_here("is for tcp packets, not " + proto + " packets");
        check_tcp_flags(o, spec);
    } else if (key == "type" || key == "code") {
        if (!kind.icmp) return not_here("is for icmp and icmp6 packets, not " + proto + " packets");
        std::string icmp_field = (proto == "icmp6" ? "icmp6." : "icmp.") + key;
        if (auto n = option_number(v, icmp_field, key))
            (key == "type" ? spec.icmp_type : spec.icmp_code) = static_cast<std::uint8_t>(*n);
    } else if (key == "payload") {
        if (v.kind == K::String) {
            spec.payload.assign(v.text.begin(), v.text.end());
        } else if (v.kind == K::Bytes || v.kind == K::Int) {
            std::string problem;
            auto b = hex_bytes(v.text, false, problem);
            if (b) spec.payload = *b;
            else diags_.error("invalid-hex", v.range, "payload " + v.text + ": " + problem);
        } else {
            diags_.error("type-mismatch", v.range, "payload takes a string or 0x hex bytes");
        }
    } else if (key == "frag") {
        if (v.kind == K::Symbol && v.text == "first") spec.frag = PacketSpec::Frag::First;
        else if (v.kind == K::Symbol && v.text == "middle") spec.frag = PacketSpec::Frag::Middle;
        else if (v.kind == K::Symbol && v.text == "last") spec.frag = PacketSpec::Frag::Last;
        else
            diags_.error("unknown-symbol", v.range,
                         "frag is first, middle or last, not '" + v.text + "'" +
                             did_you_mean(v.text, {"first", "middle", "last"}));
    } else if (key == "iface") {
        const FieldDef* f = find_field(field);
        if (f && convert_value(v, field_domain(*f, key), diags_)) spec.iface = v.text;
    } else if (key == "src-mac" || key == "dst-mac") {
        const FieldDef* f = find_field(field);
        if (auto e = f ? convert_value(v, field_domain(*f, key), diags_) : std::nullopt)
            put_mac(key == "src-mac" ? spec.eth_src : spec.eth_dst, e->lo);
    } else if (key == "vlan") {
        for (const auto& vv : o.values)
            if (auto n = option_number(vv, field, "vlan id")) spec.vlans.push_back(static_cast<std::uint16_t>(*n));
    } else if (key == "window") {
        if (!kind.tcp) return not_here("is for tcp packets, not " + proto + " packets");
        if (auto n = option_number(v, field, key)) spec.window = static_cast<std::uint16_t>(*n);
    } else if (key == "flowlabel") {
        if (spec.family != Family::V6) return not_here("is for IPv6 packets");
        if (auto n = option_number(v, field, key)) spec.flowlabel = static_cast<std::uint32_t>(*n);
    } else if (key == "proto") {
        if (proto != "ip") return not_here("is for `packet ip`; a " + proto + " packet's protocol is fixed");
        if (auto n = option_number(v, field, key)) spec.proto = static_cast<std::uint8_t>(*n);
    } else if (key == "len") {
        if (auto n = option_number(v, field, key)) spec.frame_len = static_cast<std::uint32_t>(*n);
    } else if (key == "ttl") {
        if (auto n = option_number(v, field, key)) spec.ttl = static_cast<std::uint8_t>(*n);
    } else if (key == "dscp") {
        if (auto n = option_number(v, field, key)) spec.dscp = static_cast<std::uint8_t>(*n);
    }
}

void Checker::check_expect(const ast::Expect& e, int policy, Probe& probe) {
    auto v = verdict_from(e.verdict.text);
    if (!v) return;  // the grammar admits only pass, drop, tx and redirect (anything else is `syntax`)
    probe.expect = *v;
    if (!e.by || policy < 0) return;
    const Policy& pol = prog_.policies[policy];
    const ast::Policy& decl = *policy_decls_[policy];
    if (e.by->text == "default") {
        probe.by_default = true;
        if (pol.default_verdict != *v) {
            auto& d = diags_.error("expect-mismatch", e.verdict.range,
                                   std::string("expects ") + verdict_name(*v) + " by default, but policy '" +
                                       pol.name + "' defaults to " + verdict_name(pol.default_verdict));
            d.notes.push_back({decl.default_verdict.range, "the default is set here"});
        }
        return;
    }
    int ri = pol.rule_index(e.by->text);
    if (ri < 0) {
        std::vector<std::string> cands{"default"};
        for (const auto& r : pol.rules) cands.push_back(r.name);
        diags_.error("unknown-rule", e.by->range,
                     "policy '" + pol.name + "' has no rule '" + e.by->text + "'" + did_you_mean(e.by->text, cands));
        return;
    }
    probe.by_rule = ri;
    const Rule& rule = pol.rules[ri];
    auto rv = action_verdict(rule.action.kind);
    if (!rv) {
        auto& d = diags_.error("expect-count-rule", e.by->range,
                               "rule '" + rule.name +
                                   "' only counts and never decides a verdict (expect by a count rule)");
        d.notes.push_back({rule.name_range, "'" + rule.name + "' is defined here"});
        return;
    }
    if (*rv != *v) {
        auto& d = diags_.error("expect-mismatch", e.verdict.range,
                               std::string("expects ") + verdict_name(*v) + " by '" + rule.name + "', but that rule " +
                                   (*rv == Verdict::Pass ? "passes" : *rv == Verdict::Drop ? "drops"
                                                                    : *rv == Verdict::Tx ? "transmits" : "redirects"));
        d.notes.push_back({rule.action.range.valid() ? rule.action.range : rule.name_range,
                           "rule '" + rule.name + "' is a " + verdict_name(*rv) + " rule"});
    }
}

void Checker::check_test(const ast::Test& t, FileId file) {
    TestCase tc;
    tc.name = t.name.text;
    tc.range = t.range;
    if (auto [it, fresh] = test_names_.try_emplace(t.name.text, t.name.range); !fresh) {
        auto& d = diags_.error("duplicate-test", t.name.range, "test " + quote_string(t.name.text) + " already exists");
        d.notes.push_back({it->second, "first defined here"});
    }
    tc.policy = test_policy(t, file);
    for (const auto& pr : t.probes) {
        Probe probe;
        probe.range = pr.packet.range;
        probe.expect_range = pr.expect.range;
        check_packet(pr.packet, probe.packet);
        check_expect(pr.expect, tc.policy, probe);
        tc.probes.push_back(std::move(probe));
    }
    prog_.tests.push_back(std::move(tc));
}

}  // namespace weir::sema_detail
