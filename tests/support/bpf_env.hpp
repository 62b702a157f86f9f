// Whether this process can load and test-run XDP programs; kernel tests skip when it cannot.
#pragma once
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <string>

namespace weir::test {

// Empty when BPF is usable, otherwise why not.
inline std::string bpf_unavailable_reason() {
    if (::geteuid() != 0) return "not running as root";
    if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, nullptr) != 1)
        return "the kernel refuses XDP programs (BPF disabled or unsupported)";
    return {};
}

}  // namespace weir::test
