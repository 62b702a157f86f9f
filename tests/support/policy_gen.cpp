#include "policy_gen.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "field_access.hpp"
#include "parse.h"
#include "plan.hpp"
#include "test_frames.hpp"

namespace weir::test {

namespace {

constexpr GenOp kIntOps[] = {GenOp::Eq, GenOp::Ne, GenOp::Lt, GenOp::Le,
                             GenOp::Gt, GenOp::Ge, GenOp::In, GenOp::NotIn};
constexpr GenOp kBoolOps[] = {GenOp::Bare};
constexpr GenOp kValueOps[] = {GenOp::Eq, GenOp::Ne, GenOp::In, GenOp::NotIn};

std::size_t idx(FieldId f) { return static_cast<std::size_t>(f); }

u128 ones(unsigned bits) { return bits >= 128 ? ~u128{0} : (u128{1} << bits) - 1; }

unsigned value_bits(const FieldDef& f) {
    switch (f.type) {
        case FieldType::Ip4: return 32;
        case FieldType::Ip6: return 128;
        case FieldType::Mac: return 48;
        default: return f.bits;
    }
}

// The set types a field can be tested against with `in @set` (docs/language.md, "Sets"), derived
// from the field's type, header and symbol table as the checker does.
std::vector<SetType> set_types_for_impl(const FieldDef& f) {
    switch (f.type) {
        case FieldType::IpAny: return {SetType::Ip, SetType::Ip4, SetType::Ip6};
        case FieldType::Ip4: return {SetType::Ip, SetType::Ip4};
        case FieldType::Ip6: return {SetType::Ip, SetType::Ip6};
        case FieldType::Mac: return {SetType::Mac};
        case FieldType::Int: {
            bool l4 = f.header == Header::Tcp || f.header == Header::Udp || f.header == Header::L4;
            if (l4 && f.name.ends_with("port")) return {SetType::Port};
            if (f.symbols == SymbolTable::Proto) return {SetType::Proto};
            return {};
        }
        default: return {};
    }
}

const char* set_type_text_impl(SetType t) {
    switch (t) {
        case SetType::Ip: return "ip";
        case SetType::Ip4: return "ip4";
        case SetType::Ip6: return "ip6";
        case SetType::Mac: return "mac";
        case SetType::Port: return "port";
        case SetType::Proto: return "proto";
    }
    return "ip";
}

// One item as written, and the values it covers.
struct Item {
    std::string text;
    Family fam = Family::None;
    u128 lo = 0, hi = 0;
    GenForm form = GenForm::Number;
};

struct Ex {
    std::string text;
    int prec = 2;  // 0: or-list, 1: and-list, 2: unary or primary
};

class PolicyGen {
public:
    PolicyGen(std::uint64_t seed, const GenOptions& opts) : rng_(seed), opt_(opts) {}
    GeneratedPolicy run(std::uint64_t seed);

private:
    bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
    std::uint64_t below(std::uint64_t n) { return n ? rng_() % n : 0; }
    u128 rand128() { return u128{rng_()} << 64 | rng_(); }

    std::string number_text(u128 v);
    std::string hexdigits(u128 v, unsigned min_digits, bool upper);
    std::string ip4_text(std::uint32_t a);
    std::string ip6_text(u128 a);
    std::string mac_text(u128 m);

    u128 int_value(const FieldDef& f);
    Item int_item(const FieldDef& f, bool range_ok, bool symbol_ok);
    Item ip_item(Family fam, bool prefix_ok, bool range_ok);
    Item mac_item(bool range_ok);
    Item iface_item();
    // An item for field `f`; for ip.src/ip.dst `fam` picks the family (None: either).
    Item item_for(const FieldDef& f, bool range_ok, Family fam = Family::None);
    Item set_elem(SetType t);
    void record(const FieldDef& f, const Item& it);
    void record_point(const FieldDef& f, u128 v);

    std::string new_const(const std::string& body);
    std::string items_text(const std::vector<Item>& items);
    std::string set_ref(const FieldDef& f);
    std::string named_set(const FieldDef& f);

    Ex expr(unsigned depth);
    Ex leaf();
    std::string payload_leaf();
    std::string string_literal(const std::vector<std::uint8_t>& bytes);

