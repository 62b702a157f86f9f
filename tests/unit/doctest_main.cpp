#include "test_runner.hpp"

int main(int argc, char** argv) { return weir::test::run_tests(argc, argv); }
