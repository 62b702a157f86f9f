#include "pins.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "weir_abi.h"

namespace weir::pins {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

bpf::Error sys_error(std::string what, int err) {
    if (err > 0) err = -err;
    return bpf::Error{std::move(what) + ": " + std::strerror(-err), {}, err};
}

std::string env_or(const char* name, const char* def) {
    const char* v = std::getenv(name);
    return v && *v ? v : def;
}

bool on_bpffs(const std::string& p) {
    struct statfs st{};
    return statfs(p.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

}  // namespace

std::string root() { return env_or("WEIR_PIN_ROOT", "/sys/fs/bpf/weir"); }

// bpffs refuses names with '.', which interface names may have (eth0.100): escaped as %2e.
std::string pin_name(std::string_view ifname) {
    std::string out;
    for (char ch : ifname) {
        if (ch == '.') out += "%2e";
        else if (ch == '%') out += "%25";
        else out += ch;
    }
    return out;
}

std::string ifname_of(std::string_view pin) {
    std::string out;
    for (std::size_t i = 0; i < pin.size(); ++i) {
        if (pin.substr(i, 3) == "%2e") out += '.', i += 2;
        else if (pin.substr(i, 3) == "%25") out += '%', i += 2;
        else out += pin[i];
    }
    return out;
}

std::string dir(std::string_view ifname) { return root() + "/" + pin_name(ifname); }
std::string path(std::string_view ifname, std::string_view pin) {
    return dir(ifname) + "/" + std::string(pin);
}
std::string lock_dir() { return env_or("WEIR_RUN_DIR", "/run/weir"); }

const std::vector<std::string>& shared_maps() {
    static const std::vector<std::string> names = {
        WEIR_MAP_RULES,  WEIR_MAP_VERDICTS, WEIR_MAP_STATS,    WEIR_MAP_SET_V4,
        WEIR_MAP_SET_V6, WEIR_MAP_SET_PORT, WEIR_MAP_SET_PROTO, WEIR_MAP_SET_MAC,
        WEIR_MAP_SETH_V4, WEIR_MAP_SETH_V6, WEIR_MAP_SETD_V4, WEIR_MAP_SETD_V6,
        WEIR_MAP_LIMITS,  // rate-limit buckets: kept across swaps (ids: rule name + key)
        WEIR_MAP_LOG};  // the log ring: readers keep reading across swaps
    return names;
}

namespace {

// The pin root and the lock folder decide what weir treats as its own state: a folder another
// user created or may write (bpffs at /sys/fs/bpf is mode 1777) could have pins moved out of it
// or planted in it. Both must be real folders (not links) owned by this user, writable by no one
// else.
bpf::Status check_owned(const std::string& d, const char* what) {
    struct stat st {};
    if (::lstat(d.c_str(), &st) != 0) return sys_error("stat " + std::string(what) + " '" + d + "'", errno);
    std::string why;
    if (S_ISLNK(st.st_mode)) why = "is a symbolic link";
    else if (!S_ISDIR(st.st_mode)) why = "is not a folder";
    else if (st.st_uid != ::geteuid()) why = "is owned by uid " + std::to_string(st.st_uid) + ", not " + std::to_string(::geteuid());
    else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        why = std::string("is writable by its group or others (mode ") + mode + ")";
    }
    if (why.empty()) return bpf::ok();
    // Not EPERM: callers read that as "run as root", and root is what meets this refusal.
    return bpf::Error{std::string(what) + " '" + d + "' " + why +
                          "; weir keeps its state only in a folder it owns alone (remove it, or fix its owner and mode)",
                      {}, -EUCLEAN};
}

}  // namespace

bpf::Status ensure_bpffs() {
    const std::string r = root();
    const bool default_root = std::getenv("WEIR_PIN_ROOT") == nullptr || !*std::getenv("WEIR_PIN_ROOT");
    fs::path parent = fs::path(r).parent_path();
    if (!on_bpffs(parent.string())) {
        if (!default_root)
            return sys_error("'" + parent.string() + "' (parent of $WEIR_PIN_ROOT) is not on a bpf filesystem",
                             ENOTSUP);
        std::error_code ec;
        fs::create_directories("/sys/fs/bpf", ec);
        if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0) {
            int err = errno;
            if (err == EPERM || err == EACCES) return sys_error("mount bpffs at /sys/fs/bpf", EPERM);
            return sys_error("mount bpffs at /sys/fs/bpf", ENOTSUP);
        }
        if (!on_bpffs(parent.string())) return sys_error("bpffs at /sys/fs/bpf is not usable", ENOTSUP);
    }
    if (::mkdir(r.c_str(), 0700) != 0 && errno != EEXIST) {
        int err = errno;
        return sys_error("create '" + r + "'", err == EACCES ? EPERM : err);
    }
    return check_owned(r, "the pin root");
}

