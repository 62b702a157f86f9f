// Canonical text of a checked program: no source ranges or paths, values in canonical spelling
// (symbols where the field has a name for the value), and/or chains flattened, minimal parentheses.
#include "checked_dump.hpp"

#include <cstdio>

#include "limits.hpp"
#include "values.hpp"

namespace weir {

namespace {


FieldType set_field_type(SetType t) {
    switch (t) {
        case SetType::Ip: return FieldType::IpAny;
        case SetType::Ip4: return FieldType::Ip4;
        case SetType::Ip6: return FieldType::Ip6;
        case SetType::Mac: return FieldType::Mac;
        case SetType::Port:
        case SetType::Proto: return FieldType::Int;
    }
    return FieldType::Int;
}



std::string hex(const std::uint8_t* b, std::size_t n) {
    static const char* kDigits = "0123456789abcdef";
    std::string out = "0x";
    for (std::size_t i = 0; i < n; ++i) {
        out += kDigits[b[i] >> 4];
        out += kDigits[b[i] & 0xf];
    }
    return out;
}

std::string elements(const std::vector<Element>& els, FieldType type, SymbolTable syms) {
    if (els.empty()) return "{ }";
    std::string out = "{ ";
    for (std::size_t i = 0; i < els.size(); ++i) {
        if (i) out += ", ";
        out += format_element(els[i], type, syms);
    }
    return out + " }";
}

// Precedence: or < and < not < primary.
int prec(const Expr& e) {
    switch (e.kind) {
        case Expr::Kind::Or: return 1;
        case Expr::Kind::And: return 2;
        case Expr::Kind::Not: return 3;
        default: return 4;
    }
}

void print(const Program& prog, const Expr& e, std::string& out);

void print_kid(const Program& prog, const Expr& kid, int min_prec, std::string& out) {
    bool parens = prec(kid) < min_prec;
    if (parens) out += "(";
    print(prog, kid, out);
    if (parens) out += ")";
}

// Kids of a chain, with nested chains of the same kind flattened (and/or are associative).
void chain(const Program& prog, const Expr& e, const char* sep, bool& first, std::string& out) {
    for (const auto& k : e.kids) {
        if (k.kind == e.kind) {
            chain(prog, k, sep, first, out);
            continue;
        }
        if (!first) out += sep;
        first = false;
        print_kid(prog, k, prec(e) + 1, out);
    }
}

void print(const Program& prog, const Expr& e, std::string& out) {
    const FieldDef& f = field(e.field);
    switch (e.kind) {
        case Expr::Kind::True: out += "true"; return;
        case Expr::Kind::And:
        case Expr::Kind::Or: {
            bool first = true;
            chain(prog, e, e.kind == Expr::Kind::And ? " and " : " or ", first, out);
            return;
        }
        case Expr::Kind::Not:
            out += "not ";
            if (!e.kids.empty()) print_kid(prog, e.kids.front(), 3, out);
            return;
        case Expr::Kind::Compare:
            out += std::string(f.name) + " " + cmp_text(e.op) + " " + format_element(e.value, f.type, f.symbols);
            return;
        case Expr::Kind::In:
            out += std::string(f.name) + (e.negated ? " not in " : " in ");
            if (e.set >= 0 && static_cast<std::size_t>(e.set) < prog.sets.size())
                out += "@" + prog.sets[e.set].name;
            else
                out += elements(e.elems, f.type, f.symbols);
            return;
        case Expr::Kind::Test: out += std::string(f.name); return;
        case Expr::Kind::Payload:
            out += "payload[" + std::to_string(e.offset) + ":" + std::to_string(e.bytes.size()) + "] " +
                   cmp_text(e.op) + " " + hex(e.bytes.data(), e.bytes.size());
            return;
        case Expr::Kind::Limit: out += limit_text(*e.limit); return;
    }
}

std::string action_text(const Action& a) {
    switch (a.kind) {
        case Action::Kind::Pass: return "pass";
        case Action::Kind::Drop: return "drop";
        case Action::Kind::Tx: return "tx";
        case Action::Kind::Count: return "count";
        case Action::Kind::Log:
            return "log sample 1/" + std::to_string(a.log_sample) + " snap " + std::to_string(a.log_snap);
        case Action::Kind::Redirect: return "redirect " + quote_string(a.ifname);
    }
    return "pass";
}

std::string packet_text(const PacketSpec& p) {
    std::string out = "packet";
    if (p.is_raw) {
        out += " hex " + hex(p.raw.data(), p.raw.size());
        if (!p.iface.empty()) out += " iface " + quote_string(p.iface);
        return out;
    }
    std::string_view pname = symbol_name(SymbolTable::Proto, p.proto);
    out += std::string(" ") + (p.family == Family::V6 ? "ip6" : "ip4");
    out += " proto " + (pname.empty() ? std::to_string(p.proto) : std::string(pname));
    out += " src " + format_ip(p.family, p.src) + " dst " + format_ip(p.family, p.dst);
    out += " sport " + std::to_string(p.sport) + " dport " + std::to_string(p.dport);
    std::string flags;
    for (const auto& s : symbols(SymbolTable::TcpFlag))
        if (p.tcp_flags & s.value) flags += (flags.empty() ? "" : ",") + std::string(s.name);
    out += " flags " + (flags.empty() ? std::string("none") : flags);
    out += " window " + std::to_string(p.window);
    out += " icmp-type " + std::to_string(p.icmp_type) + " icmp-code " + std::to_string(p.icmp_code);
    out += " ttl " + std::to_string(p.ttl) + " dscp " + std::to_string(p.dscp);
    out += " flowlabel " + std::to_string(p.flowlabel);
    static const char* kFrag[] = {"none", "first", "middle", "last"};
    out += std::string(" frag ") + kFrag[static_cast<int>(p.frag)];
    auto mac = [](const std::uint8_t* b) {
        u128 v = 0;
        for (int i = 0; i < 6; ++i) v = (v << 8) | b[i];
        return format_mac(v);
    };
    out += " src-mac " + mac(p.eth_src) + " dst-mac " + mac(p.eth_dst);
    out += " vlan";
    if (p.vlans.empty()) out += " none";
    for (std::size_t i = 0; i < p.vlans.size(); ++i)
        out += (i ? "," : " ") + std::to_string(p.vlans[i] & 0xfff) + "/pcp" + std::to_string(p.vlans[i] >> 13);
    out += " payload " + (p.payload.empty() ? std::string("none") : hex(p.payload.data(), p.payload.size()));
    if (p.frame_len) out += " len " + std::to_string(*p.frame_len);
    if (!p.iface.empty()) out += " iface " + quote_string(p.iface);
    return out;
}

}  // namespace

std::string alert_text(const Program& program, const Alert& a) {
    char num[64];
    std::snprintf(num, sizeof num, "%.17g", a.threshold);
    std::string out = "alert " + a.name;
    if (a.policy >= 0 && static_cast<std::size_t>(a.policy) < program.policies.size())
        out += " on " + program.policies[a.policy].name;
    out += " when rate(";
    switch (a.source) {
        case Alert::Source::Rule: out += a.counter; break;
        case Alert::Source::Verdict: out += "verdict " + a.counter; break;
        case Alert::Source::Malformed: out += "malformed"; break;
        case Alert::Source::Default: out += "default"; break;
    }
    out += std::string(a.bytes ? ", bytes) " : ") ") + cmp_text(a.op) + " " + num + (a.bytes ? "bytes/s" : "/s");
    out += " for " + (a.for_ms % 1000 == 0 ? std::to_string(a.for_ms / 1000) + "s" : std::to_string(a.for_ms) + "ms");
    out += std::string(" severity ") + severity_name(a.severity) + " " + quote_string(a.message);
    return out;
}

std::string dump(const Program& program, const Expr& e) {
    std::string out;
    print(program, e, out);
    return out;
}

std::string dump(const Program& program) {
    std::string out;
    for (const auto& s : program.sets) {
        SymbolTable syms = s.type == SetType::Proto ? SymbolTable::Proto : SymbolTable::None;
        out += "set " + s.name + " : " + set_type_name(s.type) + " = " +
               elements(s.elems, set_field_type(s.type), syms) + "\n";
    }
    for (const auto& p : program.policies) {
        out += "policy " + p.name + " default " + verdict_name(p.default_verdict) + " {\n";
        for (const auto& r : p.rules) {
            out += "    " + r.name + ": " + action_text(r.action);
            if (r.has_cond) out += " if " + dump(program, r.cond);
            out += "\n";
        }
        out += "}\n";
    }
    for (const auto& t : program.tests) {
        out += "test " + quote_string(t.name);
        if (t.policy >= 0 && static_cast<std::size_t>(t.policy) < program.policies.size())
            out += " policy " + program.policies[t.policy].name;
        out += " {\n";
        for (const auto& pr : t.probes) {
            out += "    " + packet_text(pr.packet) + "\n";
            out += std::string("    expect ") + verdict_name(pr.expect);
            if (pr.by_default) out += " by default";
            else if (pr.by_rule >= 0 && t.policy >= 0 &&
                     static_cast<std::size_t>(pr.by_rule) < program.policies[t.policy].rules.size())
                out += " by " + program.policies[t.policy].rules[pr.by_rule].name;
            out += "\n";
        }
        out += "}\n";
    }
    for (const auto& a : program.alerts) out += alert_text(program, a) + "\n";
    return out;
}

}  // namespace weir
