// The forked compile worker (codegen_worker.hpp has the design). The child speaks to the parent in
// records on a pipe: one tag byte, a 64-bit little-endian length, the payload.
#include "codegen_worker.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <llvm/Support/ErrorHandling.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEIR_WORKER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(WEIR_WORKER_ASAN)
#define WEIR_WORKER_ASAN 1
#endif
#ifdef WEIR_WORKER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace weir::cg {

namespace {

// Record tags.
constexpr char kBytes = 'B';      // the result's bytes
constexpr char kError = 'E';      // the result's error text
constexpr char kAsked = 'I';      // an interface name given to ifindex_of
constexpr char kDone = 'D';       // the result is complete
constexpr char kFatal = 'F';      // LLVM's fatal error text
constexpr char kMemory = 'M';     // an allocation failed at the memory limit
constexpr char kSanitizer = 'S';  // the sanitizer runtime is ending the worker

// The child's exit codes (the records say more; these only help when reading a wait status).
constexpr int kExitFatal = 70;
constexpr int kExitMemory = 71;
constexpr int kExitOrphan = 72;

int g_out = -1;  // the child's end of the pipe

bool write_all(int fd, const void* data, std::size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

bool put(char tag, const void* data, std::uint64_t n) {
    unsigned char head[9];
    head[0] = static_cast<unsigned char>(tag);
    for (int i = 0; i < 8; ++i) head[1 + i] = static_cast<unsigned char>(n >> (8 * i));
    return write_all(g_out, head, sizeof head) && (n == 0 || write_all(g_out, data, n));
}

// Handlers: no allocation, only write and _exit.
[[noreturn]] void die_with(char tag, const char* text, int code) {
    put(tag, text, std::strlen(text));
    ::_exit(code);
}

void on_llvm_fatal(void*, const char* reason, bool) { die_with(kFatal, reason ? reason : "", kExitFatal); }
void on_llvm_bad_alloc(void*, const char* reason, bool) { die_with(kMemory, reason ? reason : "", kExitMemory); }
void on_new_failure() { die_with(kMemory, "operator new", kExitMemory); }
#ifdef WEIR_WORKER_ASAN
// ASan ends the process itself on a failed allocation (and on any error it finds): say so first.
void on_sanitizer_death() { put(kSanitizer, "", 0); }
#endif

std::uint64_t mapped_bytes() {
    int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char text[128];
    ssize_t n = ::read(fd, text, sizeof text - 1);
    ::close(fd);
    if (n <= 0) return 0;
    text[n] = '\0';
    return std::strtoull(text, nullptr, 10) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// Everything inherited but standard input, output, error and the pipe is closed; the pipe
// becomes descriptor 3.
int keep_only_pipe(int out) {
    if (out != 3) {
        if (::dup2(out, 3) < 0) return out;
        out = 3;
    }
    if (::close_range(4, ~0U, 0) != 0) {
        long max = ::sysconf(_SC_OPEN_MAX);
        for (int fd = 4; fd < (max > 0 ? max : 1024); ++fd) ::close(fd);
    }
    return out;
}

// The time limit is CPU time (RLIMIT_CPU, whole seconds), so that a busy host does not fail a
// compile that is only slow to be scheduled; wall time guards against a worker that waits
// without using CPU.
constexpr unsigned kWallFactor = 4;
unsigned long long cpu_limit_s(unsigned ms) { return (ms + 999ull) / 1000; }
unsigned long long wall_limit_ms(unsigned ms) { return std::max<unsigned long long>(ms, 1000) * kWallFactor; }

// CodegenOptions::inject_fault, in the child: fails the way named, through the same paths a real
// failure takes.
void inject(const CodegenOptions& opts) {
    const std::string& f = opts.inject_fault;
    if (f == "fatal") llvm::report_fatal_error("injected fatal error (CodegenOptions::inject_fault)");
    if (f == "abort") std::abort();
    if (f == "memory") {
        if (opts.memory_limit == 0) throw std::runtime_error("inject_fault \"memory\" needs a memory limit");
        std::vector<std::unique_ptr<char[]>> held;
        for (;;) {
            held.emplace_back(new char[std::size_t{64} << 20]);
            *static_cast<volatile char*>(held.back().get()) = 1;  // one page each, not 64 MiB of RAM
        }
    }
    if (f == "hang" || f == "stall") {
        if (opts.time_limit_ms == 0) throw std::runtime_error("inject_fault \"" + f + "\" needs a time limit");
        if (f == "stall")
            for (;;) ::pause();
        for (volatile unsigned long spin = 0;; spin = spin + 1) {
        }
    }
    throw std::runtime_error("unknown inject_fault \"" + f + "\" (fatal, abort, memory, hang, stall)");
}

[[noreturn]] void child_main(int out, int in, pid_t parent, const std::function<WorkerOutput()>& work,
                             const CodegenOptions& opts) {
    ::close(in);
    // A worker whose caller died (even by SIGKILL) stops too.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExitOrphan);
    g_out = keep_only_pipe(out);
    // The caller's crash handlers (a test framework's, a crash reporter's) are not the worker's:
    // a crash ends it with the signal, which the parent reports.
    sigset_t fatal;
    sigemptyset(&fatal);
    for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGXCPU}) {
        ::signal(sig, SIG_DFL);
        sigaddset(&fatal, sig);
    }
    ::sigprocmask(SIG_UNBLOCK, &fatal, nullptr);
    struct rlimit none {0, 0};
    ::setrlimit(RLIMIT_CORE, &none);  // a crashed worker leaves no core of the caller's memory
    if (opts.time_limit_ms > 0) {
        rlim_t secs = static_cast<rlim_t>(cpu_limit_s(opts.time_limit_ms));
        struct rlimit cpu {secs, secs + 1};  // SIGXCPU, then SIGKILL a second later
        ::setrlimit(RLIMIT_CPU, &cpu);
    }
    if (opts.memory_limit > 0) {
        rlim_t cap = static_cast<rlim_t>(mapped_bytes() + opts.memory_limit);
        struct rlimit as {cap, cap};
        ::setrlimit(RLIMIT_AS, &as);
    }
    llvm::remove_fatal_error_handler();
    llvm::install_fatal_error_handler(on_llvm_fatal);
    llvm::remove_bad_alloc_error_handler();
    llvm::install_bad_alloc_error_handler(on_llvm_bad_alloc);
    std::set_new_handler(on_new_failure);
#ifdef WEIR_WORKER_ASAN
    __sanitizer_set_death_callback(on_sanitizer_death);
#endif

    WorkerOutput r;
    try {
        if (!opts.inject_fault.empty()) inject(opts);
        r = work();
    } catch (const std::bad_alloc&) {
        die_with(kMemory, "std::bad_alloc", kExitMemory);
    } catch (const std::exception& e) {
        r.result.error = std::string("internal: codegen failed: ") + e.what();
        r.result.bytes.clear();
    }
    bool ok = true;
    for (const std::string& name : r.asked) ok = ok && put(kAsked, name.data(), name.size());
    if (r.result.ok())
        ok = ok && put(kBytes, r.result.bytes.data(), r.result.bytes.size());
    else
        ok = ok && put(kError, r.result.error.data(), r.result.error.size());
    ok = ok && put(kDone, nullptr, 0);
    // End of file now, not after the kernel has torn down this copy of the caller's memory.
    ::close(g_out);
    ::_exit(ok ? 0 : 1);
}

std::string size_text(std::uint64_t bytes) {
    constexpr std::uint64_t MiB = std::uint64_t{1} << 20, GiB = std::uint64_t{1} << 30;
    if (bytes % GiB == 0) return std::to_string(bytes / GiB) + " GiB";
    return std::to_string((bytes + MiB - 1) / MiB) + " MiB";
}

std::string seconds_text(unsigned long long ms) {
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
    return std::to_string(ms) + " ms";
}


constexpr const char* kTooLarge =
    "the policy's generated code is too large; split the policy, or move long lists of values into sets";
constexpr const char* kBug =
    "weir keeps running, but this is a bug in weir or LLVM: please report it with the policy";

std::string timeout_text(unsigned ms) {
    return "the compiler did not finish within its time limit (" + seconds_text(cpu_limit_s(ms) * 1000) +
           " of CPU time, " + seconds_text(wall_limit_ms(ms)) + " in all) and was stopped: " + kTooLarge;
}

WorkerOutput failed(CodegenFailure why, std::string text) {
    WorkerOutput out;
    out.result.failure = why;
    out.result.error = std::move(text);
    return out;
}

std::string fatal_text(const std::string& reason) {
    std::string text = "LLVM failed: " + reason;
    if (reason.find("Branch target out of insn range") != std::string::npos)
        return text + ": a jump in the program is longer than BPF's 16-bit branch offsets reach (32,767 instructions): " +
               kTooLarge;
    if (reason.find("injected") != std::string::npos) return text;
    return text + ": " + kBug;
}

// A worker that ended without a complete result: what its wait status says.
std::string ended_text(int status) {
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        std::string name = std::string("signal ") + std::to_string(sig) + ", " + ::strsignal(sig);
        if (sig == SIGKILL)
            return "the compiler was killed (" + name +
                   "), most likely by the system's out-of-memory killer: " + kTooLarge;
        std::string text = "the compiler crashed (" + name + ") and was stopped; " + kBug;
        if (sig == SIGSEGV) text += " (a very deeply nested policy can also overflow the compiler's stack)";
        return text;
    }
    return "the compiler exited with status " + std::to_string(WEXITSTATUS(status)) +
           " without a result (its message, if any, is on standard error); " + kBug;
}

