// include/weir/diff.hpp over the diff stage (compiler/diff): two checked policies compared, and
// the policy running on an interface rebuilt from its source file (hash checked) with its sets'
// live contents.
#include "weir/diff.hpp"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api_impl.hpp"
#include "diff.hpp"
#include "values.hpp"

namespace weir::api {

namespace {

using nlohmann::json;

// One side as the diff stage takes it: a program (possibly with live set contents) and the
// sources its ranges point into.
struct Side {
    std::shared_ptr<const Compilation> c;
    Program program;  // a copy only when sets were replaced
    bool own = false;
    int policy = -1;
    std::string file, name;
    const Program& prog() const { return own ? program : c->program; }
};

std::optional<Error> select_side(const Policy& p, const std::string& want, const char* chooser, Side& s) {
    if (!p.ok()) return Error{ErrorKind::Policy, "compile", p.name() + " has errors"};
    auto n = p.select(want, chooser);
    if (!n) return n.error;
    s.c = PolicyAccess::of(p).compilation;
    s.file = p.name();
    s.name = *n;
    s.policy = s.c->program.find_policy(*n);
    return std::nullopt;
}

DiffReport failed(Error e) {
    DiffReport r;
    r.error = std::move(e);
    return r;
}

std::string verdict_text(const diff::Decided& d) {
    std::string v = verdict_name(d.verdict);
    if (d.verdict == Verdict::Redirect) v += " " + quote_string(d.ifname);
    return v;
}

DiffSide side_of(const diff::Decided& d, const Side& s) {
    DiffSide out;
    out.rule = d.rule < 0 ? "default" : d.rule_name;
    out.verdict = verdict_text(d);
    out.where = location(s.c->sources, d.rule < 0 ? s.prog().policies[s.policy].name_range : d.where);
    return out;
}

DiffReport convert_result(const diff::DiffResult& r, const Side& o, const Side& n) {
    DiffReport out;
    out.old_name = o.file + " policy " + o.name;
    out.new_name = n.file + " policy " + n.name;
    out.complete = r.complete;
    out.equivalent = r.equivalent;
    out.time = r.elapsed;
    out.changes_total = r.changes_total;
    out.changed_log2_headers = r.changed_log2_headers;
    for (const auto& c : r.changes)
        out.changes.push_back({side_of(c.before, o), side_of(c.after, n), c.witness.text, c.log2_headers});
    for (const auto& c : r.counters)
        out.counters.push_back({c.rule, c.counted_before, c.counted_after, c.witness.text});
    for (const auto& m : r.may_differ) {
        MayDiffer md;
        md.reason = m.reason;
        for (const auto& ref : m.rules) {
            const Side& s = ref.old_side ? o : n;
            DiffSide d{ref.rule < 0 ? "default" : ref.name, "", location(s.c->sources, ref.where)};
            (ref.old_side ? md.before : md.after).push_back(std::move(d));
        }
        out.may_differ.push_back(std::move(md));
    }
    if (!r.complete)
        out.error = {ErrorKind::Environment, "budget",
                     "the diff did not finish within its budget (" + std::to_string(r.nodes) +
                         " nodes): it is incomplete; raise --budget"};
    return out;
}

DiffReport run(const Side& o, const Side& n, const DiffOptions& opts) {
    diff::DiffLimits lim;
    lim.budget = opts.budget;
    lim.max_witnesses = opts.max_witnesses;
    diff::DiffResult r = diff::diff({&o.prog(), o.policy, o.file}, {&n.prog(), n.policy, n.file}, lim);
    if (!r.error.empty()) {
        DiffReport out;
        out.error = {ErrorKind::Policy, "diff", r.error};
        return out;
    }
    return convert_result(r, o, n);
}

// A set's live contents (canonical element text, as `weir set list` gives it) as elements.
std::optional<std::vector<Element>> live_elements(const SetDef& def, const std::vector<std::string>& text,
                                                  std::string& err) {
    std::vector<Element> out;
    std::string rest;
    const bool addresses = def.type == SetType::Ip || def.type == SetType::Ip4 || def.type == SetType::Ip6;
    for (const auto& t : text) {
        if (addresses)
            if (auto e = parse_ip_plain(t)) {
                out.push_back(*e);
                continue;
            }
        rest += (rest.empty() ? "" : ", ") + t;
    }
    if (!rest.empty()) {
        static const char* const types[] = {"ip", "ip4", "ip6", "mac", "port", "proto"};
        std::string src = "set live : " + std::string(types[static_cast<int>(def.type)]) + " = { " + rest + " }\n";
        auto c = compile_source("<live set " + def.name + ">", src, CheckOptions{});
        if (!c->ok() || c->program.sets.size() != 1) {
            err = "the live contents of set '" + def.name + "' do not convert back to elements";
            return std::nullopt;
        }
        out.insert(out.end(), c->program.sets[0].elems.begin(), c->program.sets[0].elems.end());
    }
    return out;
}

}  // namespace

DiffReport diff(const Policy& before, const Policy& after, const DiffOptions& opts) {
    Side o, n;
    if (auto e = select_side(before, opts.old_policy, "--old-policy NAME", o)) return failed(*e);
    if (auto e = select_side(after, opts.new_policy, "--new-policy NAME", n)) return failed(*e);
    return run(o, n, opts);
}

DiffReport diff_running(const std::string& ifname, const Policy& after, const DiffOptions& opts,
                        const CompileOptions& copts) {
    auto env = [](std::string step, std::string msg) { return failed(Error{ErrorKind::Environment, std::move(step), std::move(msg)}); };
    auto st = Attachment(ifname).status();
    if (!st) return failed(st.error);
    if (st->source.empty() || st->source.front() != '/')
        return env("source", "the policy on '" + ifname + "' was not loaded from a file ('" + st->source +
                                 "'): give OLD as a file");
    Policy running = Policy::from_file(st->source, copts);
    if (running.io_error())
        return env("source", "cannot read " + st->source + ", the source of the policy on '" + ifname + "'");
    if (running.source_hash() != st->source_hash)
        return env("source", st->source + " changed since it was loaded on '" + ifname + "' (loaded " +
                                 st->source_hash.substr(0, 12) + ", now " + running.source_hash().substr(0, 12) +
                                 "): give OLD as a file");
    Side o, n;
    if (auto e = select_side(running, st->policy, "--old-policy NAME", o)) return failed(*e);
    if (auto e = select_side(after, opts.new_policy, "--new-policy NAME", n)) return failed(*e);
    o.file = st->source + " on " + ifname;

    // Sets edited live: the running side holds their live contents; NEW keeps a set whose
    // declaration is unchanged across a swap, live contents included (docs/operations.md).
    std::map<std::string, std::vector<Element>> live;
    for (const auto& t : st->tables) {
        if (!t.named || t.live_edits == 0 || live.contains(t.name)) continue;
        int idx = o.c->program.find_set(t.name);
        if (idx < 0) continue;
        SetEdit l = Attachment(ifname).set_list(t.name);
        if (!l.ok()) return failed(l.error);
        std::string err;
        auto elems = live_elements(o.c->program.sets[idx], l.elements, err);
        if (!elems) return env("sets", err);
        live[t.name] = std::move(*elems);
    }
    auto apply = [&](Side& s, bool only_same_decl) {
        if (live.empty()) return;
        s.program = s.c->program;
        s.own = true;
        for (auto& def : s.program.sets) {
            auto it = live.find(def.name);
            if (it == live.end()) continue;
            int oi = o.c->program.find_set(def.name);
            if (only_same_decl && (def.type != o.c->program.sets[oi].type || def.elems != o.c->program.sets[oi].elems))
                continue;
            def.elems = it->second;
        }
    };
    apply(n, true);
    apply(o, false);
    return run(o, n, opts);
}

std::string DiffReport::text(bool color) const {
    auto bold = [&](const std::string& s) { return color ? "\x1b[1m" + s + "\x1b[0m" : s; };
    auto where = [](const Location& l) {
        return l.valid() ? " (" + l.file + ":" + std::to_string(l.line) + ":" + std::to_string(l.column) + ")"
                         : std::string();
    };
    auto side = [&](const DiffSide& s) {
        return s.verdict + " by " + s.rule + where(s.where);
    };
    std::ostringstream o;
    o << "old: " << old_name << "\nnew: " << new_name << "\n";
    if (!changes_total)
        o << (may_differ.empty() ? "no verdict changes: every packet gets the same verdict\n"
                                 : "no verdict change found, but some packets may be decided differently\n");
    else
        o << bold(std::to_string(changes_total) + (changes_total == 1 ? " verdict change" : " verdict changes")) << ", ≈2^"
          << std::lround(changed_log2_headers) << " headers\n";
    for (const auto& c : changes) {
        o << "\n" << side(c.before) << "\n  -> " << side(c.after) << ", ≈2^" << std::lround(c.log2_headers)
          << " headers\n    " << c.packet << "\n    expect " << c.after.verdict << " by " << c.after.rule
          << "    # old: " << c.before.verdict << " by " << c.before.rule << "\n";
    }
    if (changes.size() < changes_total)
        o << "\n... and " << changes_total - changes.size() << " more (--all lists every one)\n";
    if (!counters.empty()) o << "\ncounters that count differently:\n";
    for (const auto& c : counters)
        o << "  " << c.rule << ": counts this packet " << (c.counted_before ? "in old only" : "in new only") << "\n    "
          << c.packet << "\n";
    if (!may_differ.empty()) o << "\nmay differ (not decided exactly):\n";
    for (const auto& m : may_differ) {
        o << "  " << m.reason << ":";
        for (const auto& s : m.before) o << " old " << s.rule << where(s.where) << ";";
        for (const auto& s : m.after) o << " new " << s.rule << where(s.where) << ";";
        o << "\n";
    }
    return o.str();
}

std::string DiffReport::json(int indent) const {
    auto loc = [](const Location& l) {
        return l.valid() ? nlohmann::json(l.file + ":" + std::to_string(l.line) + ":" + std::to_string(l.column))
                         : nlohmann::json(nullptr);
    };
    auto side = [&](const DiffSide& s) { return nlohmann::json{{"rule", s.rule}, {"verdict", s.verdict}, {"where", loc(s.where)}}; };
    nlohmann::json j = {{"old", old_name}, {"new", new_name}, {"complete", complete}, {"equivalent", equivalent},
                        {"changes_total", changes_total}, {"changed_log2_headers", changed_log2_headers},
                        {"time_ms", std::chrono::duration<double, std::milli>(time).count()}};
    if (error) j["error"] = {{"kind", error_kind_name(error.kind)}, {"step", error.step}, {"message", error.message}};
    auto& ch = j["changes"] = nlohmann::json::array();
    for (const auto& c : changes)
        ch.push_back({{"old", side(c.before)}, {"new", side(c.after)}, {"packet", c.packet}, {"log2_headers", c.log2_headers}});
    auto& co = j["counters"] = nlohmann::json::array();
    for (const auto& c : counters)
        co.push_back({{"rule", c.rule}, {"old", c.counted_before}, {"new", c.counted_after}, {"packet", c.packet}});
    auto& md = j["may_differ"] = nlohmann::json::array();
    for (const auto& m : may_differ) {
        nlohmann::json rules = nlohmann::json::array();
        for (const auto& s : m.before) rules.push_back({{"side", "old"}, {"rule", s.rule}, {"where", loc(s.where)}});
        for (const auto& s : m.after) rules.push_back({{"side", "new"}, {"rule", s.rule}, {"where", loc(s.where)}});
        md.push_back({{"reason", m.reason}, {"rules", rules}});
    }
    return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace weir::api
