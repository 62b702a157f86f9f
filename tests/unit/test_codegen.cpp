// codegen: checked policy -> plan -> BPF object. Without root: the object opens with libbpf, the
// generated code has the structure asked for (set lookups, count hooks, payload bounds), and the
// line info ties instructions to policy lines. As root: the objects load, and the example
// policies' own test packets get the interpreter's decisions from the kernel.
#include <doctest/doctest.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <random>
#include <sstream>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actions.hpp"
#include "bpf.hpp"
#include "bpf_env.hpp"
#include "codegen.hpp"
#include "driver.hpp"
#include "interp.hpp"
#include "maps.hpp"
#include "parse.h"
#include "plan.hpp"
#include "test_frames.hpp"
#include "test_runner.hpp"
#include "weir_abi.h"

using namespace weir;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<Compilation> check(const std::string& text, const std::string& path = "/tmp/weir-cg/policy.weir") {
    CheckOptions opts;
    opts.lint = false;
    auto c = compile_source(path, text, opts);
    std::string why;
    for (const auto& d : c->diags.list())
        why += std::to_string(c->sources.line_col(d.range.file, d.range.begin).line) + ": " + d.code + ": " +
               d.message + "\n";
    INFO(why);
    REQUIRE(c->ok());
    return c;
}

std::string as_text(const CodegenResult& r) { return std::string(r.bytes.begin(), r.bytes.end()); }

CodegenResult gen(const Compilation& c, EmitKind kind, const CodegenOptions& opts = {}, int policy = 0) {
    Plan plan = plan_policy(c.program, policy);
    CodegenResult r = codegen(plan, c.sources, kind, opts);
    REQUIRE_MESSAGE(r.ok(), r.error);
    REQUIRE_FALSE(r.bytes.empty());
    return r;
}

// --- a minimal ELF / BTF reader: section contents by name, .BTF.ext line info ---------------

struct Elf {
    std::map<std::string, std::span<const std::uint8_t>> sections;
    explicit Elf(const std::vector<std::uint8_t>& b) {
        REQUIRE(b.size() >= sizeof(Elf64_Ehdr));
        Elf64_Ehdr eh;
        std::memcpy(&eh, b.data(), sizeof eh);
        REQUIRE(std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0);
        REQUIRE(eh.e_machine == EM_BPF);
        std::vector<Elf64_Shdr> sh(eh.e_shnum);
        std::memcpy(sh.data(), b.data() + eh.e_shoff, eh.e_shnum * sizeof(Elf64_Shdr));
        const char* names = reinterpret_cast<const char*>(b.data() + sh[eh.e_shstrndx].sh_offset);
        for (const auto& s : sh)
            if (s.sh_type != SHT_NOBITS) sections[names + s.sh_name] = {b.data() + s.sh_offset, s.sh_size};
    }
};

template <class T>
T get(std::span<const std::uint8_t> s, std::size_t at) {
    T v;
    REQUIRE(at + sizeof(T) <= s.size());
    std::memcpy(&v, s.data() + at, sizeof(T));
    return v;
}

struct LineInfo {
    std::string section, file, text;
    std::uint32_t insn = 0, line = 0, col = 0;
};

std::vector<LineInfo> line_info(const Elf& elf) {
    auto btf = elf.sections.at(".BTF"), ext = elf.sections.at(".BTF.ext");
    REQUIRE(get<std::uint16_t>(btf, 0) == 0xeB9F);
    auto hdr = get<std::uint32_t>(btf, 4), str_off = get<std::uint32_t>(btf, 16);
    auto str = [&](std::uint32_t off) { return std::string(reinterpret_cast<const char*>(btf.data() + hdr + str_off + off)); };
    REQUIRE(get<std::uint16_t>(ext, 0) == 0xeB9F);
    auto ext_hdr = get<std::uint32_t>(ext, 4), li_off = get<std::uint32_t>(ext, 16),
         li_len = get<std::uint32_t>(ext, 20);
    std::size_t at = ext_hdr + li_off, end = at + li_len;
    auto rec = get<std::uint32_t>(ext, at);
    at += 4;
    std::vector<LineInfo> out;
    while (at < end) {
        std::string sec = str(get<std::uint32_t>(ext, at));
        auto n = get<std::uint32_t>(ext, at + 4);
        at += 8;
        for (std::uint32_t i = 0; i < n; ++i, at += rec) {
            auto lc = get<std::uint32_t>(ext, at + 12);
            out.push_back({sec, str(get<std::uint32_t>(ext, at + 4)), str(get<std::uint32_t>(ext, at + 8)),
                           get<std::uint32_t>(ext, at) / 8, lc >> 10, lc & 0x3ff});
        }
    }
    return out;
}

