// Generated rule sets of a given size and shape, for the ruleset-size benchmark
// (bench/ruleset_bench.cpp) and for tests that need large policies of a known structure.
//
// One Ruleset is a list of IPv4 rules, each a box over (source prefix, destination prefix,
// protocol, source port range, destination port range) with some fields wildcarded, and a
// verdict (pass or drop). From it come, all deterministic from one seed:
//   - the weir policy text (one `rN: drop|pass if ...` line per rule),
//   - traffic: Ethernet frames spread evenly over the rules, each built to fall inside the box of
//     the rule it aims at (an earlier rule may match it first: first match decides), plus a share
//     of frames no rule matches,
//   - the equivalent nftables ruleset (netdev ingress hook) in two forms: linear (one nft rule per
//     weir rule) and set form (one verdict map lookup).
//
// Shapes (bpf-iptables' ruleset-size benchmark uses the third):
//   Blocklist  source-address prefixes of mixed lengths: `ip.src == P`
//   Services   protocol and destination port or port range: `tcp.dport == 443`,
//              `udp.dport == 5000-5100`, `l4.dport == 53` (TCP or UDP)
//   FiveTuple  source CIDR, destination CIDR, protocol (tcp, udp or any), source and destination
//              port ranges; every rule leaves some fields wildcarded, never all of them
//
// Address spaces. Space::Internet (the default) draws prefixes of /8../32 anywhere in unicast
// IPv4 (1.0.0.0 - 223.255.255.255) outside 198.18.0.0/15; frames no rule matches come from
// 198.18.0.0/15. These frames are for BPF_PROG_TEST_RUN only, never sent on a link. Space::Bench
// keeps every address - in rules and frames - inside 198.18.0.0/15 (RFC 2544), the only range
// weir's live tests may put on a wire: prefixes of /20../32 (the /8../32 length mix mapped
// linearly onto /20../32), with 198.19.240.0/20 left to frames that match no rule. Such a small
// space (131,072 addresses) is dense: from a few thousand rules on, most rules overlap earlier
// ones, and a 10,000-rule blocklist has about 3,900 visible pieces (see nft_set_form).
//
// Ports: no rule's port condition reaches into 65280-65535; frames that match no rule use those
// ports (and the free address block), so every shape has non-matching frames by construction.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy.hpp"
#include "test_frames.hpp"

