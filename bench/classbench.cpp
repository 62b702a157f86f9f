// ClassBench sets: parsing, policy text, oracle, frames, generator (classbench.hpp).
#include "classbench.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

// frames.hpp's builders take designated initializers that leave fields defaulted.
#pragma clang diagnostic ignored "-Wmissing-designated-field-initializers"
#include "drain.hpp"
#include "frames.hpp"

namespace weir::classbench {
namespace {

// One tab-separated field of a line and the 1-based column it starts at.
struct Field {
    std::string_view text;
    std::size_t col = 1;
};

std::vector<Field> split(std::string_view line, bool any_space) {
    std::vector<Field> out;
    std::size_t i = 0;
    auto sep = [&](char c) { return c == '\t' || (any_space && (c == ' ' || c == '\r')); };
    if (any_space) {
        while (i < line.size()) {
            while (i < line.size() && sep(line[i])) ++i;
            if (i == line.size()) break;
            std::size_t s = i;
            while (i < line.size() && !sep(line[i])) ++i;
            out.push_back({line.substr(s, i - s), s + 1});
        }
        return out;
    }
    std::size_t s = 0;
    for (i = 0; i <= line.size(); ++i) {
        if (i == line.size() || line[i] == '\t') {
            out.push_back({line.substr(s, i - s), s + 1});
            s = i + 1;
        }
    }
    // A trailing tab (every file of the set has one) leaves an empty last field.
    while (!out.empty() && out.back().text.find_first_not_of(" \r") == std::string_view::npos) out.pop_back();
    return out;
}

// Collects errors of one file, up to kMaxErrors.
struct Errors {
    std::string file;
    std::vector<ParseError>& out;
    bool full = false;
    void add(std::size_t line, std::size_t col, std::string msg) {
        if (full) return;
        if (out.size() == kMaxErrors) {
            out.push_back({file, line, col, "too many errors; stopping here"});
            full = true;
            return;
        }
        out.push_back({file, line, col, std::move(msg)});
    }
};

// A cursor over one field, reporting errors at its column.
struct Scan {
    std::string_view s;
    std::size_t pos = 0;
    std::size_t col0 = 1;
    std::size_t col() const { return col0 + pos; }
    void skip_space() {
        while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\r')) ++pos;
    }
    bool eat(char c) {
        skip_space();
        if (pos < s.size() && s[pos] == c) {
            ++pos;
            return true;
        }
        return false;
    }
    bool at_end() {
        skip_space();
        return pos == s.size();
    }
    // A decimal (or, with hex, 0x-prefixed hexadecimal) number no larger than `max`.
    std::optional<std::uint64_t> number(std::uint64_t max, bool hex = false) {
        skip_space();
        int base = 10;
        std::size_t p = pos;
        if (hex) {
            if (p + 1 < s.size() && s[p] == '0' && (s[p + 1] == 'x' || s[p + 1] == 'X')) p += 2;
            base = 16;
        }
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(s.data() + p, s.data() + s.size(), v, base);
        if (ec != std::errc() || end == s.data() + p || v > max) return std::nullopt;
        pos = std::size_t(end - s.data());
        return v;
    }
    std::string rest() const {
        std::string r(s.substr(pos, 24));
        for (char& c : r)
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
        return r;
    }
};

bool parse_prefix(const Field& f, std::size_t line, Errors& errs, Prefix& out, const char* what, bool at) {
    Scan sc{f.text, 0, f.col};
    if (at && !sc.eat('@')) {
        errs.add(line, sc.col(), "expected '@' before the source prefix, found '" + sc.rest() + "'");
        return false;
    }
    std::uint32_t a = 0;
    for (int i = 0; i < 4; ++i) {
        if (i && !sc.eat('.')) {
            errs.add(line, sc.col(), std::string("bad ") + what + " address: expected '.'");
            return false;
        }
        auto b = sc.number(255);
        if (!b) {
            errs.add(line, sc.col(), std::string("bad ") + what + " address: expected a number 0-255, found '" +
                                         sc.rest() + "'");
            return false;
        }
        a = a << 8 | std::uint32_t(*b);
    }
    if (!sc.eat('/')) {
        errs.add(line, sc.col(), std::string("bad ") + what + " prefix: expected '/' and a length");
        return false;
    }
    auto len = sc.number(32);
    if (!len) {
        errs.add(line, sc.col(), std::string("bad ") + what + " prefix length: expected 0-32, found '" + sc.rest() + "'");
        return false;
    }
    if (!sc.at_end()) {
        errs.add(line, sc.col(), std::string("unexpected text after the ") + what + " prefix: '" + sc.rest() + "'");
        return false;
    }
    out.len = std::uint8_t(*len);
    out.addr = a & out.mask();
    return true;
}

bool parse_ports(const Field& f, std::size_t line, Errors& errs, PortRange& out, const char* what) {
    Scan sc{f.text, 0, f.col};
    auto lo = sc.number(65535);
    if (!lo) {
        errs.add(line, sc.col(), std::string("bad ") + what + " port range: expected a port 0-65535, found '" +
                                     sc.rest() + "'");
        return false;
    }
    if (!sc.eat(':')) {
        errs.add(line, sc.col(), std::string("bad ") + what + " port range: expected 'lo : hi'");
        return false;
    }
    std::size_t hi_col = sc.col();
    auto hi = sc.number(65535);
    if (!hi) {
        errs.add(line, sc.col(), std::string("bad ") + what + " port range: expected a port 0-65535, found '" +
                                     sc.rest() + "'");
        return false;
    }
    if (!sc.at_end()) {
        errs.add(line, sc.col(), std::string("unexpected text after the ") + what + " port range: '" + sc.rest() + "'");
        return false;
    }
    if (*hi < *lo) {
        errs.add(line, hi_col, std::string("empty ") + what + " port range " + std::to_string(*lo) + " : " +
                                   std::to_string(*hi) + " (the high end is below the low end)");
        return false;
    }
    out.lo = std::uint16_t(*lo);
    out.hi = std::uint16_t(*hi);
    return true;
}

bool parse_proto(const Field& f, std::size_t line, Errors& errs, std::optional<std::uint8_t>& out) {
    Scan sc{f.text, 0, f.col};
    auto v = sc.number(255, true);
    if (!v) {
        errs.add(line, sc.col(), "bad protocol: expected 0xPP/0xMM, found '" + sc.rest() + "'");
        return false;
    }
    if (!sc.eat('/')) {
        errs.add(line, sc.col(), "bad protocol: expected '/' and a mask (0x00 or 0xFF)");
        return false;
    }
    std::size_t mcol = sc.col();
    auto m = sc.number(255, true);
    if (!m || !sc.at_end()) {
        errs.add(line, sc.col(), "bad protocol mask: expected 0x00 or 0xFF, found '" + sc.rest() + "'");
        return false;
    }
    if (*m != 0 && *m != 0xff) {
        char buf[80];
        std::snprintf(buf, sizeof buf, "protocol mask 0x%02llX: only 0x00 (any) and 0xFF (exact) are supported",
                      static_cast<unsigned long long>(*m));
        errs.add(line, mcol, buf);
        return false;
    }
    if (*m == 0) out.reset();
    else out = std::uint8_t(*v);
    return true;
}

template <class T, class Fn>
Parsed<T> parse_lines(std::string_view text, const std::string& file, Fn&& one) {
    Parsed<T> p;
    Errors errs{file, p.errors};
    std::size_t line = 0, pos = 0;
    while (pos < text.size() && !errs.full) {
        std::size_t nl = text.find('\n', pos);
        std::string_view l = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        ++line;
        if (l.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        T item;
        if (one(l, line, errs, item)) {
            item.line = line;
            p.items.push_back(item);
        }
    }
    return p;
}

bool read_file(const std::string& path, std::string& out, std::string& err) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        err = std::string("cannot open: ") + std::strerror(errno);
        return false;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
        err = "read error";
        return false;
    }
    out = std::move(ss).str();
    return true;
}

std::string prefix_text(const Prefix& p) { return ip_text(p.addr) + "/" + std::to_string(p.len); }

std::string ports_text(const PortRange& r) {
    return r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

// splitmix64: a deterministic value from an index and a seed.
std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// An address inside `p`: its first, its last or a pseudo-random one, by `pick`.
std::uint32_t address_in(const Prefix& p, std::uint64_t pick) {
    switch (pick % 4) {
        case 0: return p.addr;
        case 1: return p.last();
        default: return p.addr | (std::uint32_t(mix(pick)) & ~p.mask());
    }
}
std::uint16_t port_in(const PortRange& r, std::uint64_t pick) {
    switch (pick % 4) {
        case 0: return r.lo;
        case 1: return r.hi;
        default: return std::uint16_t(r.lo + mix(pick) % (std::uint64_t(r.hi) - r.lo + 1));
    }
}

}  // namespace

std::string ParseError::text() const {
    std::string s = file;
    if (line) s += ":" + std::to_string(line) + ":" + std::to_string(col ? col : 1);
    return s + ": error: " + message;
}

template <class T>
std::string Parsed<T>::error_text() const {
    std::string s;
    for (const ParseError& e : errors) s += e.text() + "\n";
    return s;
}
template struct Parsed<Rule>;
template struct Parsed<Header>;

Parsed<Rule> parse_rules(std::string_view text, const std::string& file) {
    return parse_lines<Rule>(text, file, [](std::string_view l, std::size_t line, Errors& errs, Rule& r) {
        std::vector<Field> f = split(l, false);
        if (f.size() < 5 || f.size() > 6) {
            errs.add(line, 1, "expected 5 or 6 tab-separated fields (src, dst, sport, dport, proto[, flags]), found " +
                                  std::to_string(f.size()));
            return false;
        }
        return parse_prefix(f[0], line, errs, r.src, "source", true) &&
               parse_prefix(f[1], line, errs, r.dst, "destination", false) &&
               parse_ports(f[2], line, errs, r.sport, "source") && parse_ports(f[3], line, errs, r.dport, "destination") &&
               parse_proto(f[4], line, errs, r.proto);
    });
}

Parsed<Header> parse_trace(std::string_view text, const std::string& file) {
    return parse_lines<Header>(text, file, [](std::string_view l, std::size_t line, Errors& errs, Header& h) {
        std::vector<Field> f = split(l, true);
        if (f.size() < 5 || f.size() > 7) {
            errs.add(line, 1, "expected 5 to 7 fields (src dst sport dport proto [flags [filter]]), found " +
                                  std::to_string(f.size()));
            return false;
        }
        static const char* const kNames[] = {"source address", "destination address", "source port",
                                             "destination port", "protocol", "flags", "filter"};
        static const std::uint64_t kMax[] = {0xffffffffu, 0xffffffffu, 65535, 65535, 255, 0xffffffffffffffffull,
                                             0x7fffffff};
        std::uint64_t v[7] = {};
        for (std::size_t i = 0; i < f.size(); ++i) {
            Scan sc{f[i].text, 0, f[i].col};
            auto n = sc.number(kMax[i]);
            if (!n || !sc.at_end()) {
                errs.add(line, f[i].col, std::string("bad ") + kNames[i] + ": expected a decimal number up to " +
                                             std::to_string(kMax[i]) + ", found '" + Scan{f[i].text}.rest() + "'");
                return false;
            }
            v[i] = *n;
        }
        h.src = std::uint32_t(v[0]);
        h.dst = std::uint32_t(v[1]);
        h.sport = std::uint16_t(v[2]);
        h.dport = std::uint16_t(v[3]);
        h.proto = std::uint8_t(v[4]);
        h.filter = f.size() == 7 ? long(v[6]) : -1;
        return true;
    });
}

Parsed<Rule> load_rules(const std::string& path) {
    std::string text, err;
    if (!read_file(path, text, err)) {
        Parsed<Rule> p;
        p.errors.push_back({path, 0, 0, err});
        return p;
    }
    return parse_rules(text, path);
}

Parsed<Header> load_trace(const std::string& path) {
    std::string text, err;
    if (!read_file(path, text, err)) {
        Parsed<Header> p;
        p.errors.push_back({path, 0, 0, err});
        return p;
    }
    return parse_trace(text, path);
}

std::string ip_text(std::uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
           "." + std::to_string(a & 255);
}

std::string rule_line(const Rule& r) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "@%s\t%s\t%u : %u\t%u : %u\t0x%02X/0x%02X\t0x0000/0x0000", prefix_text(r.src).c_str(),
                  prefix_text(r.dst).c_str(), r.sport.lo, r.sport.hi, r.dport.lo, r.dport.hi,
                  r.proto ? unsigned(*r.proto) : 0u, r.proto ? 0xffu : 0u);
    return buf;
}