    std::mt19937_64 rng_;
    const GenOptions& opt_;
    std::vector<std::string> decls_;
    Palette pal_;
    GenCoverage cov_;
    unsigned nconst_ = 0;
    struct NamedSet {
        std::string name;
        SetType type;
        std::vector<Item> elems;
    };
    std::vector<NamedSet> sets_;
    std::vector<std::uint32_t> v4_bases_;
    std::vector<u128> v6_bases_, mac_bases_;
    std::array<std::vector<u128>, kGenFields> hot_;  // per-field values several rules share
    unsigned depth_seen_ = 0;
    std::size_t rule_ = 0;  // the rule being generated
};

std::string PolicyGen::hexdigits(u128 v, unsigned min_digits, bool upper) {
    std::string s;
    do {
        unsigned d = static_cast<unsigned>(v & 0xf);
        s.push_back(static_cast<char>(d < 10 ? '0' + d : (upper ? 'A' : 'a') + d - 10));
        v >>= 4;
    } while (v);
    while (s.size() < min_digits) s.push_back('0');
    std::reverse(s.begin(), s.end());
    return s;
}

std::string PolicyGen::number_text(u128 v) {
    if (chance(0.2)) return "0x" + hexdigits(v, chance(0.3) ? 4 : 1, chance(0.25));
    std::string s;
    do {
        s.push_back(static_cast<char>('0' + static_cast<unsigned>(v % 10)));
        v /= 10;
    } while (v);
    std::reverse(s.begin(), s.end());
    return s;
}

std::string PolicyGen::ip4_text(std::uint32_t a) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
    return buf;
}

// The RFC 4291 text forms, picked at random: compressed (longest zero run, or any zero run),
// uncompressed, zero-padded groups, and with the low 32 bits as a dotted quad.
std::string PolicyGen::ip6_text(u128 a) {
    unsigned g[8];
    for (int i = 0; i < 8; ++i) g[i] = static_cast<unsigned>((a >> (112 - 16 * i)) & 0xffff);
    bool upper = chance(0.15);
    bool pad = chance(0.15);
    bool dotted = chance(0.15);
    int ngroups = dotted ? 6 : 8;
    // Pick the zero run to compress: the longest (ties: first), or sometimes any run.
    int best = -1, best_len = 0;
    std::vector<std::pair<int, int>> runs;
    for (int i = 0; i < ngroups;) {
        if (g[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < ngroups && g[j] == 0) ++j;
        runs.push_back({i, j - i});
        if (j - i > best_len) best = i, best_len = j - i;
        i = j;
    }
    bool compress = !chance(0.2);
    if (compress && !runs.empty() && chance(0.2)) {
        auto r = runs[below(runs.size())];
        best = r.first, best_len = r.second;
    }
    if (!compress) best = -1, best_len = 0;
    std::string s;
    for (int i = 0; i < ngroups;) {
        if (i == best) {
            s += "::";
            i += best_len;
            continue;
        }
        if (!s.empty() && s.back() != ':') s += ':';
        s += hexdigits(g[i], pad ? 4 : 1, upper);
        ++i;
    }
    if (dotted) {
        if (!s.empty() && s.back() != ':') s += ':';
        s += ip4_text(static_cast<std::uint32_t>(a));
    }
    return s;
}

std::string PolicyGen::mac_text(u128 m) {
    bool upper = chance(0.2);
    std::string s;
    for (int i = 0; i < 6; ++i) {
        if (i) s += ':';
        s += hexdigits((m >> (40 - 8 * i)) & 0xff, 2, upper);
    }
    return s;
}

u128 PolicyGen::int_value(const FieldDef& f) {
    const u128 max = field_max(f);
    auto& hot = hot_[idx(f.id)];
    if (!hot.empty() && chance(0.35)) return hot[below(hot.size())];
    u128 v;
    auto r = below(100);
    auto syms = symbols(f.symbols);
    if (r < 10) v = 0;
    else if (r < 20) v = max;
    else if (r < 25) v = 1;
    else if (r < 30) v = max - 1;
    else if (!syms.empty() && r < 55) v = syms[below(syms.size())].value;
    else if (r < 75) v = below(static_cast<std::uint64_t>(std::min<u128>(max, 1100)) + 1);
    else v = below(static_cast<std::uint64_t>(max) + 1);
    if (hot.size() < 3) hot.push_back(v);
    return v;
}

Item PolicyGen::int_item(const FieldDef& f, bool range_ok, bool symbol_ok) {
    Item it;
    auto syms = symbols(f.symbols);
    if (symbol_ok && !syms.empty() && chance(0.3)) {
        const Symbol& s = syms[below(syms.size())];
        it.text = std::string(s.name);
        it.lo = it.hi = s.value;
        it.form = GenForm::Symbol;
        return it;
    }
    if (range_ok && chance(0.3)) {
        u128 narrow = std::max<u128>(2, std::min<u128>(64, field_max(f) / 16));
        u128 a = int_value(f), b = chance(0.85) ? a + below(static_cast<std::uint64_t>(narrow)) : int_value(f);
        b = std::min<u128>(b, field_max(f));
        if (a > b) std::swap(a, b);
        it.lo = a, it.hi = b;
        it.text = number_text(a) + (chance(0.2) ? " - " : "-") + number_text(b);
        it.form = GenForm::Range;
        return it;
    }
    it.lo = it.hi = int_value(f);
    it.text = number_text(it.lo);
    it.form = GenForm::Number;
    return it;
}

Item PolicyGen::ip_item(Family fam, bool prefix_ok, bool range_ok) {
    Item it;
    it.fam = fam;
    const unsigned bits = fam == Family::V4 ? 32 : 128;
    const u128 all = ones(bits);
    u128 addr;
    auto r = below(100);
    if (r < 5) addr = 0;
    else if (r < 10) addr = all;
    else if (r < 80) {
        u128 base = fam == Family::V4 ? u128{v4_bases_[below(v4_bases_.size())]}
                                      : v6_bases_[below(v6_bases_.size())];
        u128 low = chance(0.8) ? below(256) : (fam == Family::V4 ? below(1u << 16) : rng_());
        addr = (base + low) & all;
    } else addr = rand128() & all;
    auto text = [&](u128 a) {
        return fam == Family::V4 ? ip4_text(static_cast<std::uint32_t>(a)) : ip6_text(a);
    };
    r = below(100);
    if (prefix_ok && r < 40) {
        static constexpr unsigned k4[] = {0, 1, 7, 8, 12, 16, 23, 24, 25, 30, 31, 32};
        static constexpr unsigned k6[] = {0, 1, 8, 16, 32, 47, 48, 56, 63, 64, 65, 96, 120, 127, 128};
        unsigned len = chance(0.2) ? static_cast<unsigned>(below(bits + 1))
                       : fam == Family::V4 ? k4[below(std::size(k4))]
                                           : k6[below(std::size(k6))];
        u128 host = len >= bits ? 0 : ones(bits - len);
        u128 net = addr & ~host & all;
        bool host_bits = (addr & host) != 0 && chance(0.1);
        if (host_bits) ++cov_.host_bits;
        it.text = text(host_bits ? addr : net) + "/" + std::to_string(len);
        it.lo = net, it.hi = net | host;
        it.form = GenForm::Prefix;
        return it;
    }
    if (range_ok && r < 65) {
        u128 b = chance(0.7) ? addr + below(600) : rand128() & all;
        if (b > all || b < addr) b = std::max(addr, b & all);
        u128 a = std::min(addr, b), c = std::max(addr, b);
        it.text = text(a) + (chance(0.2) ? " - " : "-") + text(c);
        it.lo = a, it.hi = c;
        it.form = GenForm::Range;
        return it;
    }
    it.text = text(addr);
    it.lo = it.hi = addr;
    it.form = GenForm::Address;
    return it;
}

Item PolicyGen::mac_item(bool range_ok) {
    Item it;
    const u128 all = ones(48);
    u128 m = (mac_bases_[below(mac_bases_.size())] + below(chance(0.8) ? 256 : 1u << 20)) & all;
    if (chance(0.05)) m = chance(0.5) ? 0 : all;
    if (range_ok && chance(0.3)) {
        u128 b = std::min(all, m + below(300));
        it.text = mac_text(m) + "-" + mac_text(b);
        it.lo = m, it.hi = b;
        it.form = GenForm::Range;
        return it;
    }
    it.text = mac_text(m);
    it.lo = it.hi = m;
    it.form = GenForm::Address;
    return it;
}

Item PolicyGen::iface_item() {
    Item it;
    it.text = "\"" + opt_.iface_names[below(opt_.iface_names.size())] + "\"";
    it.form = GenForm::Address;
    return it;
}

Item PolicyGen::item_for(const FieldDef& f, bool range_ok, Family fam) {
    switch (f.type) {
        case FieldType::Int: return int_item(f, range_ok, true);
        case FieldType::Ip4: return ip_item(Family::V4, range_ok, range_ok);
        case FieldType::Ip6: return ip_item(Family::V6, range_ok, range_ok);
        case FieldType::IpAny:
            if (fam == Family::None) fam = chance(0.5) ? Family::V4 : Family::V6;
            return ip_item(fam, range_ok, range_ok);
        case FieldType::Mac: return mac_item(range_ok);
        case FieldType::Iface: return iface_item();
        case FieldType::Bool: break;
    }
    return {};
}

Item PolicyGen::set_elem(SetType t) {
    switch (t) {
        case SetType::Ip: return ip_item(chance(0.5) ? Family::V4 : Family::V6, true, true);
        case SetType::Ip4: return ip_item(Family::V4, true, true);
        case SetType::Ip6: return ip_item(Family::V6, true, true);
        case SetType::Mac: return mac_item(true);
        case SetType::Port: return int_item(*find_field("tcp.dport"), true, false);
        case SetType::Proto: return int_item(*find_field("ip.proto"), true, true);
    }
    return {};
}

void PolicyGen::record_point(const FieldDef& f, u128 v) {
    pal_.add(f.id, v, rule_);
}

// Files the values an item covers, and the values just outside it, under the field the packet
// generator reads them for.
void PolicyGen::record(const FieldDef& f, const Item& it) {
    FieldId target = f.id;
    if (f.type == FieldType::Iface || f.type == FieldType::Bool) return;
    if (f.type == FieldType::IpAny) {
        const FieldAccess& a = field_access(f.id);
        if (it.fam == Family::V4) target = a.v4;
        else if (it.fam == Family::V6) target = a.v6;
        else return;
    } else if ((f.type == FieldType::Ip4 && it.fam != Family::V4) ||
               (f.type == FieldType::Ip6 && it.fam != Family::V6)) {
        return;
    }
    const FieldDef& t = field(target);
    const u128 max = ones(value_bits(t));
    pal_.add(target, it.lo, rule_);
    pal_.add(target, it.hi, rule_);
    if (it.lo > 0) pal_.add(target, it.lo - 1, rule_);
    if (it.hi < max) pal_.add(target, it.hi + 1, rule_);
    if (it.hi > it.lo) {
        u128 span = it.hi - it.lo;
        pal_.add(target, it.lo + (span == ~u128{0} ? rand128() : rand128() % (span + 1)), rule_);
    }
}

std::string PolicyGen::new_const(const std::string& body) {
    std::string name = "k-" + std::to_string(++nconst_);
    decls_.push_back("const " + name + " = " + body + "\n");
    return "$" + name;
}

std::string PolicyGen::items_text(const std::vector<Item>& items) {
    if (items.empty()) return chance(0.5) ? "{}" : "{ }";
    std::string s = "{ ";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) s += chance(0.1) ? ",\n          " : ", ";
        s += items[i].text;
    }
    if (chance(0.1)) s += ",";  // trailing comma
    return s + " }";
}

