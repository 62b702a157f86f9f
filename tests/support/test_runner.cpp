#define DOCTEST_CONFIG_IMPLEMENT
#include "test_runner.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string_view>

namespace weir::test {
namespace {

int g_cases = 0;    // test cases that started in this run
int g_skipped = 0;  // of those, the ones that called skip_case
bool g_current_skipped = false;

// Counts the test cases that run; doctest reports only the totals, not which ones skipped.
struct CaseCounter : doctest::IReporter {
    explicit CaseCounter(const doctest::ContextOptions&) {}
    void report_query(const doctest::QueryData&) override {}
    void test_run_start() override {}
    void test_run_end(const doctest::TestRunStats&) override {}
    void test_case_start(const doctest::TestCaseData&) override {
        ++g_cases;
        g_current_skipped = false;
    }
    void test_case_reenter(const doctest::TestCaseData&) override {}
    void test_case_end(const doctest::CurrentTestCaseStats&) override {}
    void test_case_exception(const doctest::TestCaseException&) override {}
    void subcase_start(const doctest::SubcaseSignature&) override {}
    void subcase_end() override {}
    void log_assert(const doctest::AssertData&) override {}
    void log_message(const doctest::MessageData&) override {}
    void test_case_skipped(const doctest::TestCaseData&) override {}
};

}  // namespace

void skip_case(const std::string& why) {
    if (!g_current_skipped) ++g_skipped;
    g_current_skipped = true;
    std::printf("SKIP: %s\n", why.c_str());
}

int run_tests(int argc, char** argv) {
    doctest::Context context(argc, argv);
    int rc = context.run();
    if (context.shouldExit()) return rc;  // --help, --list-test-cases and the like
    if (rc != 0) return rc;
    if (g_cases == 0) {
        std::fprintf(stderr, "no test case matched the filters: a test entry that runs nothing fails\n");
        return 1;
    }
    if (g_skipped == g_cases) return 77;
    if (g_skipped > 0) std::printf("%d of %d test cases skipped\n", g_skipped, g_cases);
    return 0;
}

}  // namespace weir::test

DOCTEST_REGISTER_LISTENER("weir-case-counter", 1, weir::test::CaseCounter);
