// daemon/http_server.*: answers, limits, deadlines, and a scrape that gets through while
// hundreds of idle or trickling connections (slowloris) are open.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <doctest/doctest.h>
#include <string>
#include <thread>
#include <vector>

#include "http_server.hpp"

using namespace weir::http;
using namespace std::chrono_literals;

namespace {

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

// A TCP connection to 127.0.0.1:port from `source` (another loopback address is another client).
Fd connect_to(int port, const char* source = "127.0.0.1") {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &src.sin_addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0);
    return Fd(fd);
}

void send_all(int fd, const std::string& s) {
    REQUIRE(::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()));
}

// Everything the server sends until it closes, or until `limit` passes ("" + timed_out then).
std::string read_all(int fd, std::chrono::milliseconds limit, bool* timed_out = nullptr) {
    std::string out;
    auto until = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            if (timed_out) *timed_out = true;
            return out;
        }
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

std::string get(int port, const std::string& request, const char* source = "127.0.0.1",
                std::chrono::milliseconds limit = 5s) {
    Fd c = connect_to(port, source);
    send_all(c.fd, request);
    return read_all(c.fd, limit);
}

std::unique_ptr<Server> serve(Limits limits = {}) {
    std::string error;
    auto s = Server::bind("127.0.0.1", 0, limits, error);
    REQUIRE_MESSAGE(s, error);
    s->get("/healthz", [] { return Response{200, "text/plain", "ok\n"}; }, true);
    s->get("/metrics", [] { return Response{200, "text/plain; version=0.0.4", "weir_up 1\n"}; });
    s->start();
    return s;
}

}  // namespace

TEST_CASE("http: GET and HEAD are answered, once per connection") {
    auto s = serve();
    std::string r = get(s->port(), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(r.find("Content-Type: text/plain; version=0.0.4\r\n") != std::string::npos);
    CHECK(r.find("Content-Length: 10\r\n") != std::string::npos);
    CHECK(r.find("Connection: close\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 10) == "weir_up 1\n");

    r = get(s->port(), "HEAD /healthz?verbose=1 HTTP/1.0\r\n\r\n");
    CHECK(r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(r.find("Content-Length: 3\r\n") != std::string::npos);
    CHECK(r.substr(r.size() - 4) == "\r\n\r\n");  // no body
}

TEST_CASE("http: bad requests get 4xx, never a handler") {
    auto s = serve();
    CHECK(get(s->port(), "GET /nothing HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404 ", 0) == 0);
    CHECK(get(s->port(), "POST /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 405 ", 0) == 0);
    CHECK(get(s->port(), "garbage\r\n\r\n").rfind("HTTP/1.1 400 ", 0) == 0);
    CHECK(get(s->port(), "GET /metrics SPDY/3\r\n\r\n").rfind("HTTP/1.1 505 ", 0) == 0);
    CHECK(get(s->port(), "GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a')).rfind("HTTP/1.1 431 ", 0) == 0);
    CHECK(s->stats().rejected == 5);
}

TEST_CASE("http: a connection that does not finish its request is closed at the deadline") {
    Limits l;
    l.request_deadline = 300ms;
    auto s = serve(l);
    Fd c = connect_to(s->port());
    send_all(c.fd, "GET /metr");
    bool timed_out = false;
    std::string r = read_all(c.fd, 10s, &timed_out);
    CHECK_FALSE(timed_out);  // closed by the server, long before the test's own limit
    CHECK(r.empty());
    CHECK(s->stats().timed_out == 1);
}

TEST_CASE("http: 500 slowloris connections from one client do not keep a scrape out") {
    Limits l;  // the daemon's defaults
    auto s = serve(l);
    std::vector<Fd> idle;
    for (int i = 0; i < 500; ++i) {
        idle.push_back(connect_to(s->port(), i % 2 ? "127.0.0.1" : "127.0.0.2"));
        send_all(idle.back().fd, "GET /metrics HTTP/1.1\r\nX-Slow: ");
    }
    // The scrape comes from one of the attackers' addresses: the bounds evict the oldest
    // incomplete connections, not the newest.
    std::string h = get(s->port(), "GET /healthz HTTP/1.1\r\n\r\n", "127.0.0.1", 1s);
    CHECK(h.rfind("HTTP/1.1 200 OK", 0) == 0);
    std::string m = get(s->port(), "GET /metrics HTTP/1.1\r\n\r\n", "127.0.0.3", 1s);
    CHECK(m.rfind("HTTP/1.1 200 OK", 0) == 0);
    ServerStats st = s->stats();
    CHECK(st.evicted >= 500 - l.max_connections);
    CHECK(st.served == 2);
}

TEST_CASE("http: a client over its own bound loses its oldest incomplete connection") {
    Limits l;
    l.max_per_client = 4;
    auto s = serve(l);
    std::vector<Fd> conns;
    for (int i = 0; i < 5; ++i) {
        conns.push_back(connect_to(s->port(), "127.0.0.4"));
        send_all(conns.back().fd, "GET /metrics HTTP/1.1\r\n");
    }
    bool timed_out = false;
    read_all(conns.front().fd, 5s, &timed_out);  // the first one is closed
    CHECK_FALSE(timed_out);
    CHECK(s->stats().evicted == 1);
    send_all(conns.back().fd, "\r\n");  // the newest one is still served
    CHECK(read_all(conns.back().fd, 5s).rfind("HTTP/1.1 200 OK", 0) == 0);
}

TEST_CASE("http: a slow worker handler does not delay an inline one") {
    std::string error;
    auto s = Server::bind("127.0.0.1", 0, Limits{}, error);
    REQUIRE(s);
    std::atomic<bool> release{false};
    std::atomic<int> runs{0};
    s->get("/metrics", [&] {
        ++runs;
        while (!release.load()) std::this_thread::sleep_for(5ms);
        return Response{200, "text/plain", "slow\n"};
    });
    s->get("/healthz", [] { return Response{200, "text/plain", "ok\n"}; }, true);
    s->start();
    Fd a = connect_to(s->port());
    send_all(a.fd, "GET /metrics HTTP/1.1\r\n\r\n");
    while (runs.load() == 0) std::this_thread::sleep_for(1ms);
    Fd b = connect_to(s->port());
    send_all(b.fd, "GET /metrics HTTP/1.1\r\n\r\n");  // waits for the running one
    CHECK(get(s->port(), "GET /healthz HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200 OK", 0) == 0);
    release = true;
    CHECK(read_all(a.fd, 5s).find("slow\n") != std::string::npos);
    CHECK(read_all(b.fd, 5s).find("slow\n") != std::string::npos);
    CHECK(runs.load() <= 2);
}

TEST_CASE("http: a port in use is an error, not an exception") {
    auto s = serve();
    std::string error;
    Limits l;
    auto again = Server::bind("127.0.0.1", s->port(), l, error);
    CHECK_FALSE(again);
    CHECK(error.find("in use") != std::string::npos);
}