std::string PolicyGen::named_set(const FieldDef& f) {
    auto types = gen_set_types_for(f);
    SetType t = types[below(types.size())];
    cov_.set_types[static_cast<std::size_t>(t)]++;
    std::vector<std::size_t> same;
    for (std::size_t i = 0; i < sets_.size(); ++i)
        if (sets_[i].type == t) same.push_back(i);
    std::size_t which;
    if (!same.empty() && chance(0.5)) {
        which = same[below(same.size())];
    } else {
        NamedSet s{"set-" + std::to_string(sets_.size() + 1), t, {}};
        std::size_t n = chance(0.03) ? 0 : chance(0.3) ? 9 + below(50) : 1 + below(8);
        for (std::size_t i = 0; i < n; ++i) s.elems.push_back(set_elem(t));
        std::string body;
        if (s.elems.size() >= 3 && chance(0.15)) {
            // Part of the elements through a set constant: `set s : port = { $k-1, 8080 }`.
            std::size_t cut = 1 + below(s.elems.size() - 1);
            std::vector<Item> head(s.elems.begin(), s.elems.begin() + static_cast<std::ptrdiff_t>(cut));
            std::vector<Item> tail(s.elems.begin() + static_cast<std::ptrdiff_t>(cut), s.elems.end());
            std::string k = new_const(items_text(head));
            Item ref;
            ref.text = k;
            tail.insert(tail.begin(), ref);
            body = items_text(tail);
            ++cov_.set_with_const;
        } else {
            body = items_text(s.elems);
        }
        decls_.push_back("set " + s.name + " : " + gen_set_type_name(t) + " = " + body + "\n");
        sets_.push_back(std::move(s));
        which = sets_.size() - 1;
    }
    for (const Item& it : sets_[which].elems) record(f, it);
    return "@" + sets_[which].name;
}

