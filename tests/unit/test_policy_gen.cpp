// The random policy and packet generators of the differential test (tests/support/policy_gen.*):
// every generated policy checks without errors, the generator reaches every field with every
// operator its type allows and every value form, and the packets it aims at a policy reach that
// policy's rules and the odd corners of the parser (tags, extension headers, fragments,
// truncation, malformed headers).
#include <doctest/doctest.h>

#include <cstdio>
#include <set>
#include <string>

#include "driver.hpp"
#include "interp.hpp"
#include "parse.h"
#include "policy_gen.hpp"

using namespace weir;
using namespace weir::test;

namespace {

std::unique_ptr<Compilation> compile(const GeneratedPolicy& g) {
    CheckOptions opts;
    return compile_source(std::string(WEIR_TEST_DATA) + "/generated.weir", g.text, opts);
}

std::size_t fi(FieldId f) { return static_cast<std::size_t>(f); }
std::size_t fo(GenForm f) { return static_cast<std::size_t>(f); }

}  // namespace

TEST_CASE("2,000 generated policies check without errors and cover the field table") {
    GenCoverage cov;
    std::set<std::string> warnings;
    unsigned failures = 0;
    for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
        GeneratedPolicy g = generate_policy(seed);
        auto c = compile(g);
        if (!c->ok() && failures++ < 3) {
            FAIL_CHECK("seed " << seed << " does not check:\n"
                               << render_text(c->sources, c->diags) << "\n--- policy ---\n" << g.text);
        }
        if (!c->ok()) continue;
        REQUIRE(c->program.policies.size() == 1);
        CHECK(c->program.policies[0].rules.size() == g.coverage.rules);
        for (const auto& d : c->diags.list()) warnings.insert(d.code);
        cov.add(g.coverage);
    }
    CHECK(failures == 0);

    // Every field with every operator its type allows, in the value forms its type allows.
    for (const FieldDef& f : all_fields()) {
        CAPTURE(f.name);
        for (GenOp op : gen_ops_for(f.type)) {
            CAPTURE(gen_op_name(op));
            CHECK(cov.field_op[fi(f.id)][static_cast<std::size_t>(op)] > 0);
        }
        const auto& forms = cov.field_form[fi(f.id)];
        std::vector<GenForm> want;
        switch (f.type) {
            case FieldType::Int:
                want = {GenForm::Number, GenForm::Range, GenForm::InlineSmall, GenForm::InlineLarge,
                        GenForm::Const, GenForm::ConstSet};
                if (f.symbols != SymbolTable::None) want.push_back(GenForm::Symbol);
                break;
            case FieldType::Ip4:
            case FieldType::Ip6:
            case FieldType::IpAny:
                want = {GenForm::Address, GenForm::Prefix, GenForm::Range, GenForm::InlineSmall,
                        GenForm::InlineLarge, GenForm::Const, GenForm::ConstSet, GenForm::NamedSet};
                break;
            case FieldType::Mac:
                want = {GenForm::Address, GenForm::Range, GenForm::InlineSmall, GenForm::InlineLarge,
                        GenForm::Const, GenForm::ConstSet, GenForm::NamedSet};
                break;
            case FieldType::Iface:
                want = {GenForm::Address, GenForm::InlineSmall, GenForm::InlineLarge, GenForm::Const};
                break;
            case FieldType::Bool: break;
        }
        for (GenForm form : want) {
            CAPTURE(gen_form_name(form));
            CHECK(forms[fo(form)] > 0);
        }
    }
    CHECK(cov.field_form[fi(FieldId::IpProto)][fo(GenForm::NamedSet)] > 0);
    CHECK(cov.field_form[fi(FieldId::L4Dport)][fo(GenForm::NamedSet)] > 0);
    unsigned empty = 0;
    for (const auto& forms : cov.field_form) empty += forms[fo(GenForm::InlineEmpty)];
    CHECK(empty > 0);
    for (unsigned n : cov.set_types) CHECK(n > 0);
    for (unsigned n : cov.actions) CHECK(n > 0);
    CHECK(cov.and_ > 0);
    CHECK(cov.or_ > 0);
    CHECK(cov.not_ > 0);
    CHECK(cov.parens > 0);
    CHECK(cov.payload_eq > 0);
    CHECK(cov.payload_ne > 0);
    CHECK(cov.payload_hex > 0);
    CHECK(cov.payload_string > 0);
    CHECK(cov.no_condition > 0);
    CHECK(cov.nested_const > 0);
    CHECK(cov.set_with_const > 0);
    CHECK(cov.host_bits > 0);
    CHECK(cov.max_depth == GenOptions{}.max_depth);
    // The linter's findings show up too (they are warnings, never errors).
    CHECK(warnings.count("cidr-host-bits"));
    CHECK(warnings.count("empty-set"));

    unsigned leaves = 0;
    for (const auto& ops : cov.field_op)
        for (unsigned n : ops) leaves += n;
    MESSAGE("coverage over 2000 policies: " << cov.rules << " rules, " << leaves << " field tests, "
                                            << cov.payload_eq + cov.payload_ne << " payload matches, "
                                            << cov.and_ << " and, " << cov.or_ << " or, " << cov.not_
                                            << " not");
}