bpf::Result<Lock> Lock::acquire(std::string_view ifname) {
    const std::string d = lock_dir();
    std::error_code ec;
    fs::create_directories(fs::path(d).parent_path(), ec);
    ::mkdir(d.c_str(), 0700);  // whatever the umask; an existing folder is checked below
    if (auto st = check_owned(d, "the lock folder"); !st) return st.error();
    const std::string p = d + "/" + std::string(ifname) + ".lock";
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("open lock '" + p + "'", errno);
    bpf::Fd owned(fd);
    while (::flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) return sys_error("lock '" + p + "'", errno);
    return Lock(std::move(owned));
}

const char* kind_name(TableKind k) { return table_kind_name(k); }

std::optional<TableKind> kind_from_name(std::string_view s) {
    for (TableKind k : kTableKinds)
        if (s == kind_name(k)) return k;
    return std::nullopt;
}

namespace {

json rules_json(const std::vector<RuleRecord>& rs) {
    json rules = json::array();
    for (const auto& r : rs) rules.push_back(json::array({r.name, r.action}));
    return rules;
}

json sets_json(const std::vector<SetRecord>& rs) {
    json sets = json::array();
    for (const auto& s : rs)
        sets.push_back({{"name", s.name}, {"kind", kind_name(s.kind)}, {"ordinal", s.ordinal},
                        {"id", s.id}, {"hash", s.hash}, {"named", s.named}, {"type", s.type},
                        {"live_edits", s.live_edits}, {"edited_at", s.edited_at}});
    return sets;
}

std::vector<SetRecord> sets_from(const json& j) {
    std::vector<SetRecord> out;
    for (const auto& s : j) {
        SetRecord r;
        r.name = s.at("name").get<std::string>();
        auto k = kind_from_name(s.at("kind").get<std::string>());
        if (!k) throw std::runtime_error("unknown set kind");
        r.kind = *k;
        r.ordinal = s.at("ordinal").get<unsigned>();
        r.id = s.at("id").get<std::uint32_t>();
        r.hash = s.at("hash").get<std::string>();
        r.named = s.at("named").get<bool>();
        r.type = s.value("type", std::string());
        r.live_edits = s.value("live_edits", std::uint32_t{0});
        r.edited_at = s.value("edited_at", std::int64_t{0});
        out.push_back(std::move(r));
    }
    return out;
}

json shadow_json(const ShadowMeta& s) {
    return {{"policy", s.policy}, {"source", s.source}, {"source_hash", s.source_hash}, {"loaded_at", s.loaded_at},
            {"slots", s.slots}, {"rules", rules_json(s.rules)}, {"default_verdict", s.default_verdict},
            {"sets", sets_json(s.sets)}};
}

ShadowMeta shadow_from(const json& j) {
    ShadowMeta s;
    s.policy = j.at("policy").get<std::string>();
    s.source = j.at("source").get<std::string>();
    s.source_hash = j.at("source_hash").get<std::string>();
    s.loaded_at = j.at("loaded_at").get<std::int64_t>();
    s.slots = j.at("slots").get<std::map<std::string, std::uint32_t>>();
    for (const auto& r : j.at("rules")) s.rules.push_back({r.at(0).get<std::string>(), r.at(1).get<std::string>()});
    s.default_verdict = j.at("default_verdict").get<std::string>();
    if (j.contains("sets")) s.sets = sets_from(j.at("sets"));
    return s;
}

json policy_json(const PolicyMeta& p) {
    json sets = sets_json(p.sets);
    // [name, action] pairs, not objects: half the bytes, so that ~50,000-rule policies fit in
    // weir_meta (capacity.hpp estimates this record from above).
    json rules = json::array();
    for (const auto& r : p.rules) rules.push_back(json::array({r.name, r.action}));
    json next = json::object();
    for (int k = 0; k < 5; ++k) next[kind_name(static_cast<TableKind>(k))] = p.next_set_id[k];
    json j = {{"policy", p.policy},         {"source", p.source},     {"source_hash", p.source_hash},
              {"prog_id", p.prog_id},       {"prog_tag", p.prog_tag}, {"mode", p.mode},
              {"attached_at", p.attached_at}, {"loaded_at", p.loaded_at}, {"swaps", p.swaps},
              {"rule_capacity", p.rule_capacity}, {"slots", p.slots}, {"sets", sets},
              {"next_set_id", next}, {"rules", rules}, {"default_verdict", p.default_verdict}};
    if (p.shadow) j["shadow"] = shadow_json(*p.shadow);
    return j;
}

PolicyMeta policy_from(const json& j) {
    PolicyMeta p;
    p.policy = j.at("policy").get<std::string>();
    p.source = j.at("source").get<std::string>();
    p.source_hash = j.at("source_hash").get<std::string>();
    p.prog_id = j.at("prog_id").get<std::uint32_t>();
    p.prog_tag = j.at("prog_tag").get<std::string>();
    p.mode = j.at("mode").get<std::string>();
    p.attached_at = j.at("attached_at").get<std::int64_t>();
    p.loaded_at = j.at("loaded_at").get<std::int64_t>();
    p.swaps = j.at("swaps").get<std::uint32_t>();
    p.rule_capacity = j.at("rule_capacity").get<std::uint32_t>();
    p.slots = j.at("slots").get<std::map<std::string, std::uint32_t>>();
    p.sets = sets_from(j.at("sets"));
    for (int k = 0; k < 5; ++k)
        p.next_set_id[k] = j.at("next_set_id").at(kind_name(static_cast<TableKind>(k))).get<std::uint32_t>();
    if (j.contains("rules"))
        for (const auto& r : j.at("rules")) {
            if (r.is_array())
                p.rules.push_back({r.at(0).get<std::string>(), r.at(1).get<std::string>()});
            else  // records written before the pairs
                p.rules.push_back({r.at("name").get<std::string>(), r.at("action").get<std::string>()});
        }
    p.default_verdict = j.value("default_verdict", std::string());
    if (j.contains("shadow") && !j.at("shadow").is_null()) p.shadow = shadow_from(j.at("shadow"));
    return p;
}

json rollback_json(const Rollback& r) {
    return {{"previous", r.previous ? policy_json(*r.previous) : json(nullptr)},
            {"deadline_ns", r.deadline_ns}, {"window_s", r.window_s}, {"boot_id", r.boot_id},
            {"token", r.token}, {"watcher_pid", r.watcher_pid}, {"watcher_unit", r.watcher_unit}};
}

Rollback rollback_from(const json& j) {
    Rollback r;
    if (!j.at("previous").is_null()) r.previous = policy_from(j.at("previous"));
    r.deadline_ns = j.at("deadline_ns").get<std::int64_t>();
    r.window_s = j.value("window_s", std::uint32_t{0});
    r.boot_id = j.at("boot_id").get<std::string>();
    r.token = j.at("token").get<std::string>();
    r.watcher_pid = j.value("watcher_pid", std::int32_t{0});
    r.watcher_unit = j.value("watcher_unit", std::string());
    return r;
}

}  // namespace