std::string rules_text(std::span<const Rule> rules) {
    std::string s;
    for (const Rule& r : rules) s += rule_line(r) + "\t\n";
    return s;
}

std::string header_text(const Header& h) {
    return ip_text(h.src) + " " + ip_text(h.dst) + " sport " + std::to_string(h.sport) + " dport " +
           std::to_string(h.dport) + " proto " + std::to_string(h.proto);
}

bool matches(const Rule& r, const Header& h) {
    if (!r.src.contains(h.src) || !r.dst.contains(h.dst)) return false;
    if (r.proto && *r.proto != h.proto) return false;
    if (!r.sport.any() || !r.dport.any()) {
        if (h.proto != 6 && h.proto != 17) return false;  // no ports to match
        if (!r.sport.contains(h.sport) || !r.dport.contains(h.dport)) return false;
    }
    return true;
}

int first_match(std::span<const Rule> rules, const Header& h) {
    for (std::size_t i = 0; i < rules.size(); ++i)
        if (matches(rules[i], h)) return int(i);
    return -1;
}

std::string weir_rule_name(const Rule& r, std::size_t index) {
    return "r" + std::to_string(r.line ? r.line - 1 : index);
}

std::string policy_text(std::span<const Rule> rules, const std::string& name) {
    std::string out = "policy " + name + " default pass {\n";
    out.reserve(rules.size() * 110);
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const Rule& r = rules[i];
        std::string cond;
        auto term = [&](const std::string& t) { cond += (cond.empty() ? "" : " and ") + t; };
        if (r.src.len) term("ip4.src == " + prefix_text(r.src));
        if (r.dst.len) term("ip4.dst == " + prefix_text(r.dst));
        if (!r.sport.any()) term("l4.sport == " + ports_text(r.sport));
        if (!r.dport.any()) term("l4.dport == " + ports_text(r.dport));
        if (r.proto) term("ip.proto == " + std::to_string(*r.proto));
        out += "    " + weir_rule_name(r, i) + ": drop";
        if (!cond.empty()) out += " if " + cond;  // no condition: every packet (docs/language.md)
        out += "\n";
    }
    out += "}\n";
    return out;
}

