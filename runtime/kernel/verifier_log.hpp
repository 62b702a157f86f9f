// Reading the kernel verifier's log back into the policy: when the kernel rejects a program,
// the log ends with the failing instruction and the verifier's complaint, preceded by BTF line
// info lines `; <source text> @ FILE:LINE`. Codegen gives every instruction of a rule the rule's
// line in the policy file, so the last such line before the failure names the rule to blame.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "diagnostics.hpp"
#include "plan.hpp"
#include "source.hpp"

namespace weir {

// One `; text @ file:line` line of the log.
struct VerifierSourceLine {
    std::string text;  // source text, trimmed
    std::string file;  // as the kernel prints it: the base name of the BTF file name
    unsigned line = 0;
};

struct VerifierFailure {
    std::string message;  // the verifier's complaint, e.g. "invalid access to packet, off=0 ..."
    // The source lines on the rejected path, in log order; the last one is where it failed.
    std::vector<VerifierSourceLine> path;
    std::vector<std::string> tail;  // the last lines of the log (without the statistics line)
};

// Parses a verifier log. `tail_lines`: how many of its last lines to keep in `tail`.
VerifierFailure parse_verifier_log(std::string_view log, std::size_t tail_lines = 20);

// Indexes (into plan.pol().rules) of the rules whose source lines contain FILE:LINE, where FILE
// is compared by base name with the rule's file in `sources`.
std::vector<int> rules_at_line(const Plan& plan, const SourceManager& sources,
                               std::string_view file, unsigned line);

// Adds the error for a program the kernel rejected, code "verifier-rejected": located at the
// rule the failing instruction belongs to ("the kernel verifier rejected rule 'x': MESSAGE"),
// or at the policy when it failed outside any rule's code, with a note naming the last rule on
// the rejected path, and a note with the log's tail. `error_text` is used when the log has no
// complaint (e.g. libbpf's own message).
void report_verifier_rejection(const Plan& plan, const SourceManager& sources,
                               std::string_view log, std::string_view error_text,
                               Diagnostics& diags, std::size_t tail_lines = 20);

}  // namespace weir