// What the child's records say. A short record (the child died while writing) ends the list.
struct Parsed {
    bool done = false;       // a complete result
    std::string fatal;       // LLVM's fatal error
    bool memory = false;     // an allocation failed
    bool sanitizer = false;  // the sanitizer runtime ended the child
};

Parsed parse(const std::string& data, WorkerOutput& out) {
    Parsed got;
    std::size_t at = 0;
    while (data.size() - at >= 9) {
        char tag = data[at];
        std::uint64_t n = 0;
        for (int i = 0; i < 8; ++i) n |= std::uint64_t{static_cast<unsigned char>(data[at + 1 + i])} << (8 * i);
        at += 9;
        if (n > data.size() - at) break;
        std::string_view body(data.data() + at, static_cast<std::size_t>(n));
        at += static_cast<std::size_t>(n);
        switch (tag) {
            case kAsked: out.asked.emplace_back(body); break;
            case kBytes: out.result.bytes.assign(body.begin(), body.end()); break;
            case kError: out.result.error.assign(body); break;
            case kDone: got.done = true; break;
            case kFatal: got.fatal.assign(body.empty() ? std::string_view("(no message)") : body); break;
            case kMemory: got.memory = true; break;
            case kSanitizer: got.sanitizer = true; break;
            default: break;
        }
    }
    return got;
}

