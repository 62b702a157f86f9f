// libFuzzer target: set elements as `weir set add|del` takes them (one per argument) and as a
// set file holds them (one per line), for every set type. The first byte picks the way in
// (bit 0: 0 = command-line elements, 1 = a set file in the scratch folder) and the type (bits
// 1-3: ip, ip4, ip6, mac, port, proto); the rest is the elements, one per line.
//
// Elements that convert are turned into table prefixes (range_to_prefixes, as `weir set` and
// the planner do), printed back the way `weir set list` prints a table (format_prefixes), and
// converted again: the values covered must be the same (the canonical text round-trips).
#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "driver.hpp"
#include "fuzz_common.hpp"
#include "plan.hpp"
#include "sema.hpp"
#include "sets.hpp"
#include "values.hpp"

namespace {

using namespace weir;
constexpr const char* kTarget = "fuzz_set";
constexpr const char* kTypes[] = {"ip", "ip4", "ip6", "mac", "port", "proto"};
constexpr std::size_t kMaxElements = 2000;

// The values a set covers, per table: merged [lo, hi] intervals.
using Coverage = std::map<TableKind, std::vector<std::pair<u128, u128>>>;

TableKind kind_of(const Element& el, const std::string& type) {
    if (el.family == Family::V4) return TableKind::V4;
    if (el.family == Family::V6) return TableKind::V6;
    if (type == "port") return TableKind::Port;
    if (type == "proto") return TableKind::Proto;
    return TableKind::Mac;
}

Coverage coverage(const std::vector<Element>& elems, const std::string& type) {
    std::map<TableKind, std::vector<std::pair<u128, u128>>> raw;
    for (const Element& el : elems) raw[kind_of(el, type)].emplace_back(el.lo, el.hi);
    Coverage out;
    for (auto& [k, v] : raw) {
        std::sort(v.begin(), v.end());
        auto& m = out[k];
        for (auto [lo, hi] : v) {
            if (!m.empty() && (lo <= m.back().second || lo - 1 == m.back().second)) m.back().second = std::max(m.back().second, hi);
            else m.emplace_back(lo, hi);
        }
    }
    return out;
}

std::string show(const Coverage& c) {
    std::string s;
    for (const auto& [k, v] : c) {
        s += table_kind_name(k);
        s += ":";
        for (auto [lo, hi] : v) s += " " + std::to_string(static_cast<std::uint64_t>(lo >> 64)) + "." +
                                     std::to_string(static_cast<std::uint64_t>(lo)) + "-" +
                                     std::to_string(static_cast<std::uint64_t>(hi >> 64)) + "." +
                                     std::to_string(static_cast<std::uint64_t>(hi));
        s += "\n";
    }
    return s;
}

// The checked elements of command-line arguments, as sets::edit converts them: the source
// "SET ELEM ELEM ...", each element lexed alone, then a one-set program checked. nullopt when
// any element is refused.
std::optional<std::vector<Element>> from_arguments(const std::string& type, const std::vector<std::string>& args) {
    SourceManager sm;
    std::string text = "s";
    std::vector<std::pair<std::uint32_t, std::uint32_t>> at;
    for (const auto& e : args) {
        text += ' ';
        at.emplace_back(static_cast<std::uint32_t>(text.size()), static_cast<std::uint32_t>(text.size() + e.size()));
        text += e;
    }
    const FileId cmd = sm.add("<command line>", text);
    const SourceRange set_range{cmd, 0, 1};
    ast::SetDecl decl;
    decl.name = {"s", set_range};
    decl.type = {type, set_range};
    decl.range = set_range;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i].find_first_of(" \t") != std::string::npos) return std::nullopt;
        auto item = element_token(args[i], cmd, at[i].first);
        if (!item) return std::nullopt;
        decl.items.push_back(std::move(*item));
    }
    ast::File file;
    file.id = cmd;
    file.decls.emplace_back(std::move(decl));
    Diagnostics diags;
    Program prog = check(sm, {file}, diags);
    (void)render_text(sm, diags);
    (void)render_json(sm, diags);
    if (diags.has_errors()) return std::nullopt;
    if (prog.sets.size() != 1) fuzz::fail(kTarget, "elements checked without errors but no set", text);
    return prog.sets[0].elems;
}

// The checked elements of a set file holding `text`, loaded from the scratch folder.
std::optional<std::vector<Element>> from_file(const std::string& type, const std::string& text) {
    fuzz::write_file(fuzz::scratch_path("set.txt"), text);
    CheckOptions o;
    o.load.use_default_rules = false;
    o.lint = true;
    auto c = compile_source(fuzz::scratch_path("main.weir"), "set s : " + type + " = file \"set.txt\"\n", o);
    (void)render_text(c->sources, c->diags);
    (void)render_json(c->sources, c->diags);
    if (!c->ok()) return std::nullopt;
    if (c->program.sets.size() != 1) fuzz::fail(kTarget, "a set file checked without errors but no set", text);
    return c->program.sets[0].elems;
}

// The set as `weir set list` would print it after the elements were written to their tables.
std::vector<std::string> listed(const std::vector<Element>& elems, const std::string& type) {
    std::map<TableKind, std::vector<TablePrefix>> tables;
    for (const Element& el : elems) {
        TableKind k = kind_of(el, type);
        for (const TablePrefix& p : range_to_prefixes(el.lo, el.hi, table_value_bits(k))) tables[k].push_back(p);
    }
    std::vector<std::string> out;
    for (auto& [k, prefixes] : tables) {
        std::sort(prefixes.begin(), prefixes.end(),
                  [](const TablePrefix& a, const TablePrefix& b) { return a.value != b.value ? a.value < b.value : a.len < b.len; });
        prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
        for (auto& s : sets::format_prefixes(k, prefixes)) out.push_back(std::move(s));
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool file_mode = data[0] & 1;
    const std::string type = kTypes[(data[0] >> 1) % 6];
    std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

    std::optional<std::vector<Element>> elems;
    if (file_mode) {
        elems = from_file(type, text);
    } else {
        std::vector<std::string> args;
        std::size_t pos = 0;
        while (pos <= text.size() && args.size() < kMaxElements) {
            std::size_t nl = text.find('\n', pos);
            if (nl == std::string::npos) nl = text.size();
            args.push_back(text.substr(pos, nl - pos));
            pos = nl + 1;
        }
        elems = from_arguments(type, args);
    }
    if (!elems || elems->empty()) return 0;

    std::vector<std::string> again_text = listed(*elems, type);
    std::optional<std::vector<Element>> again;
    if (file_mode) {
        std::string joined;
        for (const auto& s : again_text) joined += s + "\n";
        again = from_file(type, joined);
    } else {
        again = from_arguments(type, again_text);
    }
    std::string shown;
    for (const auto& s : again_text) shown += s + "\n";
    if (!again) fuzz::fail(kTarget, "the listed elements do not convert back", text, shown);
    if (coverage(*elems, type) != coverage(*again, type))
        fuzz::fail(kTarget, "the listed elements cover other values", show(coverage(*elems, type)),
                   show(coverage(*again, type)) + shown);
    return 0;
}