std::string to_json(const Meta& m) {
    json j = {{"format", m.format},
              {"current", m.current ? policy_json(*m.current) : json(nullptr)},
              {"pending", m.pending ? policy_json(*m.pending) : json(nullptr)}};
    if (m.rollback) j["rollback"] = rollback_json(*m.rollback);  // absent: older readers see nothing new
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bpf::Result<Meta> meta_from_json(std::string_view text) {
    try {
        json j = json::parse(text);
        Meta m;
        m.format = j.at("format").get<int>();
        if (m.format != kMetaFormat)
            return bpf::Error{"weir_meta has format " + std::to_string(m.format) + ", this weir reads " +
                                  std::to_string(kMetaFormat),
                              {}, -EPROTO};
        if (!j.at("current").is_null()) m.current = policy_from(j.at("current"));
        if (!j.at("pending").is_null()) m.pending = policy_from(j.at("pending"));
        if (j.contains("rollback") && !j.at("rollback").is_null()) m.rollback = rollback_from(j.at("rollback"));
        return m;
    } catch (const std::exception& e) {
        return bpf::Error{std::string("weir_meta is not valid: ") + e.what(), {}, -EPROTO};
    }
}

bpf::Result<bpf::Fd> create_meta_map() {
    bpf_map_create_opts o{};
    o.sz = sizeof o;
    int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, kMeta, sizeof(std::uint32_t), kMetaValueSize, 1, &o);
    if (fd < 0) return sys_error("create map weir_meta", errno);
    return bpf::Fd(fd);
}

