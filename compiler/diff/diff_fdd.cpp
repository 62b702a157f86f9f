// Diff step 2: both policies walked as one decision diagram. Per header state, each canonical field
// the live entries constrain is an axis; a node splits one axis into the elementary intervals of
// its entries' value sets, so each leaf is a region where both policies' first matches are fixed.
// Pruned by (a) cutting each list after its first terminal entry full on the remaining axes,
// (c) skipping nodes where only aligned rules are live, and a memo of subproblems found equal.
// With DiffLimits::focus a state is walked box by box around the edited rules (diff_focus.cpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_set>

#include "diff_internal.hpp"
#include "diff_walk.hpp"

namespace weir::diff::detail {

namespace {

// Some interval of `iv` holds all of `d`.
bool covers(const logic::Intervals& iv, const logic::Interval& d) {
    auto it = std::lower_bound(iv.begin(), iv.end(), d.lo, [](const logic::Interval& x, u128 v) { return x.hi < v; });
    return it != iv.end() && it->lo <= d.lo && it->hi >= d.hi;
}

constexpr int kNever = 1 << 30;

double width_log2(const logic::Interval& i) {
    // Widths past 2^53 lose precision in a double; the report rounds anyway.
    return std::log2(static_cast<double>(i.hi - i.lo) + 1.0);
}

}  // namespace

Walker::Walker(const Side& a, const Side& b, const DiffLimits& lim, Collector& out)
    : a_(a), b_(b), lim_(lim), out_(out), start_(std::chrono::steady_clock::now()) {
    focus_ = a.policy->default_verdict == b.policy->default_verdict;
    mask_a_.assign(a.entries.size(), 0);
    mask_b_.assign(b.entries.size(), 0);
    cons_a_.resize(a.entries.size());
    cons_b_.resize(b.entries.size());
    agree_a_.assign(a.entries.size(), kNever);
    stamp_a_.assign(a.entries.size(), 0);
    stamp_b_.assign(b.entries.size(), 0);
}

// Axes of state `s`, the rule entries live there and, per entry (hulls too), the axes where it is
// not full on K_s.
bool Walker::setup_state(int s, std::vector<int>& la, std::vector<int>& lb) {
    state_ = s;
    gaxes_.clear();
    gdom_.clear();
    std::map<FieldId, int> uses;
    // K_s per field for this state, computed once (every domain is one interval).
    std::map<FieldId, logic::Interval> doms;
    auto domain = [&](FieldId f) -> const logic::Interval& {
        auto it = doms.find(f);
        if (it == doms.end()) it = doms.emplace(f, state_domain(f, s).front()).first;
        return it->second;
    };
    auto scan = [&](const Side& side, std::vector<int>& live) {
        for (std::size_t i = 0; i < side.rule_entries; ++i) {
            const Entry& e = side.entries[i];
            if (!(e.states >> s & 1)) continue;
            live.push_back(static_cast<int>(i));
            for (const auto& [f, set] : e.box.fields) {
                int v = logic::state_variant(f, s);
                if (v < 0) continue;
                if (!covers(set.v[static_cast<std::size_t>(v)], domain(f))) ++uses[f];
            }
        }
    };
    scan(a_, la);
    scan(b_, lb);
    std::vector<std::pair<int, FieldId>> order;
    for (auto [f, n] : uses) order.push_back({-n, f});
    std::sort(order.begin(), order.end());
    if (order.size() > 63) return false;
    for (auto [n, f] : order) {
        gaxes_.push_back(f);
        gdom_.push_back(state_domain(f, s).front());
    }
    auto fill = [&](const Side& side, Cons& cons, std::size_t i) {
        const Entry& e = side.entries[i];
        auto& c = cons[i];
        c.clear();
        if (!(e.states >> s & 1)) return;
        for (const auto& [f, set] : e.box.fields) {
            auto it = std::find(gaxes_.begin(), gaxes_.end(), f);
            if (it == gaxes_.end()) continue;
            auto k = static_cast<std::size_t>(it - gaxes_.begin());
            const auto& iv = set.v[static_cast<std::size_t>(logic::state_variant(f, s))];
            if (covers(iv, gdom_[k])) continue;
            c.push_back({static_cast<int>(k), &iv});
        }
        std::sort(c.begin(), c.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
    };
    gcons_a_.resize(a_.entries.size());
    gcons_b_.resize(b_.entries.size());
    for (int i : la) fill(a_, gcons_a_, static_cast<std::size_t>(i));
    for (int i : lb) fill(b_, gcons_b_, static_cast<std::size_t>(i));
    for (std::size_t i = a_.rule_entries; i < a_.entries.size(); ++i) fill(a_, gcons_a_, i);
    for (std::size_t i = b_.rule_entries; i < b_.entries.size(); ++i) fill(b_, gcons_b_, i);
    const std::size_t n = gaxes_.size();
    events_.assign(n, {});
    lists_a_.assign(n + 1, {});
    lists_b_.assign(n + 1, {});
    act_a_.assign(n, std::vector<char>(a_.entries.size(), 0));
    act_b_.assign(n, std::vector<char>(b_.entries.size(), 0));
    pair_a_.assign(n, std::vector<char>(a_.entries.size(), 0));
    pair_b_.assign(n, std::vector<char>(b_.entries.size(), 0));
    return true;
}

// One walk's box: axis k of the walk is the state's axis order[k], over dom[order[k]]. Masks and
// constraints of the lists' entries are taken relative to that box.
void Walker::prepare(const std::vector<logic::Interval>& dom, const std::vector<int>& order, const std::vector<int>& la,
                     const std::vector<int>& lb) {
    const std::size_t n = order.size();
    axes_.resize(n);
    dom_.resize(n);
    std::vector<int> pos(n);
    for (std::size_t k = 0; k < n; ++k) {
        const auto g = static_cast<std::size_t>(order[k]);
        axes_[k] = gaxes_[g];
        dom_[k] = dom[g];
        pos[g] = static_cast<int>(k);
    }
    auto fill = [&](const std::vector<int>& live, const Cons& gcons, std::vector<std::uint64_t>& mask, Cons& cons) {
        for (int i : live) {
            auto ui = static_cast<std::size_t>(i);
            auto& c = cons[ui];
            c.clear();
            std::uint64_t m = 0;
            for (const auto& [g, iv] : gcons[ui]) {
                const int k = pos[static_cast<std::size_t>(g)];
                if (covers(*iv, dom_[static_cast<std::size_t>(k)])) continue;
                m |= std::uint64_t{1} << k;
                c.push_back({k, iv});
            }
            std::sort(c.begin(), c.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
            mask[ui] = m;
        }
    };
    fill(la, gcons_a_, mask_a_, cons_a_);
    fill(lb, gcons_b_, mask_b_, cons_b_);
    path_ = dom_;
    memo_.clear();
    twin_axes(la);
}

// agree_a_: 1 + the last axis where an entry of `la` and its twin differ (0: on none).
void Walker::twin_axes(const std::vector<int>& la) {
    std::vector<const logic::Intervals*> px(axes_.size()), py(axes_.size());
    for (int i : la) {
        auto ui = static_cast<std::size_t>(i);
        const Entry& e = a_.entries[ui];
        agree_a_[ui] = kNever;
        if (e.twin < 0 || !(b_.entries[static_cast<std::size_t>(e.twin)].states >> state_ & 1)) continue;
        std::fill(px.begin(), px.end(), nullptr);
        std::fill(py.begin(), py.end(), nullptr);
        for (const auto& [k, iv] : cons_a_[ui]) px[static_cast<std::size_t>(k)] = iv;
        for (const auto& [k, iv] : cons_b_[static_cast<std::size_t>(e.twin)]) py[static_cast<std::size_t>(k)] = iv;
        int agree = 0;
        for (std::size_t k = 0; k < axes_.size(); ++k) {
            const bool same = px[k] == py[k] || (px[k] && py[k] && *px[k] == *py[k]);
            if (!same) agree = static_cast<int>(k) + 1;
        }
        agree_a_[ui] = agree;
    }
}

// Marks the lists' entries with a fresh stamp_.
static void stamp_lists(std::uint32_t& stamp, std::vector<std::uint32_t>& sa, std::vector<std::uint32_t>& sb,
                        const std::vector<int>& la, const std::vector<int>& lb) {
    if (++stamp == 0) {  // wrapped: old marks could match
        std::fill(sa.begin(), sa.end(), 0);
        std::fill(sb.begin(), sb.end(), 0);
        stamp = 1;
    }
    for (int i : la) sa[static_cast<std::size_t>(i)] = stamp;
    for (int i : lb) sb[static_cast<std::size_t>(i)] = stamp;
}

// (c): some unaligned entry is live whose twin is not live beside it with the same box on the
// axes >= d. Else every packet here matches only entries that decide alike on both sides.
bool Walker::edited(const std::vector<int>& la, const std::vector<int>& lb, int d) {
    stamp_lists(stamp_, stamp_a_, stamp_b_, la, lb);
    for (int i : la) {
        const Entry& e = a_.entries[static_cast<std::size_t>(i)];
        if (e.aligned) continue;
        if (e.twin < 0 || agree_a_[static_cast<std::size_t>(i)] > d || stamp_b_[static_cast<std::size_t>(e.twin)] != stamp_)
            return true;
    }
    for (int i : lb) {
        const Entry& e = b_.entries[static_cast<std::size_t>(i)];
        if (e.aligned) continue;
        if (e.twin < 0 || agree_a_[static_cast<std::size_t>(e.twin)] > d || stamp_a_[static_cast<std::size_t>(e.twin)] != stamp_)
            return true;
    }
    return false;
}

// pair_a_/pair_b_[axis]: twins both in the lists that agree on the axes after `axis`.
void Walker::mark_pairs(int axis, const std::vector<int>& la, const std::vector<int>& lb) {
    auto& pa = pair_a_[static_cast<std::size_t>(axis)];
    auto& pb = pair_b_[static_cast<std::size_t>(axis)];
    stamp_lists(stamp_, stamp_a_, stamp_b_, la, lb);
    for (int i : lb) pb[static_cast<std::size_t>(i)] = 0;
    for (int i : la) {
        auto ui = static_cast<std::size_t>(i);
        const Entry& e = a_.entries[ui];
        pa[ui] = 0;
        if (e.aligned || e.twin < 0 || agree_a_[ui] > axis + 1) continue;
        if (stamp_b_[static_cast<std::size_t>(e.twin)] != stamp_) continue;
        pa[ui] = 1;
        pb[static_cast<std::size_t>(e.twin)] = 1;
    }
}

void Walker::run() {
    for (int s = 0; s < logic::kStateCount && !aborted_; ++s) {
        if (!state_possible(s)) continue;
        std::vector<int> la, lb;
        if (!setup_state(s, la, lb)) {
            out_.too_many_axes = true;
            continue;
        }
        std::vector<int> order(gaxes_.size());
        for (std::size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int>(k);
        prepare(gdom_, order, la, lb);
        if (lim_.focus && focus_ && focus_walk(la, lb)) continue;
        rec(0, la, lb);
    }
}

// (a): the list ends at its first terminal, var-free entry that is full on axes >= d.
void Walker::cut(std::vector<int>& l, const Side& side, const std::vector<std::uint64_t>& mask, int d) const {
    for (std::size_t k = 0; k < l.size(); ++k) {
        const Entry& e = side.entries[static_cast<std::size_t>(l[k])];
        if (e.terminal && e.vars.empty() && (mask[static_cast<std::size_t>(l[k])] >> d) == 0) {
            l.resize(k + 1);
            return;
        }
    }
}

// The verdict (and redirect target) every packet below gets from list `l`, if it is one: only
// terminal entries without opaque atoms, all of that verdict, and the last full on the remaining
// axes (else the default must agree).
std::optional<std::pair<Verdict, std::string>> Walker::uniform(const Side& side, const std::vector<int>& l,
                                                               const std::vector<std::uint64_t>& mask, int d) const {
    std::pair<Verdict, std::string> v{side.policy->default_verdict, {}};
    bool first = true;
    for (int i : l) {
        const Entry& e = side.entries[static_cast<std::size_t>(i)];
        if (e.hull) continue;  // a box walked before: what it holds does not matter here
        if (!e.terminal || !e.vars.empty()) return std::nullopt;
        if (!first && (e.verdict != v.first || *e.ifname != v.second)) return std::nullopt;
        if (first) v = {e.verdict, *e.ifname};
        first = false;
    }
    const bool ends_full = !l.empty() && (mask[static_cast<std::size_t>(l.back())] >> d) == 0;
    if (!l.empty() && !ends_full && (v.first != side.policy->default_verdict || !v.second.empty())) return std::nullopt;
    return v;
}

// Entry by entry: the same action (counting rules by name), the same opaque atoms and the same
// value sets on every axis >= d.
bool Walker::same_lists(const std::vector<int>& la, const std::vector<int>& lb, int d) const {
    if (la.size() != lb.size()) return false;
    for (std::size_t k = 0; k < la.size(); ++k) {
        auto ia = static_cast<std::size_t>(la[k]), ib = static_cast<std::size_t>(lb[k]);
        const Entry& x = a_.entries[ia];
        const Entry& y = b_.entries[ib];
        if (x.terminal != y.terminal || x.vars != y.vars || (mask_a_[ia] >> d) != (mask_b_[ib] >> d)) return false;
        if (x.terminal && (x.verdict != y.verdict || *x.ifname != *y.ifname)) return false;
        if (!x.terminal && a_.policy->rules[static_cast<std::size_t>(x.rule)].name !=
                               b_.policy->rules[static_cast<std::size_t>(y.rule)].name)
            return false;
        const auto& cx = cons_a_[ia];
        const auto& cy = cons_b_[ib];
        std::size_t p = 0, q = 0;
        while (true) {
            while (p < cx.size() && cx[p].first < d) ++p;
            while (q < cy.size() && cy[q].first < d) ++q;
            if (p == cx.size() || q == cy.size()) {
                if (p != cx.size() || q != cy.size()) return false;
                break;
            }
            if (cx[p].first != cy[q].first || *cx[p].second != *cy[q].second) return false;
            ++p, ++q;
        }
    }
    return true;
}

// Cuts the lists (a); true when nothing below can differ.
bool Walker::settled(int d, std::vector<int>& la, std::vector<int>& lb) {
    cut(la, a_, mask_a_, d);
    cut(lb, b_, mask_b_, d);
    // (b): the same decision list on the remaining axes (e.g. an edited rule where its old and new
    // values agree); (b'): both give one and the same verdict everywhere below.
    if (focus_ && same_lists(la, lb, d)) return true;  // focus_: the defaults agree
    if (auto va = uniform(a_, la, mask_a_, d); va && va == uniform(b_, lb, mask_b_, d)) return true;
    return focus_ && !edited(la, lb, d);
}

void Walker::rec(int d, std::vector<int>& la, std::vector<int>& lb) {
    if (aborted_) return;
    if ((++nodes_ & 1023) == 0 || nodes_ >= lim_.max_nodes) {
        if (nodes_ >= lim_.max_nodes || std::chrono::steady_clock::now() - start_ > lim_.budget) {
            aborted_ = true;
            return;
        }
    }
    if (settled(d, la, lb)) return;
    std::uint64_t any = 0, sig_a = 0, sig_b = 0;
    for (int i : la) any |= mask_a_[static_cast<std::size_t>(i)], sig_a ^= a_.entries[static_cast<std::size_t>(i)].zobrist;
    for (int i : lb) any |= mask_b_[static_cast<std::size_t>(i)], sig_b ^= b_.entries[static_cast<std::size_t>(i)].zobrist;
    any >>= d;
    if (any == 0) {
        leaf(la, lb);
        return;
    }
    const int axis = d + std::countr_zero(any);
    MemoKey key{axis, sig_a, sig_b ^ (std::uint64_t{la.size()} << 32 | lb.size())};
    const double base = base_volume(axis);
    if (auto it = memo_.find(key); it != memo_.end() && replayable(it->second)) {
        replay(it->second, base);
        return;
    }
    const std::size_t start = log_.size();
    split(axis, la, lb);
    if (aborted_) return;
    // The subtree's findings, aggregated, stand for it in the log from now on.
    Summary sum = summarize(start, base);
    log_.resize(start);
    for (Event e : sum) {
        e.vol += base;
        log_.push_back(e);
    }
    memo_[key] = std::move(sum);
}

// The elementary intervals of the entries' value sets on `axis`, each a child. The flags of which
// entries are in the current interval are per axis (a child splits a later axis), and the count of
// unaligned ones among them lets (c) skip a child before its lists are built.
void Walker::split(int axis, const std::vector<int>& la, const std::vector<int>& lb) {
    const logic::Interval dom = dom_[static_cast<std::size_t>(axis)];
    auto& act_a = act_a_[static_cast<std::size_t>(axis)];
    auto& act_b = act_b_[static_cast<std::size_t>(axis)];
    std::vector<SweepEvent>& ev = events_[static_cast<std::size_t>(axis)];
    ev.clear();
    long edited = 0;  // unaligned entries in the current interval, a twin pair once (contrib)
    auto collect = [&](int side, const std::vector<int>& l, const std::vector<std::uint64_t>& mask,
                       const Cons& cons, std::vector<char>& act) {
        for (int i : l) {
            auto ui = static_cast<std::size_t>(i);
            if (!(mask[ui] >> axis & 1)) {
                act[ui] = 1;
                continue;
            }
            act[ui] = 0;
            for (const auto& [k, iv] : cons[ui]) {
                if (k != axis) continue;
                auto it = std::lower_bound(iv->begin(), iv->end(), dom.lo,
                                           [](const logic::Interval& x, u128 v) { return x.hi < v; });
                for (; it != iv->end() && it->lo <= dom.hi; ++it) {
                    u128 lo = std::max(it->lo, dom.lo), hi = std::min(it->hi, dom.hi);
                    ev.push_back({lo, side, i, true});
                    if (hi < dom.hi) ev.push_back({hi + 1, side, i, false});
                }
            }
        }
    };
    collect(0, la, mask_a_, cons_a_, act_a);
    collect(1, lb, mask_b_, cons_b_, act_b);
    mark_pairs(axis, la, lb);
    const auto& pa = pair_a_[static_cast<std::size_t>(axis)];
    const auto& pb = pair_b_[static_cast<std::size_t>(axis)];
    // An unaligned entry counts where it is live, a twin pair where exactly one of it is.
    auto contrib = [&](int side, std::size_t u) -> long {
        const Entry& e = (side == 0 ? a_ : b_).entries[u];
        if (e.aligned) return 0;
        if (side == 0 ? pa[u] : pb[u]) {
            const auto t = static_cast<std::size_t>(e.twin);
            return (side == 0 ? act_a[u] != act_b[t] : act_a[t] != act_b[u]) ? 1 : 0;
        }
        return (side == 0 ? act_a[u] : act_b[u]) ? 1 : 0;
    };
    for (int i : la) edited += contrib(0, static_cast<std::size_t>(i));
    for (int i : lb)
        if (!pb[static_cast<std::size_t>(i)]) edited += contrib(1, static_cast<std::size_t>(i));
    std::sort(ev.begin(), ev.end(), [](const SweepEvent& x, const SweepEvent& y) { return x.at < y.at; });
    u128 lo = dom.lo;
    std::size_t k = 0;
    const logic::Interval saved = path_[static_cast<std::size_t>(axis)];
    while (k < ev.size() || lo <= dom.hi) {
        while (k < ev.size() && ev[k].at == lo) {
            const SweepEvent& e = ev[k++];
            auto ue = static_cast<std::size_t>(e.entry);
            auto& act = e.side == 0 ? act_a : act_b;
            const long before = contrib(e.side, ue);
            act[ue] = e.enter ? 1 : 0;
            edited += contrib(e.side, ue) - before;
        }
        u128 hi = k < ev.size() ? ev[k].at - 1 : dom.hi;
        if (!focus_ || edited > 0) {
            // Built only up to the first entry that decides every packet of the child (cut (a)).
            auto build = [&](const Side& sd, const std::vector<int>& l, const std::vector<char>& act,
                             const std::vector<std::uint64_t>& mask, std::vector<int>& out) {
                out.clear();
                for (int i : l) {
                    auto ui = static_cast<std::size_t>(i);
                    if (!act[ui]) continue;
                    out.push_back(i);
                    const Entry& e = sd.entries[ui];
                    if (e.terminal && e.vars.empty() && (mask[ui] >> (axis + 1)) == 0) break;
                }
            };
            auto& ca = lists_a_[static_cast<std::size_t>(axis) + 1];
            auto& cb = lists_b_[static_cast<std::size_t>(axis) + 1];
            build(a_, la, act_a, mask_a_, ca);
            build(b_, lb, act_b, mask_b_, cb);
            path_[static_cast<std::size_t>(axis)] = {lo, hi};
            rec(axis + 1, ca, cb);
        }
        if (aborted_ || hi == dom.hi) break;
        lo = hi + 1;
    }
    path_[static_cast<std::size_t>(axis)] = saved;
}

double Walker::base_volume(int axis) const {
    double v = 0;
    for (int k = 0; k < axis; ++k) v += width_log2(path_[static_cast<std::size_t>(k)]);
    return v;
}

// Replaying a summary adds no witness: only when every pair in it has one (or gave up) already.
bool Walker::replayable(const Summary& s) const {
    for (const Event& e : s) {
        if (e.kind == Event::Kind::Change) {
            const auto& p = out_.changes.at({e.a, e.b});
            const bool settled = p.witness || p.attempts >= kMaxWitnessAttempts ||
                                 (p.attempts == 0 && out_.witnessed >= lim_.max_witnesses);
            if (!settled) return false;
        } else if (e.kind == Event::Kind::Counter) {
            const auto& c = out_.counters.at(out_.counter_names[static_cast<std::size_t>(e.a)]);
            if (!c.witness && c.attempts < kMaxWitnessAttempts) return false;
        }
    }
    return true;
}

void Walker::replay(const Summary& s, double base) {
    for (Event e : s) {
        e.vol += base;
        if (e.kind == Event::Kind::Change) {
            auto& p = out_.changes.at({e.a, e.b});
            p.log2_headers = log2_add(p.log2_headers, e.vol);
        }
        log_.push_back(e);
    }
}

Summary Walker::summarize(std::size_t start, double base) const {
    std::map<std::tuple<int, int, int>, double> agg;
    for (std::size_t i = start; i < log_.size(); ++i) {
        const Event& e = log_[i];
        auto [it, fresh] = agg.try_emplace({static_cast<int>(e.kind), e.a, e.b}, e.vol - base);
        if (!fresh) it->second = log2_add(it->second, e.vol - base);
    }
    Summary out;
    for (const auto& [k, vol] : agg)
        out.push_back(Event{static_cast<Event::Kind>(std::get<0>(k)), std::get<1>(k), std::get<2>(k), vol});
    return out;
}

double Walker::volume() const {
    double v = 0;
    for (const auto& i : path_) v += width_log2(i);
    return v;
}

Cell Walker::cell() const {
    Cell c;
    c.state = state_;
    for (std::size_t k = 0; k < axes_.size(); ++k) c.fields.push_back({axes_[k], path_[k]});
    return c;
}

}  // namespace weir::diff::detail
