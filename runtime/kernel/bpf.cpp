#include "bpf.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>

namespace weir::bpf {
namespace {

constexpr std::size_t kLogSize = 4u << 20;  // per program; the kernel keeps the log's tail

// libbpf's warnings of the current operation on this thread, attached to the error if it fails.
thread_local std::string t_libbpf_messages;

int capture_print(enum libbpf_print_level level, const char* fmt, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    char buf[1024];
    int n = std::vsnprintf(buf, sizeof buf, fmt, args);
    if (n > 0) t_libbpf_messages.append(buf, std::min<std::size_t>(std::size_t(n), sizeof buf - 1));
    return n;
}

// Install the capturing print callback (libbpf prints to stderr otherwise) and reset the
// capture for a new operation.
void begin_libbpf_call() {
    static std::once_flag once;
    std::call_once(once, [] { libbpf_set_print(capture_print); });
    t_libbpf_messages.clear();
}

std::string errno_text(int err) {
    char buf[128];
    if (libbpf_strerror(err, buf, sizeof buf) != 0) std::snprintf(buf, sizeof buf, "error");
    return std::string(buf) + " (" + std::to_string(err) + ")";
}

// `what`: "load program 'weir_xdp'"; err: negative errno (a positive one is negated).
Error fail(std::string what, int err, std::string log = {}) {
    if (err > 0) err = -err;
    if (err == 0) err = -EINVAL;
    if (log.empty()) log = t_libbpf_messages;
    return Error{std::move(what) + ": " + errno_text(err), std::move(log), err};
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

Fd& Fd::operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
}

void Fd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Object::Object(bpf_object* obj, std::string name) : obj_(obj), name_(std::move(name)) {}

Object::Object(Object&& o) noexcept
    : obj_(std::exchange(o.obj_, nullptr)), name_(std::move(o.name_)), logs_(std::move(o.logs_)) {}

Object& Object::operator=(Object&& o) noexcept {
    if (this != &o) {
        if (obj_) bpf_object__close(obj_);
        obj_ = std::exchange(o.obj_, nullptr);
        name_ = std::move(o.name_);
        logs_ = std::move(o.logs_);
    }
    return *this;
}

Object::~Object() {
    if (obj_) bpf_object__close(obj_);
}

Result<Object> Object::open(std::span<const unsigned char> elf, std::string_view name) {
    begin_libbpf_call();
    std::string n(name);
    bpf_object_open_opts opts{};
    opts.sz = sizeof opts;
    opts.object_name = n.c_str();
    bpf_object* obj = bpf_object__open_mem(elf.data(), elf.size(), &opts);
    if (!obj) return fail("open BPF object " + quoted(name), errno);
    return Object(obj, std::move(n));
}

Status Object::set_max_entries(std::string_view map, std::uint32_t entries) {
    begin_libbpf_call();
    if (!obj_) return fail("resize map " + quoted(map) + " of a moved-from object", -EBADF);
    bpf_map* m = bpf_object__find_map_by_name(obj_, std::string(map).c_str());
    if (!m) return fail("resize map " + quoted(map) + " of " + quoted(name_), -ENOENT);
    if (int err = bpf_map__set_max_entries(m, entries); err < 0)
        return fail("resize map " + quoted(map) + " to " + std::to_string(entries), err);
    return ok();
}

Status Object::load(bool log_always) {
    begin_libbpf_call();
    if (!obj_) return fail("load a moved-from BPF object", -EBADF);
    logs_.clear();
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
        auto buf = std::make_unique<char[]>(kLogSize);
        buf[0] = '\0';
        bpf_program__set_log_buf(prog, buf.get(), kLogSize);
        if (log_always) bpf_program__set_log_level(prog, 1);
        logs_.emplace_back(bpf_program__name(prog), std::move(buf));
    }
    int err = bpf_object__load(obj_);
    if (err == 0) return ok();
    // Without log_always, libbpf retries a failing program with the log on: the program whose
    // log is not empty is the one the verifier rejected.
    for (const auto& [prog_name, buf] : logs_)
        if (buf[0] != '\0') return fail("load program " + quoted(prog_name), err, buf.get());
    return fail("load BPF object " + quoted(name_), err);
}

std::string Object::log(std::string_view program) const {
    for (const auto& [prog_name, buf] : logs_)
        if (prog_name == program) return buf.get();
    return {};
}

Result<int> Object::program_fd(std::string_view program) const {
    begin_libbpf_call();
    if (!obj_) return fail("find program " + quoted(program) + " in a moved-from object", -EBADF);
    bpf_program* p = bpf_object__find_program_by_name(obj_, std::string(program).c_str());
    if (!p) return fail("find program " + quoted(program) + " in " + quoted(name_), -ENOENT);
    int fd = bpf_program__fd(p);
    if (fd < 0) return fail("program " + quoted(program) + " is not loaded", fd);
    return fd;
}

Result<int> Object::map_fd(std::string_view map) const {
    begin_libbpf_call();
    if (!obj_) return fail("find map " + quoted(map) + " in a moved-from object", -EBADF);
    bpf_map* m = bpf_object__find_map_by_name(obj_, std::string(map).c_str());
    if (!m) return fail("find map " + quoted(map) + " in " + quoted(name_), -ENOENT);
    int fd = bpf_map__fd(m);
    if (fd < 0) return fail("map " + quoted(map) + " is not created", fd);
    return fd;
}

Result<TestRun> test_run(int prog_fd, std::span<const unsigned char> packet, std::uint32_t repeat) {
    begin_libbpf_call();
    TestRun run;
    run.data.resize(packet.size() + 4096);  // room for programs that grow the packet
    bpf_test_run_opts opts{};
    opts.sz = sizeof opts;
    opts.data_in = packet.data();
    opts.data_size_in = std::uint32_t(packet.size());
    opts.data_out = run.data.data();
    opts.data_size_out = std::uint32_t(run.data.size());
    opts.repeat = int(repeat);
    if (int err = bpf_prog_test_run_opts(prog_fd, &opts); err < 0)
        return fail("test run of a " + std::to_string(packet.size()) + "-byte packet", err);
    run.retval = opts.retval;
    run.duration_ns = opts.duration;
    run.data.resize(opts.data_size_out);
    return run;
}

Result<TestRun> test_run_on(int prog_fd, std::span<const unsigned char> packet,
                            std::uint32_t ingress_ifindex, std::uint32_t repeat) {
    if (ingress_ifindex == 0) return test_run(prog_fd, packet, repeat);
    begin_libbpf_call();
    TestRun run;
    run.data.resize(packet.size() + 4096);
    xdp_md ctx{};
    ctx.data_end = std::uint32_t(packet.size());
    ctx.ingress_ifindex = ingress_ifindex;
    bpf_test_run_opts opts{};
    opts.sz = sizeof opts;
    opts.data_in = packet.data();
    opts.data_size_in = std::uint32_t(packet.size());
    opts.data_out = run.data.data();
    opts.data_size_out = std::uint32_t(run.data.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof ctx;
    opts.repeat = int(repeat);
    if (int err = bpf_prog_test_run_opts(prog_fd, &opts); err < 0)
        return fail("test run of a " + std::to_string(packet.size()) +
                        "-byte packet arriving on ifindex " + std::to_string(ingress_ifindex),
                    err);
    run.retval = opts.retval;
    run.duration_ns = opts.duration;
    run.data.resize(opts.data_size_out);
    return run;
}

Status update_key(int map_fd, std::span<const unsigned char> key,
                  std::span<const unsigned char> value) {
    if (bpf_map_update_elem(map_fd, key.data(), value.data(), BPF_ANY) < 0)
        return fail("update a " + std::to_string(key.size()) + "-byte key", errno);
    return ok();
}

Status lookup_key(int map_fd, std::span<const unsigned char> key, std::span<unsigned char> value) {
    if (bpf_map_lookup_elem(map_fd, key.data(), value.data()) < 0)
        return fail("look up a " + std::to_string(key.size()) + "-byte key", errno);
    return ok();
}

Result<ProgramInfo> program_info(int prog_fd) {
    begin_libbpf_call();
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    if (int err = bpf_obj_get_info_by_fd(prog_fd, &info, &len); err < 0)
        return fail("read the program's info", err);
    return ProgramInfo{info.xlated_prog_len / 8, info.jited_prog_len, info.verified_insns, info.run_time_ns,
                       info.run_cnt};
}

namespace {
std::atomic<int> g_stats_held{0};  // RunTimeStats alive in this process
}  // namespace

Result<RunTimeStats> RunTimeStats::enable() {
    begin_libbpf_call();
    int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (fd < 0) return fail("enable BPF run-time statistics (BPF_ENABLE_STATS)", fd);
    ++g_stats_held;
    return RunTimeStats(Fd(fd));
}

RunTimeStats& RunTimeStats::operator=(RunTimeStats&& o) noexcept {
    if (this != &o) {
        if (fd_) --g_stats_held;
        fd_ = std::move(o.fd_);
    }
    return *this;
}

RunTimeStats::~RunTimeStats() {
    if (fd_) --g_stats_held;
}

bool run_time_stats_on() {
    if (g_stats_held > 0) return true;
    std::ifstream f("/proc/sys/kernel/bpf_stats_enabled");
    int v = 0;
    return f >> v && v != 0;
}

namespace {

// Whether capability `cap` is in the effective set of this thread.
bool has_capability(unsigned cap) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2]{};
    if (::syscall(SYS_capget, &hdr, data) != 0) return false;
    return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

}  // namespace

Status probe_xdp_support() {
    begin_libbpf_call();
    // libbpf answers 0 ("unsupported") also when the load was refused for lack of privileges:
    // XDP programs need CAP_BPF (or CAP_SYS_ADMIN) and CAP_NET_ADMIN.
    int r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_XDP, nullptr);
    if (r == 1) return ok();
    std::string missing;
    if (!has_capability(CAP_BPF) && !has_capability(CAP_SYS_ADMIN)) missing = "CAP_BPF";
    if (!has_capability(CAP_NET_ADMIN)) missing += std::string(missing.empty() ? "" : " and ") + "CAP_NET_ADMIN";
    if (!missing.empty() || r == -EPERM || r == -EACCES) {
        std::string why = ::geteuid() != 0 ? "not running as root" : "running as root";
        why += missing.empty() ? ", refused by the kernel" : ", but without " + missing;
        return Error{"not permitted to load BPF programs (" + why +
                         "; loading needs root, or CAP_BPF with CAP_NET_ADMIN)",
                     {}, -EPERM};
    }
    if (r == 0) return Error{"this kernel does not support XDP programs", {}, -EOPNOTSUPP};
    return fail("probe for XDP support", r);
}

