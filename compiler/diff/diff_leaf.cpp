// Diff leaves: a region where each policy's first match is fixed (up to opaque atoms). Verdicts and
// counted rules are compared; a difference gets a witness (diff_witness.cpp). Opaque atoms (rate
// limits, payload) are tried both ways: a difference only some of their values give is "may differ".
#include <algorithm>

#include "diff_walk.hpp"

namespace weir::diff::detail {

namespace {

constexpr std::size_t kMaxVars = 12;

// The side's outcome for one assignment of the opaque atoms (`value(key)`).
template <class Value>
Outcome outcome(const Side& side, const std::vector<int>& l, Value value) {
    Outcome o;
    o.decided = decided_of(side, -1);
    for (int i : l) {
        const Entry& e = side.entries[static_cast<std::size_t>(i)];
        bool match = std::all_of(e.vars.begin(), e.vars.end(), [&](const VarLit& v) { return value(v.key) == v.value; });
        if (!match) continue;
        if (!e.terminal) {
            o.counted.push_back(side.policy->rules.at(static_cast<std::size_t>(e.rule)).name);
            continue;
        }
        o.decided = decided_of(side, e.rule);
        break;
    }
    std::sort(o.counted.begin(), o.counted.end());
    o.counted.erase(std::unique(o.counted.begin(), o.counted.end()), o.counted.end());
    return o;
}

bool same_verdict(const Decided& x, const Decided& y) {
    return x.verdict == y.verdict && x.ifname == y.ifname;
}

}  // namespace

void Walker::leaf(const std::vector<int>& la, const std::vector<int>& lb) {
    bool vars = false;
    for (int i : la) vars |= !a_.entries[static_cast<std::size_t>(i)].vars.empty();
    for (int i : lb) vars |= !b_.entries[static_cast<std::size_t>(i)].vars.empty();
    if (vars) {
        leaf_vars(la, lb);
        return;
    }
    auto none = [](const std::string&) { return false; };
    record(outcome(a_, la, none), outcome(b_, lb, none));
}

void Walker::leaf_vars(const std::vector<int>& la, const std::vector<int>& lb) {
    std::vector<std::string> keys;
    for (int i : la)
        for (const auto& v : a_.entries[static_cast<std::size_t>(i)].vars) keys.push_back(v.key);
    for (int i : lb)
        for (const auto& v : b_.entries[static_cast<std::size_t>(i)].vars) keys.push_back(v.key);
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    bool differs_elsewhere = keys.size() > kMaxVars;
    if (!differs_elsewhere) {
        for (std::uint32_t m = 1; m < (std::uint32_t{1} << keys.size()) && !differs_elsewhere; ++m) {
            auto value = [&](const std::string& k) {
                auto at = std::lower_bound(keys.begin(), keys.end(), k) - keys.begin();
                return (m >> at & 1) != 0;
            };
            Outcome oa = outcome(a_, la, value), ob = outcome(b_, lb, value);
            differs_elsewhere = !same_verdict(oa.decided, ob.decided) || oa.counted != ob.counted;
        }
    }
    bool limit = false, payload = false;
    for (const auto& k : keys) limit |= k[0] == 'L', payload |= k[0] == 'P';
    const char* reason = limit ? "rate limit" : payload ? "payload" : "opaque condition";
    // Every atom false: what a fresh bucket and a frame without payload give, if a frame can (a
    // `payload != X` is false only with X there); the witness decides, else it is "may differ".
    auto none = [](const std::string&) { return false; };
    leaf_opaque_ = reason;
    record(outcome(a_, la, none), outcome(b_, lb, none));
    leaf_opaque_.clear();
    if (!differs_elsewhere) return;
    ++out_.differing_leaves;
    std::pair<std::string, std::set<std::pair<bool, int>>> rec{reason, {}};
    for (int i : la)
        if (!a_.entries[static_cast<std::size_t>(i)].vars.empty()) rec.second.insert({true, a_.entries[static_cast<std::size_t>(i)].rule});
    for (int i : lb)
        if (!b_.entries[static_cast<std::size_t>(i)].vars.empty()) rec.second.insert({false, b_.entries[static_cast<std::size_t>(i)].rule});
    out_.may_differ[rec.first].insert(rec.second.begin(), rec.second.end());
    auto it = std::find(out_.may_records.begin(), out_.may_records.end(), rec);
    if (it == out_.may_records.end()) it = out_.may_records.insert(it, std::move(rec));
    log_.push_back(Event{Event::Kind::May, static_cast<int>(it - out_.may_records.begin()), 0, 0});
}

void Walker::record(const Outcome& oa, const Outcome& ob) {
    if (!same_verdict(oa.decided, ob.decided)) {
        ++out_.differing_leaves;
        PendingChange& p = out_.changes[{oa.decided.rule, ob.decided.rule}];
        if (p.attempts == 0 && !p.witness) {
            p.before = oa.decided;
            p.after = ob.decided;
        }
        p.log2_headers = log2_add(p.log2_headers, volume());
        if (p.opaque.empty()) p.opaque = leaf_opaque_;
        log_.push_back(Event{Event::Kind::Change, oa.decided.rule, ob.decided.rule, volume()});
        // Witnesses are built for the first max_witnesses pairs (the ones reported); a pair whose
        // first try failed keeps trying other cells.
        if (!p.witness && p.attempts < kMaxWitnessAttempts && (p.attempts > 0 || out_.witnessed < lim_.max_witnesses)) {
            ++p.attempts;
            p.witness = make_witness(cell(), a_, b_, oa, ob);
            if (p.witness) ++out_.witnessed;
        }
    }
    if (oa.counted == ob.counted) return;
    std::vector<std::string> names;
    std::set_symmetric_difference(oa.counted.begin(), oa.counted.end(), ob.counted.begin(), ob.counted.end(),
                                  std::back_inserter(names));
    ++out_.differing_leaves;
    std::optional<Witness> w;
    for (const auto& n : names) {
        auto [at, fresh] = out_.counters.try_emplace(n);
        if (fresh) out_.counter_names.push_back(n);
        auto id = std::find(out_.counter_names.begin(), out_.counter_names.end(), n) - out_.counter_names.begin();
        log_.push_back(Event{Event::Kind::Counter, static_cast<int>(id), 0, 0});
        PendingCounter& c = at->second;
        if (c.opaque.empty()) c.opaque = leaf_opaque_;
        if (c.witness || c.attempts >= kMaxWitnessAttempts) continue;
        ++c.attempts;
        c.before = std::binary_search(oa.counted.begin(), oa.counted.end(), n);
        c.after = std::binary_search(ob.counted.begin(), ob.counted.end(), n);
        if (!w) w = make_witness(cell(), a_, b_, oa, ob);
        c.witness = w;
    }
}

}  // namespace weir::diff::detail
