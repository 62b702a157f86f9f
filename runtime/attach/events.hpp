// Packet records of `log` rules (docs/operations.md, "Packet logs"): read from the interface's
// pinned weir_log ring buffer (weir_abi.h struct weir_log_record), named through weir_meta
// (counter slot -> rule), and decoded with the datapath's own parser (bpf-templates/parse.h) for
// `weir events`; `weir capture` writes the same records to a pcap file.
//
//   auto r = events::Reader::open("eth1", {});           // the pinned ring of eth1
//   if (!r) ... r.error().message (exit 2) ...
//   r->poll(1000, [](const events::Record& rec) { std::cout << events::summary(rec) << "\n"; return true; });
//
// One consumer per ring: the kernel keeps a single read position, so two readers of one
// interface share (split) its records. By default a reader skips records queued before it
// opened the ring (their time is earlier); Options::backlog keeps them.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bpf.hpp"
#include "weir/weir.hpp"

struct ring_buffer;

namespace weir::events {

// The public record type is the one type: nothing to convert.
using Record = api::LogRecord;

struct Options {
    std::string rule;      // only records of this `log` rule ("": all)
    bool backlog = false;  // also records queued before the reader opened the ring
};

class Reader {
public:
    // -ENOENT: no weir policy on the interface; -EPERM: not privileged; -ENOTSUP: the attached
    // program predates `log` (no pinned ring).
    static bpf::Result<std::unique_ptr<Reader>> open(std::string_view ifname, const Options& opts);
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // Waits up to timeout_ms for records and hands each one (after the filters) to `fn`; `fn`
    // returning false stops consumption at once (later records stay in the ring). Returns the
    // records handed to `fn`; -EINTR is not an error (0 records).
    bpf::Result<int> poll(int timeout_ms, const std::function<bool(const Record&)>& fn);

private:
    Reader() = default;
    static int on_sample(void* ctx, void* data, std::size_t size);
    std::string rule_name(std::uint32_t slot);
    bpf::Status refresh_names();

    std::string ifname_;
    Options opts_;
    bpf::Fd ring_fd_, meta_fd_;
    ring_buffer* rb_ = nullptr;
    std::map<std::uint32_t, std::string> names_;  // slot -> rule, from weir_meta
    std::uint64_t start_mono_ = 0;
    std::int64_t mono_to_unix_ = 0;
    const std::function<bool(const Record&)>* fn_ = nullptr;
    int delivered_ = 0;
    bool stop_ = false;
};

// Decodes one raw weir_log_record (size bytes) without names: slot, action, lengths, data.
// False if it is too short or inconsistent.
bool decode(const void* raw, std::size_t size, Record& out);

// One line: time, rule, verdict (and the deciding rule), interface, protocol, addresses, ports,
// TCP flags, lengths. E.g.
//   12:00:01.123456 web-log pass by allow-web veth0 tcp 198.18.0.1:40000 -> 198.18.0.2:80 [S] len 74 cap 74
std::string summary(const Record& r);
// One JSON object (no newline): the summary's facts as fields, the captured bytes as hex.
std::string to_json(const Record& r);

}  // namespace weir::events