// The right-hand side of `in` / `not in`: an inline set (small, large or empty), a set
// constant, or a named set.
std::string PolicyGen::set_ref(const FieldDef& f) {
    auto& forms = cov_.field_form[idx(f.id)];
    if (!gen_set_types_for(f).empty() && chance(0.3)) {
        forms[static_cast<std::size_t>(GenForm::NamedSet)]++;
        return named_set(f);
    }
    std::size_t n;
    GenForm form;
    if (chance(0.03)) n = 0, form = GenForm::InlineEmpty;
    else if (chance(0.3)) n = kInlineCompareLimit + 1 + below(30), form = GenForm::InlineLarge;
    else n = 1 + below(kInlineCompareLimit), form = GenForm::InlineSmall;
    forms[static_cast<std::size_t>(form)]++;
    std::vector<Item> items;
    for (std::size_t i = 0; i < n; ++i) {
        items.push_back(item_for(f, f.type != FieldType::Iface));
        forms[static_cast<std::size_t>(items.back().form)]++;
        record(f, items.back());
    }
    if (n > 0 && chance(0.2)) {
        forms[static_cast<std::size_t>(GenForm::ConstSet)]++;
        if (n >= 2 && chance(0.4)) {
            std::size_t cut = 1 + below(n - 1);
            std::vector<Item> head(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(cut));
            std::vector<Item> tail(items.begin() + static_cast<std::ptrdiff_t>(cut), items.end());
            Item ref;
            ref.text = new_const(items_text(head));
            tail.insert(tail.begin(), ref);
            ++cov_.nested_const;
            return new_const(items_text(tail));
        }
        // A single-element set constant is written without braces half of the time:
        // `const k = 22` used as `in $k`.
        if (n == 1 && chance(0.5)) return new_const(items[0].text);
        return new_const(items_text(items));
    }
    return items_text(items);
}

std::string PolicyGen::string_literal(const std::vector<std::uint8_t>& bytes) {
    std::string s = "\"";
    for (std::uint8_t b : bytes) {
        if (b == '"') s += "\\\"";
        else if (b == '\\') s += "\\\\";
        else if (b == '\n') s += "\\n";
        else if (b == '\t') s += "\\t";
        else if (b >= 0x20 && b < 0x7f) s.push_back(static_cast<char>(b));
        else s += "\\x" + hexdigits(b, 2, chance(0.3));
    }
    return s + "\"";
}

std::string PolicyGen::payload_leaf() {
    unsigned off = static_cast<unsigned>(below(kPayloadWindow));
    if (chance(0.3)) off = static_cast<unsigned>(below(4));
    unsigned len = 1 + static_cast<unsigned>(below(std::min(16u, kPayloadWindow - off)));
    std::vector<std::uint8_t> bytes(len);
    bool printable = chance(0.5);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(printable ? 0x20 + below(0x5f) : below(256));
    if (chance(0.1)) for (auto& b : bytes) b = 0;  // zero bytes: what padding looks like
    pal_.add_payload({static_cast<std::uint16_t>(off), bytes}, rule_);
    bool eq = chance(0.8);
    (eq ? cov_.payload_eq : cov_.payload_ne)++;
    std::string rhs;
    if (chance(0.4)) {
        ++cov_.payload_hex;
        rhs = "0x";
        bool upper = chance(0.2);
        for (auto b : bytes) rhs += hexdigits(b, 2, upper);
    } else {
        ++cov_.payload_string;
        rhs = string_literal(bytes);
    }
    return "payload[" + number_text(off) + ":" + number_text(len) + "] " + (eq ? "==" : "!=") + " " + rhs;
}

