// The doctest entry point every test executable runs through, and per-case skips.
// A run that matched no test case fails (a filter that selects nothing is a broken test entry,
// never a pass); a run whose every case skipped exits 77, which ctest reports as skipped.
#pragma once
#include <string>

namespace weir::test {

// Records that the running test case cannot run here, and why; the caller returns at once.
void skip_case(const std::string& why);

// Runs doctest with the command line; the exit status follows the rules above.
int run_tests(int argc, char** argv);

}  // namespace weir::test

// Skips the current test case, saying why: `if (!why.empty()) WEIR_SKIP(why);`
#define WEIR_SKIP(why)                     \
    do {                                   \
        ::weir::test::skip_case(why);      \
        return;                            \
    } while (0)
