// weir capture --dev IFACE -w FILE.pcap [--rule R] [-c COUNT] [--timeout SECONDS] [--backlog]
//
// Records of `log` rules written as a pcap file (libpcap's format, nanosecond timestamps,
// Ethernet link type, snap length WEIR_LOG_SNAP_MAX) that tcpdump and Wireshark read: each
// packet's captured bytes (the rule's snap) with its original length. The file is flushed after
// every packet, so it is complete whenever the command stops. Exit codes as `weir events`.
#include <pcap/pcap.h>

#include <iostream>
#include <memory>

#include "commands.hpp"
#include "events.hpp"
#include "weir_abi.h"

namespace weir::cli {

int cmd_capture(const CaptureArgs& a) {
    std::unique_ptr<pcap_t, void (*)(pcap_t*)> dead(
        pcap_open_dead_with_tstamp_precision(DLT_EN10MB, WEIR_LOG_SNAP_MAX, PCAP_TSTAMP_PRECISION_NANO), pcap_close);
    if (!dead) {
        std::cerr << "weir capture: cannot set up a pcap writer\n";
        return kExitUsage;
    }
    std::unique_ptr<pcap_dumper_t, void (*)(pcap_dumper_t*)> out(pcap_dump_open(dead.get(), a.output.c_str()),
                                                                 pcap_dump_close);
    if (!out) {
        std::cerr << "weir capture: cannot write '" << a.output << "': " << pcap_geterr(dead.get()) << "\n";
        return kExitUsage;
    }
    std::uint64_t written = 0;
    int rc = follow_events("capture", a, [&](const weir::events::Record& r) {
        pcap_pkthdr h{};
        h.ts.tv_sec = static_cast<time_t>(r.unix_ns / 1000000000);
        h.ts.tv_usec = static_cast<suseconds_t>(r.unix_ns % 1000000000);  // nanoseconds: see the precision above
        h.caplen = static_cast<bpf_u_int32>(r.data.size());
        h.len = r.len;
        pcap_dump(reinterpret_cast<u_char*>(out.get()), &h, r.data.data());
        pcap_dump_flush(out.get());
        ++written;
        return true;
    });
    std::cerr << "weir capture: " << written << (written == 1 ? " packet" : " packets") << " written to '" << a.output
              << "'\n";
    return rc;
}

}  // namespace weir::cli