std::vector<std::uint8_t> frame(const Header& h) {
    using namespace weir::test;
    Bytes l4;
    switch (h.proto) {
        case 6: l4 = tcp({.sport = h.sport, .dport = h.dport, .flags = 0x10}); break;
        case 17: l4 = udp(h.sport, h.dport, Bytes(8, 0x5a)); break;
        case 1: l4 = icmp(8, 0, Bytes(8, 0x5a)); break;
        default: l4 = Bytes(8, 0x5a); break;
    }
    Bytes b = ether(0x0800, ip4({.proto = h.proto}, l4));
    // frames.hpp writes fixed addresses: put the header's in place (IPv4 header at 14).
    for (int i = 0; i < 4; ++i) {
        b[14 + 12 + std::size_t(i)] = std::uint8_t(h.src >> (24 - 8 * i));
        b[14 + 16 + std::size_t(i)] = std::uint8_t(h.dst >> (24 - 8 * i));
    }
    return b;
}

std::vector<Header> headers_from_rules(std::span<const Rule> rules, std::uint64_t seed) {
    static constexpr std::uint8_t kAnyProto[] = {6, 17, 1, 47};
    std::vector<Header> out;
    out.reserve(rules.size());
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const Rule& r = rules[i];
        std::uint64_t k = mix(seed * 0x100000001b3ull + i);
        Header h;
        h.src = address_in(r.src, k);
        h.dst = address_in(r.dst, k >> 8);
        h.sport = port_in(r.sport, k >> 16);
        h.dport = port_in(r.dport, k >> 24);
        if (r.proto) h.proto = *r.proto;
        else if (!r.sport.any() || !r.dport.any()) h.proto = (k >> 32) % 2 ? 6 : 17;
        else h.proto = kAnyProto[(k >> 32) % std::size(kAnyProto)];
        h.filter = long(i);
        out.push_back(h);
    }
    return out;
}

