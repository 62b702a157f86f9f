#include "http_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace weir::http {

namespace {

using Clock = std::chrono::steady_clock;

const char* reason(int status) {
    switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
    }
    return "Unknown";
}

std::string client_of(const sockaddr_storage& sa) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (sa.ss_family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(sa).sin_addr, buf, sizeof buf);
    else if (sa.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(sa).sin6_addr, buf, sizeof buf);
    return buf;
}

struct Route {
    Handler handler;
    bool inline_handler = false;
};

struct Conn {
    int fd = -1;
    std::string client;
    Clock::time_point opened;
    Clock::time_point deadline;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    enum class State { Reading, Waiting, Writing } state = State::Reading;
    bool head = false;  // HEAD: the response without its body
};

struct Done {
    std::uint64_t conn;
    Response response;
};

}  // namespace

struct Server::Impl {
    Limits limits;
    int listen_fd = -1;
    int epoll_fd = -1;
    int wake_fd = -1;  // eventfd: stop() and finished worker jobs
    int bound_port = 0;
    std::map<std::string, Route> routes;

    std::unordered_map<std::uint64_t, Conn> conns;  // by connection id (fds are reused)
    std::unordered_map<std::string, std::size_t> per_client;
    std::uint64_t next_id = 1;

    std::atomic<bool> stopping{false};
    std::thread loop_thread;
    std::thread worker_thread;
    std::mutex mu;  // guards waiting, done, stats
    std::condition_variable jobs_cv;
    // Connections waiting for a worker handler, by path: one run of the handler answers all
    // of them, so a flood of requests costs one run per round, not one per request.
    std::map<std::string, std::vector<std::uint64_t>> waiting;
    std::deque<Done> done;
    ServerStats stats;

    ~Impl() {
        for (auto& [id, c] : conns) ::close(c.fd);
        for (int fd : {listen_fd, epoll_fd, wake_fd})
            if (fd >= 0) ::close(fd);
    }

    void count(std::uint64_t ServerStats::*field) {
        std::lock_guard lock(mu);
        ++(stats.*field);
    }

    void wake() {
        std::uint64_t one = 1;
        (void)!::write(wake_fd, &one, sizeof one);
    }

