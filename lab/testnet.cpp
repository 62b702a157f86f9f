#include "testnet.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace weir::test {
namespace {

constexpr const char* kNetnsPrefix = "weirt-";  // weirt-<pid>-<n>
constexpr const char* kLinkPrefix = "wt";       // wt<pid>.<n>h / wt<pid>.<n>p (<= 15 chars)

std::atomic<unsigned> g_instances{0};

struct Command {
    int status = -1;
    std::string output;  // stdout and stderr
};

// Runs `ip` with the arguments, capturing its output (never printed).
Command run_ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);

    Command out;
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) < 0) {
        out.output = std::string("pipe: ") + std::strerror(errno);
        return out;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], 2);
    pid_t pid = -1;
    int err = ::posix_spawnp(&pid, "ip", &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipefd[1]);
    if (err != 0) {
        ::close(pipefd[0]);
        out.output = std::string("cannot run ip: ") + std::strerror(err);
        return out;
    }
    char buf[512];
    for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        out.output.append(buf, std::size_t(n));
    }
    ::close(pipefd[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return out;
}

std::string joined(const std::vector<std::string>& args) {
    std::string s = "ip";
    for (const auto& a : args) s += " " + a;
    return s;
}

void must(const std::vector<std::string>& args) {
    Command c = run_ip(args);
    if (c.status != 0)
        throw std::runtime_error("TestNet: `" + joined(args) + "` failed: " + c.output);
}

std::string mac_text(const TestNet::Mac& m) {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    return buf;
}

std::string ip4_text(std::uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." +
           std::to_string((a >> 8) & 0xff) + "." + std::to_string(a & 0xff);
}

void set_gro(const std::string& ifname, bool on) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("TestNet: socket: ") + std::strerror(errno));
    ethtool_value value{};
    value.cmd = ETHTOOL_SGRO;
    value.data = on ? 1 : 0;
    ifreq req{};
    std::snprintf(req.ifr_name, sizeof req.ifr_name, "%s", ifname.c_str());
    req.ifr_data = reinterpret_cast<char*>(&value);
    int rc = ::ioctl(fd, SIOCETHTOOL, &req);
    int err = errno;
    ::close(fd);
    if (rc < 0)
        throw std::runtime_error("TestNet: turn GRO " + std::string(on ? "on" : "off") + " on " +
                                 ifname + ": " + std::strerror(err));
}

// The pid in "<prefix><pid><sep>...", or 0.
long pid_of(const std::string& name, const std::string& prefix) {
    if (name.compare(0, prefix.size(), prefix) != 0) return 0;
    const char* p = name.c_str() + prefix.size();
    char* end = nullptr;
    long pid = std::strtol(p, &end, 10);
    if (end == p || (*end != '-' && *end != '.')) return 0;
    return pid;
}

bool process_gone(long pid) { return pid > 0 && ::kill(pid_t(pid), 0) < 0 && errno == ESRCH; }

std::vector<std::string> list_dir(const char* path) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(path)) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') names.emplace_back(e->d_name);
        ::closedir(d);
    }
    return names;
}

}  // namespace

TestNet::TestNet(TestNetOptions options) {
    const long pid = long(::getpid());
    const unsigned n = g_instances.fetch_add(1) % 1000;
    netns_ = kNetnsPrefix + std::to_string(pid) + "-" + std::to_string(n);
    std::string base = kLinkPrefix + std::to_string(pid) + "." + std::to_string(n);
    host_if_ = base + "h";
    peer_if_ = base + "p";
    subnet_ = unsigned((pid * 7 + long(n)) % 512);
    host_ip4_ = (198u << 24) | ((18u + subnet_ / 256) << 16) | ((subnet_ % 256) << 8) | 1;
    peer_ip4_ = host_ip4_ + 1;
    char six[40];
    std::snprintf(six, sizeof six, "2001:2:0:%x::", subnet_);
    host_ip6_ = std::string(six) + "1";
    peer_ip6_ = std::string(six) + "2";
    host_mac_ = {0x02, 0x77, 0x74, std::uint8_t(subnet_ >> 8), std::uint8_t(subnet_), 0x01};
    peer_mac_ = host_mac_;
    peer_mac_[5] = 0x02;
    try {
        setup(options);
    } catch (...) {
        teardown();
        throw;
    }
}

TestNet::~TestNet() { teardown(); }