namespace {

// The value size of an existing weir_meta map: kMetaValueSize, or less for a map an older weir
// created (256 KiB); what it holds must fit that map, not this build's constant.
std::uint32_t meta_value_size(int meta_fd) {
    bpf_map_info info{};
    std::uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(meta_fd, &info, &len) != 0 || info.value_size == 0) return kMetaValueSize;
    return info.value_size;
}

}  // namespace

bpf::Result<Meta> read_meta(int meta_fd) {
    std::vector<unsigned char> buf(std::max(meta_value_size(meta_fd), kMetaValueSize));
    if (auto st = bpf::lookup(meta_fd, 0, buf); !st) return st.error();
    std::size_t n = 0;
    while (n < buf.size() && buf[n] != 0) ++n;
    if (n == 0) return bpf::Error{"weir_meta is empty", {}, -ENODATA};
    return meta_from_json(std::string_view(reinterpret_cast<const char*>(buf.data()), n));
}

bpf::Status write_meta(int meta_fd, const Meta& m) {
    std::string text = to_json(m);
    const std::uint32_t size = meta_value_size(meta_fd);
    if (text.size() >= size)
        return bpf::Error{"the policy's metadata (" + std::to_string(text.size()) + " bytes) exceeds weir_meta's " +
                              std::to_string(size) + " bytes (too many rules or sets)",
                          {}, -E2BIG};
    std::vector<unsigned char> buf(std::max(size, kMetaValueSize), 0);
    std::memcpy(buf.data(), text.data(), text.size());
    return bpf::update(meta_fd, 0, std::span<const unsigned char>(buf));
}

bpf::Result<bpf::Fd> open_pin(const std::string& p) {
    int fd = bpf_obj_get(p.c_str());
    if (fd < 0) return sys_error("open pin '" + p + "'", errno);
    return bpf::Fd(fd);
}

bpf::Status pin(int fd, const std::string& p) {
    if (bpf_obj_pin(fd, p.c_str()) != 0) return sys_error("pin '" + p + "'", errno);
    return bpf::ok();
}

bpf::Status replace_pin(int fd, const std::string& p) {
    const std::string tmp = p + "_new";  // bpffs names may not contain a dot
    ::unlink(tmp.c_str());
    if (auto st = pin(fd, tmp); !st) return st;
    if (::rename(tmp.c_str(), p.c_str()) != 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return sys_error("replace pin '" + p + "'", err);
    }
    return bpf::ok();
}