// --- the generator ------------------------------------------------------------------------------

const char* family_name(Family f) {
    switch (f) {
        case Family::Acl: return "acl";
        case Family::Fw: return "fw";
        case Family::Ipc: return "ipc";
    }
    return "?";
}

std::optional<Family> family_from_name(std::string_view s) {
    for (Family f : kFamilies)
        if (s == family_name(f)) return f;
    return std::nullopt;
}

namespace {

class Rng {
public:
    explicit Rng(std::uint64_t seed) : g_(seed) {}
    std::uint64_t below(std::uint64_t n) { return n ? g_() % n : 0; }
    bool chance(unsigned percent) { return below(100) < percent; }
    std::uint32_t u32() { return std::uint32_t(g_()); }
    template <class T, std::size_t N>
    const T& pick(const T (&v)[N]) { return v[below(N)]; }

private:
    std::mt19937_64 g_;
};

constexpr std::uint16_t kServices[] = {20, 21, 22, 23, 25, 53, 67, 68, 69, 80, 110, 111, 119, 123, 135, 137, 138,
                                       139, 143, 161, 162, 389, 443, 445, 514, 1433, 1521, 1711, 1723, 3128, 3306,
                                       3389, 5060, 6000, 7648, 8080};
// Ranges as firewalls write them; several overlap each other and the services above.
constexpr PortRange kRanges[] = {{0, 1023},     {1024, 65535}, {1023, 65535}, {6000, 6063}, {135, 139},
                                 {137, 138},    {20, 21},      {5000, 5100},  {1024, 5000}, {33434, 33600},
                                 {8000, 8999},  {8080, 8090},  {0, 21},       {49152, 65535}};

Prefix make_prefix(std::uint32_t a, unsigned len) {
    Prefix p;
    p.len = std::uint8_t(len);
    p.addr = a & p.mask();
    return p;
}

// Clustered addresses: rules of real lists share networks, so prefixes nest and overlap.
struct Pools {
    std::vector<std::uint32_t> nets;
    Pools(Rng& rng, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) nets.push_back(rng.u32());
    }
    // An address near one of the pools' networks (same /16, random low bits).
    std::uint32_t near(Rng& rng) {
        std::uint32_t base = nets[rng.below(nets.size())];
        return (base & 0xffff0000u) | (rng.chance(50) ? (base & 0xff00u) : (rng.u32() & 0xff00u)) | (rng.u32() & 0xffu);
    }
};