Ex PolicyGen::leaf() {
    if (chance(0.06)) return {payload_leaf(), 2};
    std::vector<const FieldDef*> fields;
    for (const FieldDef& f : all_fields())
        if (opt_.iface || f.type != FieldType::Iface) fields.push_back(&f);
    const FieldDef& f = *fields[below(fields.size())];
    // Narrow tests (==, in) more often than broad ones (!=, not in, <, >), so that the rules
    // further down a policy still get packets to decide.
    auto ops = gen_ops_for(f.type);
    auto weight = [](GenOp o) {
        switch (o) {
            case GenOp::Eq: case GenOp::In: case GenOp::Bare: return 6u;
            case GenOp::Ne: case GenOp::NotIn: return 1u;
            default: return 1u;
        }
    };
    unsigned total = 0;
    for (GenOp o : ops) total += weight(o);
    auto pick = static_cast<unsigned>(below(total));
    GenOp op = ops.front();
    for (GenOp o : ops) {
        if (pick < weight(o)) {
            op = o;
            break;
        }
        pick -= weight(o);
    }
    cov_.field_op[idx(f.id)][static_cast<std::size_t>(op)]++;
    auto& forms = cov_.field_form[idx(f.id)];
    std::string name(f.name);
    switch (op) {
        case GenOp::Bare: return {name, 2};
        case GenOp::In:
        case GenOp::NotIn:
            return {name + (op == GenOp::In ? " in " : " not in ") + set_ref(f), 2};
        default: break;
    }
    bool ordering = op == GenOp::Lt || op == GenOp::Le || op == GenOp::Gt || op == GenOp::Ge;
    Item it = ordering ? int_item(f, false, true) : item_for(f, true);
    forms[static_cast<std::size_t>(it.form)]++;
    if (ordering) {
        const u128 max = field_max(f);
        record_point(f, it.lo);
        if (it.lo > 0) record_point(f, it.lo - 1);
        if (it.lo < max) record_point(f, it.lo + 1);
    } else {
        record(f, it);
    }
    std::string rhs = it.text;
    if (chance(0.12)) {
        forms[static_cast<std::size_t>(GenForm::Const)]++;
        rhs = new_const(it.text);
    }
    return {name + " " + gen_op_name(op) + " " + rhs, 2};
}

Ex PolicyGen::expr(unsigned depth) {
    depth_seen_ = std::max(depth_seen_, depth);
    if (depth >= opt_.max_depth || chance(0.45 + 0.12 * depth)) {
        Ex e = leaf();
        if (chance(0.04)) {
            ++cov_.parens;
            e.text = "(" + e.text + ")";
        }
        return e;
    }
    auto r = below(100);
    if (r < 12) {
        ++cov_.not_;
        Ex k = expr(depth + 1);
        if (k.prec < 2) k.text = "(" + k.text + ")";
        return {"not " + k.text, 2};
    }
    bool is_and = r < 70;
    (is_and ? cov_.and_ : cov_.or_)++;
    int prec = is_and ? 1 : 0;
    std::size_t n = 2 + below(3);
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
        Ex k = expr(depth + 1);
        if (k.prec < prec || (k.prec < 2 && chance(0.2))) {
            if (k.prec == prec) ++cov_.parens;
            k.text = "(" + k.text + ")";
        }
        if (i) s += chance(0.15) ? (is_and ? "\n            and " : "\n            or ") : (is_and ? " and " : " or ");
        s += k.text;
    }
    return {s, prec};
}

GeneratedPolicy PolicyGen::run(std::uint64_t seed) {
    // Per-policy address pools, so that rules of one policy overlap.
    static constexpr std::uint32_t k4[] = {0x0a000000, 0xc0000200, 0xc6336400, 0xcb007100, 0xc0a80000,
                                           0x00000000, 0xffffff00, 0x7f000000};
    for (int i = 0; i < 3; ++i)
        v4_bases_.push_back(chance(0.8) ? k4[below(std::size(k4))] : static_cast<std::uint32_t>(rng_()));
    static const u128 k6[] = {u128{0x20010db800000000ull} << 64, u128{0xfe80000000000000ull} << 64,
                              u128{0xff02000000000000ull} << 64, u128{0xffff0000ull} << 32, u128{0},
                              u128{0x2001000200000000ull} << 64};
    for (int i = 0; i < 3; ++i) v6_bases_.push_back(chance(0.8) ? k6[below(std::size(k6))] : rand128());
    static constexpr std::uint64_t km[] = {0x020000000000ull, 0x000000000000ull, 0xffffffffff00ull,
                                           0x00005e000100ull, 0x333300000000ull};
    for (int i = 0; i < 3; ++i) mac_bases_.push_back(chance(0.8) ? km[below(std::size(km))] : rng_() & 0xffffffffffffull);

    GeneratedPolicy out;
    out.seed = seed;
    out.policy_name = "fuzz";
    unsigned span = opt_.max_rules - opt_.min_rules + 1;
    unsigned nrules = opt_.min_rules + static_cast<unsigned>(below(span));
    std::string body;
    for (unsigned i = 0; i < nrules; ++i) {
        rule_ = i;
        std::string name = (chance(0.5) ? "r" : "rule-") + std::to_string(i);
        std::string action;
        auto r = below(100);
        if (r < 22) action = "count", cov_.actions[3]++;
        else if (r < 46) action = "pass", cov_.actions[0]++;
        else if (r < 70) action = "drop", cov_.actions[1]++;
        else if (r < 85 || !opt_.redirect) action = "tx", cov_.actions[2]++;
        else action = "redirect \"" + opt_.redirect_iface + "\"", cov_.actions[4]++;
        if (chance(0.2)) body += "    # rule " + std::to_string(i) + "\n";
        body += "    " + name + ": " + action;
        // Rules without a condition: count rules now and then, a terminal one rarely (it
        // decides everything after it).
        if (chance(action == "count" ? 0.08 : 0.006)) {
            ++cov_.no_condition;
        } else {
            body += " if " + expr(0).text;
        }
        body += "\n";
    }
    cov_.rules = nrules;
    cov_.policies = 1;
    cov_.max_depth = depth_seen_;
    std::string policy = "policy " + out.policy_name + " default " + (chance(0.5) ? "pass" : "drop") +
                         " {\n" + body + "}\n";
    std::shuffle(decls_.begin(), decls_.end(), rng_);
    std::size_t before = decls_.empty() ? 0 : below(decls_.size() + 1);
    out.text = "# generated by policy_gen, seed " + std::to_string(seed) + "\n";
    for (std::size_t i = 0; i < before; ++i) out.text += decls_[i];
    out.text += policy;
    for (std::size_t i = before; i < decls_.size(); ++i) out.text += decls_[i];
    out.palette = std::move(pal_);
    out.coverage = cov_;
    return out;
}

}  // namespace

