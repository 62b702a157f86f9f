// Reading what a benchmark's forked child writes to a pipe, up to a deadline (shared by the
// benchmarks that compile in a child so that one policy's failure does not end the run).
#pragma once
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

namespace weir::bench {

// Appends everything readable from `fd` to `out` until end of file or `deadline`; true if the
// deadline came first (the caller then kills the child).
inline bool drain_until(int fd, std::chrono::steady_clock::time_point deadline, std::string& out) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0) return true;
        pollfd pf{fd, POLLIN, 0};
        int r = ::poll(&pf, 1, int(std::min<long long>(left, 1000)));
        if (r <= 0) continue;  // EINTR or nothing yet
        char chunk[65536];
        ssize_t got = ::read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        out.append(chunk, std::size_t(got));
    }
}

}  // namespace weir::bench
