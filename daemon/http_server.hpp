// The daemon's HTTP endpoint (/metrics, /healthz): a small HTTP/1.1 server on one epoll thread
// that a stranger on the network cannot stall.
//
// Every connection gets a deadline for its request head and another for sending the response;
// the number of connections is bounded in total and per client address. When a bound is
// reached, the oldest connection that still has not sent a complete request gives way to the
// new one, so idle or trickling connections (slowloris) cannot keep a scraper out. One request
// per connection (`Connection: close`), GET and HEAD only, the request head at most 8 KiB.
//
// Handlers marked `inline` run on the server thread and must not block (/healthz); the others
// run one at a time on a worker thread (/metrics reads BPF maps), so a slow one never delays an
// inline one.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace weir::http {

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

using Handler = std::function<Response()>;

struct Limits {
    std::size_t max_connections = 256;  // open at once, all clients
    std::size_t max_per_client = 32;    // open at once from one address
    std::chrono::milliseconds request_deadline{3000};  // from accept to the end of the request head
    std::chrono::milliseconds response_deadline{10000};  // from the request to the last byte sent
    std::size_t max_request_bytes = 8192;
};

struct ServerStats {
    std::uint64_t accepted = 0;
    std::uint64_t served = 0;     // responses sent completely (any status)
    std::uint64_t evicted = 0;    // closed to make room under a connection bound
    std::uint64_t timed_out = 0;  // closed at a deadline
    std::uint64_t rejected = 0;   // malformed, too large, unknown path or not GET/HEAD (4xx/505)
};

class Server {
public:
    // Binds HOST:PORT (a numeric IPv4 or IPv6 address or a name; port 0: any free port) and
    // starts listening; nullptr with `error` set when it cannot.
    static std::unique_ptr<Server> bind(const std::string& host, int port, const Limits& limits,
                                        std::string& error);
    ~Server();  // stops and joins
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Registers a handler for an exact path (the query string is ignored). Before start().
    void get(const std::string& path, Handler handler, bool inline_handler = false);
    // Serves on a thread of its own until stop() or destruction.
    void start();
    void stop();

    int port() const;
    ServerStats stats() const;

    struct Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace weir::http
