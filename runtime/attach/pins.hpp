// The pinned state of one interface's weir policy (docs/operations.md): where it lives in bpffs,
// the lock that serializes weir commands on the interface, and weir_meta, the record of what is
// loaded. attach.hpp drives load/swap/unload on top of this; `weir set`/`weir stats` open the
// pinned maps through open_pinned().
//
//   /sys/fs/bpf/weir/<ifname>/      (root(): $WEIR_PIN_ROOT overrides /sys/fs/bpf/weir;
//                                    '.' in <ifname> is written %2e, see pin_name())
//     link                          the bpf_link attaching the program to the interface
//     prog                          the program the link runs
//     weir_meta                     ARRAY, 1 entry of kMetaValueSize bytes: Meta as JSON
//     weir_rules weir_verdicts weir_stats                         counters (weir_abi.h)
//     weir_set_v4 weir_set_v6 weir_set_port weir_set_proto weir_set_mac   set tables
//     weir_seth_v4 weir_seth_v6 weir_setd_v4 weir_setd_v6     hashed address sets
//     weir_log_ring                 the `log` ring buffer (weir events / weir capture read it)
//     rollback_prog                 while a swap awaits `weir confirm`: the program it rolls back to
//   /run/weir/<ifname>.lock         (lock_dir(): $WEIR_RUN_DIR overrides /run/weir)
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf.hpp"
#include "capacity.hpp"
#include "plan.hpp"