    void close_conn(std::uint64_t id) {
        auto it = conns.find(id);
        if (it == conns.end()) return;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, it->second.fd, nullptr);
        ::close(it->second.fd);
        if (auto pc = per_client.find(it->second.client); pc != per_client.end() && --pc->second == 0)
            per_client.erase(pc);
        conns.erase(it);
    }

    // The oldest connection still sending its request (of `client`, if given).
    std::optional<std::uint64_t> oldest_reading(const std::string* client) const {
        std::optional<std::uint64_t> best;
        Clock::time_point when{};
        for (const auto& [id, c] : conns) {
            if (c.state != Conn::State::Reading || (client && c.client != *client)) continue;
            if (!best || c.opened < when) best = id, when = c.opened;
        }
        return best;
    }

    // Makes room for one more connection of `client`; false when every connection in the way
    // is already being answered (the new one is then refused).
    bool make_room(const std::string& client) {
        if (auto pc = per_client.find(client); pc != per_client.end() && pc->second >= limits.max_per_client) {
            auto victim = oldest_reading(&client);
            if (!victim) return false;
            count(&ServerStats::evicted);  // before the close a client may see
            close_conn(*victim);
        }
        if (conns.size() >= limits.max_connections) {
            auto victim = oldest_reading(nullptr);
            if (!victim) return false;
            count(&ServerStats::evicted);
            close_conn(*victim);
        }
        return true;
    }

    void accept_all() {
        for (;;) {
            sockaddr_storage sa{};
            socklen_t len = sizeof sa;
            int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;  // EAGAIN, or out of fds: the next readiness tries again
            }
            count(&ServerStats::accepted);
            std::string client = client_of(sa);
            if (!make_room(client)) {
                ::close(fd);
                continue;
            }
            std::uint64_t id = next_id++;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u64 = id;
            if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
                ::close(fd);
                continue;
            }
            Conn c;
            c.fd = fd;
            c.client = client;
            c.opened = Clock::now();
            c.deadline = c.opened + limits.request_deadline;
            conns.emplace(id, std::move(c));
            ++per_client[client];
        }
    }

    void respond(std::uint64_t id, const Response& r) {
        auto it = conns.find(id);
        if (it == conns.end()) return;
        Conn& c = it->second;
        std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) +
                           "\r\nContent-Type: " + r.content_type +
                           "\r\nContent-Length: " + std::to_string(r.body.size()) +
                           "\r\nConnection: close\r\n\r\n";
        c.out = c.head ? std::move(head) : head + r.body;
        c.sent = 0;
        c.state = Conn::State::Writing;
        c.deadline = Clock::now() + limits.response_deadline;
        epoll_event ev{};
        ev.events = EPOLLOUT | EPOLLRDHUP;
        ev.data.u64 = id;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
        write_some(id);
    }

    void write_some(std::uint64_t id) {
        auto it = conns.find(id);
        if (it == conns.end()) return;
        Conn& c = it->second;
        while (c.sent < c.out.size()) {
            ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                close_conn(id);
                return;
            }
            c.sent += static_cast<std::size_t>(n);
        }
        count(&ServerStats::served);
        ::shutdown(c.fd, SHUT_WR);
        close_conn(id);
    }

    void reject(std::uint64_t id, int status, const char* text) {
        count(&ServerStats::rejected);
        respond(id, {status, "text/plain", text});
    }

    // Parses a complete request head and answers it (or hands it to the worker).
    void dispatch(std::uint64_t id, std::string_view headtext) {
        Conn& c = conns.at(id);
        std::string_view line = headtext.substr(0, headtext.find('\n'));
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        std::size_t sp1 = line.find(' ');
        std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
        if (sp2 == std::string_view::npos) return reject(id, 400, "bad request\n");
        std::string_view method = line.substr(0, sp1);
        std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        std::string_view version = line.substr(sp2 + 1);
        if (version != "HTTP/1.1" && version != "HTTP/1.0")
            return reject(id, 505, "HTTP/1.0 or HTTP/1.1 only\n");
        c.head = method == "HEAD";
        if (method != "GET" && method != "HEAD") return reject(id, 405, "GET or HEAD only\n");
        std::string path(target.substr(0, target.find('?')));
        auto route = routes.find(path);
        if (route == routes.end()) return reject(id, 404, "not found\n");
        if (route->second.inline_handler) return respond(id, run(route->second.handler));
        c.state = Conn::State::Waiting;
        c.deadline = Clock::now() + limits.response_deadline;
        epoll_event ev{};
        ev.events = EPOLLRDHUP;  // only notice a client that gives up
        ev.data.u64 = id;
        ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
        {
            std::lock_guard lock(mu);
            waiting[path].push_back(id);
        }
        jobs_cv.notify_one();
    }

    static Response run(const Handler& h) {
        try {
            return h();
        } catch (const std::exception& e) {
            return {500, "text/plain", std::string("internal error: ") + e.what() + "\n"};
        } catch (...) {
            return {500, "text/plain", "internal error\n"};
        }
    }

    void read_some(std::uint64_t id) {
        auto it = conns.find(id);
        if (it == conns.end()) return;
        Conn& c = it->second;
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;
                close_conn(id);
                return;
            }
            if (n == 0) {  // the client closed before a complete request
                close_conn(id);
                return;
            }
            c.in.append(buf, static_cast<std::size_t>(n));
            std::size_t end = c.in.find("\r\n\r\n");
            if (end == std::string::npos) end = c.in.find("\n\n");
            if (end != std::string::npos) {
                std::string head = c.in.substr(0, end);
                return dispatch(id, head);
            }
            if (c.in.size() > limits.max_request_bytes)
                return reject(id, 431, "request head too large\n");
        }
    }

    void finish_jobs() {
        std::deque<Done> ready;
        {
            std::lock_guard lock(mu);
            ready.swap(done);
        }
        for (Done& d : ready) {
            auto it = conns.find(d.conn);
            if (it == conns.end() || it->second.state != Conn::State::Waiting) continue;
            respond(d.conn, d.response);
        }
    }

    void expire() {
        auto now = Clock::now();
        std::vector<std::uint64_t> late;
        for (const auto& [id, c] : conns)
            if (now >= c.deadline) late.push_back(id);
        for (std::uint64_t id : late) {
            count(&ServerStats::timed_out);  // before the close a client may see
            close_conn(id);
        }
    }

    int next_timeout_ms() const {
        if (conns.empty()) return 1000;
        auto first = Clock::time_point::max();
        for (const auto& [id, c] : conns) first = std::min(first, c.deadline);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(first - Clock::now()).count() + 1;
        return static_cast<int>(std::clamp<long long>(ms, 0, 1000));
    }

    void loop() {
        epoll_event events[64];
        while (!stopping.load()) {
            int n = ::epoll_wait(epoll_fd, events, 64, next_timeout_ms());
            if (n < 0 && errno != EINTR) break;
            for (int i = 0; i < n; ++i) {
                std::uint64_t id = events[i].data.u64;
                if (id == 0) {
                    accept_all();
                } else if (id == ~std::uint64_t{0}) {
                    std::uint64_t v;
                    (void)!::read(wake_fd, &v, sizeof v);
                    finish_jobs();
                } else {
                    auto it = conns.find(id);
                    if (it == conns.end()) continue;
                    std::uint32_t e = events[i].events;
                    if (it->second.state == Conn::State::Reading && (e & EPOLLIN)) read_some(id);
                    else if (it->second.state == Conn::State::Writing && (e & EPOLLOUT)) write_some(id);
                    else if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) close_conn(id);
                }
            }
            expire();
        }
    }

    void work() {
        for (;;) {
            std::string path;
            std::vector<std::uint64_t> ids;
            {
                std::unique_lock lock(mu);
                jobs_cv.wait(lock, [&] { return stopping.load() || !waiting.empty(); });
                if (stopping.load()) return;
                auto first = waiting.begin();
                path = first->first;
                ids.swap(first->second);
                waiting.erase(first);
            }
            Response r = run(routes.at(path).handler);  // routes do not change once started
            {
                std::lock_guard lock(mu);
                for (std::uint64_t id : ids) done.push_back({id, r});
            }
            wake();
        }
    }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(); }