PortRange exact(std::uint16_t p) { return {p, p}; }

Rule acl_rule(Rng& rng, Pools& pools) {
    static constexpr unsigned kLens[] = {32, 32, 32, 32, 31, 30, 29, 28, 27, 26, 24, 24, 16};
    Rule r;
    r.src = rng.chance(8) ? Prefix{} : make_prefix(pools.near(rng), kLens[rng.below(std::size(kLens))]);
    r.dst = rng.chance(5) ? Prefix{} : make_prefix(pools.near(rng), kLens[rng.below(std::size(kLens))]);
    unsigned p = unsigned(rng.below(100));
    r.proto = p < 65 ? std::optional<std::uint8_t>(6) : p < 82 ? std::optional<std::uint8_t>(17)
            : p < 88 ? std::optional<std::uint8_t>(1) : std::nullopt;
    bool ports = !r.proto || *r.proto == 6 || *r.proto == 17;
    if (ports) {
        unsigned d = unsigned(rng.below(100));
        r.dport = d < 75 ? exact(rng.pick(kServices)) : d < 88 ? rng.pick(kRanges) : PortRange{};
        if (rng.chance(6)) r.sport = rng.pick(kRanges);
    }
    return r;
}

Rule fw_rule(Rng& rng, Pools& pools) {
    static constexpr unsigned kLens[] = {32, 32, 29, 28, 24, 24, 22, 16, 12, 8};
    Rule r;
    r.src = rng.chance(45) ? Prefix{} : make_prefix(pools.near(rng), kLens[rng.below(std::size(kLens))]);
    r.dst = rng.chance(30) ? Prefix{} : make_prefix(pools.near(rng), kLens[rng.below(std::size(kLens))]);
    unsigned p = unsigned(rng.below(100));
    r.proto = p < 35 ? std::optional<std::uint8_t>(6) : p < 55 ? std::optional<std::uint8_t>(17)
            : p < 62 ? std::optional<std::uint8_t>(1) : p < 67 ? std::optional<std::uint8_t>(47) : std::nullopt;
    bool ports = !r.proto || *r.proto == 6 || *r.proto == 17;
    if (ports) {
        unsigned d = unsigned(rng.below(100));
        r.dport = d < 40 ? exact(rng.pick(kServices)) : d < 75 ? rng.pick(kRanges) : PortRange{};
        unsigned s = unsigned(rng.below(100));
        r.sport = s < 70 ? PortRange{} : s < 85 ? rng.pick(kRanges) : exact(rng.pick(kServices));
    }
    return r;
}