std::size_t xdp_insns(const Elf& elf) { return elf.sections.at("xdp").size() / 8; }

bool libbpf_opens(const std::vector<std::uint8_t>& obj) {
    bpf_object* o = bpf_object__open_mem(obj.data(), obj.size(), nullptr);
    if (!o) return false;
    bool has_prog = bpf_object__find_program_by_name(o, WEIR_PROG_XDP) != nullptr;
    bpf_object__close(o);
    return has_prog;
}

std::vector<fs::path> examples() {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(fs::path(WEIR_SOURCE_DIR) / "examples"))
        if (e.path().extension() == ".weir") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

const char* kSmall = R"(set ssh-admins : ip = { 198.51.100.0/24, 2001:db8:ad::/48 }

policy small default drop {
    syns:     count if tcp.flags.syn and not tcp.flags.ack
    admins:   pass if tcp.dport == 22 and ip.src in @ssh-admins
    get:      drop if payload[0:4] == "GET "
    web:      pass if tcp.dport in { 80, 443, 8000-8099 }
    v6net:    pass if ip6.dst == 2001:db8:1::/48
}
)";

}  // namespace

TEST_CASE("every example policy compiles to an object that libbpf opens, times and sizes") {
    for (const fs::path& path : examples()) {
        CAPTURE(path.string());
        CheckOptions opts;
        opts.lint = false;
        auto c = compile_file(path.string(), opts);
        REQUIRE(c->ok());
        for (std::size_t p = 0; p < c->program.policies.size(); ++p) {
            auto t0 = std::chrono::steady_clock::now();
            Plan plan = plan_policy(c->program, static_cast<int>(p));
            CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj);
            auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            REQUIRE_MESSAGE(obj.ok(), obj.error);
            CHECK(libbpf_opens(obj.bytes));
            Elf elf(obj.bytes);
            MESSAGE(path.filename().string() << " policy " << c->program.policies[p].name << ": "
                                             << plan.rules.size() << " rules, plan+codegen " << ms << " ms, "
                                             << xdp_insns(elf) << " instructions in xdp, " << obj.bytes.size()
                                             << " bytes of ELF");
            CodegenResult ir = codegen(plan, c->sources, EmitKind::IR);
            REQUIRE_MESSAGE(ir.ok(), ir.error);
            CHECK(as_text(ir).find("i32 @weir_xdp(ptr") != std::string::npos);
            // weir_match and the template helpers are inlined away.
            CHECK(as_text(ir).find("define internal i32 @weir_match") == std::string::npos);
        }
    }
}