// Waits for the child; its CPU time in seconds.
double reap(pid_t pid, int& status) {
    struct rusage ru {};
    while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// A worker that has sent its result is left to exit on its own: tearing down its copy of the
// caller's address space takes tens of milliseconds (docs/performance.md), which the caller need
// not wait for. A detached thread reaps it.
void reap_later(pid_t pid) {
    try {
        std::thread([pid] {
            int status;
            reap(pid, status);
        }).detach();
    } catch (const std::system_error&) {
        int status;
        reap(pid, status);
    }
}

// One mutex around pipe + fork: a worker started by another thread meanwhile must not inherit
// this worker's write end.
std::mutex g_fork_mutex;

}  // namespace

WorkerOutput run_in_worker(const std::function<WorkerOutput()>& work, const CodegenOptions& opts) {
    int fds[2];
    pid_t pid;
    pid_t self = ::getpid();
    {
        std::lock_guard<std::mutex> lock(g_fork_mutex);
        if (::pipe2(fds, O_CLOEXEC) != 0)
            return failed(CodegenFailure::Worker,
                          std::string("cannot start the compile worker: pipe: ") + std::strerror(errno));
        pid = ::fork();
        if (pid == 0) child_main(fds[1], fds[0], self, work, opts);
        int fork_errno = errno;
        ::close(fds[1]);
        if (pid < 0) {
            ::close(fds[0]);
            return failed(CodegenFailure::Worker,
                          std::string("cannot start the compile worker: fork: ") + std::strerror(fork_errno));
        }
    }

    // Read until end of file (the child exited) or the time limit.
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::milliseconds(wall_limit_ms(opts.time_limit_ms));
    std::string data;
    bool timed_out = false;
    std::string read_error;
    for (;;) {
        int wait_ms = -1;
        if (opts.time_limit_ms > 0) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0) {
                timed_out = true;
                break;
            }
            wait_ms = static_cast<int>(std::min<long long>(left, INT_MAX));
        }
        pollfd p{fds[0], POLLIN, 0};
        int ready = ::poll(&p, 1, wait_ms);
        if (ready < 0) {
            if (errno == EINTR) continue;
            read_error = std::string("poll: ") + std::strerror(errno);
            break;
        }
        if (ready == 0) continue;  // the loop's head checks the deadline
        char chunk[65536];  // a pipe's default capacity
        ssize_t n = ::read(fds[0], chunk, sizeof chunk);
        if (n > 0) data.append(chunk, static_cast<std::size_t>(n));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            read_error = std::string("read: ") + std::strerror(errno);
            break;
        }
        if (n == 0) break;
    }
    ::close(fds[0]);
    int status = 0;
    if (timed_out || !read_error.empty()) {
        ::kill(pid, SIGKILL);
        reap(pid, status);
    }
    if (timed_out) return failed(CodegenFailure::Timeout, timeout_text(opts.time_limit_ms));
    if (!read_error.empty())
        return failed(CodegenFailure::Worker, "cannot read the compile worker's result: " + read_error);

    WorkerOutput out;
    Parsed got = parse(data, out);
    if (got.done) {
        // The child closed the pipe just before _exit: leave the rest of its exit to a reaper.
        if (::waitpid(pid, &status, WNOHANG) == 0) reap_later(pid);
        if (!out.result.ok()) {
            out.result.bytes.clear();
            if (out.result.failure == CodegenFailure::None) out.result.failure = CodegenFailure::Error;
        }
        return out;
    }
    double cpu = reap(pid, status);
    if (opts.time_limit_ms > 0 && WIFSIGNALED(status) &&
        (WTERMSIG(status) == SIGXCPU || (WTERMSIG(status) == SIGKILL && cpu >= cpu_limit_s(opts.time_limit_ms))))
        return failed(CodegenFailure::Timeout, timeout_text(opts.time_limit_ms));
    if (!got.fatal.empty() || got.memory) {
        if (got.memory)
            return failed(CodegenFailure::OutOfMemory, "the compiler ran out of its " + size_text(opts.memory_limit) +
                                                           " memory limit and was stopped: " + kTooLarge);
        return failed(CodegenFailure::LlvmFatal, fatal_text(got.fatal));
    }
    if (got.sanitizer)
        return failed(CodegenFailure::Crash,
                      "the compiler was stopped by the address sanitizer (its report is on standard error" +
                          (opts.memory_limit > 0
                               ? "; an allocation beyond the " + size_text(opts.memory_limit) + " memory limit ends there too)"
                               : std::string(")")));
    return failed(CodegenFailure::Crash, ended_text(status));
}

}  // namespace weir::cg
