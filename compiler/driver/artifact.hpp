// Artifact: a checked Compilation (driver.hpp) and the name of one of its policies -> the
// immutable compiled policy (plan + BPF object + the hash of every source file read) that loading,
// the self-test and `weir test --kernel` consume. Nothing downstream reads or parses source again.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codegen.hpp"
#include "driver.hpp"
#include "plan.hpp"

namespace weir {

struct Artifact {
    std::shared_ptr<const Compilation> compilation;  // checked without errors
    int policy = -1;                                 // index into compilation->program.policies
    // Counter slots and set ids numbered as a first load numbers them; a hot swap keeps the
    // running policy's numbers and re-emits the object from this plan (relink()).
    Plan plan;
    std::vector<std::uint8_t> object;  // the BPF ELF object
    std::string source_hash;           // SHA-256 over every file read (path, length, text)
    CodegenOptions codegen;            // how `object` was emitted, to emit it again
    const Policy& pol() const { return plan.pol(); }
    const SourceManager& sources() const { return compilation->sources; }
};

// Which policy of a program a name selects: empty selects the only one. Returns its index, or -1
// with `why`: "no policy named 'x' in FILE (it has: a, b)", "FILE has 2 policies (a, b): choose
// one with CHOOSER" or "FILE has no policy". `file`: the display name; `chooser`: how the user
// names one ("--policy NAME" on the command line).
int select_policy(const Program& program, const std::string& name, const std::string& file, std::string& why,
                  const std::string& chooser = "--policy NAME");

struct BuildResult {
    std::shared_ptr<const Artifact> artifact;
    std::string error;  // one line: no such policy, or the codegen failure
    bool ok() const { return artifact != nullptr; }
};

// Plans and compiles policy `policy` (a name; empty: the only one) of a compilation without errors.
BuildResult build_artifact(std::shared_ptr<const Compilation> compilation, const std::string& policy,
                           const CodegenOptions& codegen = {});

// The object for `plan`, a copy of the artifact's plan with other counter slots or set ids:
// the artifact's own bytes when the numbers are the same, else codegen of `plan` again.
CodegenResult relink(const Artifact& artifact, const Plan& plan);

// SHA-256 over every file a compilation read (path, length, text), as weir_meta records it.
std::string source_hash(const SourceManager& sm);

}  // namespace weir
