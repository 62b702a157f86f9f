#include "events.hpp"

#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <net/if.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "parse.h"
#include "actions.hpp"
#include "pins.hpp"
#include "stats.hpp"
#include "weir_abi.h"

namespace weir::events {

namespace {

std::int64_t clock_ns(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bpf::Error error(std::string msg, int code) { return bpf::Error{std::move(msg), {}, code}; }

std::string ip4(std::uint32_t host_order) {
    in_addr a{htonl(host_order)};
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof buf);
    return buf;
}

std::string ip6(std::uint64_t hi, std::uint64_t lo) {
    in6_addr a{};
    for (int i = 0; i < 8; ++i) {
        a.s6_addr[i] = static_cast<std::uint8_t>(hi >> (56 - 8 * i));
        a.s6_addr[8 + i] = static_cast<std::uint8_t>(lo >> (56 - 8 * i));
    }
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, &a, buf, sizeof buf);
    return buf;
}

// tcpdump's letters: S F R P U E W, '.' for ACK.
std::string tcp_flags(std::uint8_t f) {
    std::string s;
    if (f & 0x02) s += 'S';
    if (f & 0x01) s += 'F';
    if (f & 0x04) s += 'R';
    if (f & 0x08) s += 'P';
    if (f & 0x20) s += 'U';
    if (f & 0x40) s += 'E';
    if (f & 0x80) s += 'W';
    if (f & 0x10) s += '.';
    return s.empty() ? "none" : s;
}

// What the captured bytes say, parsed as the datapath parses them.
struct Decoded {
    std::string proto;     // "tcp", "udp", "icmp", "icmp6", "ip proto N", "ip6 proto N", "eth 0xNNNN"
    std::string src, dst;  // addresses, "" when the capture ends before them
    int sport = -1, dport = -1;
    std::string flags;     // TCP only
    bool truncated = false;
};

Decoded decode_frame(const std::vector<std::uint8_t>& data) {
    Decoded d;
    weir_pkt pkt{};
    weir_parse(data.data(), data.data() + data.size(), &pkt);
    d.truncated = pkt.malformed != 0;
    if (pkt.present & WEIR_H_IP4) {
        d.src = ip4(pkt.ip4_src);
        d.dst = ip4(pkt.ip4_dst);
    } else if (pkt.present & WEIR_H_IP6) {
        d.src = ip6(pkt.ip6_src_hi, pkt.ip6_src_lo);
        d.dst = ip6(pkt.ip6_dst_hi, pkt.ip6_dst_lo);
    }
    if (pkt.present & WEIR_H_TCP) {
        d.proto = "tcp";
        d.flags = tcp_flags(pkt.tcp_flags);
    } else if (pkt.present & WEIR_H_UDP) {
        d.proto = "udp";
    } else if (pkt.present & WEIR_H_ICMP) {
        d.proto = "icmp";
    } else if (pkt.present & WEIR_H_ICMP6) {
        d.proto = "icmp6";
    } else if (pkt.present & WEIR_H_IP) {
        d.proto = std::string(pkt.present & WEIR_H_IP4 ? "ip" : "ip6") + " proto " + std::to_string(pkt.ip_proto);
    } else if (pkt.present & WEIR_H_ETH) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "eth 0x%04x", pkt.eth_type);
        d.proto = buf;
    } else {
        d.proto = "?";
    }
    if (pkt.present & WEIR_H_L4) {
        d.sport = pkt.sport;
        d.dport = pkt.dport;
    }
    return d;
}