void TestNet::setup(const TestNetOptions& options) {
    remove_stale();
    must({"netns", "add", netns_});
    std::string path = "/run/netns/" + netns_;
    netns_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd_ < 0)
        throw std::runtime_error("TestNet: open " + path + ": " + std::strerror(errno));
    unsigned queues = options.queues;
    if (queues == 0) queues = std::max(1u, std::thread::hardware_concurrency());
    const std::string q = std::to_string(queues);
    must({"link", "add", "name", host_if_, "address", mac_text(host_mac_), "numtxqueues", q,
          "numrxqueues", q, "type", "veth", "peer", "name", peer_if_, "address", mac_text(peer_mac_),
          "numtxqueues", q, "numrxqueues", q, "netns", netns_});
    // No IPv6 link-local addresses (and so no router solicitations or MLD reports on the link).
    must({"link", "set", "dev", host_if_, "addrgenmode", "none"});
    must({"-n", netns_, "link", "set", "dev", peer_if_, "addrgenmode", "none"});
    const std::string plen4 = "/24", plen6 = "/64";
    must({"addr", "add", host_ip4_text() + plen4, "dev", host_if_});
    must({"-6", "addr", "add", host_ip6_ + plen6, "dev", host_if_, "nodad"});
    must({"-n", netns_, "addr", "add", peer_ip4_text() + plen4, "dev", peer_if_});
    if (options.peer_ip6)
        must({"-n", netns_, "-6", "addr", "add", peer_ip6_ + plen6, "dev", peer_if_, "nodad"});
    if (options.static_neighbors) {
        must({"neigh", "replace", peer_ip4_text(), "lladdr", mac_text(peer_mac_), "dev", host_if_,
              "nud", "permanent"});
        must({"-6", "neigh", "replace", peer_ip6_, "lladdr", mac_text(peer_mac_), "dev", host_if_,
              "nud", "permanent"});
        must({"-n", netns_, "neigh", "replace", host_ip4_text(), "lladdr", mac_text(host_mac_), "dev",
              peer_if_, "nud", "permanent"});
        must({"-n", netns_, "-6", "neigh", "replace", host_ip6_, "lladdr", mac_text(host_mac_), "dev",
              peer_if_, "nud", "permanent"});
    }
    if (options.host_gro) set_gro(host_if_, true);
    must({"-n", netns_, "link", "set", "dev", "lo", "up"});
    must({"-n", netns_, "link", "set", "dev", peer_if_, "up"});
    must({"link", "set", "dev", host_if_, "up"});

    host_ifindex_ = int(::if_nametoindex(host_if_.c_str()));
    if (host_ifindex_ == 0)
        throw std::runtime_error("TestNet: " + host_if_ + " vanished: " + std::strerror(errno));
    peer_ifindex_ = run_in_netns([&] { return int(::if_nametoindex(peer_if_.c_str())); });
    if (peer_ifindex_ == 0) throw std::runtime_error("TestNet: " + peer_if_ + " not found in " + netns_);
}

void TestNet::teardown() noexcept {
    if (netns_fd_ >= 0) ::close(netns_fd_);
    netns_fd_ = -1;
    // Deleting one end deletes both, synchronously; deleting the namespace alone would leave
    // the host end until the kernel's asynchronous namespace cleanup ran.
    run_ip({"link", "del", "dev", host_if_});
    run_ip({"netns", "del", netns_});
}

void TestNet::remove_stale() {
    for (const std::string& name : list_dir("/run/netns"))
        if (process_gone(pid_of(name, kNetnsPrefix))) run_ip({"netns", "del", name});
    for (const std::string& name : list_dir("/sys/class/net"))
        if (process_gone(pid_of(name, kLinkPrefix))) run_ip({"link", "del", "dev", name});
}

std::string TestNet::host_ip4_text() const { return ip4_text(host_ip4_); }
std::string TestNet::peer_ip4_text() const { return ip4_text(peer_ip4_); }

void TestNet::in_netns(const std::function<void()>& body) const {
    std::exception_ptr failure;
    std::thread worker([&] {
        try {
            if (::setns(netns_fd_, CLONE_NEWNET) < 0)
                throw std::runtime_error("TestNet: enter " + netns_ + ": " + std::strerror(errno));
            body();
        } catch (...) {
            failure = std::current_exception();
        }
    });
    worker.join();
    if (failure) std::rethrow_exception(failure);
}

}  // namespace weir::test