std::vector<SetType> gen_set_types_for(const FieldDef& f) { return set_types_for_impl(f); }
const char* gen_set_type_name(SetType t) { return set_type_text_impl(t); }

const char* gen_op_name(GenOp op) {
    switch (op) {
        case GenOp::Eq: return "==";
        case GenOp::Ne: return "!=";
        case GenOp::Lt: return "<";
        case GenOp::Le: return "<=";
        case GenOp::Gt: return ">";
        case GenOp::Ge: return ">=";
        case GenOp::In: return "in";
        case GenOp::NotIn: return "not in";
        case GenOp::Bare: return "bare";
        case GenOp::Count_: break;
    }
    return "?";
}

std::span<const GenOp> gen_ops_for(FieldType t) {
    switch (t) {
        case FieldType::Int: return kIntOps;
        case FieldType::Bool: return kBoolOps;
        default: return kValueOps;
    }
}

const char* gen_form_name(GenForm f) {
    switch (f) {
        case GenForm::Number: return "number";
        case GenForm::Symbol: return "symbol";
        case GenForm::Address: return "address";
        case GenForm::Range: return "range";
        case GenForm::Prefix: return "prefix";
        case GenForm::InlineSmall: return "inline-small";
        case GenForm::InlineLarge: return "inline-large";
        case GenForm::InlineEmpty: return "inline-empty";
        case GenForm::Const: return "const";
        case GenForm::ConstSet: return "const-set";
        case GenForm::NamedSet: return "named-set";
        case GenForm::Count_: break;
    }
    return "?";
}

void GenCoverage::add(const GenCoverage& o) {
    for (std::size_t f = 0; f < kGenFields; ++f) {
        for (std::size_t i = 0; i < kGenOps; ++i) field_op[f][i] += o.field_op[f][i];
        for (std::size_t i = 0; i < kGenForms; ++i) field_form[f][i] += o.field_form[f][i];
    }
    for (std::size_t i = 0; i < set_types.size(); ++i) set_types[i] += o.set_types[i];
    for (std::size_t i = 0; i < actions.size(); ++i) actions[i] += o.actions[i];
    and_ += o.and_, or_ += o.or_, not_ += o.not_, parens += o.parens;
    payload_eq += o.payload_eq, payload_ne += o.payload_ne;
    payload_hex += o.payload_hex, payload_string += o.payload_string;
    no_condition += o.no_condition, nested_const += o.nested_const;
    set_with_const += o.set_with_const, host_bits += o.host_bits;
    rules += o.rules, policies += o.policies;
    max_depth = std::max(max_depth, o.max_depth);
}

GeneratedPolicy generate_policy(std::uint64_t seed, const GenOptions& opts) {
    return PolicyGen(seed, opts).run(seed);
}

// --- packets ------------------------------------------------------------------------------------

PacketGen::PacketGen(const Palette& palette, std::uint64_t seed, PacketGenOptions opts)
    : pal_(palette), rng_(seed), opts_(opts) {}

bool PacketGen::chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
std::uint64_t PacketGen::below(std::uint64_t n) { return n ? rng_() % n : 0; }

u128 PacketGen::pick(std::initializer_list<FieldId> fields, unsigned bits, double from_palette) {
    const u128 all = ones(bits);
    auto from = [&](const Palette::Values& vals) -> std::optional<u128> {
        std::size_t total = 0;
        for (FieldId f : fields) total += vals[idx(f)].size();
        if (!total) return std::nullopt;
        std::size_t n = below(total);
        for (FieldId f : fields) {
            const auto& v = vals[idx(f)];
            if (n < v.size()) return v[n] & all;
            n -= v.size();
        }
        return std::nullopt;
    };
    if (focus_ && chance(0.9))
        if (auto v = from(*focus_)) return *v;
    if (chance(from_palette))
        if (auto v = from(pal_.values)) return *v;
    auto r = below(100);
    if (r < 8) return 0;
    if (r < 16) return all;
    u128 v = u128{rng_()} << 64 | rng_();
    return v & all;
}

std::vector<std::uint8_t> PacketGen::payload_bytes() {
    std::vector<std::uint8_t> out;
    const auto& pool = focus_payloads_ && !focus_payloads_->empty() && chance(0.9) ? *focus_payloads_ : pal_.payloads;
    if (!pool.empty() && chance(0.7)) {
        const auto& p = pool[below(pool.size())];
        for (unsigned i = 0; i < p.offset; ++i) out.push_back(static_cast<std::uint8_t>(rng_()));
        out.insert(out.end(), p.bytes.begin(), p.bytes.end());
        if (chance(0.2)) out[p.offset + below(p.bytes.size())] ^= static_cast<std::uint8_t>(1 + below(255));
        if (chance(0.15)) out.resize(below(out.size()));  // too short for the match
        if (chance(0.3)) for (auto n = below(40); n; --n) out.push_back(static_cast<std::uint8_t>(rng_()));
        return out;
    }
    if (chance(0.3)) return out;
    out.resize(1 + below(80));
    for (auto& b : out) b = static_cast<std::uint8_t>(rng_());
    return out;
}