TEST_CASE("IR before optimization: rules in order, count hook, set lookups, payload bounds") {
    auto c = check(kSmall);
    CodegenOptions o;
    o.unoptimized_ir = true;
    std::string ir = as_text(gen(*c, EmitKind::IR, o));
    CHECK(ir.find("define internal i32 @weir_match(ptr") != std::string::npos);
    CHECK(ir.find("alwaysinline") != std::string::npos);
    // count rule 0 calls weir_count(0, pkt->len) and goes on
    CHECK(ir.find("call void @weir_count(i32 0,") != std::string::npos);
    // the named set: one table per family, looked up with the plan's ids
    Plan plan = plan_policy(c->program, 0);
    for (const SetTable& t : plan.tables) {
        std::string fn = t.kind == TableKind::V4 ? "@weir_in_v4(i32 " : "@weir_in_v6(i32 ";
        CHECK_MESSAGE(ir.find(fn + std::to_string(t.id) + ",") != std::string::npos, fn << t.id);
    }
    // payload: offset masked, window end compared with data_end, "GET " as one little-endian i32
    CHECK(ir.find(", 32767") != std::string::npos);
    CHECK(ir.find("icmp ugt ptr %window.end, %data_end") != std::string::npos);
    CHECK(ir.find("load i32, ptr") != std::string::npos);
    CHECK(ir.find(std::to_string(0x20544547)) != std::string::npos);  // "GET " little-endian
    // decisions: rule 1 pass = 1 << 8 | 2, default drop = 0xffffff << 8 | 1
    CHECK(ir.find("ret i32 258") != std::string::npos);
    CHECK(ir.find("ret i32 " + std::to_string(std::int32_t((WEIR_RULE_DEFAULT << 8) | WEIR_ACT_DROP))) !=
          std::string::npos);
    // every instruction of weir_match has a location in the policy
    auto body = ir.substr(ir.find("define internal i32 @weir_match"));
    body = body.substr(0, body.find("\n}\n"));
    std::istringstream lines(body);
    std::string line;
    int insns = 0;
    std::getline(lines, line);  // the define line
    while (std::getline(lines, line)) {
        if (line.rfind("  ", 0) != 0) continue;  // labels ("r0.match:   ; preds = ...") and blank lines
        ++insns;
        CHECK_MESSAGE(line.find(", !dbg !") != std::string::npos, line);
    }
    CHECK(insns > 20);
    CHECK(ir.find("!DIFile(filename: \"policy.weir\", directory: \"/tmp/weir-cg\", source:") != std::string::npos);
}

TEST_CASE("the object's BTF line info ties the rules' instructions to the policy lines") {
    auto c = check(kSmall);
    CodegenResult obj = gen(*c, EmitKind::Obj);
    Elf elf(obj.bytes);
    std::vector<LineInfo> lines = line_info(elf);
    std::set<std::uint32_t> policy_lines;
    for (const LineInfo& li : lines) {
        if (li.section != "xdp" || li.file.find("policy.weir") == std::string::npos) continue;
        policy_lines.insert(li.line);
        // the embedded source: each record quotes its policy line
        CHECK(std::string(c->sources.line_text(0, li.line)) == li.text);
    }
    // lines 4..8 hold the five rules
    for (std::uint32_t l = 4; l <= 8; ++l) CHECK_MESSAGE(policy_lines.count(l) == 1, "line " << l);
    CHECK(libbpf_opens(obj.bytes));
}

TEST_CASE("the assembly names the policy file and embeds its text") {
    auto c = check(kSmall);
    std::string s = as_text(gen(*c, EmitKind::Asm));
    CHECK(s.find(".file") != std::string::npos);
    CHECK(s.find("\"policy.weir\"") != std::string::npos);
    CHECK(s.find("web:      pass if tcp.dport in { 80, 443, 8000-8099 }") != std::string::npos);
    CHECK(s.find("weir_xdp:") != std::string::npos);
}

TEST_CASE("small inline sets are compared inline, larger ones looked up") {
    auto c = check(R"(policy p default pass {
    few:  drop if tcp.dport in { 1, 2, 3 }
    many: drop if udp.dport in { 1, 2, 3, 4, 5, 6, 7, 8, 9 }
    v6s:  drop if ip.dst in { 2001:db8::1, 10.0.0.0/8 }
})");
    CodegenOptions o;
    o.unoptimized_ir = true;
    std::string ir = as_text(gen(*c, EmitKind::IR, o));
    CHECK(ir.find("@weir_in_port(i32 1,") != std::string::npos);
    CHECK(ir.find("call i32 @weir_in_v4") == std::string::npos);  // v6s: two elements, inline
    CHECK(ir.find("call i32 @weir_in_v6") == std::string::npos);
}

TEST_CASE("pkt.iface needs resolvable interface names") {
    auto c = check(R"(policy p default pass {
    lo-only: drop if pkt.iface == "lo"
    others:  drop if pkt.iface in { "nope0", "lo" }
})");
    Plan plan = plan_policy(c->program, 0);
    CodegenResult r = codegen(plan, c->sources, EmitKind::Obj);
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("policy.weir:2:") != std::string::npos);
    CHECK(r.error.find("ifindex_of") != std::string::npos);

    CodegenOptions o;
    o.ifindex_of = [](const std::string& n) -> std::optional<std::uint32_t> {
        if (n == "lo") return 1;
        return std::nullopt;
    };
    r = codegen(plan, c->sources, EmitKind::Obj, o);
    CHECK_FALSE(r.ok());
    CHECK(r.error.find("policy.weir:3:") != std::string::npos);
    CHECK(r.error.find("no interface named \"nope0\"") != std::string::npos);
}