std::string endpoint(const std::string& addr, int port) {
    if (port < 0) return addr;
    return (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

}  // namespace

bool decode(const void* raw, std::size_t size, Record& out) {
    if (size < offsetof(weir_log_record, data)) return false;
    weir_log_record r{};
    std::memcpy(&r, raw, std::min(size, sizeof r));
    if (r.cap_len > WEIR_LOG_SNAP_MAX || offsetof(weir_log_record, data) + r.cap_len > size) return false;
    out.mono_ns = r.time_ns;
    out.slot = r.rule;
    out.action = r.action;
    out.verdict = action_name(r.action);
    out.ifindex = r.ifindex;
    out.len = r.len;
    out.data.assign(r.data, r.data + r.cap_len);
    out.decided_slot = r.decided_by;
    out.decided_by = r.decided_by == WEIR_RULE_DEFAULT ? "default" : "slot " + std::to_string(r.decided_by);
    out.rule = "slot " + std::to_string(r.rule);
    if (r.kind == WEIR_LOG_KIND_SHADOW) {  // record format 2 (older records read kind 0)
        out.shadow = true;
        out.rule = "shadow";
        out.shadow_slot = weir_decision_rule(r.shadow);
        out.shadow_verdict = action_name(weir_decision_action(r.shadow));
        out.shadow_rule = out.shadow_slot == WEIR_RULE_DEFAULT ? "default" : "slot " + std::to_string(out.shadow_slot);
    }
    char name[IF_NAMESIZE] = {};
    out.ifname = r.ifindex && if_indextoname(r.ifindex, name) ? name : "";
    return true;
}

bpf::Result<std::unique_ptr<Reader>> Reader::open(std::string_view ifname, const Options& opts) {
    auto p = pins::open_pinned(ifname);
    if (!p) {
        int code = p.error().code;
        if (code == -EPERM || code == -EACCES)
            return error("not privileged: cannot read " + pins::root() + " (run as root)", -EPERM);
        if (code == -ENOENT) return error("no weir policy is attached to '" + std::string(ifname) + "'", -ENOENT);
        return p.error();
    }
    std::unique_ptr<Reader> r(new Reader());
    r->ifname_ = ifname;
    r->opts_ = opts;
    if (!p->meta) return error("no weir policy is attached to '" + std::string(ifname) + "'", -ENOENT);
    r->meta_fd_ = std::move(p->meta);
    auto it = p->maps.find(WEIR_MAP_LOG);
    if (it == p->maps.end() || !it->second)
        return error("the policy on '" + std::string(ifname) +
                         "' has no log ring (attached by an older weir: reload it to log packets)",
                     -ENOTSUP);
    r->ring_fd_ = std::move(it->second);
    if (auto st = r->refresh_names(); !st) return st.error();
    if (!opts.rule.empty()) {
        bool known = false;
        for (const auto& [slot, name] : r->names_) known |= name == opts.rule;
        if (!known)
            return error("the policy on '" + std::string(ifname) + "' has no rule '" + opts.rule + "'", -ENOENT);
    }
    r->rb_ = ring_buffer__new(r->ring_fd_.get(), &Reader::on_sample, r.get(), nullptr);
    if (!r->rb_) {
        int err = errno;
        return error("open the log ring of '" + std::string(ifname) + "': " + std::strerror(err), -err);
    }
    r->start_mono_ = static_cast<std::uint64_t>(clock_ns(CLOCK_MONOTONIC));
    r->mono_to_unix_ = clock_ns(CLOCK_REALTIME) - static_cast<std::int64_t>(r->start_mono_);
    return r;
}

Reader::~Reader() {
    if (rb_) ring_buffer__free(rb_);
}

bpf::Status Reader::refresh_names() {
    auto meta = pins::read_meta(meta_fd_.get());
    if (!meta) return meta.error();
    names_.clear();
    // A swap in progress: the pending program's rules are the ones that will log next.
    for (const auto* m : {meta->current ? &*meta->current : nullptr, meta->pending ? &*meta->pending : nullptr})
        if (m) {
            for (const auto& [name, slot] : m->slots) names_[slot] = name;
            if (m->shadow)  // candidate slots are disjoint from the policy's
                for (const auto& [name, slot] : m->shadow->slots) names_[slot] = name;
        }
    return bpf::ok();
}

std::string Reader::rule_name(std::uint32_t slot) {
    auto it = names_.find(slot);
    if (it == names_.end() && refresh_names()) it = names_.find(slot);  // a swap added it
    return it == names_.end() ? "slot " + std::to_string(slot) : it->second;
}

int Reader::on_sample(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Reader*>(ctx);
    if (self->stop_) return -ECANCELED;
    Record rec;
    if (!decode(data, size, rec)) return 0;
    if (!self->opts_.backlog && rec.mono_ns < self->start_mono_) return 0;
    if (!rec.shadow) rec.rule = self->rule_name(rec.slot);
    if (rec.shadow && rec.shadow_slot != WEIR_RULE_DEFAULT) rec.shadow_rule = self->rule_name(rec.shadow_slot);
    if (!self->opts_.rule.empty() && rec.rule != self->opts_.rule) return 0;
    if (rec.decided_slot != WEIR_RULE_DEFAULT) rec.decided_by = self->rule_name(rec.decided_slot);
    rec.unix_ns = static_cast<std::int64_t>(rec.mono_ns) + self->mono_to_unix_;
    ++self->delivered_;
    if (!(*self->fn_)(rec)) {
        self->stop_ = true;
        return -ECANCELED;  // libbpf stops here; this record counts as consumed
    }
    return 0;
}

bpf::Result<int> Reader::poll(int timeout_ms, const std::function<bool(const Record&)>& fn) {
    fn_ = &fn;
    delivered_ = 0;
    stop_ = false;
    int n = ring_buffer__poll(rb_, timeout_ms);
    fn_ = nullptr;
    if (n < 0 && n != -ECANCELED && n != -EINTR)
        return error("read the log ring of '" + ifname_ + "': " + std::strerror(-n), n);
    return delivered_;
}

std::string summary(const Record& r) {
    char when[64];
    std::time_t secs = static_cast<std::time_t>(r.unix_ns / 1000000000);
    std::tm tm{};
    localtime_r(&secs, &tm);
    std::size_t n = std::strftime(when, sizeof when, "%H:%M:%S", &tm);
    std::snprintf(when + n, sizeof when - n, ".%06lld", static_cast<long long>((r.unix_ns % 1000000000) / 1000));
    Decoded d = decode_frame(r.data);
    std::string s = std::string(when) + " " + r.rule + " " + r.verdict + " by " + r.decided_by + " " +
                    (r.ifname.empty() ? "if" + std::to_string(r.ifindex) : r.ifname) + " " + d.proto;
    if (!d.src.empty()) s += " " + endpoint(d.src, d.sport) + " -> " + endpoint(d.dst, d.dport);
    if (!d.flags.empty()) s += " [" + d.flags + "]";
    s += " len " + std::to_string(r.len) + " cap " + std::to_string(r.data.size());
    if (d.truncated && r.data.size() < r.len) s += " (headers cut by snap)";
    if (r.shadow) s += ", candidate: " + r.shadow_verdict + " by " + r.shadow_rule;
    return s;
}

std::string to_json(const Record& r) {
    Decoded d = decode_frame(r.data);
    nlohmann::ordered_json j;
    j["time_ns"] = r.unix_ns;
    j["rule"] = r.rule;
    j["verdict"] = r.verdict;
    j["decided_by"] = r.decided_by;
    if (r.shadow) {
        j["shadow_verdict"] = r.shadow_verdict;
        j["shadow_rule"] = r.shadow_rule;
    }
    j["interface"] = r.ifname;
    j["ifindex"] = r.ifindex;
    j["proto"] = d.proto;
    if (!d.src.empty()) {
        j["src"] = d.src;
        j["dst"] = d.dst;
    }
    if (d.sport >= 0) {
        j["sport"] = d.sport;
        j["dport"] = d.dport;
    }
    if (!d.flags.empty()) j["tcp_flags"] = d.flags;
    j["len"] = r.len;
    j["cap_len"] = r.data.size();
    static const char* hex = "0123456789abcdef";
    std::string h;
    for (std::uint8_t b : r.data) h += {hex[b >> 4], hex[b & 15]};
    j["data"] = h;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace weir::events
