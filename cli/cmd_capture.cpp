// weir capture --dev IFACE -w FILE.pcap [--rule R] [-c COUNT] [--timeout SECONDS] [--backlog]
//
// Records of `log` rules written as a pcap file (libpcap's format, nanosecond timestamps,
// Ethernet link type, snap length api::log_snap_max()) that tcpdump and Wireshark read: each
// packet's captured bytes (the rule's snap) with its original length. The file is flushed after
// every packet, so it is complete whenever the command stops. Exit codes as `weir events`.
#include <fcntl.h>
#include <pcap/pcap.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>

#include "commands.hpp"

namespace weir::cli {

namespace {

// Opens FILE for the capture only once the ring and the policy are known to be there, so a
// refused capture leaves FILE as it was. A symbolic link at FILE is refused, never followed
// (a link planted in a shared folder would redirect root's write); the file is made 0600, since
// it holds packet payloads. A FIFO is allowed, for `weir capture -w fifo` into a reader.
FILE* open_capture(const std::string& path, std::string& err) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        err = errno == ELOOP ? "it is a symbolic link (give the file it points to)" : std::strerror(errno);
        return nullptr;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
        err = "not a regular file or FIFO";
        ::close(fd);
        return nullptr;
    }
    if (S_ISREG(st.st_mode) && (::ftruncate(fd, 0) != 0 || ::fchmod(fd, 0600) != 0)) {
        err = std::strerror(errno);
        ::close(fd);
        return nullptr;
    }
    FILE* f = ::fdopen(fd, "wb");
    if (!f) {
        err = std::strerror(errno);
        ::close(fd);
    }
    return f;
}

}  // namespace

int cmd_capture(const CaptureArgs& a) {
    std::unique_ptr<pcap_t, void (*)(pcap_t*)> dead(
        pcap_open_dead_with_tstamp_precision(DLT_EN10MB, static_cast<int>(api::log_snap_max()), PCAP_TSTAMP_PRECISION_NANO), pcap_close);
    if (!dead) {
        std::cerr << "weir capture: cannot set up a pcap writer\n";
        return kExitUsage;
    }
    std::unique_ptr<pcap_dumper_t, void (*)(pcap_dumper_t*)> out(nullptr, pcap_dump_close);
    auto ready = [&] {
        std::string err;
        FILE* f = open_capture(a.output, err);
        if (f) out.reset(pcap_dump_fopen(dead.get(), f));
        if (f && !out) {
            err = pcap_geterr(dead.get());
            std::fclose(f);
        }
        if (!out) std::cerr << "weir capture: cannot write '" << a.output << "': " << err << "\n";
        return out != nullptr;
    };
    std::uint64_t written = 0;
    int rc = follow_events("capture", a, [&](const api::LogRecord& r) {
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<time_t>(r.unix_ns / 1000000000);
        h.ts.tv_usec = static_cast<suseconds_t>(r.unix_ns % 1000000000);  // nanoseconds: see the precision above
        h.caplen = static_cast<bpf_u_int32>(r.data.size());
        h.len = r.len;
        pcap_dump(reinterpret_cast<u_char*>(out.get()), &h, r.data.data());
        pcap_dump_flush(out.get());
        ++written;
        return true;
    }, ready);
    if (!out) return rc;
    std::cerr << "weir capture: " << written << (written == 1 ? " packet" : " packets") << " written to '" << a.output
              << "'\n";
    return rc;
}

}  // namespace weir::cli
