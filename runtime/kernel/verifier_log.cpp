#include "verifier_log.hpp"

#include <algorithm>
#include <cctype>

namespace weir {
namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        while (!line.empty() && (line.back() == '\r' || line.back() == '\0')) line.remove_suffix(1);
        lines.push_back(line);
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "12: (71) r1 = *(u8 *)(r2 +0)": an instruction as the verifier prints it.
bool is_instruction(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
    return i > 0 && starts_with(line.substr(i), ": (");
}

// "processed 33 insns (limit 1000000) ...", "verification time 12 usec", ...: statistics.
bool is_statistics(std::string_view line) {
    return starts_with(line, "processed ") || starts_with(line, "verification time ") ||
           starts_with(line, "stack depth ");
}

// "; if (c) { @ xdp.c:112"
bool parse_source_line(std::string_view line, VerifierSourceLine& out) {
    if (!starts_with(line, ";")) return false;
    std::size_t at = line.rfind(" @ ");
    if (at == std::string_view::npos) return false;
    std::string_view where = line.substr(at + 3);
    std::size_t colon = where.rfind(':');
    if (colon == std::string_view::npos || colon + 1 >= where.size()) return false;
    unsigned n = 0;
    for (char c : where.substr(colon + 1)) {
        if (!std::isdigit(static_cast<unsigned char>(c))) return false;
        n = n * 10 + unsigned(c - '0');
    }
    std::string_view text = line.substr(1, at - 1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    out = {std::string(text), std::string(where.substr(0, colon)), n};
    return true;
}

std::string_view base_name(std::string_view path) {
    std::size_t slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string quoted_rules(const Policy& pol, const std::vector<int>& rules) {
    std::string out = rules.size() == 1 ? "rule " : "rules ";
    for (std::size_t i = 0; i < rules.size(); ++i) {
        if (i > 0) out += i + 1 == rules.size() ? " and " : ", ";
        out += "'" + pol.rules.at(rules[i]).name + "'";
    }
    return out;
}

}  // namespace

VerifierFailure parse_verifier_log(std::string_view log, std::size_t tail_lines) {
    VerifierFailure f;
    std::vector<std::string_view> lines = split_lines(log);
    // The complaint sits between the last instruction and the statistics at the end.
    std::size_t end = lines.size();
    while (end > 0 && (is_statistics(lines[end - 1]) || lines[end - 1].empty())) --end;
    std::size_t last_insn = end;
    for (std::size_t i = end; i-- > 0;)
        if (is_instruction(lines[i])) {
            last_insn = i;
            break;
        }
    std::size_t from = last_insn == end ? 0 : last_insn + 1;
    for (std::size_t i = from; i < end && f.message.empty(); ++i) {
        VerifierSourceLine ignored;
        if (!lines[i].empty() && !parse_source_line(lines[i], ignored)) f.message = lines[i];
    }
    if (f.message.empty() && end > 0 && last_insn == end) f.message = lines[end - 1];
    std::size_t path_end = last_insn == end ? end : last_insn;
    for (std::size_t i = 0; i < path_end; ++i) {
        VerifierSourceLine sl;
        if (parse_source_line(lines[i], sl)) f.path.push_back(std::move(sl));
    }
    std::size_t first = lines.size() > tail_lines ? lines.size() - tail_lines : 0;
    for (std::size_t i = first; i < lines.size(); ++i) f.tail.emplace_back(lines[i]);
    return f;
}

std::vector<int> rules_at_line(const Plan& plan, const SourceManager& sources,
                               std::string_view file, unsigned line) {
    std::vector<int> out;
    const Policy& pol = plan.pol();
    for (std::size_t i = 0; i < pol.rules.size(); ++i) {
        const SourceRange& r = pol.rules[i].range;
        if (!r.valid() || base_name(sources.file(r.file).path) != base_name(file)) continue;
        unsigned first = sources.line_col(r.file, r.begin).line;
        unsigned last = sources.line_col(r.file, r.end > r.begin ? r.end - 1 : r.begin).line;
        if (first <= line && line <= last) out.push_back(static_cast<int>(i));
    }
    return out;
}

void report_verifier_rejection(const Plan& plan, const SourceManager& sources,
                               std::string_view log, std::string_view error_text,
                               Diagnostics& diags, std::size_t tail_lines) {
    VerifierFailure f = parse_verifier_log(log, tail_lines);
    const Policy& pol = plan.pol();
    std::string complaint = f.message.empty() ? std::string(error_text) : f.message;

    std::vector<int> blamed;
    if (!f.path.empty()) blamed = rules_at_line(plan, sources, f.path.back().file, f.path.back().line);
    Diagnostic* d;
    if (!blamed.empty()) {
        d = &diags.error("verifier-rejected", pol.rules.at(blamed.front()).range,
                         "the kernel verifier rejected " + quoted_rules(pol, blamed) + ": " + complaint);
    } else {
        std::string where;
        if (!f.path.empty())
            where = " in template code (" + f.path.back().file + ":" +
                    std::to_string(f.path.back().line) + ")";
        d = &diags.error("verifier-rejected", pol.name_range,
                         "the kernel verifier rejected policy '" + pol.name + "'" + where + ": " +
                             complaint);
        // The last rule whose code ran on the rejected path.
        for (auto it = f.path.rbegin(); it != f.path.rend(); ++it) {
            std::vector<int> rs = rules_at_line(plan, sources, it->file, it->line);
            if (rs.empty()) continue;
            d->notes.push_back({pol.rules.at(rs.front()).range,
                                "the last rule evaluated on the rejected path is '" +
                                    pol.rules.at(rs.front()).name + "'"});
            break;
        }
    }
    if (!f.tail.empty()) {
        std::string text = "verifier log (last " + std::to_string(f.tail.size()) + " lines):";
        for (const auto& l : f.tail) text += "\n    " + l;
        d->notes.push_back({SourceRange{}, std::move(text)});
    } else if (!error_text.empty() && complaint != error_text) {
        d->notes.push_back({SourceRange{}, std::string(error_text)});
    }
}

}  // namespace weir
