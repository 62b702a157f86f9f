// Swaps that roll back unless confirmed (confirm.hpp): arming, the watcher, rollback, confirm.
#include "confirm.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <vector>

#include "attach_detail.hpp"
#include "weir_abi.h"

extern char** environ;

namespace weir::attach::confirm {
namespace {

using namespace detail;

bpf::Error sys_error(std::string what, int err) {
    return bpf::Error{std::move(what) + ": " + std::strerror(err), {}, -err};
}

std::string random_token() {
    unsigned char b[8] = {};
    if (::getrandom(b, sizeof b, 0) != sizeof b) {  // not secret, only distinct
        auto t = static_cast<std::uint64_t>(boottime_ns()) ^ (static_cast<std::uint64_t>(::getpid()) << 40);
        std::memcpy(b, &t, sizeof b);
    }
    static const char* hex = "0123456789abcdef";
    std::string s;
    for (unsigned char c : b) s += hex[c >> 4], s += hex[c & 15];
    return s;
}

// The program the watcher runs as `EXE confirm-watch`: the weir binary. $WEIR_CONFIRM_WATCHER
// names it; else this executable if it is called weir, else `weir` on $PATH. Never another
// program: an embedder's own binary would not know `confirm-watch`.
std::string watcher_exe() {
    if (const char* e = std::getenv("WEIR_CONFIRM_WATCHER"); e && *e) return e;
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    std::string self = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    if (self.size() >= 5 && self.compare(self.size() - 5, 5, "/weir") == 0) return self;
    const char* path = std::getenv("PATH");
    for (std::string rest = path ? path : ""; !rest.empty();) {
        std::size_t colon = rest.find(':');
        std::string cand = rest.substr(0, colon) + "/weir";
        if (!cand.starts_with("/")) cand.clear();  // only absolute folders
        rest = colon == std::string::npos ? "" : rest.substr(colon + 1);
        if (!cand.empty() && ::access(cand.c_str(), X_OK) == 0) return cand;
    }
    return {};
}

bool systemd_running() { return ::access("/run/systemd/system", F_OK) == 0; }

int run_and_wait(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int err = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) return -1;
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A transient timer unit: it outlives the session (logind's KillUserProcesses kills whatever a
// session started, setsid or not) and systemd keeps it across the watcher crashing.
std::string start_unit(const std::vector<std::string>& cmd, const std::string& token, std::chrono::seconds window) {
    const std::string unit = "weir-confirm-" + token;
    std::vector<std::string> args = {"systemd-run", "--quiet", "--collect", "--unit=" + unit,
                                     "--on-active=" + std::to_string(window.count()) + "s",
                                     "--timer-property=AccuracySec=100ms"};
    for (const char* v : {"WEIR_PIN_ROOT", "WEIR_RUN_DIR"})
        if (const char* e = std::getenv(v); e && *e) args.push_back(std::string("--setenv=") + v + "=" + e);
    args.push_back("--");
    args.insert(args.end(), cmd.begin(), cmd.end());
    return run_and_wait(args) == 0 ? unit + ".timer" : std::string();
}

// A grandchild in its own session (a killed process group or a hung-up terminal does not reach
// it), stdio on /dev/null, SIGHUP ignored, no inherited descriptors or blocked signals. Between
// fork and exec only async-signal-safe calls: the caller may have threads (the daemon).
bpf::Result<pid_t> start_detached(const std::vector<std::string>& cmd) {
    std::vector<char*> argv;
    for (const auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return sys_error("start the confirmation watcher: pipe", errno);
    pid_t mid = ::fork();
    if (mid < 0) {
        int err = errno;
        ::close(fds[0]), ::close(fds[1]);
        return sys_error("start the confirmation watcher: fork", err);
    }
    if (mid == 0) {
        ::setsid();
        pid_t w = ::fork();
        if (w == 0) {
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            struct sigaction ign {};
            ign.sa_handler = SIG_IGN;
            ::sigaction(SIGHUP, &ign, nullptr);
            int null = ::open("/dev/null", O_RDWR);
            if (null >= 0) ::dup2(null, 0), ::dup2(null, 1), ::dup2(null, 2);
            if (::chdir("/") != 0) {  // keep no mount busy
            }
            ::syscall(SYS_close_range, 3u, ~0u, 0u);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        ssize_t n = ::write(fds[1], &w, sizeof w);
        ::_exit(n == sizeof w && w > 0 ? 0 : 1);
    }
    ::close(fds[1]);
    int status = 0;
    while (::waitpid(mid, &status, 0) < 0 && errno == EINTR) {
    }
    pid_t w = -1;
    ssize_t n = ::read(fds[0], &w, sizeof w);
    ::close(fds[0]);
    if (n != sizeof w || w <= 0) return sys_error("start the confirmation watcher", ECHILD);
    return w;
}


std::uint32_t map_id(int fd) {
    bpf_map_info mi{};
    std::uint32_t len = sizeof mi;
    return fd >= 0 && bpf_obj_get_info_by_fd(fd, &mi, &len) == 0 ? mi.id : 0;
}

// The counters the unconfirmed program counted, into the previous program's weir_rules when
// the swap gave it a bigger one (a shared table needs nothing).
bpf::Status copy_counters_back(const pins::Pinned& p, const pins::PolicyMeta& cur, const pins::PolicyMeta& prev,
                               int prev_prog) {
    auto maps = pins::prog_maps(prev_prog);
    if (!maps) return maps.error();
    auto it = maps->find(WEIR_MAP_RULES);
    const int now_rules = p.map(WEIR_MAP_RULES);
    if (it == maps->end() || now_rules < 0 || map_id(it->second.get()) == map_id(now_rules)) return bpf::ok();
    for (const auto& [name, slot] : prev.slots) {
        auto s = cur.slots.find(name);
        if (s == cur.slots.end()) continue;
        auto raw = bpf::lookup_percpu(now_rules, s->second, sizeof(weir_counter));
        if (!raw) return raw.error();
        if (auto st = bpf::update(it->second.get(), slot, std::span<const unsigned char>(*raw)); !st) return st;
    }
    return bpf::ok();
}

// The rollback itself: the link back on rollback_prog, pins on it and its maps, the record,
// the unconfirmed policy's tables dropped. Idempotent: after a crash midway, the next command
// finishes it (the link already runs the previous program).
std::string roll_back(const std::string& ifname, pins::Pinned& p, pins::Meta& m, Failure& failure) {
    const pins::Rollback rb = *m.rollback;
    const std::string from = m.current ? "policy '" + m.current->policy + "'" : "the policy";
    const std::string why = from + " was not confirmed within " + std::to_string(rb.window_s) + " s";
    if (!rb.previous) {  // an armed first load: nothing ran before it
        if (p.link) bpf_link_detach(p.link.get());
        if (auto st = pins::remove_dir(ifname); !st) failure = env_failure(st.error().message);
        stop_watcher(rb);
        return why + "; detached it (no policy ran before)";
    }
    const pins::PolicyMeta& prev = *rb.previous;
    std::uint32_t running = 0;
    if (p.link)
        if (auto li = pins::link_info(p.link.get())) running = li->prog_id;
    bpf::Fd prog;
    if (running == prev.prog_id) {
        if (auto fd = pins::prog_by_id(prev.prog_id)) prog = std::move(*fd);
    } else if (auto fd = pins::open_pin(pins::path(ifname, pins::kRollbackProg))) {
        prog = std::move(*fd);
        if (m.current)
            if (auto st = copy_counters_back(p, *m.current, prev, prog.get()); !st) {
                failure = env_failure("roll back: copy counters: " + st.error().message);
                return {};
            }
        // ENOLINK: the interface is gone and its link severed; nothing enforces either policy,
        // and the record still goes back to the previous one, so status and unload keep working.
        if (bpf_link_update(p.link.get(), prog.get(), nullptr) != 0 && errno != ENOLINK) {
            failure = env_failure(std::string("roll back: bpf_link_update: ") + std::strerror(errno));
            return {};
        }
    }
    if (!prog) {
        failure = env_failure("roll back to policy '" + prev.policy + "': its program is gone (" +
                              pins::path(ifname, pins::kRollbackProg) + ")");
        return {};
    }
    if (auto st = finish_pins(p, prog.get()); !st) {
        failure = env_failure("roll back: " + st.error().message);
        return {};
    }
    pins::PolicyMeta now = prev;
    now.loaded_at = static_cast<std::int64_t>(std::time(nullptr));
    now.swaps = std::max(prev.swaps, m.current ? m.current->swaps : 0) + 1;
    m.current = now;
    m.pending.reset();
    m.rollback.reset();
    if (auto st = pins::write_meta(p.meta.get(), m); !st) {
        failure = env_failure("roll back: " + st.error().message);
        return {};
    }
    (void)cleanup(p, std::nullopt, now);
    ::unlink(pins::path(ifname, pins::kRollbackProg).c_str());
    stop_watcher(rb);
    return why + "; rolled back to policy '" + prev.policy + "'";
}

struct Opened {
    pins::Pinned p;
    pins::Meta m;
};

std::optional<Opened> open_meta(const std::string& ifname) {
    if (!pins::exists(pins::dir(ifname))) return std::nullopt;
    auto p = pins::open_pinned(ifname);
    if (!p || !p->meta) return std::nullopt;
    auto m = pins::read_meta(p->meta.get());
    if (!m) return std::nullopt;
    return Opened{std::move(*p), std::move(*m)};
}

bool due(const pins::Rollback& r) { return r.boot_id != boot_id() || boottime_ns() >= r.deadline_ns; }

}  // namespace

std::int64_t boottime_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string boot_id() {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string s;
    std::getline(in, s);
    return s;
}

std::int64_t deadline_unix(const pins::Rollback& r) {
    const std::int64_t left_ns = std::max<std::int64_t>(0, r.deadline_ns - boottime_ns());
    return static_cast<std::int64_t>(std::time(nullptr)) + (left_ns + 999'999'999) / 1'000'000'000;
}

void stop_watcher(const pins::Rollback& r) {
    if (!r.watcher_unit.empty()) (void)run_and_wait({"systemctl", "stop", r.watcher_unit});
    if (r.watcher_pid > 0 && r.watcher_pid != ::getpid()) {
        std::ifstream in("/proc/" + std::to_string(r.watcher_pid) + "/cmdline", std::ios::binary);
        std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (cmdline.find("confirm-watch") != std::string::npos && cmdline.find(r.token) != std::string::npos)
            ::kill(r.watcher_pid, SIGTERM);
    }
}

namespace {

bpf::Result<pins::Rollback> make_rollback(const std::string& ifname, const pins::Pinned& p, const pins::Meta& meta,
                                          std::chrono::seconds window) {
    pins::Rollback r;
    if (meta.rollback) {
        r.previous = meta.rollback->previous;  // the last confirmed policy; rollback_prog stays
    } else if (meta.current) {
        r.previous = meta.current;
        auto li = p.link ? pins::link_info(p.link.get()) : bpf::Result<pins::LinkInfo>(sys_error("link", ENOENT));
        if (!li) return li.error();
        auto prog = pins::prog_by_id(li->prog_id);
        if (!prog) return prog.error();
        if (auto st = pins::replace_pin(prog->get(), pins::path(ifname, pins::kRollbackProg)); !st) return st.error();
    }
    r.window_s = static_cast<std::uint32_t>(window.count());
    r.deadline_ns = boottime_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(window).count();
    r.boot_id = boot_id();
    r.token = random_token();
    const std::string exe = watcher_exe();
    if (exe.empty())
        return sys_error("start the confirmation watcher: no weir executable (this program is not weir, none on "
                         "$PATH; set $WEIR_CONFIRM_WATCHER)", ENOENT);
    const std::vector<std::string> cmd = {exe, "confirm-watch", "--dev", ifname, "--token", r.token};
    if (systemd_running()) r.watcher_unit = start_unit(cmd, r.token, window);
    if (r.watcher_unit.empty()) {
        auto pid = start_detached(cmd);
        if (!pid) return pid.error();
        r.watcher_pid = *pid;
    }
    return r;
}

}  // namespace

bpf::Status arm(const std::string& ifname, const pins::Pinned& p, pins::Meta& meta, std::chrono::seconds window) {
    auto r = make_rollback(ifname, p, meta, window);
    if (!r) return r.error();
    std::optional<pins::Rollback> before = std::move(meta.rollback);
    meta.rollback = std::move(*r);
    auto st = pins::write_meta(p.meta.get(), meta);
    if (st && before) stop_watcher(*before);  // it would find another token and do nothing
    if (st) maybe_kill("after-arm");  // $WEIR_INJECT_KILL only: not one of inject_points()
    return st;
}

std::string refusal(const LoadOptions& o, const std::optional<pins::Meta>& m) {
    if (!m || !m->rollback || o.confirm_within.count() > 0 || o.dry_run) return {};
    return pending_text(o.ifname, *m) + "; confirm it first, or load with --confirm-within";
}

std::string watcher_text(const pins::Rollback& r) {
    std::string s = "rollback to " + (r.previous ? "'" + r.previous->policy + "'" : std::string("nothing (detach)")) +
                    " in " + std::to_string(r.window_s) + " s unless confirmed, watcher ";
    return s + (r.watcher_unit.empty() ? "pid " + std::to_string(r.watcher_pid) : r.watcher_unit);
}

pins::PolicyMeta keep(const pins::Meta& m, const pins::PolicyMeta& now) {
    if (!m.rollback || !m.rollback->previous) return now;
    pins::PolicyMeta k = now;
    const pins::PolicyMeta& prev = *m.rollback->previous;
    for (const auto& [name, slot] : prev.slots) k.slots.emplace("\x01" + name, slot);  // both, by value
    k.sets.insert(k.sets.end(), prev.sets.begin(), prev.sets.end());
    if (prev.shadow) {  // the target's candidate runs again after a rollback
        for (const auto& [name, slot] : prev.shadow->slots) k.slots.emplace("\x02" + name, slot);
        k.sets.insert(k.sets.end(), prev.shadow->sets.begin(), prev.shadow->sets.end());
    }
    return k;
}

std::string pending_text(const std::string& ifname, const pins::Meta& m) {
    if (!m.rollback) return {};
    const pins::Rollback& r = *m.rollback;
    const std::int64_t left = std::max<std::int64_t>(0, (r.deadline_ns - boottime_ns() + 999'999'999) / 1'000'000'000);
    return "policy '" + (m.current ? m.current->policy : std::string("?")) + "' on '" + ifname +
           "' awaits confirmation: unless `weir confirm --dev " + ifname + "` runs within " + std::to_string(left) +
           " s, " + (r.previous ? "policy '" + r.previous->policy + "' is swapped back" : "it is detached");
}

std::string expire(const std::string& ifname, Failure& failure) {
    auto o = open_meta(ifname);
    if (!o || !o->m.rollback || o->m.pending) return {};
    const pins::Rollback rb = *o->m.rollback;
    if (rb.previous && o->m.current && rb.previous->prog_id == o->m.current->prog_id) {
        // The armed swap never happened (a load killed between arm and swap, then undone).
        o->m.rollback.reset();
        if (auto st = pins::write_meta(o->p.meta.get(), o->m); !st) return failure = env_failure(st.error().message), "";
        ::unlink(pins::path(ifname, pins::kRollbackProg).c_str());
        stop_watcher(rb);
        return "dropped the rollback of an interrupted swap (policy '" + rb.previous->policy + "' kept running)";
    }
    return due(rb) ? roll_back(ifname, o->p, o->m, failure) : std::string();
}

Outcome confirm(const std::string& ifname, std::string& message) {
    auto lock = pins::Lock::acquire(ifname);
    if (!lock) return message = lock.error().message, Outcome::Failed;
    Failure f;
    std::string note = recover(ifname, f);  // an expired swap rolls back first: too late to confirm
    if (f) return message = f.message, Outcome::Failed;
    auto o = open_meta(ifname);
    if (!o || !o->m.rollback || !o->m.current) {
        message = note.empty() ? "nothing awaits confirmation on '" + ifname + "'" : note + " before this confirm";
        return Outcome::Nothing;
    }
    const pins::Rollback rb = *o->m.rollback;
    o->m.rollback.reset();
    if (auto st = pins::write_meta(o->p.meta.get(), o->m); !st) return message = st.error().message, Outcome::Failed;
    (void)cleanup(o->p, std::nullopt, *o->m.current);  // the previous policy's tables and slots
    ::unlink(pins::path(ifname, pins::kRollbackProg).c_str());
    stop_watcher(rb);
    message = "policy '" + o->m.current->policy + "' on '" + ifname + "' confirmed" +
              (rb.previous ? "; policy '" + rb.previous->policy + "' will not be swapped back" : "");
    return Outcome::Done;
}

Outcome watch(const std::string& ifname, const std::string& token, std::string& message) {
    for (;;) {
        std::int64_t deadline = 0;
        {
            auto lock = pins::Lock::acquire(ifname);
            if (!lock) return message = lock.error().message, Outcome::Failed;
            auto o = open_meta(ifname);
            if (!o || !o->m.rollback || o->m.rollback->token != token) {
                message = "nothing to roll back on '" + ifname + "' (confirmed, rolled back, replaced or unloaded)";
                return Outcome::Nothing;
            }
            if (due(*o->m.rollback)) {
                Failure f;
                message = recover(ifname, f);  // finishes an interrupted swap first, then expire()
                if (f) return message = f.message, Outcome::Failed;
                return Outcome::Done;
            }
            deadline = o->m.rollback->deadline_ns;
        }
        timespec ts{static_cast<time_t>(deadline / 1'000'000'000), static_cast<long>(deadline % 1'000'000'000)};
        while (::clock_nanosleep(CLOCK_BOOTTIME, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
        }
    }
}

}  // namespace weir::attach::confirm