Rule ipc_rule(Rng& rng, Pools& pools) {
    Rule r;
    auto len = [&] { return rng.chance(50) ? 32u : unsigned(8 + rng.below(25)); };
    r.src = rng.chance(20) ? Prefix{} : make_prefix(pools.near(rng), len());
    r.dst = rng.chance(15) ? Prefix{} : make_prefix(pools.near(rng), len());
    unsigned p = unsigned(rng.below(100));
    r.proto = p < 40 ? std::optional<std::uint8_t>(6) : p < 75 ? std::optional<std::uint8_t>(17)
            : p < 82 ? std::optional<std::uint8_t>(1) : std::nullopt;
    bool ports = !r.proto || *r.proto == 6 || *r.proto == 17;
    if (ports) {
        unsigned d = unsigned(rng.below(100));
        r.dport = d < 55 ? exact(rng.pick(kServices)) : d < 75 ? rng.pick(kRanges) : PortRange{};
        unsigned s = unsigned(rng.below(100));
        r.sport = s < 50 ? PortRange{} : s < 80 ? exact(rng.pick(kServices)) : rng.pick(kRanges);
    }
    return r;
}

}  // namespace

std::vector<Rule> generate_rules(Family f, std::size_t n, std::uint64_t seed) {
    Rng rng(seed * 3 + std::uint64_t(f));
    Pools pools(rng, std::max<std::size_t>(4, n / 40));
    std::vector<Rule> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        Rule r = f == Family::Acl ? acl_rule(rng, pools) : f == Family::Fw ? fw_rule(rng, pools) : ipc_rule(rng, pools);
        // Now and then a rule that repeats an earlier one with a field widened or narrowed, as
        // generated sets do: overlaps that exercise first-match order.
        if (!out.empty() && rng.chance(10)) {
            Rule base = out[rng.below(out.size())];
            switch (rng.below(4)) {
                case 0: base.src = base.src.len ? make_prefix(base.src.addr, base.src.len - 1u) : base.src; break;
                case 1: base.dport = rng.pick(kRanges); break;
                case 2: base.proto.reset(); break;
                default: base.sport = rng.pick(kRanges); break;
            }
            if (base.proto && *base.proto != 6 && *base.proto != 17) base.sport = base.dport = PortRange{};
            r = base;
        }
        if (!r.src.len && !r.dst.len && r.sport.any() && r.dport.any() && !r.proto) r.dport = exact(rng.pick(kServices));
        out.push_back(r);
    }
    // Generated and real sets list specific filters before wide ones (a wide filter early would
    // shadow most of the set): order by specificity, with noise so that overlaps stay.
    std::vector<std::pair<int, Rule>> scored;
    for (const Rule& r : out) {
        auto ports = [](const PortRange& p) { return p.any() ? 0 : p.lo == p.hi ? 16 : 8; };
        int score = r.src.len + r.dst.len + ports(r.sport) + ports(r.dport) + (r.proto ? 8 : 0) + int(rng.below(24));
        scored.emplace_back(score, r);
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = scored[i].second;
    if (f == Family::Fw && n > 1) out.back() = Rule{};  // firewalls end with a catch-all
    return out;
}

