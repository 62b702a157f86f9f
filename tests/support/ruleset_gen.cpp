// Generated rule sets, their traffic and their nftables equivalents (ruleset_gen.hpp).
#include "ruleset_gen.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <random>
#include <stdexcept>

namespace weir::test {
namespace {

// The address spaces (ruleset_gen.hpp, "Address spaces").
constexpr Ip4Prefix kBenchRange{0xc6120000u, 15};       // 198.18.0.0/15
constexpr Ip4Prefix kBenchFreeBlock{0xc613f000u, 20};   // 198.19.240.0/20
// Port conditions stay at or below this; frames that match nothing use the ports above.
constexpr std::uint16_t kMaxRulePort = 65279;
constexpr std::uint16_t kFreePortLo = kMaxRulePort + 1;

constexpr std::uint16_t kWellKnownPorts[] = {20, 21, 22, 23, 25, 53, 67, 69, 80, 110, 123, 143, 161,
                                             179, 389, 443, 465, 514, 587, 636, 993, 995, 1194, 1433,
                                             1812, 2049, 3306, 3389, 5060, 5432, 6379, 8080, 8443};

class Rng {
public:
    explicit Rng(std::uint64_t seed) : g_(seed) {}
    std::uint64_t next() { return g_(); }
    std::uint64_t below(std::uint64_t n) { return n ? g_() % n : 0; }
    bool chance(unsigned percent) { return below(100) < percent; }

private:
    std::mt19937_64 g_;
};

Ip4Prefix free_block(Space s) { return s == Space::Bench ? kBenchFreeBlock : kBenchRange; }

std::uint32_t mask_of(std::uint8_t len) { return len == 0 ? 0 : 0xffffffffu << (32 - len); }

// A prefix length from the blocklist mix (/8../32, mostly long), in the space's terms.
std::uint8_t prefix_len(Rng& rng, Space space) {
    unsigned r = static_cast<unsigned>(rng.below(100)), len;
    if (r < 50) len = 32;
    else if (r < 85) len = 24 + static_cast<unsigned>(rng.below(8));
    else if (r < 97) len = 16 + static_cast<unsigned>(rng.below(8));
    else len = 8 + static_cast<unsigned>(rng.below(8));
    if (space == Space::Bench)  // /8../32 onto /20../32
        len = 20 + static_cast<unsigned>(std::lround((len - 8) * 12.0 / 24.0));
    return static_cast<std::uint8_t>(len);
}

// A prefix of length `len` in the space, not overlapping the block kept for non-matching frames.
Ip4Prefix place_prefix(Rng& rng, Space space, std::uint8_t len) {
    const Ip4Prefix avoid = free_block(space);
    for (;;) {
        std::uint32_t a;
        if (space == Space::Bench) {
            a = kBenchRange.addr | static_cast<std::uint32_t>(rng.next() & ~mask_of(kBenchRange.len));
        } else {
            a = static_cast<std::uint32_t>(rng.next());
            a = (a & 0x00ffffffu) | static_cast<std::uint32_t>(1 + rng.below(223)) << 24;  // 1..223
        }
        Ip4Prefix p{a & mask_of(len), len};
        if (!p.overlaps(avoid)) return p;
        if (rng.chance(20) && len > 16) --len;  // never stuck: shorter prefixes find room too
    }
}

// An address of the space outside the free block (for wildcarded fields of aimed frames).
std::uint32_t any_address(Rng& rng, Space space) { return place_prefix(rng, space, 32).addr; }

std::uint32_t address_in(Rng& rng, const Ip4Prefix& p) {
    return p.addr | (static_cast<std::uint32_t>(rng.next()) & ~mask_of(p.len));
}

PortRange exact_port(Rng& rng) {
    std::uint16_t p = rng.chance(30) ? kWellKnownPorts[rng.below(std::size(kWellKnownPorts))]
                                     : static_cast<std::uint16_t>(1 + rng.below(kMaxRulePort));
    return {p, p};
}

PortRange port_range(Rng& rng) {
    std::uint32_t width = 1 + static_cast<std::uint32_t>(rng.below(1u << (1 + rng.below(12))));
    auto lo = static_cast<std::uint32_t>(rng.below(kMaxRulePort));
    auto hi = std::min<std::uint32_t>(lo + width, kMaxRulePort);
    return {static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi)};
}

std::uint16_t port_in(Rng& rng, const PortRange& r) {
    if (r.any()) return static_cast<std::uint16_t>(1024 + rng.below(kMaxRulePort - 1024 + 1));
    return static_cast<std::uint16_t>(r.lo + rng.below(std::uint32_t(r.hi) - r.lo + 1));
}

GenRule blocklist_rule(Rng& rng, Space space) {
    GenRule r;
    r.action = rng.chance(85) ? Verdict::Drop : Verdict::Pass;
    r.src = place_prefix(rng, space, prefix_len(rng, space));
    return r;
}

GenRule services_rule(Rng& rng) {
    GenRule r;
    r.action = rng.chance(50) ? Verdict::Drop : Verdict::Pass;
    unsigned p = static_cast<unsigned>(rng.below(100));
    r.proto = p < 50 ? L4::Tcp : p < 90 ? L4::Udp : L4::Any;
    r.dport = rng.chance(65) ? exact_port(rng) : port_range(rng);
    return r;
}

GenRule five_tuple_rule(Rng& rng, Space space) {
    GenRule r;
    r.action = rng.chance(50) ? Verdict::Drop : Verdict::Pass;
    for (;;) {
        r.src = rng.chance(30) ? Ip4Prefix{} : place_prefix(rng, space, prefix_len(rng, space));
        r.dst = rng.chance(20) ? Ip4Prefix{} : place_prefix(rng, space, prefix_len(rng, space));
        unsigned p = static_cast<unsigned>(rng.below(100));
        r.proto = p < 45 ? L4::Tcp : p < 80 ? L4::Udp : L4::Any;
        r.sport = rng.chance(75) ? PortRange{} : rng.chance(50) ? exact_port(rng) : port_range(rng);
        r.dport = rng.chance(25) ? PortRange{} : rng.chance(60) ? exact_port(rng) : port_range(rng);
        // Some fields wildcarded, never all: at least one of the four that keep frames that
        // match no rule out of every rule, and two fields in all.
        int tested = (r.src.len > 0) + (r.dst.len > 0) + !r.sport.any() + !r.dport.any();
        if (tested >= 1 && tested + (r.proto != L4::Any) >= 2) return r;
    }
}

std::string port_test(const std::string& field, const PortRange& r) {
    std::string s = field + " == " + std::to_string(r.lo);
    if (r.hi != r.lo) s += "-" + std::to_string(r.hi);
    return s;
}

std::string ip_text(std::uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
           std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
}

std::string nft_ports(const PortRange& r) {
    return r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

const char* nft_verdict(Verdict v) { return v == Verdict::Drop ? "drop" : "accept"; }

std::string nft_header(const NftOptions& o) { return "table netdev " + o.table + " {\n"; }

std::string nft_chain(const NftOptions& o, Verdict policy, const std::string& body) {
    return "  chain ingress {\n    type filter hook ingress device \"" + o.device + "\" priority " +
           std::to_string(o.priority) + "; policy " + nft_verdict(policy) + ";\n" + body + "  }\n";
}

// One dimension under first match: the pieces of the line where the same rule matches first
// (pieces that touch are merged only when that is the same rule, so the set keeps one element per
// visible part of a rule - as many lookups' worth of structure as the rules have - also when
// every verdict is the same). Pieces no rule covers are left out: the chain's policy, the
// default, decides there.
struct Piece {
    std::uint64_t lo, hi;
    Verdict verdict;
    std::size_t rule;
};
struct Interval {
    std::uint64_t lo, hi;
    std::size_t rule;  // priority: lower first
};
std::vector<Piece> first_match_pieces(std::vector<Interval> ivs, const std::vector<GenRule>& rules) {
    std::vector<std::uint64_t> cuts;
    cuts.reserve(ivs.size() * 2);
    for (const auto& iv : ivs) {
        cuts.push_back(iv.lo);
        cuts.push_back(iv.hi + 1);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    std::sort(ivs.begin(), ivs.end(), [](const Interval& a, const Interval& b) { return a.lo < b.lo; });

    // Sweep: the active intervals in a min-heap by rule; ended ones are dropped lazily.
    using Entry = std::pair<std::size_t, std::uint64_t>;  // rule, hi
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> active;
    std::vector<Piece> out;
    std::size_t next = 0;
    for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
        const std::uint64_t lo = cuts[c], hi = cuts[c + 1] - 1;
        while (next < ivs.size() && ivs[next].lo <= lo) {
            active.push({ivs[next].rule, ivs[next].hi});
            ++next;
        }
        while (!active.empty() && active.top().second < lo) active.pop();
        if (active.empty()) continue;
        const std::size_t rule = active.top().first;
        if (!out.empty() && out.back().rule == rule && out.back().hi + 1 == lo) out.back().hi = hi;
        else out.push_back({lo, hi, rules[rule].action, rule});
    }
    return out;
}

}  // namespace

std::string Ip4Prefix::text() const { return ip_text(addr) + "/" + std::to_string(len); }

const char* ruleset_shape_name(RulesetShape s) {
    switch (s) {
        case RulesetShape::Blocklist: return "blocklist";
        case RulesetShape::Services: return "services";
        case RulesetShape::FiveTuple: return "5-tuple";
    }
    return "?";
}

const char* ruleset_shape_letter(RulesetShape s) {
    switch (s) {
        case RulesetShape::Blocklist: return "a";
        case RulesetShape::Services: return "b";
        case RulesetShape::FiveTuple: return "c";
    }
    return "?";
}

std::optional<RulesetShape> ruleset_shape_from_name(std::string_view name) {
    for (RulesetShape s : kRulesetShapes)
        if (name == ruleset_shape_name(s) || name == ruleset_shape_letter(s)) return s;
    return std::nullopt;
}

bool GenRule::matches(const FlowKey& k) const {
    if (src.len && !src.contains(k.src)) return false;
    if (dst.len && !dst.contains(k.dst)) return false;
    if (proto != L4::Any && l4_proto_number(proto) != k.proto) return false;
    return sport.contains(k.sport) && dport.contains(k.dport);
}

Ruleset generate_ruleset(const RulesetOptions& options) {
    Ruleset rs;
    rs.options = options;
    Rng rng(options.seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(options.shape) + 1);
    rs.rules.reserve(options.rules);
    for (std::size_t i = 0; i < options.rules; ++i) {
        switch (options.shape) {
            case RulesetShape::Blocklist: rs.rules.push_back(blocklist_rule(rng, options.space)); break;
            case RulesetShape::Services: rs.rules.push_back(services_rule(rng)); break;
            case RulesetShape::FiveTuple: rs.rules.push_back(five_tuple_rule(rng, options.space)); break;
        }
    }
    rs.default_action = options.shape == RulesetShape::Blocklist ? Verdict::Pass : Verdict::Drop;
    if (options.all_drop) {
        for (auto& r : rs.rules) r.action = Verdict::Drop;
        rs.default_action = Verdict::Drop;
    }
    return rs;
}

std::string rule_name(std::size_t i) { return "r" + std::to_string(i); }

std::string weir_policy_text(const Ruleset& rs) {
    const auto& o = rs.options;
    std::string s = "# Generated by tests/support/ruleset_gen: shape " + std::string(ruleset_shape_name(o.shape)) +
                    ", " + std::to_string(rs.rules.size()) + " rules, seed " + std::to_string(o.seed) +
                    (o.space == Space::Bench ? ", space 198.18.0.0/15" : ", space internet") +
                    (o.all_drop ? ", all drop" : "") + ".\n";
    s += "policy " + o.policy_name + " default " + (rs.default_action == Verdict::Drop ? "drop" : "pass") + " {\n";
    s.reserve(s.size() + rs.rules.size() * 64);
    for (std::size_t i = 0; i < rs.rules.size(); ++i) {
        const GenRule& r = rs.rules[i];
        std::string cond;
        auto add = [&](const std::string& c) { cond += (cond.empty() ? "" : " and ") + c; };
        auto prefix = [](const Ip4Prefix& p) { return p.len == 32 ? ip_text(p.addr) : p.text(); };
        if (r.src.len) add("ip.src == " + prefix(r.src));
        if (r.dst.len) add("ip.dst == " + prefix(r.dst));
        const char* l4 = r.proto == L4::Tcp ? "tcp" : r.proto == L4::Udp ? "udp" : "l4";
        if (!r.tests_ports() && r.proto != L4::Any) add(std::string("ip.proto == ") + l4);
        if (!r.sport.any()) add(port_test(std::string(l4) + ".sport", r.sport));
        if (!r.dport.any()) add(port_test(std::string(l4) + ".dport", r.dport));
        s += "    " + rule_name(i) + ": " + (r.action == Verdict::Drop ? "drop" : "pass");
        if (!cond.empty()) s += " if " + cond;
        s += "\n";
    }
    s += "}\n";
    return s;
}

int first_match(const Ruleset& rs, const FlowKey& k) {
    for (std::size_t i = 0; i < rs.rules.size(); ++i)
        if (rs.rules[i].matches(k)) return static_cast<int>(i);
    return -1;
}

std::vector<GenFrame> generate_traffic(const Ruleset& rs, const TrafficOptions& options) {
    Rng rng(options.seed * 0xbf58476d1ce4e5b9ull + 7);
    const Space space = rs.options.space;
    const std::size_t n = options.frames;
    std::size_t misses = rs.rules.empty() ? n : static_cast<std::size_t>(std::lround(double(n) * options.miss_share));
    if (misses == 0 && options.miss_share > 0 && n >= 2) misses = 1;
    misses = std::min(misses, n);
    const std::size_t hits = n - misses;

    auto build = [&](const FlowKey& k) {
        Frame f;
        f.eth(options.eth_src, options.eth_dst).ipv4(k.src, k.dst);
        if (k.proto == 6) f.tcp(k.sport, k.dport, kTcpSyn);
        else f.udp(k.sport, k.dport);
        f.pad_to(options.frame_len);
        return f.bytes();
    };
    auto default_dst = [&] { return options.default_dst ? options.default_dst : any_address(rng, space); };

    std::vector<GenFrame> out;
    out.reserve(n);
    std::size_t hit = 0, miss = 0;
    for (std::size_t k = 0; k < n; ++k) {
        // Misses go evenly between the hits: frame k is a miss when the running share says so.
        bool is_miss = miss < misses && (hit >= hits || (miss + 1) * n <= (k + 1) * misses);
        GenFrame g;
        if (is_miss) {
            const Ip4Prefix block = free_block(space);
            for (int attempt = 0;; ++attempt) {
                g.key.src = address_in(rng, block);
                g.key.dst = address_in(rng, block);
                g.key.proto = rng.chance(50) ? 6 : 17;
                g.key.sport = static_cast<std::uint16_t>(kFreePortLo + rng.below(65536 - kFreePortLo));
                g.key.dport = static_cast<std::uint16_t>(kFreePortLo + rng.below(65536 - kFreePortLo));
                if (first_match(rs, g.key) < 0) break;
                if (attempt > 100) throw std::logic_error("ruleset_gen: no frame misses every rule");
            }
            ++miss;
        } else {
            const std::size_t target = (2 * hit + 1) * rs.rules.size() / (2 * hits);
            const GenRule& r = rs.rules[target];
            g.target = static_cast<int>(target);
            g.key.src = r.src.len ? address_in(rng, r.src) : any_address(rng, space);
            g.key.dst = r.dst.len ? address_in(rng, r.dst) : default_dst();
            g.key.proto = r.proto == L4::Any ? (rng.chance(50) ? 6 : 17) : l4_proto_number(r.proto);
            g.key.sport = port_in(rng, r.sport);
            g.key.dport = port_in(rng, r.dport);
            ++hit;
        }
        g.bytes = build(g.key);
        out.push_back(std::move(g));
    }
    return out;
}

std::string nft_linear(const Ruleset& rs, const NftOptions& options) {
    std::string body;
    body.reserve(rs.rules.size() * 64);
    for (const GenRule& r : rs.rules) {
        std::string line = "    ";
        if (r.src.len) line += "ip saddr " + r.src.text() + " ";
        if (r.dst.len) line += "ip daddr " + r.dst.text() + " ";
        if (r.proto == L4::Any) {
            if (r.tests_ports()) line += "meta l4proto { tcp, udp } ";
            if (!r.sport.any()) line += "th sport " + nft_ports(r.sport) + " ";
            if (!r.dport.any()) line += "th dport " + nft_ports(r.dport) + " ";
        } else {
            const char* l4 = r.proto == L4::Tcp ? "tcp" : "udp";
            if (!r.tests_ports()) line += std::string("meta l4proto ") + l4 + " ";
            if (!r.sport.any()) line += std::string(l4) + " sport " + nft_ports(r.sport) + " ";
            if (!r.dport.any()) line += std::string(l4) + " dport " + nft_ports(r.dport) + " ";
        }
        body += line + nft_verdict(r.action) + "\n";
    }
    return nft_header(options) + nft_chain(options, rs.default_action, body) + "}\n";
}

NftSetForm nft_set_form(const Ruleset& rs, const NftOptions& options) {
    NftSetForm out;
    std::string type, elems;
    auto add = [&](const std::string& key, Verdict v) {
        elems += (out.elements ? ",\n      " : "      ") + key + " : " + nft_verdict(v);
        ++out.elements;
    };
    switch (rs.options.shape) {
        case RulesetShape::Blocklist: {
            out.key = "ip saddr";
            type = "ipv4_addr";
            std::vector<Interval> ivs;
            for (std::size_t i = 0; i < rs.rules.size(); ++i)
                ivs.push_back({rs.rules[i].src.lo(), rs.rules[i].src.hi(), i});
            for (const Piece& p : first_match_pieces(std::move(ivs), rs.rules))
                add(p.lo == p.hi ? ip_text(std::uint32_t(p.lo))
                                 : ip_text(std::uint32_t(p.lo)) + "-" + ip_text(std::uint32_t(p.hi)),
                    p.verdict);
            break;
        }
        case RulesetShape::Services: {
            out.key = "meta l4proto . th dport";
            type = "inet_proto . inet_service";
            for (L4 proto : {L4::Tcp, L4::Udp}) {
                std::vector<Interval> ivs;
                for (std::size_t i = 0; i < rs.rules.size(); ++i) {
                    const GenRule& r = rs.rules[i];
                    if (r.proto == L4::Any || r.proto == proto) ivs.push_back({r.dport.lo, r.dport.hi, i});
                }
                for (const Piece& p : first_match_pieces(std::move(ivs), rs.rules))
                    add(std::to_string(l4_proto_number(proto)) + " . " +
                            nft_ports({std::uint16_t(p.lo), std::uint16_t(p.hi)}),
                        p.verdict);
            }
            break;
        }
        case RulesetShape::FiveTuple: {
            out.key = "ip saddr . ip daddr . meta l4proto . th sport . th dport";
            type = "ipv4_addr . ipv4_addr . inet_proto . inet_service . inet_service";
            // A box per element; a rule on "TCP or UDP" ports is two elements, a rule on any
            // protocol without ports one element over protocols 0-255.
            struct Box {
                std::uint32_t lo[5], hi[5];
                bool overlaps(const Box& o) const {
                    for (int d = 0; d < 5; ++d)
                        if (hi[d] < o.lo[d] || o.hi[d] < lo[d]) return false;
                    return true;
                }
            };
            // Kept boxes, indexed by the 256-port blocks of their destination port range.
            std::vector<Box> kept;
            std::vector<std::vector<std::uint32_t>> by_block(256);
            std::vector<std::uint32_t> seen;  // per kept box: the query that saw it last
            std::uint32_t query = 0;
            auto overlaps_kept = [&](const Box& b) {
                ++query;
                for (std::uint32_t blk = b.lo[4] >> 8; blk <= (b.hi[4] >> 8); ++blk)
                    for (std::uint32_t k : by_block[blk]) {
                        if (seen[k] == query) continue;
                        seen[k] = query;
                        if (kept[k].overlaps(b)) return true;
                    }
                return false;
            };
            for (const GenRule& r : rs.rules) {
                std::vector<Box> boxes;
                Box b{{r.src.lo(), r.dst.lo(), 0, r.sport.lo, r.dport.lo}, {r.src.hi(), r.dst.hi(), 255, r.sport.hi, r.dport.hi}};
                if (r.proto != L4::Any) {
                    b.lo[2] = b.hi[2] = l4_proto_number(r.proto);
                    boxes.push_back(b);
                } else if (r.tests_ports()) {
                    b.lo[2] = b.hi[2] = 6;
                    boxes.push_back(b);
                    b.lo[2] = b.hi[2] = 17;
                    boxes.push_back(b);
                } else {
                    boxes.push_back(b);
                }
                bool clash = std::any_of(boxes.begin(), boxes.end(), overlaps_kept);
                if (clash) {
                    ++out.left_out;
                    continue;
                }
                for (const Box& k : boxes) {
                    auto idx = static_cast<std::uint32_t>(kept.size());
                    kept.push_back(k);
                    seen.push_back(0);
                    for (std::uint32_t blk = k.lo[4] >> 8; blk <= (k.hi[4] >> 8); ++blk) by_block[blk].push_back(idx);
                    auto prefix = [](std::uint32_t lo, std::uint32_t hi) {
                        // lo-hi of a generated rule is always a prefix (or the whole space).
                        unsigned len = 32;
                        while (len > 0 && Ip4Prefix{lo, std::uint8_t(len)}.hi() != hi) --len;
                        return Ip4Prefix{lo, std::uint8_t(len)}.text();
                    };
                    std::string proto = k.lo[2] == k.hi[2] ? std::to_string(k.lo[2]) : "0-255";
                    add(prefix(k.lo[0], k.hi[0]) + " . " + prefix(k.lo[1], k.hi[1]) + " . " + proto + " . " +
                            nft_ports({std::uint16_t(k.lo[3]), std::uint16_t(k.hi[3])}) + " . " +
                            nft_ports({std::uint16_t(k.lo[4]), std::uint16_t(k.hi[4])}),
                        r.action);
                }
            }
            bool verdicts_all_default = std::all_of(rs.rules.begin(), rs.rules.end(), [&](const GenRule& r) {
                return r.action == rs.default_action;
            });
            out.exact = out.left_out == 0 || verdicts_all_default;
            break;
        }
    }
    std::string body = "    " + out.key + " vmap @m\n";
    out.text = nft_header(options) + "  map m {\n    type " + type +
               " : verdict\n    flags interval\n" +
               (out.elements ? "    elements = {\n" + elems + "\n    }\n" : std::string()) + "  }\n" +
               nft_chain(options, rs.default_action, body) + "}\n";
    return out;
}

}  // namespace weir::test
