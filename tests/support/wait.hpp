// Waiting for a condition in live tests: polls until it holds or a generous deadline passes.
// Tests never assert on time; the deadline only bounds a failure.
#pragma once
#include <chrono>
#include <thread>

namespace weir::test {

// True once `cond()` holds; false if it still does not after `limit`.
template <class Cond>
bool wait_until(Cond cond, std::chrono::seconds limit = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!cond()) {
        if (std::chrono::steady_clock::now() >= deadline) return cond();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
}

}  // namespace weir::test
