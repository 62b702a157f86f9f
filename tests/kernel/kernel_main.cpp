// Entry point of the kernel tests: exits with 77 (ctest SKIP_RETURN_CODE) when this process
// cannot load BPF programs, after saying why. Listing test cases always works.
#include <cstdio>
#include <string_view>

#include "bpf_env.hpp"
#include "test_runner.hpp"

int main(int argc, char** argv) {
    bool listing = false;
    for (int i = 1; i < argc; ++i)
        if (std::string_view(argv[i]).find("list") != std::string_view::npos) listing = true;
    if (!listing) {
        std::string why = weir::test::bpf_unavailable_reason();
        if (!why.empty()) {
            std::printf("SKIP: kernel tests need BPF: %s\n", why.c_str());
            return 77;
        }
    }
    return weir::test::run_tests(argc, argv);
}
