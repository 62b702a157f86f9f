// libbpf, wrapped once: RAII owners for objects and file descriptors, and errors that carry
// context. libbpf's negative errno stops at this boundary and becomes a bpf::Error:
//   "load program 'weir_xdp': Permission denied (-13)" + the verifier log.
// Nothing here prints: libbpf's own messages are captured and attached to errors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

struct bpf_object;

namespace weir::bpf {

struct Error {
    std::string message;  // what failed and why: "load program 'weir_xdp': Permission denied (-13)"
    std::string log;      // verifier log, or libbpf's messages; may be empty
    int code = 0;         // negative errno
};

// A value or an Error. Status is Result<std::monostate>.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}
    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<0>(v_); }
    const T& value() const { return std::get<0>(v_); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};
using Status = Result<std::monostate>;
inline Status ok() { return std::monostate{}; }

// An owned file descriptor, closed on destruction.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Fd& operator=(Fd&& o) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1);
    explicit operator bool() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

// A BPF ELF object: opened from memory, adjusted (map sizes), loaded into the kernel.
// Program and map fds returned by it are borrowed: valid while the Object lives.
class Object {
public:
    static Result<Object> open(std::span<const unsigned char> elf, std::string_view name);

    Object(Object&&) noexcept;
    Object& operator=(Object&&) noexcept;
    ~Object();

    const std::string& name() const { return name_; }
    // Before load(): resize a map (e.g. weir_rules to the number of rules).
    Status set_max_entries(std::string_view map, std::uint32_t entries);
    // Creates the maps and loads every program. On a verifier rejection the error names the
    // program and carries its log. `log_always` requests the log even on success (log()).
    Status load(bool log_always = false);
    // The verifier log of `program` from the last load() (empty unless it failed or log_always).
    std::string log(std::string_view program) const;

    Result<int> program_fd(std::string_view program) const;
    Result<int> map_fd(std::string_view map) const;
    bpf_object* get() const { return obj_; }

private:
    explicit Object(bpf_object* obj, std::string name);
    bpf_object* obj_ = nullptr;
    std::string name_;
    std::vector<std::pair<std::string, std::unique_ptr<char[]>>> logs_;  // per program
};

struct TestRun {
    std::uint32_t retval = 0;       // the program's return value (XDP action)
    std::uint32_t duration_ns = 0;  // mean run time per repetition
    std::vector<unsigned char> data;  // the packet after the program
};
// Runs `prog_fd` on `packet` with BPF_PROG_TEST_RUN (XDP needs at least 14 bytes).
Result<TestRun> test_run(int prog_fd, std::span<const unsigned char> packet,
                         std::uint32_t repeat = 1);

// Number of possible CPUs: the number of values in a per-CPU map slot.
Result<unsigned> possible_cpus();

// Raw map access. Per-CPU: one value per possible CPU, each padded to a multiple of 8 bytes.
Status lookup(int map_fd, std::uint32_t key, std::span<unsigned char> value);
Status update(int map_fd, std::uint32_t key, std::span<const unsigned char> value);
Result<std::vector<unsigned char>> lookup_percpu(int map_fd, std::uint32_t key,
                                                 std::size_t value_size);
// Sets every CPU's value of `key` to zero.
Status zero_percpu(int map_fd, std::uint32_t key, std::size_t value_size);

// Keyed access for maps whose keys are not a __u32 (the set tables' LPM keys).
Status update_key(int map_fd, std::span<const unsigned char> key,
                  std::span<const unsigned char> value);
Status lookup_key(int map_fd, std::span<const unsigned char> key, std::span<unsigned char> value);

// What the kernel reports about a loaded program (bpf_prog_info).
struct ProgramInfo {
    std::uint32_t xlated_insns = 0;    // instructions after the verifier's rewrites
    std::uint32_t jited_bytes = 0;     // size of the JIT-compiled code, 0 without JIT
    std::uint32_t verified_insns = 0;  // instructions the verifier processed
    std::uint64_t run_time_ns = 0;     // time spent in the program while run-time statistics were on
    std::uint64_t run_cnt = 0;         // runs counted meanwhile
};
Result<ProgramInfo> program_info(int prog_fd);

// The kernel's run-time statistics of every BPF program (run_time_ns, run_cnt) are on while a
// descriptor from BPF_ENABLE_STATS is open anywhere, or while sysctl kernel.bpf_stats_enabled is
// 1. They cost each program run two clock reads (docs/performance.md, "Run-time statistics").
// A RunTimeStats holds them on while it lives.
class RunTimeStats {
public:
    static Result<RunTimeStats> enable();
    RunTimeStats(RunTimeStats&& o) noexcept : fd_(std::move(o.fd_)) {}
    RunTimeStats& operator=(RunTimeStats&& o) noexcept;
    ~RunTimeStats();

private:
    explicit RunTimeStats(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;
};
// Whether they are on now for a reader of this process: held here, or the sysctl set. (Another
// process's descriptor cannot be seen: run_cnt growing is the sign of it.)
bool run_time_stats_on();

// test_run with the packet arriving on interface `ingress_ifindex` (0: none), which must exist.
Result<TestRun> test_run_on(int prog_fd, std::span<const unsigned char> packet,
                            std::uint32_t ingress_ifindex, std::uint32_t repeat = 1);

// Whether this process can load XDP programs: ok, or an Error saying why not (-EPERM when it
// lacks the privileges: not root, no CAP_BPF/CAP_NET_ADMIN).
Status probe_xdp_support();

inline std::size_t percpu_stride(std::size_t value_size) { return (value_size + 7) / 8 * 8; }

// Typed helpers for trivially copyable values.
template <class T>
Result<T> lookup(int map_fd, std::uint32_t key) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v{};
    auto st = lookup(map_fd, key, std::span(reinterpret_cast<unsigned char*>(&v), sizeof(T)));
    if (!st) return st.error();
    return v;
}
template <class T>
Status update(int map_fd, std::uint32_t key, const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return update(map_fd, key, std::span(reinterpret_cast<const unsigned char*>(&v), sizeof(T)));
}
// One value per possible CPU.
template <class T>
Result<std::vector<T>> lookup_percpu(int map_fd, std::uint32_t key) {
    static_assert(std::is_trivially_copyable_v<T>);
    auto raw = lookup_percpu(map_fd, key, sizeof(T));
    if (!raw) return raw.error();
    std::size_t stride = percpu_stride(sizeof(T));
    std::vector<T> out(raw->size() / stride);
    for (std::size_t i = 0; i < out.size(); ++i)
        std::memcpy(&out[i], raw->data() + i * stride, sizeof(T));
    return out;
}

}  // namespace weir::bpf
