// Checker, named sets: a set's type gives its domain; its elements come from the source or
// from a set file, which may be huge (a blocklist) or not a set file at all (a secret), so
// reading it is fast on plain addresses and its errors are summed up past a few.
#include <cctype>

#include "sema_check.hpp"
#include "values.hpp"

namespace weir::sema_detail {

const char* set_type_holds(SetType t) {
    switch (t) {
        case SetType::Ip: return "IPv4 and IPv6 addresses";
        case SetType::Ip4: return "IPv4 addresses";
        case SetType::Ip6: return "IPv6 addresses";
        case SetType::Mac: return "MAC addresses";
        case SetType::Port: return "ports";
        case SetType::Proto: return "protocols";
    }
    return "";
}

std::optional<SetType> set_type_from(std::string_view s) {
    for (SetType t : {SetType::Ip, SetType::Ip4, SetType::Ip6, SetType::Mac, SetType::Port, SetType::Proto})
        if (s == set_type_name(t)) return t;
    return std::nullopt;
}

namespace {

Domain set_domain(SetType t, const std::string& name) {
    Domain d;
    d.desc = "set '" + name + "' holds " + set_type_holds(t);
    switch (t) {
        case SetType::Ip: d.type = FieldType::IpAny; break;
        case SetType::Ip4: d.type = FieldType::Ip4; break;
        case SetType::Ip6: d.type = FieldType::Ip6; break;
        case SetType::Mac: d.type = FieldType::Mac; break;
        case SetType::Port:
            d.max = 65535;
            d.what = "port";
            d.desc += " (0-65535)";
            break;
        case SetType::Proto:
            d.max = 255;
            d.syms = SymbolTable::Proto;
            d.what = "protocol";
            d.desc += " (0-255 or a protocol name)";
            break;
    }
    return d;
}

std::string dirname_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return "";
    return path.substr(0, slash + 1);
}

}  // namespace

void Checker::check_set(const ast::SetDecl& decl, SetDef& out, FileId file) {
    if (!set_type_from(decl.type.text)) return;  // reported; its elements would only add noise
    Domain d = set_domain(out.type, out.name);
    if (decl.from_file) {
        read_set_file(decl, out, file, d);
        return;
    }
    for (const auto& it : decl.items) expand_item(it, d, out.elems);
}

// Past this many bad lines a set file's errors are summed up in one `set-file-errors`.
constexpr std::size_t kShownSetFileErrors = 5;

void Checker::read_set_file(const ast::SetDecl& decl, SetDef& out, FileId file, const Domain& d) {
    const std::string& rel = decl.file.text;
    std::string path = rel;
    if (!rel.empty() && rel[0] != '/' && file != kNoFile) path = dirname_of(sm_.file(file).path) + rel;
    out.file = path;
    FileId id = sm_.find(path);
    if (id == kNoFile) {
        std::string err;
        id = sm_.load(path, err, SourceManager::kMaxSetFileBytes);
        if (id == kNoFile) {
            diags_.error("set-file-unreadable", decl.file.range,
                         "cannot read set file " + quote_string(rel) + " (looked for " + path + "): " + err);
            return;
        }
    }
    const std::string& text = sm_.file(id).text;
    // A file that is not a set file at all (a secret, a config) must not be echoed line by
    // line: the lines' errors are gathered, and past kShownSetFileErrors only counted.
    Diagnostics line_errors;
    std::size_t lines = 0, bad = 0;
    std::size_t pos = 0;
    // One element a line at most: sized once, not regrown (and copied) twenty times at 1M lines.
    out.elems.reserve(out.elems.size() + sm_.file(id).line_starts.size());
    advise_huge_pages(out.elems.data(), out.elems.capacity() * sizeof(Element));
    const bool addresses = d.type == FieldType::Ip4 || d.type == FieldType::Ip6 || d.type == FieldType::IpAny;
    while (pos < text.size()) {
        std::size_t eol = text.find('\n', pos);
        if (eol == std::string::npos) eol = text.size();
        // The comment is looked for in this line only: a search to the end of the text for
        // every line made a file without comments quadratic to read.
        std::string_view line(text.data() + pos, eol - pos);
        std::size_t hash = line.find('#');
        std::size_t end = hash == std::string_view::npos ? eol : pos + hash;
        std::size_t b = pos;
        while (b < end && std::isspace(static_cast<unsigned char>(text[b]))) ++b;
        std::size_t e = end;
        while (e > b && std::isspace(static_cast<unsigned char>(text[e - 1]))) --e;
        pos = eol + 1;
        if (b == e) continue;
        ++lines;
        if (addresses) {
            // Most lines of a blocklist: a plain address or prefix, read without allocating.
            auto el = parse_ip_plain(std::string_view(text).substr(b, e - b));
            if (el && (d.type == FieldType::IpAny || (el->family == Family::V4) == (d.type == FieldType::Ip4))) {
                el->range = SourceRange{id, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)};
                out.elems.push_back(*el);
                continue;
            }
        }
        std::size_t errors_before = line_errors.list().size();
        auto item = element_token(std::string_view(text).substr(b, e - b), id, static_cast<std::uint32_t>(b));
        if (!item) {
            line_errors.error("invalid-element", SourceRange{id, static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(e)},
                              "a set file holds one element per line (an address, prefix, number, name or range)");
        } else if (auto el = convert_item(*item, d, line_errors)) {
            out.elems.push_back(*el);
        }
        if (line_errors.list().size() != errors_before) ++bad;
    }
    // Most lines bad (a secret, a config): nothing of the file is shown, only where its bad
    // lines are. Some bad: the first few, with their text, locate the problem.
    const bool mostly_bad = bad * 2 > lines;
    if (!mostly_bad && bad <= kShownSetFileErrors) {
        for (const auto& diag : line_errors.list()) diags_.add(diag);
        return;
    }
    std::size_t shown = 0;
    std::string where;
    std::uint32_t last_line = 0;
    for (const auto& diag : line_errors.list()) {
        if (!mostly_bad && shown++ < kShownSetFileErrors) diags_.add(diag);
        std::uint32_t line = sm_.line_col(id, diag.range.begin).line;
        if (mostly_bad && line != last_line && shown < kShownSetFileErrors) {
            where += (where.empty() ? "" : ", ") + std::to_string(line);
            last_line = line;
            ++shown;
        }
    }
    auto& err = diags_.error(
        "set-file-errors", decl.file.range,
        "set file " + quote_string(rel) + ": " + std::to_string(bad) + " of " + std::to_string(lines) +
            " lines are not elements" +
            (mostly_bad ? " (it does not look like a set file; no line of it is shown)"
                        : "; the first " + std::to_string(kShownSetFileErrors) + " are shown"));
    if (mostly_bad) err.notes.push_back({{}, "the first bad lines: " + where + (bad > shown ? ", ..." : "")});
}

}  // namespace weir::sema_detail