std::vector<Header> generate_headers(std::span<const Rule> rules, std::size_t n, std::uint64_t seed) {
    static constexpr std::uint8_t kProtos[] = {6, 6, 6, 17, 17, 1, 47, 50, 0, 255};
    Rng rng(seed ^ 0x6a09e667f3bcc909ull);
    std::vector<Header> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        Header h;
        unsigned kind = unsigned(rng.below(100));
        if (rules.empty() || kind >= 90) {  // random
            h.src = rng.u32();
            h.dst = rng.u32();
            h.sport = std::uint16_t(rng.u32());
            h.dport = std::uint16_t(rng.u32());
            h.proto = rng.pick(kProtos);
            if (!rules.empty() && rng.chance(50)) {  // near the rules' addresses
                const Rule& r = rules[rng.below(rules.size())];
                h.src = address_in(r.src, rng.u32());
                h.dst = address_in(r.dst, rng.u32());
            }
        } else {  // inside one rule, at its edges or inside
            std::size_t at = rng.below(rules.size());
            const Rule& r = rules[at];
            h.filter = long(at);
            h.src = address_in(r.src, rng.u32());
            h.dst = address_in(r.dst, rng.u32());
            h.sport = port_in(r.sport, rng.u32());
            h.dport = port_in(r.dport, rng.u32());
            h.proto = r.proto ? *r.proto : rng.pick(kProtos);
            if (kind >= 70) {  // then just outside it on one field
                switch (rng.below(5)) {
                    case 0: if (r.src.len) h.src = rng.chance(50) ? r.src.addr - 1 : r.src.last() + 1; break;
                    case 1: if (r.dst.len) h.dst = rng.chance(50) ? r.dst.addr - 1 : r.dst.last() + 1; break;
                    case 2: if (!r.sport.any()) h.sport = r.sport.lo ? r.sport.lo - 1 : r.sport.hi + 1; break;
                    case 3: if (!r.dport.any()) h.dport = r.dport.lo ? r.dport.lo - 1 : r.dport.hi + 1; break;
                    default: h.proto = r.proto ? std::uint8_t(*r.proto + 1) : h.proto; break;
                }
            }
        }
        out.push_back(h);
    }
    return out;
}

// --- files ----------------------------------------------------------------------------------------

bool write_pcap(const std::string& path, std::span<const std::vector<std::uint8_t>> frames, std::string& err) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) {
        err = "cannot write " + path + ": " + std::strerror(errno);
        return false;
    }
    auto u32 = [&](std::uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };  // host order:
    auto u16 = [&](std::uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };  // the magic says which
    u32(0xa1b2c3d4);  // microsecond timestamps
    u16(2);
    u16(4);
    u32(0);      // thiszone
    u32(0);      // sigfigs
    u32(65535);  // snaplen
    u32(1);      // LINKTYPE_ETHERNET
    std::uint64_t us = 0;
    for (const auto& f : frames) {
        u32(std::uint32_t(us / 1000000));
        u32(std::uint32_t(us % 1000000));
        u32(std::uint32_t(f.size()));
        u32(std::uint32_t(f.size()));
        out.write(reinterpret_cast<const char*>(f.data()), std::streamsize(f.size()));
        ++us;
    }
    out.flush();
    if (!out) {
        err = "write error on " + path;
        return false;
    }
    return true;
}

std::vector<SetFiles> find_sets(const std::string& dir) {
    namespace fs = std::filesystem;
    std::vector<std::pair<std::uintmax_t, SetFiles>> found;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
        std::string name = e.path().filename().string();
        if (!e.is_regular_file(ec) || name.empty() || name[0] == '.') continue;
        if (name.ends_with("_trace") || name.find('.') != std::string::npos) continue;  // README.md
        SetFiles s{name, e.path().string(), {}};
        fs::path trace = e.path().parent_path() / (name + "_trace");
        if (fs::is_regular_file(trace, ec)) s.trace = trace.string();
        found.emplace_back(fs::file_size(e.path(), ec), std::move(s));
    }
    std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first < b.first : a.second.name < b.second.name;
    });
    std::vector<SetFiles> out;
    for (auto& [size, s] : found) out.push_back(std::move(s));
    return out;
}

