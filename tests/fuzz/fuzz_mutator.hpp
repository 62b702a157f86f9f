// The custom mutator of the policy targets (fuzz_check, fuzz_plan): include it in exactly one
// file of a target, since it defines libFuzzer's LLVMFuzzerCustomMutator.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace weir::fuzz {

// A mutation libFuzzer lacks: a short slice of the input repeated up to 4096 times in place. The
// bugs of size and depth (recursion that exhausts the stack, work quadratic in a repeated
// construct) need thousands of copies of one token, which single insertions reach only slowly;
// with the stack-depth coverage a 12% deeper recursion is new, so the copies must scale.
// One mutation in four is this one; the rest are libFuzzer's.
inline std::size_t repeat_slice_or_mutate(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                          unsigned seed, std::size_t (*mutate)(std::uint8_t*, std::size_t, std::size_t)) {
    std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    auto next = [&x] {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        return x;
    };
    if (size == 0 || next() % 4 != 0) return mutate(data, size, max_size);
    std::size_t begin = next() % size;
    std::size_t len = 1 + next() % std::min<std::size_t>(8, size - begin);
    std::size_t copies = 1 + next() % (std::size_t{2} << (next() % 12));  // log-uniform, up to 4096
    if (size + len * copies > max_size) copies = (max_size - size) / len;
    if (copies == 0) return mutate(data, size, max_size);
    std::size_t grow = len * copies;
    std::memmove(data + begin + len + grow, data + begin + len, size - begin - len);
    for (std::size_t i = 0; i < copies; ++i) std::memmove(data + begin + len + i * len, data + begin, len);
    return size + grow;
}

}  // namespace weir::fuzz

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
    return weir::fuzz::repeat_slice_or_mutate(data, size, max_size, seed, LLVMFuzzerMutate);
}