bpf::Status remove_dir(std::string_view ifname) {
    const std::string d = dir(ifname);
    if (!exists(d)) return bpf::ok();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec))
        if (::unlink(e.path().c_str()) != 0 && errno != ENOENT)
            return sys_error("remove '" + e.path().string() + "'", errno);
    if (::rmdir(d.c_str()) != 0 && errno != ENOENT) return sys_error("remove '" + d + "'", errno);
    return bpf::ok();
}

bool exists(const std::string& p) {
    struct stat st{};
    return ::lstat(p.c_str(), &st) == 0;
}

std::vector<std::string> pinned_interfaces() {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root(), ec))
        if (e.is_directory(ec)) out.push_back(ifname_of(e.path().filename().string()));
    std::sort(out.begin(), out.end());
    return out;
}

int Pinned::map(std::string_view name) const {
    auto it = maps.find(std::string(name));
    return it == maps.end() ? -1 : it->second.get();
}

bpf::Result<Pinned> open_pinned(std::string_view ifname) {
    if (!exists(dir(ifname))) return sys_error("'" + dir(ifname) + "'", ENOENT);
    Pinned p;
    p.ifname = ifname;
    if (auto fd = open_pin(path(ifname, kLink))) p.link = std::move(*fd);
    if (auto fd = open_pin(path(ifname, kProg))) p.prog = std::move(*fd);
    if (auto fd = open_pin(path(ifname, kMeta))) p.meta = std::move(*fd);
    for (const auto& m : shared_maps())
        if (auto fd = open_pin(path(ifname, m))) p.maps.emplace(m, std::move(*fd));
    return p;
}

bpf::Result<LinkInfo> link_info(int link_fd) {
    bpf_link_info info{};
    std::uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(link_fd, &info, &len) != 0) return sys_error("link info", errno);
    LinkInfo out;
    out.prog_id = info.prog_id;
    if (info.type == BPF_LINK_TYPE_XDP) out.ifindex = info.xdp.ifindex;
    return out;
}

bpf::Result<ProgInfo> prog_info(int prog_fd) {
    bpf_prog_info info{};
    std::uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return sys_error("program info", errno);
    ProgInfo out;
    out.id = info.id;
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : info.tag) {
        out.tag += hex[c >> 4];
        out.tag += hex[c & 15];
    }
    out.name = info.name;
    std::uint32_t n = info.nr_map_ids;
    if (n) {
        out.map_ids.resize(n);
        bpf_prog_info again{};
        again.nr_map_ids = n;
        again.map_ids = reinterpret_cast<std::uint64_t>(out.map_ids.data());
        len = sizeof again;
        if (bpf_obj_get_info_by_fd(prog_fd, &again, &len) != 0) return sys_error("program map ids", errno);
        out.map_ids.resize(std::min(n, again.nr_map_ids));
    }
    return out;
}

bpf::Result<bpf::Fd> prog_by_id(std::uint32_t id) {
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0) return sys_error("program id " + std::to_string(id), errno);
    return bpf::Fd(fd);
}

bpf::Result<std::map<std::string, bpf::Fd>> prog_maps(int prog_fd) {
    auto pi = prog_info(prog_fd);
    if (!pi) return pi.error();
    std::map<std::string, bpf::Fd> out;
    for (std::uint32_t id : pi->map_ids) {
        int fd = bpf_map_get_fd_by_id(id);
        if (fd < 0) return sys_error("map id " + std::to_string(id), errno);
        bpf::Fd owned(fd);
        bpf_map_info mi{};
        std::uint32_t len = sizeof mi;
        if (bpf_obj_get_info_by_fd(fd, &mi, &len) != 0) return sys_error("map info", errno);
        out.emplace(mi.name, std::move(owned));
    }
    return out;
}

bpf::Result<std::uint32_t> map_max_entries(int map_fd) {
    bpf_map_info mi{};
    std::uint32_t len = sizeof mi;
    if (bpf_obj_get_info_by_fd(map_fd, &mi, &len) != 0) return sys_error("map info", errno);
    return mi.max_entries;
}

}  // namespace weir::pins