TEST_CASE("unverifiable_rule must name a rule, it reads past the packet unchecked") {
    auto c = check(kSmall);
    Plan plan = plan_policy(c->program, 0);
    CodegenOptions o;
    o.unverifiable_rule = "nope";
    CHECK(codegen(plan, c->sources, EmitKind::Obj, o).error.find("no rule named 'nope'") != std::string::npos);
    o.unverifiable_rule = "web";
    o.unoptimized_ir = true;
    CodegenResult r = codegen(plan, c->sources, EmitKind::IR, o);
    REQUIRE(r.ok());
    CHECK(as_text(r).find("load volatile i8, ptr %unchecked") != std::string::npos);
}

// --- in the kernel ------------------------------------------------------------------------------

namespace {

// Skips the calling test case when this process cannot load BPF programs.
#define SKIP_UNLESS_BPF()                                                        \
    do {                                                                         \
        if (std::string why = test::bpf_unavailable_reason(); !why.empty()) WEIR_SKIP(why); \
    } while (0)

// What the loader will do in runtime/: size the maps for the plan, load, fill the set tables.
struct Loaded {
    bpf::Object obj;
    int prog = -1, last = -1, rules = -1;
};

std::vector<std::uint8_t> set_key(const SetTable& t, const TablePrefix& p) {
    unsigned bits = table_value_bits(t.kind), bytes = bits / 8;
    std::size_t key_size = 8 + std::max(4u, (bytes + 3) / 4 * 4);
    std::vector<std::uint8_t> k(key_size, 0);
    std::uint32_t prefixlen = WEIR_SET_ID_BITS + p.len, id = t.id;
    std::memcpy(k.data(), &prefixlen, 4);
    std::memcpy(k.data() + 4, &id, 4);
    for (unsigned i = 0; i < bytes; ++i) k[8 + i] = static_cast<std::uint8_t>(p.value >> (bits - 8 * (i + 1)));
    return k;
}

bpf::Result<Loaded> load(const std::vector<std::uint8_t>& elf, const Plan& plan, bool log_always = false) {
    auto obj = bpf::Object::open(elf, "codegen-test");
    if (!obj) return obj.error();
    auto rules = static_cast<std::uint32_t>(std::max<std::size_t>(1, plan.rules.size()));
    REQUIRE(obj->set_max_entries(WEIR_MAP_RULES, rules));
    REQUIRE(obj->set_max_entries(WEIR_MAP_REDIRECT, rules));
    std::map<TableKind, std::uint32_t> entries;
    for (const SetTable& t : plan.tables) entries[t.kind] += static_cast<std::uint32_t>(t.prefixes.size());
    for (TableKind k : {TableKind::V4, TableKind::V6, TableKind::Port, TableKind::Proto, TableKind::Mac})
        REQUIRE(obj->set_max_entries(table_map_name(k), std::max(1u, entries[k])));
    auto st = obj->load(log_always);
    if (!st) return st.error();
    Loaded l{std::move(*obj)};
    l.prog = *l.obj.program_fd(WEIR_PROG_XDP);
    l.last = *l.obj.map_fd(WEIR_MAP_LAST);
    l.rules = *l.obj.map_fd(WEIR_MAP_RULES);
    for (const SetTable& t : plan.tables) {
        int fd = *l.obj.map_fd(table_map_name(t.kind));
        for (const TablePrefix& p : t.prefixes) {
            std::uint8_t one = 1;
            auto key = set_key(t, p);
            REQUIRE(bpf_map_update_elem(fd, key.data(), &one, BPF_ANY) == 0);
        }
    }
    int redirect = *l.obj.map_fd(WEIR_MAP_REDIRECT);
    for (const PlannedRule& r : plan.rules)
        if (r.action == WEIR_ACT_REDIRECT) REQUIRE(bpf::update(redirect, static_cast<std::uint32_t>(r.rule), 1u));
    return l;
}

bpf::LastDecision run(const Loaded& l, std::span<const std::uint8_t> frame, std::uint32_t& retval) {
    REQUIRE(bpf::clear_last_decision(l.last));
    auto r = bpf::test_run(l.prog, frame);
    REQUIRE_MESSAGE(r, r.error().message);
    retval = r->retval;
    auto last = bpf::last_decision(l.last);
    REQUIRE_MESSAGE(last, last.error().message);
    return *last;
}

}  // namespace