Result<unsigned> possible_cpus() {
    begin_libbpf_call();
    int n = libbpf_num_possible_cpus();
    if (n <= 0) return fail("count possible CPUs", n);
    return unsigned(n);
}

Status lookup(int map_fd, std::uint32_t key, std::span<unsigned char> value) {
    if (bpf_map_lookup_elem(map_fd, &key, value.data()) < 0)
        return fail("look up key " + std::to_string(key), errno);
    return ok();
}

Status update(int map_fd, std::uint32_t key, std::span<const unsigned char> value) {
    if (bpf_map_update_elem(map_fd, &key, value.data(), BPF_ANY) < 0)
        return fail("update key " + std::to_string(key), errno);
    return ok();
}

Result<std::vector<unsigned char>> lookup_percpu(int map_fd, std::uint32_t key,
                                                 std::size_t value_size) {
    auto cpus = possible_cpus();
    if (!cpus) return cpus.error();
    std::vector<unsigned char> values(percpu_stride(value_size) * *cpus);
    if (auto st = lookup(map_fd, key, std::span<unsigned char>(values)); !st) return st.error();
    return values;
}

Status zero_percpu(int map_fd, std::uint32_t key, std::size_t value_size) {
    auto cpus = possible_cpus();
    if (!cpus) return cpus.error();
    std::vector<unsigned char> zeros(percpu_stride(value_size) * *cpus);
    return update(map_fd, key, std::span<const unsigned char>(zeros));
}

}  // namespace weir::bpf
