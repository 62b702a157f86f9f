// The BPF program templates, embedded at build time (see CMakeLists.txt).
#pragma once
#include <span>

namespace weir {

// LLVM bitcode of xdp.c (target bpf, -O2 -g): defines weir_xdp, weir_count and the maps of
// weir_abi.h, and calls the external weir_match that codegen provides.
std::span<const unsigned char> xdp_template_bitcode();
// The same built with WEIR_SHADOW: weir_xdp also calls weir_match_shadow (weir_abi.h, "Shadow mode").
std::span<const unsigned char> xdp_shadow_template_bitcode();

}  // namespace weir
