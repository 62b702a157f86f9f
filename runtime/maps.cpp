#include "maps.hpp"

#include <cerrno>

namespace weir::bpf {

Result<Counter> read_counter(int map_fd, std::uint32_t key) {
    auto values = lookup_percpu<weir_counter>(map_fd, key);
    if (!values) return values.error();
    Counter sum;
    for (const weir_counter& c : *values) {
        sum.packets += c.packets;
        sum.bytes += c.bytes;
    }
    return sum;
}

Status clear_last_decision(int last_map_fd) {
    return zero_percpu(last_map_fd, 0, sizeof(weir_last));
}

Result<LastDecision> last_decision(int last_map_fd) {
    auto values = lookup_percpu<weir_last>(last_map_fd, 0);
    if (!values) return values.error();
    const weir_last* found = nullptr;
    for (const weir_last& v : *values) {
        if (v.runs == 0) continue;
        if (found) return Error{"last decision: packets ran on several CPUs", {}, -EBUSY};
        found = &v;
    }
    if (!found) return Error{"last decision: no packet ran since the map was cleared", {}, -ENOENT};
    return LastDecision{found->rule, found->action, found->pkt.malformed != 0, found->runs};
}

}  // namespace weir::bpf