std::unique_ptr<Server> Server::bind(const std::string& host, int port, const Limits& limits, std::string& error) {
    auto impl = std::make_unique<Impl>();
    impl->limits = limits;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res); rc != 0) {
        error = "cannot resolve '" + host + "': " + ::gai_strerror(rc);
        return nullptr;
    }
    std::string last = "no address";
    for (addrinfo* ai = res; ai && impl->listen_fd < 0; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = std::strerror(errno);
            continue;
        }
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
            last = std::strerror(errno);
            ::close(fd);
            continue;
        }
        impl->listen_fd = fd;
    }
    ::freeaddrinfo(res);
    if (impl->listen_fd < 0) {
        error = last;
        return nullptr;
    }
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    ::getsockname(impl->listen_fd, reinterpret_cast<sockaddr*>(&sa), &len);
    impl->bound_port = ntohs(sa.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(sa).sin6_port
                                                       : reinterpret_cast<sockaddr_in&>(sa).sin_port);
    impl->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
    impl->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (impl->epoll_fd < 0 || impl->wake_fd < 0) {
        error = std::string("epoll: ") + std::strerror(errno);
        return nullptr;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    ::epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->listen_fd, &ev);
    ev.data.u64 = ~std::uint64_t{0};
    ::epoll_ctl(impl->epoll_fd, EPOLL_CTL_ADD, impl->wake_fd, &ev);
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::get(const std::string& path, Handler handler, bool inline_handler) {
    impl_->routes[path] = Route{std::move(handler), inline_handler};
}

void Server::start() {
    if (impl_->loop_thread.joinable()) return;
    impl_->worker_thread = std::thread([this] { impl_->work(); });
    impl_->loop_thread = std::thread([this] { impl_->loop(); });
}

void Server::stop() {
    if (!impl_) return;
    {
        std::lock_guard lock(impl_->mu);
        impl_->stopping = true;
    }
    impl_->jobs_cv.notify_all();
    impl_->wake();
    if (impl_->loop_thread.joinable()) impl_->loop_thread.join();
    if (impl_->worker_thread.joinable()) impl_->worker_thread.join();
}

int Server::port() const { return impl_->bound_port; }

ServerStats Server::stats() const {
    std::lock_guard lock(impl_->mu);
    return impl_->stats;
}

}  // namespace weir::http