TEST_CASE("kernel: every example loads, and its test packets get the interpreter's decisions") {
    SKIP_UNLESS_BPF();
    for (const fs::path& path : examples()) {
        CAPTURE(path.string());
        CheckOptions opts;
        opts.lint = false;
        auto c = compile_file(path.string(), opts);
        REQUIRE(c->ok());
        for (std::size_t p = 0; p < c->program.policies.size(); ++p) {
            const Policy& pol = c->program.policies[p];
            Plan plan = plan_policy(c->program, static_cast<int>(p));
            CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj);
            REQUIRE_MESSAGE(obj.ok(), obj.error);
            auto t0 = std::chrono::steady_clock::now();
            auto l = load(obj.bytes, plan, /*log_always=*/true);
            auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            REQUIRE_MESSAGE(l, l.error().message << "\n" << l.error().log);
            std::string log = l->obj.log(WEIR_PROG_XDP);
            auto at = log.rfind("processed ");
            MESSAGE(path.filename().string() << ": load " << ms << " ms; verifier "
                                             << (at == std::string::npos ? log : log.substr(at)));
            int probes = 0;
            for (const TestCase& tc : c->program.tests) {
                if (tc.policy != static_cast<int>(p)) continue;
                for (const Probe& probe : tc.probes) {
                    ProbeRun ref = run_probe(c->program, pol, probe);
                    REQUIRE(ref.error.empty());
                    CAPTURE(tc.name);
                    CAPTURE(c->sources.text(probe.range));
                    std::uint32_t retval = 0;
                    bpf::LastDecision d = run(*l, ref.frame, retval);
                    std::uint32_t want_rule = ref.decision.rule < 0 ? WEIR_RULE_DEFAULT
                                                                    : static_cast<std::uint32_t>(ref.decision.rule);
                    CHECK(d.rule == want_rule);
                    CHECK(retval == action_of_verdict(ref.decision.verdict));
                    ++probes;
                }
            }
            CHECK(probes > 0);
        }
    }
}