namespace weir::pins {

inline constexpr const char* kLink = "link";
inline constexpr const char* kProg = "prog";
inline constexpr const char* kMeta = "weir_meta";
inline constexpr const char* kRollbackProg = "rollback_prog";
// The JSON, NUL-padded. A rule costs ~46 bytes (its slot and its entry in `rules`) and a swap
// holds two policies: 2 MiB keeps a swap between two 10,000-rule policies (~0.9 MiB) with room
// to spare (the kernel caps an array value at 4 MiB, KMALLOC_MAX_SIZE).
inline constexpr std::uint32_t kMetaValueSize = kMetaBytes;  // capacity.hpp: what `weir check` checks
inline constexpr int kMetaFormat = 1;

std::string root();
// The directory of an interface: root()/<ifname>, with '.' written "%2e" and '%' "%25" (bpffs
// refuses names with a dot; VLAN interfaces have one).
std::string pin_name(std::string_view ifname);
std::string ifname_of(std::string_view pin_name);
std::string dir(std::string_view ifname);
std::string path(std::string_view ifname, std::string_view pin);
std::string lock_dir();
// The maps shared by every program that ran on the interface (pinned, reused across swaps).
const std::vector<std::string>& shared_maps();

// root() must be on a bpf filesystem: with the default root, bpffs is mounted at /sys/fs/bpf if
// nothing is mounted there. Creates root(). Error codes: -EPERM (not privileged), -ENOTSUP
// (the root is not on a bpffs and cannot be made one).
bpf::Status ensure_bpffs();

// flock(LOCK_EX) on lock_dir()/<ifname>.lock, released on destruction (or by the kernel when
// the process dies).
class Lock {
public:
    static bpf::Result<Lock> acquire(std::string_view ifname);

private:
    explicit Lock(bpf::Fd fd) : fd_(std::move(fd)) {}
    bpf::Fd fd_;
};

// One set table of the running program: a set keeps its id (and its live contents) across a
// swap while its key and content hash are unchanged.
struct SetRecord {
    std::string name;      // set name, or "inline@RULE"
    TableKind kind = TableKind::V4;
    unsigned ordinal = 0;  // several tables of one (name, kind): the n-th (inline sets of one rule)
    std::uint32_t id = 0;  // set id in the kind's table
    std::string hash;      // sha256 of the kind and the declared prefixes (file sets: the file's)
    bool named = true;     // false: an inline set
    // Added for `weir set` (runtime/attach/sets.hpp); absent in older records (empty / 0).
    std::string type;              // declared set type ("ip", "ip4", "port", ...); "" for inline sets
    std::uint32_t live_edits = 0;  // `weir set` batches applied to this table since it was filled
    std::int64_t edited_at = 0;    // unix time of the last one (0: never edited live)
};

// One rule of a policy, in policy order (for `weir stats`).
struct RuleRecord {
    std::string name;
    std::string action;  // "pass", "drop", "redirect", "tx", "count"
};

// A candidate policy the program runs beside the enforcing one (shadow.hpp), enforcing nothing.
struct ShadowMeta {
    std::string policy;
    std::string source;        // absolute path of the root file
    std::string source_hash;
    std::int64_t loaded_at = 0;                   // unix time the shadow began
    std::map<std::string, std::uint32_t> slots;   // rule name -> counter slot (disjoint from the policy's)
    std::vector<RuleRecord> rules;                // policy order
    std::string default_verdict;
    // Its set tables: equal ones share the enforcing policy's ids, the others (its own sets, or
    // its own contents of a set the enforcing policy also has) take fresh ids. Absent in older
    // records (empty: every table was shared).
    std::vector<SetRecord> sets;
};

// What one program on the interface is.
struct PolicyMeta {
    std::string policy;        // policy name
    std::string source;        // absolute path of the root file
    std::string source_hash;   // sha256 over every file read: root, includes, set files
    std::uint32_t prog_id = 0;
    std::string prog_tag;      // 16 hex digits
    std::string mode;          // "native" or "generic"
    std::int64_t attached_at = 0;  // unix time of the first load on the interface
    std::int64_t loaded_at = 0;    // unix time this program replaced the previous one
    std::uint32_t swaps = 0;       // hot swaps since the first load
    std::uint32_t rule_capacity = 0;               // entries of weir_rules
    std::map<std::string, std::uint32_t> slots;    // rule name -> counter slot
    std::vector<SetRecord> sets;
    std::array<std::uint32_t, 5> next_set_id{1, 1, 1, 1, 1};  // per TableKind: never reused
    std::vector<RuleRecord> rules;  // policy order (empty in older records: order by slot)
    std::string default_verdict;    // "pass" / "drop" ("" in older records)
    std::optional<ShadowMeta> shadow;  // the program also runs this candidate (absent: none)
};

// A swap that rolls back unless confirmed in time (`weir load --confirm-within`, confirm.hpp).
struct Rollback {
    std::optional<PolicyMeta> previous;  // the last confirmed policy; nullopt: a first load (detach)
    std::int64_t deadline_ns = 0;        // CLOCK_BOOTTIME: suspend counts, clock changes do not
    std::uint32_t window_s = 0;          // as asked
    std::string boot_id;                 // of the boot that armed it
    std::string token;                   // names this arming: its watcher acts only on it
    std::int32_t watcher_pid = 0;        // a detached watcher process (0: none)
    std::string watcher_unit;            // or a systemd transient timer unit ("" : none)
};

struct Meta {
    int format = kMetaFormat;
    std::optional<PolicyMeta> current;  // nullopt: a first load is in progress (see pending)
    std::optional<PolicyMeta> pending;  // a swap (or first load) in progress
    std::optional<Rollback> rollback;   // `current` is not confirmed yet
};

std::string to_json(const Meta& m);
bpf::Result<Meta> meta_from_json(std::string_view text);
const char* kind_name(TableKind k);  // "v4", "v6", "port", "proto", "mac"
std::optional<TableKind> kind_from_name(std::string_view s);

// weir_meta itself.
bpf::Result<bpf::Fd> create_meta_map();
bpf::Result<Meta> read_meta(int meta_fd);
bpf::Status write_meta(int meta_fd, const Meta& m);  // one map update: atomic

// Pins: open one, pin an fd (fails if the path exists), replace one atomically (pin under a
// temporary name, rename over), remove the interface's whole directory.
bpf::Result<bpf::Fd> open_pin(const std::string& path);
bpf::Status pin(int fd, const std::string& path);
bpf::Status replace_pin(int fd, const std::string& path);
bpf::Status remove_dir(std::string_view ifname);
bool exists(const std::string& path);
// Interfaces with a directory under root().
std::vector<std::string> pinned_interfaces();

// The pinned objects of one interface, opened.
struct Pinned {
    std::string ifname;
    bpf::Fd link, prog, meta;
    std::map<std::string, bpf::Fd> maps;  // shared_maps() names that are pinned
    int map(std::string_view name) const;  // -1 if not pinned
};
// Opens whatever is pinned (a missing pin leaves its Fd empty). -ENOENT: no directory.
bpf::Result<Pinned> open_pinned(std::string_view ifname);

// Kernel facts.
struct LinkInfo {
    std::uint32_t prog_id = 0;
    std::uint32_t ifindex = 0;  // 0: the interface is gone (the link is defunct)
};
bpf::Result<LinkInfo> link_info(int link_fd);
struct ProgInfo {
    std::uint32_t id = 0;
    std::string tag;   // hex
    std::string name;
    std::vector<std::uint32_t> map_ids;
};
bpf::Result<ProgInfo> prog_info(int prog_fd);
bpf::Result<bpf::Fd> prog_by_id(std::uint32_t id);
// Map fds of a program by map name (kernel map names: at most 15 characters).
bpf::Result<std::map<std::string, bpf::Fd>> prog_maps(int prog_fd);
bpf::Result<std::uint32_t> map_max_entries(int map_fd);


}  // namespace weir::pins
