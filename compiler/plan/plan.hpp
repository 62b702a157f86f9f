// Planner, stage 3: one policy of a checked program (policy.hpp) -> a Plan for codegen.
// The plan says HOW the policy is classified: which sets become lookup tables (LPM tries keyed by
// set id + value, shared per key width, updatable live) and the order and form in which codegen
// evaluates the rules. Codegen consumes a Plan, never the AST.
//
// Strategies: linear (rules in order, each condition as straight-line code with set lookups) and
// classifier (runs of rules as decision trees in maps, classifier.hpp), first-match semantics
// kept exact.
#pragma once
#include <cstdint>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "classifier.hpp"
#include "policy.hpp"

namespace weir {

// The key kinds of set tables; each is one LPM trie map in the template (weir_abi.h):
// key = { prefixlen, set id (32 bits), value (width bits, big-endian) }.
enum class TableKind : std::uint8_t { V4, V6, Port, Proto, Mac };
inline constexpr TableKind kTableKinds[] = {TableKind::V4, TableKind::V6, TableKind::Port, TableKind::Proto,
                                            TableKind::Mac};
unsigned table_value_bits(TableKind k);  // 32, 128, 16, 8, 48
const char* table_map_name(TableKind k); // the template's map name, e.g. "weir_set_v4"
const char* table_kind_name(TableKind k); // "v4", "v6", "port", "proto", "mac"

// One prefix of a table: the top `len` bits of `value` (value holds `bits` significant bits).
struct TablePrefix {
    u128 value = 0;
    std::uint8_t len = 0;
    bool operator==(const TablePrefix&) const = default;
};

// The entries of one set in one table. Ranges are decomposed into prefixes (at most 2*bits).
struct SetTable {
    TableKind kind = TableKind::V4;
    std::uint32_t id = 0;        // set id inside its kind's map (unique per kind)
    int program_set = -1;        // index into Program::sets, or -1 for an inline set
    std::string name;            // set name, or "inline@RULE" for inline sets
    std::vector<TablePrefix> prefixes;
};

// How an `In` expression is evaluated.
struct InPlan {
    int v4_table = -1;  // index into Plan::tables (address sets: one table per family)
    int v6_table = -1;
    int table = -1;     // non-address sets
};

// Linear: every rule as straight-line code. Classifier: runs of consecutive rules that are boxes
// over the classifier's dimensions go through a decision tree held in maps (see cls below);
// the other rules stay straight-line code, in order.
enum class Strategy : std::uint8_t { Linear, Classifier };

struct PlanOptions {
    // Auto: the planner picks per rule group (straight-line code for small policies). Linear:
    // force straight-line code for every rule (benchmarks, `weir compile --plan linear`).
    enum class Mode : std::uint8_t { Auto, Linear } mode = Mode::Auto;
    ClsParams classifier;
};

struct PlannedRule {
    int rule = -1;            // index into Policy::rules
    const Rule* src = nullptr;
    // Counter slot: the rule's key in weir_rules and weir_redirect and the rule field of its
    // decisions (weir_abi.h). The planner sets it to the rule index; the attach runtime
    // reassigns slots so that a rule kept across a hot swap keeps its counters.
    std::uint32_t slot = 0;
    std::uint32_t action = 0; // WEIR_ACT_* for terminal rules
    bool terminal = true;
    int group = -1;           // index into Plan::groups when a classifier tree decides this rule
};

struct Plan {
    const Program* program = nullptr;
    int policy = -1;
    Strategy strategy = Strategy::Linear;
    std::vector<SetTable> tables;
    // Set lookups: every `In` on a named set, and every inline set larger than
    // kInlineCompareLimit elements, keyed by the Expr node. Smaller inline sets are compared inline.
    std::map<const Expr*, InPlan> lookups;
    std::vector<PlannedRule> rules;
    std::uint32_t default_action = 0;  // WEIR_ACT_PASS / WEIR_ACT_DROP
    // Classifier groups (classifier.hpp), in rule order, and the map contents they share.
    std::vector<ClsGroup> groups;
    ClsTables cls;

    const Policy& pol() const { return program->policies.at(policy); }
    const SetTable* table_for(int program_set, TableKind kind) const;
    // 1 + the largest counter slot (at least 1): the entries weir_rules/weir_redirect need.
    std::uint32_t slot_count() const;
};

inline constexpr std::size_t kInlineCompareLimit = 8;

// Decomposes the inclusive range [lo, hi] of `bits`-wide values into the fewest prefixes.
// [lo, hi] as one aligned block of a `bits`-wide space: the block's size in bits (0: one value),
// else nullopt (it takes several prefixes, range_to_prefixes).
std::optional<unsigned> block_bits(u128 lo, u128 hi, unsigned bits);
std::vector<TablePrefix> range_to_prefixes(u128 lo, u128 hi, unsigned bits);

// Plans policy `policy` of `program` (which must have checked without errors).
Plan plan_policy(const Program& program, int policy, const PlanOptions& opts = {});

}  // namespace weir