TEST_CASE("kernel: count rules, payload matches and pkt.iface, packet by packet") {
    SKIP_UNLESS_BPF();
    auto c = check(R"(policy p default pass {
    syns:    count if tcp.flags.syn
    hello:   drop if payload[2:7] == "hello, " and tcp.dport == 7
    not-hi:  tx if payload[0:2] != "hi" and udp.dport == 7
    lo:      drop if pkt.iface == "lo" and tcp.dport == 9
    long:    drop if payload[1:11] == "abcdefghijk"
})");
    Plan plan = plan_policy(c->program, 0);
    CodegenOptions o;
    o.ifindex_of = [](const std::string& n) -> std::optional<std::uint32_t> {
        unsigned i = if_nametoindex(n.c_str());
        return i ? std::optional<std::uint32_t>(i) : std::nullopt;
    };
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, o);
    REQUIRE_MESSAGE(obj.ok(), obj.error);
    auto l = load(obj.bytes, plan);
    REQUIRE_MESSAGE(l, l.error().message << "\n" << l.error().log);
    std::uint32_t retval = 0;
    auto tcp = [](std::uint16_t dport, std::string payload, std::uint8_t flags = kTcpAck) {
        return Frame().eth().ipv4(*ip4_from_text("198.18.0.1"), *ip4_from_text("198.18.0.2"))
            .tcp(40000, dport, flags).payload(payload).bytes();
    };
    auto udp = [](std::uint16_t dport, std::string payload) {
        return Frame().eth().ipv4(*ip4_from_text("198.18.0.1"), *ip4_from_text("198.18.0.2"))
            .udp(40000, dport).payload(payload).bytes();
    };
    CHECK(run(*l, tcp(7, "  hello, world", kTcpSyn), retval).rule == 1);
    CHECK(retval == WEIR_ACT_DROP);
    auto count = bpf::read_counter(l->rules, 0);
    REQUIRE(count);
    CHECK(count->packets == 1);
    CHECK(run(*l, tcp(7, "  hello; world"), retval).rule == WEIR_RULE_DEFAULT);  // one byte differs
    CHECK(run(*l, tcp(7, "  hello,"), retval).rule == WEIR_RULE_DEFAULT);        // too short
    CHECK(run(*l, udp(7, "ho"), retval).rule == 2);
    CHECK(retval == WEIR_ACT_TX);
    CHECK(run(*l, udp(7, "hi"), retval).rule == WEIR_RULE_DEFAULT);
    CHECK(run(*l, udp(7, "h"), retval).rule == WEIR_RULE_DEFAULT);  // != is false when too short
    CHECK(run(*l, tcp(9, ""), retval).rule == 3);  // test runs arrive on lo
    CHECK(run(*l, tcp(8, "-abcdefghijk"), retval).rule == 4);  // 8 + 2 + 1 bytes
    CHECK(run(*l, tcp(8, "-abcdefghijK"), retval).rule == WEIR_RULE_DEFAULT);
    CHECK(run(*l, tcp(8, "-abcdefgHijk"), retval).rule == WEIR_RULE_DEFAULT);
    CHECK(run(*l, udp(8, "xabcdefghijk"), retval).rule == 4);
    count = bpf::read_counter(l->rules, 0);
    REQUIRE(count);
    CHECK(count->packets == 1);
}

TEST_CASE("kernel: the verifier rejects the unverifiable rule, and its log quotes the rule") {
    SKIP_UNLESS_BPF();
    auto c = check(kSmall);
    Plan plan = plan_policy(c->program, 0);
    CodegenOptions o;
    o.unverifiable_rule = "web";
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, o);
    REQUIRE_MESSAGE(obj.ok(), obj.error);
    auto l = load(obj.bytes, plan);
    REQUIRE_FALSE(l);
    CHECK(l.error().log.find("web:      pass if tcp.dport in { 80, 443, 8000-8099 }") != std::string::npos);

    // without the hook the same policy loads
    obj = codegen(plan, c->sources, EmitKind::Obj);
    REQUIRE(obj.ok());
    auto good = load(obj.bytes, plan);
    REQUIRE_MESSAGE(good, good.error().message << "\n" << good.error().log);
}

