#include <doctest/doctest.h>

#include <set>

#include "driver.hpp"
#include "plan.hpp"
#include "plan_dump.hpp"
#include "weir_abi.h"

using namespace weir;

namespace {

std::unique_ptr<Compilation> compile(const std::string& text) {
    CheckOptions o;
    o.load.use_default_rules = false;
    auto c = compile_source("t.weir", text, o);
    REQUIRE_MESSAGE(c->ok(), render_text(c->sources, c->diags));
    return c;
}

bool covers(const TablePrefix& p, u128 v, unsigned bits) {
    unsigned host = bits - p.len;
    if (host >= 128) return true;
    return (v >> host) == (p.value >> host);
}

}  // namespace

TEST_CASE("range_to_prefixes: every 8-bit range is covered exactly, by aligned disjoint prefixes") {
    for (unsigned lo = 0; lo < 256; ++lo) {
        for (unsigned hi = lo; hi < 256; ++hi) {
            auto ps = range_to_prefixes(lo, hi, 8);
            REQUIRE(!ps.empty());
            CHECK(ps.size() <= 14);  // 2 * bits - 2
            for (unsigned v = 0; v < 256; ++v) {
                int n = 0;
                for (const auto& p : ps) n += covers(p, v, 8);
                bool inside = v >= lo && v <= hi;
                if (n != (inside ? 1 : 0)) FAIL("range " << lo << "-" << hi << " value " << v << " covered " << n);
            }
            for (const auto& p : ps) {
                unsigned host = 8 - p.len;
                CHECK((static_cast<unsigned>(p.value) & ((1u << host) - 1)) == 0);  // aligned
            }
        }
    }
}

TEST_CASE("range_to_prefixes: known decompositions and the 128-bit edges") {
    CHECK(range_to_prefixes(22, 22, 16) == std::vector<TablePrefix>{{22, 16}});
    // 8000-8063, 8064-8095, 8096-8099.
    CHECK(range_to_prefixes(8000, 8099, 16) == std::vector<TablePrefix>{{8000, 10}, {8064, 11}, {8096, 14}});
    auto web = range_to_prefixes(1024, 65535, 16);
    CHECK(web.size() == 6);
    CHECK(web.front() == TablePrefix{1024, 6});
    u128 all = ~u128{0};
    auto whole = range_to_prefixes(0, all, 128);
    REQUIRE(whole.size() == 1);
    CHECK(whole[0].len == 0);
    CHECK(range_to_prefixes(1, all, 128).size() == 128);
    CHECK(range_to_prefixes(0, 0xffffffff, 32) == std::vector<TablePrefix>{{0, 0}});
    CHECK(range_to_prefixes(5, 4, 16).empty());
}

TEST_CASE("plan: named address sets become one table per family, shared by every use") {
    auto c = compile(R"(
set mixed : ip = { 192.0.2.0/24, 198.51.100.7, 2001:db8::/32, 192.0.2.10-192.0.2.20 }
set v4only : ip4 = { 203.0.113.0/24 }
policy p default drop {
    a: pass if ip.src in @mixed
    b: drop if ip.dst in @mixed and ip.src in @v4only
    c: count if ip4.src in @mixed
}
)");
    Plan plan = plan_policy(c->program, 0);
    CHECK(plan.default_action == WEIR_ACT_DROP);
    REQUIRE(plan.rules.size() == 3);
    CHECK(plan.rules[0].action == WEIR_ACT_PASS);
    CHECK(plan.rules[1].action == WEIR_ACT_DROP);
    CHECK_FALSE(plan.rules[2].terminal);
    // mixed: one v4 table and one v6 table; v4only: one v4 table.
    REQUIRE(plan.tables.size() == 3);
    int mixed = c->program.find_set("mixed");
    const SetTable* m4 = plan.table_for(mixed, TableKind::V4);
    const SetTable* m6 = plan.table_for(mixed, TableKind::V6);
    REQUIRE(m4);
    REQUIRE(m6);
    CHECK(m6->prefixes == std::vector<TablePrefix>{{(u128{0x20010db8} << 96), 32}});
    // 192.0.2.0/24, the host /32, and 10-20 as prefixes: 10/31, 12/30, 16/30, 20/32.
    CHECK(m4->prefixes.size() == 2 + 4);
    CHECK(m4->id != plan.table_for(c->program.find_set("v4only"), TableKind::V4)->id);
    CHECK(plan.lookups.size() == 4);
    for (const auto& [expr, ip] : plan.lookups) {
        if (expr->field == FieldId::Ip4Src && expr->set == mixed) {
            CHECK(ip.v4_table >= 0);
            CHECK(ip.v6_table < 0);
        }
    }
}

TEST_CASE("plan: small inline sets are compared inline, large ones become tables") {
    auto c = compile(R"(
policy p default pass {
    small: drop if tcp.dport in { 1, 2, 3, 4, 5, 6, 7, 8 }
    large: drop if udp.dport in { 1, 2, 3, 4, 5, 6, 7, 8, 9, 100-199 }
    protos: drop if ip.proto in { 1, 2, 3, 4, 5, 6, 7, 8, 9 }
    macs: drop if eth.src in { 02:00:00:00:00:01, 02:00:00:00:00:02, 02:00:00:00:00:03, 02:00:00:00:00:04,
                               02:00:00:00:00:05, 02:00:00:00:00:06, 02:00:00:00:00:07, 02:00:00:00:00:08,
                               02:00:00:00:00:09 }
}
)");
    Plan plan = plan_policy(c->program, 0);
    REQUIRE(plan.tables.size() == 3);
    CHECK(plan.tables[0].kind == TableKind::Port);
    CHECK(plan.tables[0].program_set == -1);
    CHECK(plan.tables[0].name == "inline@large");
    CHECK(plan.tables[1].kind == TableKind::Proto);
    CHECK(plan.tables[2].kind == TableKind::Mac);
    CHECK(plan.tables[2].prefixes.size() == 9);
    CHECK(plan.lookups.size() == 3);
    std::string d = dump_plan(plan);
    CHECK(d.find("policy p: strategy linear, 4 rules, default pass") != std::string::npos);
    CHECK(d.find("[0] port set 1 'inline@large'") != std::string::npos);
    CHECK(d.find("1 large: condition, lookups [0]") != std::string::npos);
    CHECK(d.find("0 small: condition\n") != std::string::npos);
}