Workload load_workload(const SetFiles& set) {
    Workload w;
    auto parsed = load_rules(set.rules);
    if (!parsed.ok()) {
        w.error = "filters do not parse: " + parsed.error_text();
        return w;
    }
    w.rules = std::move(parsed.items);
    if (set.trace.empty()) {
        w.headers = headers_from_rules(w.rules);
        return w;
    }
    auto t = load_trace(set.trace);
    if (!t.ok()) {
        w.error = "trace does not parse: " + t.error_text();
        return w;
    }
    w.headers = std::move(t.items);
    w.from_trace = true;
    return w;
}

std::string find_dir(const std::string& configured) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (const char* env = std::getenv("WEIR_CLASSBENCH_DIR"); env && *env)
        return fs::is_directory(env, ec) ? std::string(env) : std::string();
    for (const std::string& d : {configured, std::string("/work/shared/classbench")})
        if (!d.empty() && fs::is_directory(d, ec)) return fs::path(d).lexically_normal().string();
    return {};
}

// --- forked work ----------------------------------------------------------------------------------

ChildResult run_in_child(const std::function<std::vector<std::uint8_t>(std::string& error)>& work, double budget_s) {
    using Clock = std::chrono::steady_clock;
    ChildResult res;
    int p[2];
    if (::pipe(p) != 0) {
        res.error = std::string("pipe: ") + std::strerror(errno);
        return res;
    }
    char errpath[] = "/tmp/weir-classbench-XXXXXX";
    int errfd = ::mkstemp(errpath);
    if (errfd < 0) {
        res.error = std::string("mkstemp: ") + std::strerror(errno);
        ::close(p[0]), ::close(p[1]);
        return res;
    }
    ::unlink(errpath);
    std::fflush(stdout);
    std::fflush(stderr);
    auto start = Clock::now();
    pid_t pid = ::fork();
    if (pid < 0) {
        res.error = std::string("fork: ") + std::strerror(errno);
        ::close(p[0]), ::close(p[1]), ::close(errfd);
        return res;
    }
    if (pid == 0) {
        ::close(p[0]);
        ::dup2(errfd, 2);
        // Protocol: one status byte (0 ok, 1 error), then the bytes or the error text.
        std::string error;
        std::vector<std::uint8_t> out;
        try {
            out = work(error);
        } catch (const std::exception& e) {
            error = std::string("exception: ") + e.what();
        } catch (...) {
            error = "unknown exception";
        }
        std::string msg(1, error.empty() ? '\0' : '\1');
        if (error.empty()) msg.append(out.begin(), out.end());
        else msg += error;
        std::size_t off = 0;
        while (off < msg.size()) {
            ssize_t n = ::write(p[1], msg.data() + off, msg.size() - off);
            if (n <= 0) break;
            off += std::size_t(n);
        }
        std::_Exit(0);
    }
    ::close(p[1]);
    std::string buf;
    auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(budget_s));
    const bool timed_out = bench::drain_until(p[0], deadline, buf);
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    rusage ru{};
    while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    res.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    res.max_rss_kib = ru.ru_maxrss;
    ::close(p[0]);

    std::string err, line, last;
    char chunk[4096];
    ssize_t got;
    ::lseek(errfd, 0, SEEK_SET);
    while ((got = ::read(errfd, chunk, sizeof chunk)) > 0) err.append(chunk, std::size_t(got));
    ::close(errfd);
    std::istringstream errs(err);
    std::vector<std::string> tail;
    while (std::getline(errs, line))
        if (line.find_first_not_of(" \t") != std::string::npos) {
            tail.push_back(line);
            if (tail.size() > 3) tail.erase(tail.begin());
        }
    for (const auto& t : tail) last += (last.empty() ? "" : " | ") + t;

    if (timed_out) res.error = "over the time budget (" + std::to_string(long(budget_s)) + " s): killed";
    else if (WIFSIGNALED(status)) res.error = "died of signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    else if (WEXITSTATUS(status) != 0) res.error = "exited with status " + std::to_string(WEXITSTATUS(status));
    else if (buf.empty()) res.error = "returned nothing";
    else if (buf[0] != '\0') res.error = buf.substr(1);
    else res.bytes.assign(buf.begin() + 1, buf.end());
    if (!res.error.empty() && !last.empty() && (buf.empty() || buf[0] == '\0')) res.error += "; stderr: " + last;
    return res;
}

}  // namespace weir::classbench