GeneratedPacket PacketGen::next() {
    GeneratedPacket g;
    std::size_t lo = opts_.min_len;
    focus_ = nullptr, focus_payloads_ = nullptr;
    if (!pal_.rule_values.empty() && chance(0.75)) {
        std::size_t r = below(pal_.rule_values.size());
        focus_ = &pal_.rule_values[r];
        if (r < pal_.rule_payloads.size()) focus_payloads_ = &pal_.rule_payloads[r];
    }
    if (chance(0.03)) {  // random bytes, sometimes behind a plausible EtherType
        g.bytes.resize(lo + below(200));
        for (auto& b : g.bytes) b = static_cast<std::uint8_t>(rng_());
        if (g.bytes.size() >= 14 && chance(0.6)) {
            static constexpr std::uint16_t types[] = {0x0800, 0x86dd, 0x8100, 0x88a8};
            std::uint16_t t = types[below(4)];
            g.bytes[12] = static_cast<std::uint8_t>(t >> 8), g.bytes[13] = static_cast<std::uint8_t>(t);
        }
        g.kind = "raw";
        return g;
    }
    Frame f;
    std::string kind;
    auto mac = [](u128 v) {
        MacAddr m;
        for (int i = 0; i < 6; ++i) m[i] = static_cast<std::uint8_t>(v >> (40 - 8 * i));
        return m;
    };
    f.eth(chance(0.5) ? mac(pick({FieldId::EthSrc}, 48, 1.0)) : kDefaultEthSrc,
          chance(0.5) ? mac(pick({FieldId::EthDst}, 48, 1.0)) : kDefaultEthDst);
    auto r = below(100);
    unsigned tags = r < 62 ? 0 : r < 85 ? 1 : r < 96 ? 2 : 3;
    for (unsigned i = 0; i < tags; ++i) {
        auto id = static_cast<std::uint16_t>(pick({FieldId::VlanId}, 12));
        auto pcp = static_cast<std::uint8_t>(pick({FieldId::VlanPcp}, 3));
        std::uint16_t tpid = chance(0.8) ? 0 : chance(0.5) ? 0x8100 : 0x88a8;
        f.vlan(id, pcp, tpid);
    }
    if (tags) kind += "vlan" + std::to_string(tags) + " ";
    r = below(100);
    bool v4 = r < 46, v6 = !v4 && r < 88;
    if (!v4 && !v6) {
        auto type = static_cast<std::uint16_t>(pick({FieldId::EthType}, 16, 0.6));
        f.ethertype(type);
        f.payload(payload_bytes());
        char buf[16];
        std::snprintf(buf, sizeof buf, "eth%04x", type);
        kind += buf;
    } else {
        const FieldId ip_src = v4 ? FieldId::Ip4Src : FieldId::Ip6Src;
        const FieldId ip_dst = v4 ? FieldId::Ip4Dst : FieldId::Ip6Dst;
        const unsigned abits = v4 ? 32 : 128;
        u128 src = pick({ip_src}, abits, 0.75), dst = pick({ip_dst}, abits, 0.75);
        auto ttl = static_cast<std::uint8_t>(pick({FieldId::IpTtl}, 8, 0.5));
        auto dscp = static_cast<std::uint8_t>(pick({FieldId::IpDscp}, 6, 0.5));
        if (v4) {
            Ip4Options o;
            o.ttl = ttl, o.dscp = dscp, o.ecn = static_cast<std::uint8_t>(below(4));
            o.df = chance(0.3);
            if (chance(0.15)) {
                auto k = below(3);
                o.mf = k != 2;
                o.frag_offset = k == 0 ? 0 : static_cast<std::uint16_t>(1 + below(8191));
                kind += k == 0 ? "frag-first " : k == 1 ? "frag-middle " : "frag-last ";
            }
            if (chance(0.1)) {
                o.options.resize(1 + below(40));
                for (auto& b : o.options) b = chance(0.7) ? 1 : static_cast<std::uint8_t>(rng_());
                kind += "ip4opt ";
            }
            if (chance(0.03)) {
                o.ihl = static_cast<std::uint8_t>(below(16));
                kind += "ihl" + std::to_string(*o.ihl) + " ";
            }
            if (chance(0.15)) o.total_len = static_cast<std::uint16_t>(pick({FieldId::IpLen}, 16));
            f.ipv4(static_cast<std::uint32_t>(src), static_cast<std::uint32_t>(dst), o);
            kind += "ip4 ";
        } else {
            Ip6Options o;
            o.hop_limit = ttl, o.dscp = dscp, o.ecn = static_cast<std::uint8_t>(below(4));
            o.flowlabel = static_cast<std::uint32_t>(pick({FieldId::Ip6Flowlabel}, 20));
            if (chance(0.1)) {
                auto len = static_cast<std::uint16_t>(pick({FieldId::IpLen}, 16));
                o.payload_len = static_cast<std::uint16_t>(len >= 40 ? len - 40 : len);
            }
            f.ipv6(src, dst, o);
            kind += "ip6 ";
            if (chance(0.3)) {
                unsigned n = 1 + static_cast<unsigned>(below(chance(0.2) ? 8 : 3));
                for (unsigned i = 0; i < n; ++i) {
                    switch (below(5)) {
                        case 0: f.hop_by_hop(); break;
                        case 1: f.routing(static_cast<std::uint8_t>(below(3))); break;
                        case 2: f.ah(); break;
                        case 3: {
                            std::vector<std::uint8_t> body(below(20));
                            for (auto& b : body) b = static_cast<std::uint8_t>(rng_());
                            f.ip6_ext(kIp6DestOpts, std::move(body));
                            break;
                        }
                        default:
                            f.frag6(chance(0.5) ? 0 : static_cast<std::uint16_t>(1 + below(8191)), chance(0.5));
                            kind += "frag6 ";
                    }
                }
                kind += "ext" + std::to_string(n) + " ";
            }
        }
        // L4: a protocol the policy names now and then, else the usual ones.
        std::uint8_t proto;
        if (chance(0.2)) proto = static_cast<std::uint8_t>(pick({FieldId::IpProto}, 8, 0.8));
        else {
            static constexpr std::uint8_t common[] = {6, 6, 6, 17, 17, 17, 1, 58};
            proto = common[below(std::size(common))];
            if (proto == 1 && v6) proto = 58;
            else if (proto == 58 && v4) proto = 1;
        }
        if (proto == 6) {
            auto sport = static_cast<std::uint16_t>(pick({FieldId::TcpSport, FieldId::L4Sport}, 16));
            auto dport = static_cast<std::uint16_t>(pick({FieldId::TcpDport, FieldId::L4Dport}, 16));
            static constexpr std::uint8_t combos[] = {kTcpSyn, kTcpSyn | kTcpAck, kTcpAck, kTcpFin | kTcpAck,
                                                      kTcpRst, 0, kTcpPsh | kTcpAck, kTcpSyn | kTcpFin};
            auto flags = chance(0.4) ? static_cast<std::uint8_t>(rng_()) : combos[below(std::size(combos))];
            TcpOptions o;
            o.window = static_cast<std::uint16_t>(pick({FieldId::TcpWindow}, 16, 0.5));
            if (chance(0.15)) {
                o.options.resize(1 + below(40));
                for (auto& b : o.options) b = 1;
                kind += "tcpopt ";
            }
            if (chance(0.04)) {
                o.data_offset = static_cast<std::uint8_t>(below(16));
                kind += "doff" + std::to_string(*o.data_offset) + " ";
            }
            f.tcp(sport, dport, flags, o);
            kind += "tcp";
        } else if (proto == 17) {
            auto sport = static_cast<std::uint16_t>(pick({FieldId::UdpSport, FieldId::L4Sport}, 16));
            auto dport = static_cast<std::uint16_t>(pick({FieldId::UdpDport, FieldId::L4Dport}, 16));
            UdpOptions o;
            if (chance(0.15)) o.len = static_cast<std::uint16_t>(pick({FieldId::UdpLen}, 16));
            f.udp(sport, dport, o);
            kind += "udp";
        } else if (proto == 1 && v4) {
            f.icmp(static_cast<std::uint8_t>(pick({FieldId::IcmpType}, 8)),
                   static_cast<std::uint8_t>(pick({FieldId::IcmpCode}, 8)));
            kind += "icmp";
        } else if (proto == 58 && v6) {
            f.icmp6(static_cast<std::uint8_t>(pick({FieldId::Icmp6Type}, 8)),
                    static_cast<std::uint8_t>(pick({FieldId::Icmp6Code}, 8)));
            kind += "icmp6";
        } else {
            f.next_header(proto);
            kind += "proto" + std::to_string(proto);
        }
        f.payload(payload_bytes());
    }
    if (chance(0.1)) {
        f.pad_to(60);
    } else if (chance(0.1)) {
        auto want = static_cast<std::size_t>(pick({FieldId::PktLen}, 16, 0.9));
        if (want <= opts_.max_len) f.pad_to(want);
    }
    g.bytes = f.bytes();
    if (chance(0.12) && g.bytes.size() > lo) {
        // Truncate at or next to a header boundary (the parser's own offsets), or anywhere.
        weir_pkt pkt{};
        weir_parse(g.bytes.data(), g.bytes.data() + g.bytes.size(), &pkt);
        std::vector<std::size_t> cuts = {14, 14u + 4 * tags, 14u + 4 * tags + 20, 14u + 4 * tags + 40};
        if (pkt.present & (WEIR_H_L4 | WEIR_H_ICMP | WEIR_H_ICMP6)) {
            cuts.push_back(pkt.payload_off);
            cuts.push_back(pkt.payload_off >= 8 ? pkt.payload_off - 8u : 0u);
            cuts.push_back(pkt.payload_off >= 20 ? pkt.payload_off - 20u : 0u);
        }
        std::size_t cut = chance(0.3) ? lo + below(g.bytes.size() - lo)
                                      : cuts[below(cuts.size())] + below(3) - 1;
        cut = std::clamp(cut, lo, g.bytes.size() - 1);
        g.bytes.resize(cut);
        kind += " trunc@" + std::to_string(cut);
    }
    if (g.bytes.size() > opts_.max_len) g.bytes.resize(opts_.max_len);
    if (g.bytes.size() < lo) g.bytes.resize(lo);
    g.kind = kind;
    return g;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    s.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 0xf]);
    }
    return s;
}

}  // namespace weir::test