namespace weir::test {

enum class RulesetShape : std::uint8_t { Blocklist, Services, FiveTuple };
inline constexpr RulesetShape kRulesetShapes[] = {RulesetShape::Blocklist, RulesetShape::Services,
                                                  RulesetShape::FiveTuple};
const char* ruleset_shape_name(RulesetShape s);  // "blocklist", "services", "5-tuple"
const char* ruleset_shape_letter(RulesetShape s);  // "a", "b", "c" (the benchmarks' names)
// Accepts the name or the letter.
std::optional<RulesetShape> ruleset_shape_from_name(std::string_view name);

struct Ip4Prefix {
    std::uint32_t addr = 0;  // host order, host bits clear
    std::uint8_t len = 0;    // 0: every address (a wildcard)
    std::uint32_t lo() const { return addr; }
    std::uint32_t hi() const { return len >= 32 ? addr : addr | (0xffffffffu >> len); }
    bool contains(std::uint32_t a) const { return lo() <= a && a <= hi(); }
    bool overlaps(const Ip4Prefix& o) const { return lo() <= o.hi() && o.lo() <= hi(); }
    std::string text() const;  // "198.18.4.0/22"
};

struct PortRange {
    std::uint16_t lo = 0, hi = 65535;
    bool any() const { return lo == 0 && hi == 65535; }
    bool contains(std::uint16_t p) const { return lo <= p && p <= hi; }
};

enum class L4 : std::uint8_t { Any, Tcp, Udp };
inline std::uint8_t l4_proto_number(L4 p) { return p == L4::Tcp ? 6 : p == L4::Udp ? 17 : 0; }

// The header values of one generated frame (always IPv4 with TCP or UDP).
struct FlowKey {
    std::uint32_t src = 0, dst = 0;
    std::uint8_t proto = 6;  // 6 or 17
    std::uint16_t sport = 0, dport = 0;
};

struct GenRule {
    Verdict action = Verdict::Drop;  // Pass or Drop
    Ip4Prefix src, dst;              // len 0: not tested
    L4 proto = L4::Any;              // Any: not tested, or "TCP or UDP" when a port is tested
    PortRange sport, dport;          // any(): not tested
    // Whether a TCP or UDP packet with these headers matches (the rule's weir semantics).
    bool matches(const FlowKey& k) const;
    bool tests_ports() const { return !sport.any() || !dport.any(); }
};

enum class Space : std::uint8_t { Internet, Bench };

struct RulesetOptions {
    RulesetShape shape = RulesetShape::Blocklist;
    std::size_t rules = 100;
    std::uint64_t seed = 1;
    Space space = Space::Internet;
    // Every rule drops and the default is drop (live floods: every frame is decided and
    // dropped, none reaches the network stack). The rules themselves are the same as without.
    bool all_drop = false;
    std::string policy_name = "bench";
};

struct Ruleset {
    RulesetOptions options;
    std::vector<GenRule> rules;
    Verdict default_action = Verdict::Pass;
};

// Blocklist: 85% drop, default pass. Services and FiveTuple: half pass, half drop, default drop.
Ruleset generate_ruleset(const RulesetOptions& options);

// Rule i is named "r<i>"; the policy is RulesetOptions::policy_name.
std::string rule_name(std::size_t i);
std::string weir_policy_text(const Ruleset& rs);

// --- traffic ---------------------------------------------------------------------------------

struct TrafficOptions {
    std::size_t frames = 1024;
    double miss_share = 0.1;      // frames that match no rule (at least one if frames >= 2)
    std::uint64_t seed = 1;
    MacAddr eth_src = kDefaultEthSrc, eth_dst = kDefaultEthDst;
    // The destination address of frames whose rule tests none (Blocklist, Services, wildcards):
    // 0 = a random address of the space.
    std::uint32_t default_dst = 0;
    std::size_t frame_len = 60;   // padded to this many bytes (60: a minimal Ethernet frame)
};

struct GenFrame {
    std::vector<std::uint8_t> bytes;
    FlowKey key;
    int target = -1;  // the rule the frame is built to fall in; -1: built to match no rule
};

// Frame k (of the matching ones) aims at rule floor((k + 0.5) * rules / matching): evenly over
// the rule list; the non-matching frames are spread evenly between them.
std::vector<GenFrame> generate_traffic(const Ruleset& rs, const TrafficOptions& options);

// The first rule that matches `k`, -1 if none (first-match semantics, in user space).
int first_match(const Ruleset& rs, const FlowKey& k);

// --- nftables --------------------------------------------------------------------------------

struct NftOptions {
    std::string table = "weir_bench";  // a table of family netdev
    std::string device;                // the ingress hook's device
    int priority = 0;
};

// `nft -f` input creating table netdev TABLE with one base chain on DEVICE's ingress hook whose
// policy is the ruleset's default; one nft rule per weir rule, in order (`accept` for pass).
std::string nft_linear(const Ruleset& rs, const NftOptions& options);

struct NftSetForm {
    std::string text;             // `nft -f` input: a verdict map and one chain rule looking it up
    std::size_t elements = 0;     // elements of the map
    std::size_t left_out = 0;     // rules not represented (FiveTuple only, see below)
    bool exact = true;            // gives every TCP/UDP packet the verdict of the weir policy
    std::string key;              // the lookup key, e.g. "ip saddr"
};

// The set form:
//   Blocklist  `ip saddr vmap @m`, interval map. Overlapping prefixes with first-match cannot go
//              into one map as they are: the address line is cut into the pieces where the first
//              matching rule is the same, and each piece becomes one interval element (pieces no
//              rule covers are left to the chain's policy). Exact; one element per visible part
//              of a rule, even where neighbours share a verdict (as a rule keeps its counter).
//   Services   `meta l4proto . th dport vmap @m`, concatenated interval map, built the same way
//              per protocol (a TCP-or-UDP rule counts for both). Exact.
//   FiveTuple  `ip saddr . ip daddr . meta l4proto . th sport . th dport vmap @m`. The kernel
//              refuses overlapping elements in such a map, and cutting overlapping 5-dimension
//              boxes into disjoint ones can multiply their number; so the map holds the rules
//              whose box overlaps no earlier kept rule's box (kept in rule order), and the rest
//              are left out (`left_out`). Not exact unless nothing was left out - but exact in
//              verdict when every rule and the default drop (RulesetOptions::all_drop).
NftSetForm nft_set_form(const Ruleset& rs, const NftOptions& options);

}  // namespace weir::test