TEST_CASE("a seed reproduces its policy and its packets") {
    for (std::uint64_t seed : {7ull, 123456789ull}) {
        GeneratedPolicy a = generate_policy(seed), b = generate_policy(seed);
        CHECK(a.text == b.text);
        PacketGen pa(a.palette, seed), pb(b.palette, seed);
        for (int i = 0; i < 200; ++i) CHECK(pa.next().bytes == pb.next().bytes);
    }
    CHECK(generate_policy(1).text != generate_policy(2).text);
}

TEST_CASE("the options shape the policies") {
    GenOptions o;
    o.min_rules = o.max_rules = 5;
    o.redirect = false;
    o.iface = false;
    for (std::uint64_t seed = 1; seed <= 100; ++seed) {
        GeneratedPolicy g = generate_policy(seed, o);
        CHECK(g.coverage.rules == 5);
        CHECK(g.coverage.actions[4] == 0);
        CHECK(g.text.find("redirect \"") == std::string::npos);
        CHECK(g.text.find("pkt.iface") == std::string::npos);
    }
}

TEST_CASE("packets aimed at a policy reach its rules and the parser's corners") {
    unsigned packets = 0, by_rule = 0, terminal_rules = 0, terminal_hit = 0, rules = 0, rules_true = 0;
    unsigned vlan = 0, two_tags = 0, ip4 = 0, ip6 = 0, ext = 0, frag = 0, l4 = 0, icmp = 0, icmp6 = 0;
    unsigned malformed = 0, truncated = 0, raw = 0, payload = 0, short_frames = 0;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        GeneratedPolicy g = generate_policy(seed);
        auto c = compile(g);
        REQUIRE_MESSAGE(c->ok(), "seed " << seed);
        const Policy& pol = c->program.policies[0];
        std::vector<unsigned> decided(pol.rules.size()), holds(pol.rules.size());
        PacketGen gen(g.palette, seed);
        for (int i = 0; i < 500; ++i) {
            GeneratedPacket p = gen.next();
            ++packets;
            if (p.bytes.size() < 14) ++short_frames;
            weir_pkt pkt{};
            weir_parse(p.bytes.data(), p.bytes.data() + p.bytes.size(), &pkt);
            Decision d = evaluate(c->program, pol, pkt, p.bytes, "lo");
            if (d.rule >= 0) ++by_rule, ++decided[static_cast<std::size_t>(d.rule)];
            for (std::size_t r = 0; r < pol.rules.size(); ++r)
                holds[r] += matches(c->program, pol.rules[r].cond, pkt, p.bytes, "lo");
            vlan += (pkt.present & WEIR_H_VLAN) != 0;
            ip4 += (pkt.present & WEIR_H_IP4) != 0;
            ip6 += (pkt.present & WEIR_H_IP6) != 0;
            l4 += (pkt.present & WEIR_H_L4) != 0;
            icmp += (pkt.present & WEIR_H_ICMP) != 0;
            icmp6 += (pkt.present & WEIR_H_ICMP6) != 0;
            frag += pkt.ip_frag != 0;
            malformed += pkt.malformed != 0;
            payload += pkt.payload_len > 0;
            two_tags += p.kind.starts_with("vlan2");
            ext += p.kind.find("ext") != std::string::npos;
            truncated += p.kind.find("trunc@") != std::string::npos;
            raw += p.kind == "raw";
        }
        for (std::size_t r = 0; r < pol.rules.size(); ++r) {
            ++rules;
            rules_true += holds[r] > 0;
            if (!pol.rules[r].action.terminal()) continue;
            ++terminal_rules;
            terminal_hit += decided[r] > 0;
        }
    }
    auto pct = [&](unsigned n) { return 100.0 * n / packets; };
    MESSAGE("decided by a rule: " << pct(by_rule) << "% of " << packets << " packets; terminal rules that "
            << "decide at least one packet: " << 100.0 * terminal_hit / terminal_rules << "%; rules whose "
            << "condition holds for at least one packet: " << 100.0 * rules_true / rules << "%");
    MESSAGE("vlan " << pct(vlan) << "%, ip4 " << pct(ip4) << "%, ip6 " << pct(ip6) << "%, ext " << pct(ext)
            << "%, frag " << pct(frag) << "%, tcp/udp " << pct(l4) << "%, icmp " << pct(icmp) << "%, icmp6 "
            << pct(icmp6) << "%, malformed " << pct(malformed) << "%, truncated " << pct(truncated)
            << "%, raw " << pct(raw) << "%");
    CHECK(short_frames == 0);
    // Measured: 86% of packets decided by a rule, 31% of terminal rules decide some packet (the
    // earlier rules of a random policy take most packets), 75% of rules hold for some packet.
    CHECK(pct(by_rule) > 50);
    CHECK(pct(by_rule) < 97);
    CHECK(100.0 * terminal_hit / terminal_rules > 25);
    CHECK(100.0 * rules_true / rules > 65);
    for (unsigned n : {vlan, two_tags, ip4, ip6, ext, frag, l4, icmp, icmp6, malformed, truncated, raw, payload})
        CHECK(pct(n) > 0.5);
}