TEST_CASE("kernel: generated code agrees with the interpreter on mixed packets") {
    SKIP_UNLESS_BPF();
    auto c = check(R"(set mixed : ip = { 198.18.0.0/24, 2001:2::/64, 198.18.1.7 }
set ports : port = { 1-100, 443 }
set v4only : ip = { 198.18.0.0/28 }
policy diff default pass {
    r0: count if ip.src in @mixed
    r1: drop if ip.dst not in @mixed and tcp.dport < 50
    r2: tx if ip6.src == 2001:2::5-2001:2:0:1::3 and udp.sport >= 1000
    r3: drop if ip.src not in { 198.18.0.0/16 } and l4.dport in @ports
    r4: count if ip.src not in @v4only
    r5: drop if payload[0:3] != "abc" and udp.dport == 53
    r6: pass if not (tcp.flags.syn or ip.ttl > 100) and ip.proto in { tcp, udp }
    r7: drop if ip.ttl <= 3 or ip.dscp != 0
    r8: tx if udp.dport in { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }
    r9: pass if ip6.flowlabel == 5 or vlan.id == 10-20
    r10: drop if ip.dst in { 2001:2::/127, 198.18.0.9, 198.18.0.200-198.18.1.3 }
    r11: tx if ip6.dst != 2001:2::100-2001:2::1ff and ip.ttl > 50 and l4.sport <= 100
    r12: drop if icmp.type == echo-request or icmp6.type in { echo-request, echo-reply }
}
)");
    Plan plan = plan_policy(c->program, 0);
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj);
    REQUIRE_MESSAGE(obj.ok(), obj.error);
    auto l = load(obj.bytes, plan);
    REQUIRE_MESSAGE(l, l.error().message << "\n" << l.error().log);
    const Policy& pol = c->program.policies[0];

    std::mt19937 rng(7);
    auto pick = [&](auto const& pool) { return pool[rng() % pool.size()]; };
    const std::vector<std::string> v4{"198.18.0.1", "198.18.0.9", "198.18.0.15", "198.18.0.16", "198.18.0.255",
                                      "198.18.1.7", "198.18.1.3", "198.18.2.1", "198.19.0.1", "198.18.0.200"};
    const std::vector<std::string> v6{"2001:2::1", "2001:2::5", "2001:2::4", "2001:2:0:1::3", "2001:2:0:1::4",
                                      "2001:2::ff", "2001:2::100", "2001:2::1ff", "2001:2::200", "2001:2:1::1"};
    const std::vector<std::uint16_t> ports{1, 7, 10, 11, 49, 50, 53, 53, 53, 100, 101, 443, 999, 1000, 65535};
    const std::vector<std::uint8_t> ttls{1, 3, 4, 64, 100, 101, 255};
    const std::vector<std::string> payloads{"", "ab", "abc", "abd", "abcdef"};
    int runs = 0, mismatches = 0;
    std::map<int, int> decided, counted;
    for (int n = 0; n < 1500; ++n) {
        Frame f;
        f.eth();
        if (rng() % 4 == 0) f.vlan(static_cast<std::uint16_t>(pick(std::vector<int>{1, 10, 15, 20, 21})));
        bool six = rng() % 2;
        if (six) {
            Ip6Options o;
            o.hop_limit = pick(ttls);
            o.flowlabel = rng() % 3 == 0 ? 5 : 6;
            o.dscp = rng() % 5 == 0 ? 10 : 0;
            f.ipv6(*ip6_from_text(pick(v6)), *ip6_from_text(pick(v6)), o);
        } else {
            Ip4Options o;
            o.ttl = pick(ttls);
            o.dscp = rng() % 5 == 0 ? 10 : 0;
            f.ipv4(*ip4_from_text(pick(v4)), *ip4_from_text(pick(v4)), o);
        }
        switch (rng() % 3) {
            case 0: f.tcp(pick(ports), pick(ports), static_cast<std::uint8_t>(rng() % 4 == 0 ? kTcpSyn : kTcpAck)); break;
            case 1: f.udp(pick(ports), pick(ports)); break;
            default:
                if (six) f.icmp6(static_cast<std::uint8_t>(pick(std::vector<int>{128, 129, 1})));
                else f.icmp(static_cast<std::uint8_t>(pick(std::vector<int>{8, 0, 3})));
        }
        f.payload(pick(payloads));
        std::vector<std::uint8_t> frame = f.bytes();
        weir_pkt pkt{};
        weir_parse(frame.data(), frame.data() + frame.size(), &pkt);
        Decision want = evaluate(c->program, pol, pkt, frame, "lo");
        ++decided[want.rule];
        for (int r : want.counted) ++counted[r];
        std::uint32_t retval = 0;
        bpf::LastDecision got = run(*l, frame, retval);
        std::uint32_t want_rule = want.rule < 0 ? WEIR_RULE_DEFAULT : static_cast<std::uint32_t>(want.rule);
        ++runs;
        if (got.rule != want_rule || retval != action_of_verdict(want.verdict)) {
            ++mismatches;
            if (mismatches <= 5) CHECK_MESSAGE(got.rule == want_rule, "packet " << n << ": kernel " << got.rule << ", interpreter " << want_rule);
        }
    }
    CHECK(mismatches == 0);
    // every terminal rule and the default decided some packets
    for (int r : {-1, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12}) CHECK_MESSAGE(decided[r] > 0, "rule " << r);
    // the count rules counted what the interpreter says they match (plus their own decisions: none)
    for (int r : {0, 4}) {
        auto n = bpf::read_counter(l->rules, static_cast<std::uint32_t>(r));
        REQUIRE(n);
        CHECK(counted[r] > 0);
        CHECK(n->packets == static_cast<std::uint64_t>(counted[r]));
    }
    MESSAGE(runs << " packets, " << mismatches << " mismatches");
}

