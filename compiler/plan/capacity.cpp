#include "capacity.hpp"

#include <array>
#include <string>
#include <string_view>

#include "fields.hpp"
#include "plan.hpp"

namespace weir {

namespace {

// The table kind's value width for an element of a set of `type` (addresses by their family).
unsigned bits_of(SetType type, const Element& e) {
    switch (type) {
        case SetType::Ip:
        case SetType::Ip4:
        case SetType::Ip6: return e.family == Family::V6 ? 128 : 32;
        case SetType::Mac: return 48;
        case SetType::Port: return 16;
        case SetType::Proto: return 8;
    }
    return 32;
}

int kind_slot(unsigned bits) {
    switch (bits) {
        case 32: return 0;
        case 128: return 1;
        case 16: return 2;
        case 8: return 3;
        default: return 4;
    }
}

std::string with_commas(std::uint64_t n) {
    std::string s = std::to_string(n);
    for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
    return s;
}

}  // namespace

std::uint64_t table_entries(const Element& e, unsigned bits) {
    if (block_bits(e.lo, e.hi, bits)) return 1;
    return range_to_prefixes(e.lo, e.hi, bits).size();
}

namespace {

std::size_t inline_sets(const Expr& e) {
    std::size_t n = e.kind == Expr::Kind::In && e.set < 0 ? 1 : 0;
    for (const Expr& k : e.kids) n += inline_sets(k);
    return n;
}

}  // namespace

std::uint64_t meta_bytes_estimate(const Program& prog, const Policy& pol) {
    // The record's fixed part (names, a source path of up to PATH_MAX even if every byte is
    // escaped, hashes, times); per rule ["NAME","ACTION"] and "NAME":SLOT with an 8-digit slot;
    // per set table a record with its 64-digit hash (an ip set may take one per family, an
    // inline set moved into a table one too).
    std::uint64_t n = 32768 + 2 * pol.name.size();
    std::size_t tables = 0;
    for (const Rule& r : pol.rules) {
        n += 2 * r.name.size() + std::string_view(action_name(r.action.kind)).size() + 20;
        tables += inline_sets(r.cond);
    }
    for (int s : pol.sets) n += 2 * (320 + prog.sets.at(static_cast<std::size_t>(s)).name.size());
    return n + 2 * 352 * tables;
}

void check_capacity(const Program& prog, Diagnostics& diags) {
    for (const Policy& pol : prog.policies) {
        std::array<std::uint64_t, 5> entries{};
        bool reported = false;
        for (int si : pol.sets) {
            const SetDef& s = prog.sets.at(static_cast<std::size_t>(si));
            for (const Element& e : s.elems) {
                const unsigned bits = bits_of(s.type, e);
                std::uint64_t& total = entries[static_cast<std::size_t>(kind_slot(bits))];
                total += table_entries(e, bits);
                if (total > kSetTableCapacity && !reported) {
                    auto& d = diags.error(
                        "set-too-large", s.name_range,
                        "policy '" + pol.name + "' needs more than " + with_commas(kSetTableCapacity) +
                            " set table entries of this kind with set '" + s.name +
                            "' (each prefix is one entry; a range takes several): split the set between "
                            "interfaces or merge its elements into wider prefixes");
                    d.notes.push_back({pol.name_range, "the sets of policy '" + pol.name + "' share the table"});
                    reported = true;
                }
            }
        }
        if (const std::uint64_t meta = meta_bytes_estimate(prog, pol); meta > kMetaBytes)
            diags.error("policy-too-large", pol.name_range,
                        "policy '" + pol.name + "' has " + with_commas(pol.rules.size()) +
                            " rules: with their names and sets it needs about " + with_commas(meta) +
                            " bytes of weir's pinned metadata, more than its " + with_commas(kMetaBytes) +
                            " bytes; use shorter rule names or fewer rules (a long list of values belongs in a set)");
    }
}

}  // namespace weir
