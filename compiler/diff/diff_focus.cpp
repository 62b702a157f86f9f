// The focused walk. Verdicts and counters can differ only where some entry outside the common
// subsequence of rules is live: elsewhere a packet matches the same aligned rules on both sides, in
// the same order, and the defaults agree. So each state's walk covers only the hulls of the
// unaligned entries (add_hulls), one after the other, largest first. A hull's walk keeps only the
// entries that meet it and splits first the axes most of them constrain inside it; the hulls walked
// before stand at the front of both lists, where they end both lists alike, so no region is walked
// (and counted) twice. What the walk finds inside is exactly what the whole walk finds there.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "diff_walk.hpp"

namespace weir::diff::detail {

namespace {

using Dom = std::vector<logic::Interval>;

bool meets(const logic::Intervals& iv, const logic::Interval& d) {
    auto it = std::lower_bound(iv.begin(), iv.end(), d.lo, [](const logic::Interval& x, u128 v) { return x.hi < v; });
    return it != iv.end() && it->lo <= d.hi;
}

bool covers_all(const logic::Intervals& iv, const logic::Interval& d) {
    auto it = std::lower_bound(iv.begin(), iv.end(), d.lo, [](const logic::Interval& x, u128 v) { return x.hi < v; });
    return it != iv.end() && it->lo <= d.lo && it->hi >= d.hi;
}

bool inside(const Dom& x, const Dom& y) {
    for (std::size_t k = 0; k < x.size(); ++k)
        if (x[k].lo < y[k].lo || x[k].hi > y[k].hi) return false;
    return true;
}

bool overlap(const Dom& x, const Dom& y) {
    for (std::size_t k = 0; k < x.size(); ++k)
        if (x[k].hi < y[k].lo || y[k].hi < x[k].lo) return false;
    return true;
}

}  // namespace

// False when there is nothing to focus on (no hulls): the caller walks the whole state.
bool Walker::focus_walk(const std::vector<int>& la, const std::vector<int>& lb) {
    if (a_.entries.size() == a_.rule_entries) return false;
    {
        std::vector<int> ca = la, cb = lb;
        ++nodes_;
        if (settled(0, ca, cb)) return true;
    }
    struct Hull {
        int a, b;  // its index on each side
        Dom dom;
        double vol = 0;
    };
    std::vector<Hull> hulls;
    for (std::size_t h = 0; h < a_.entries.size() - a_.rule_entries; ++h) {
        const std::size_t ia = a_.rule_entries + h;
        if (!(a_.entries[ia].states >> state_ & 1)) continue;
        Hull x{static_cast<int>(ia), static_cast<int>(b_.rule_entries + h), gdom_};
        bool empty = false;
        for (const auto& [g, iv] : gcons_a_[ia]) {
            auto& d = x.dom[static_cast<std::size_t>(g)];
            if (iv->empty()) {
                empty = true;
                break;
            }
            d.lo = std::max(d.lo, iv->front().lo);
            d.hi = std::min(d.hi, iv->back().hi);
            empty |= d.lo > d.hi;
        }
        if (empty) continue;
        for (const auto& d : x.dom) x.vol += std::log2(static_cast<double>(d.hi - d.lo) + 1.0);
        hulls.push_back(std::move(x));
    }
    std::sort(hulls.begin(), hulls.end(), [](const Hull& x, const Hull& y) { return x.vol != y.vol ? x.vol > y.vol : x.a < y.a; });
    std::vector<char> walked(hulls.size(), 0);
    std::vector<int> ba, bb;
    for (std::size_t k = 0; k < hulls.size() && !aborted_; ++k) {
        ba.clear();
        bb.clear();
        bool covered = false;
        for (std::size_t j = 0; j < k && !covered; ++j) {
            if (!walked[j]) continue;  // inside one walked before it
            covered = inside(hulls[k].dom, hulls[j].dom);
            if (overlap(hulls[k].dom, hulls[j].dom)) ba.push_back(hulls[j].a), bb.push_back(hulls[j].b);
        }
        if (covered) continue;
        walked[k] = 1;
        focus_one(hulls[k].dom, ba, bb, la, lb);
    }
    return true;
}

// The walk of one hull `dom`, after the hulls `ba`/`bb` (their indices on each side).
void Walker::focus_one(const std::vector<logic::Interval>& dom, const std::vector<int>& ba, const std::vector<int>& bb,
                       const std::vector<int>& la, const std::vector<int>& lb) {
    std::vector<int> uses(dom.size(), 0);
    auto keep = [&](const std::vector<int>& l, const Cons& gcons, std::vector<int> out) {
        for (int i : l) {
            const auto& c = gcons[static_cast<std::size_t>(i)];
            bool in = true;
            for (const auto& [g, iv] : c) {
                if (!meets(*iv, dom[static_cast<std::size_t>(g)])) {
                    in = false;
                    break;
                }
            }
            if (!in) continue;
            out.push_back(i);
            for (const auto& [g, iv] : c)
                if (!covers_all(*iv, dom[static_cast<std::size_t>(g)])) ++uses[static_cast<std::size_t>(g)];
        }
        return out;
    };
    std::vector<int> fa = keep(la, gcons_a_, ba), fb = keep(lb, gcons_b_, bb);
    std::vector<int> order(dom.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int x, int y) {
        const int ux = uses[static_cast<std::size_t>(x)], uy = uses[static_cast<std::size_t>(y)];
        return ux != uy ? ux > uy : x < y;
    });
    prepare(dom, order, fa, fb);
    rec(0, fa, fb);
}

}  // namespace weir::diff::detail