TEST_CASE("kernel: every optimization level gives a program the verifier accepts") {
    SKIP_UNLESS_BPF();
    auto c = check(kSmall);
    Plan plan = plan_policy(c->program, 0);
    for (int level : {0, 1, 2, 3}) {
        CAPTURE(level);
        CodegenOptions o;
        o.opt_level = level;
        CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj, o);
        REQUIRE_MESSAGE(obj.ok(), obj.error);
        auto l = load(obj.bytes, plan);
        REQUIRE_MESSAGE(l, l.error().message << "\n" << l.error().log.substr(l.error().log.size() > 3000 ? l.error().log.size() - 3000 : 0));
        std::uint32_t retval = 0;
        auto syn = Frame().eth().ipv4(*ip4_from_text("198.51.100.9"), *ip4_from_text("198.18.0.2"))
                       .tcp(40000, 22, kTcpSyn).bytes();
        CHECK(run(*l, syn, retval).rule == 1);  // admins
        auto count = bpf::read_counter(l->rules, 0);
        REQUIRE(count);
        CHECK(count->packets == 1);  // syns
        auto get = Frame().eth().ipv4(*ip4_from_text("203.0.113.9"), *ip4_from_text("198.18.0.2"))
                       .tcp(40000, 80, kTcpAck).payload("GET /").bytes();
        CHECK(run(*l, get, retval).rule == 2);
    }
}

TEST_CASE("kernel: 500 rules stay far below the verifier's limit") {
    SKIP_UNLESS_BPF();
    std::string text = "policy big default pass {\n";
    for (int i = 0; i < 500; ++i) {
        std::string cond;
        switch (i % 5) {
            case 0: cond = "tcp.dport == " + std::to_string(1000 + i) + " and ip.src == 198.18." + std::to_string(i % 256) + ".0/24"; break;
            case 1: cond = "udp.dport in { " + std::to_string(i) + ", " + std::to_string(i + 1) + " } and ip.ttl < " + std::to_string(i % 200 + 2); break;
            case 2: cond = "ip6.src == 2001:2:" + std::to_string(i) + "::/48 and not tcp.flags.ack"; break;
            case 3: cond = "payload[" + std::to_string(i % 50) + ":4] == \"ab" + std::to_string(i % 10) + "d\" and l4.sport >= " + std::to_string(i); break;
            default: cond = "ip.dst in { 198.19." + std::to_string(i % 256) + ".1, 2001:2::" + std::to_string(i) + " } or icmp.type == " + std::to_string(i % 40); break;
        }
        text += "    r" + std::to_string(i) + ": " + (i % 2 ? "drop" : "pass") + " if " + cond + "\n";
    }
    text += "}\n";
    auto c = check(text);
    Plan plan = plan_policy(c->program, 0);
    auto t0 = std::chrono::steady_clock::now();
    CodegenResult obj = codegen(plan, c->sources, EmitKind::Obj);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE_MESSAGE(obj.ok(), obj.error);
    auto l = load(obj.bytes, plan, /*log_always=*/true);
    REQUIRE_MESSAGE(l, l.error().message);
    std::string log = l->obj.log(WEIR_PROG_XDP);
    auto at = log.rfind("processed ");
    REQUIRE(at != std::string::npos);
    long processed = std::stol(log.substr(at + 10));
    MESSAGE("500 rules: codegen " << ms << " ms, " << xdp_insns(Elf(obj.bytes)) << " instructions, verifier processed "
                                  << processed);
    CHECK(processed < 200000);
    std::uint32_t retval = 0;
    auto pkt = Frame().eth().ipv4(*ip4_from_text("198.18.35.9"), *ip4_from_text("198.18.0.2")).tcp(40000, 1035).bytes();
    weir_pkt parsed{};
    weir_parse(pkt.data(), pkt.data() + pkt.size(), &parsed);
    Decision want = evaluate(c->program, c->program.policies[0], parsed, pkt, "");
    auto got = run(*l, pkt, retval);
    CHECK(want.rule == 35);
    CHECK(got.rule == 35);
}
