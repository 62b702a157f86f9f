#include "maps.hpp"

#include <bpf/bpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

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

namespace {

Error update_error(std::size_t index, std::size_t key_size, int err) {
    return Error{"update entry " + std::to_string(index + 1) + " (a " + std::to_string(key_size) +
                     "-byte key): " + std::strerror(err) + " (-" + std::to_string(err) + ")",
                 {}, -err};
}

}  // namespace

Status update_many(int map_fd, const ManyUpdate& u, std::size_t* written) {
    std::size_t done = 0;
    auto count = [&] {
        if (written) *written = done;
    };
    count();
    if (u.n == 0) return ok();
    const auto* keys = static_cast<const unsigned char*>(u.keys);
    const auto* values = static_cast<const unsigned char*>(u.values);
    // The batch call wants one value per key; one shared value is repeated per chunk.
    constexpr std::size_t kChunk = 1 << 16;
    std::vector<unsigned char> repeated;
    if (u.same_value) {
        repeated.resize(std::min(u.n, kChunk) * u.value_size);
        for (std::size_t i = 0; i < repeated.size(); i += u.value_size) std::memcpy(&repeated[i], values, u.value_size);
    }
    bool batch = true;
    while (done < u.n && batch) {
        std::size_t len = u.same_value ? std::min(u.n - done, kChunk) : u.n - done;
        LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = u.elem_flags);
        __u32 cnt = static_cast<__u32>(std::min<std::size_t>(len, 0xffffffffu));
        const void* vals = u.same_value ? static_cast<const void*>(repeated.data())
                                        : static_cast<const void*>(values + done * u.value_size);
        int rc = bpf_map_update_batch(map_fd, keys + done * u.key_size, vals, &cnt, &opts);
        int err = rc < 0 ? errno : 0;
        done += std::min<std::size_t>(cnt, len);
        count();
        if (rc == 0) continue;
        // No batch operation for this map type (ENOTSUPP = 524 inside the kernel) or no batch
        // command at all (EINVAL, kernels before 5.6): entry by entry from here.
        if (cnt == 0 && (err == 524 || err == EOPNOTSUPP || err == EINVAL)) {
            batch = false;
            break;
        }
        return update_error(done, u.key_size, err);
    }
    for (; done < u.n; ++done, count()) {
        const void* v = u.same_value ? static_cast<const void*>(values) : values + done * u.value_size;
        if (bpf_map_update_elem(map_fd, keys + done * u.key_size, v, u.elem_flags) != 0)
            return update_error(done, u.key_size, errno);
    }
    count();
    return ok();
}

}  // namespace weir::bpf
