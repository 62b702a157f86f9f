#include "set_journal.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "attach_detail.hpp"
#include "loaded_policy.hpp"
#include "sets.hpp"

namespace weir::sets {
namespace journal {
namespace {

constexpr const char* kMagic = "weir set journal 1";

bpf::Error sys_error(std::string what, int err) {
    return bpf::Error{std::move(what) + ": " + std::strerror(err), {}, -err};
}
bpf::Error malformed(const std::string& file, std::size_t line) {
    return bpf::Error{"malformed set journal '" + file + "' (line " + std::to_string(line) +
                          "): remove it and check the set with `weir set list`",
                      {}, -EINVAL};
}

void put_hex(std::string& out, const std::uint8_t* p, std::size_t n) {
    static const char* d = "0123456789abcdef";
    for (std::size_t i = 0; i < n; ++i) {
        out += d[p[i] >> 4];
        out += d[p[i] & 15];
    }
}
bool get_hex(std::string_view s, std::vector<std::uint8_t>& out) {
    if (s.size() % 2) return false;
    auto nib = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    };
    for (std::size_t i = 0; i < s.size(); i += 2) {
        int hi = nib(s[i]), lo = nib(s[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    return true;
}

template <typename T>
bool get_num(std::string_view s, T& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && p == s.data() + s.size();
}

std::vector<std::string_view> fields(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        std::size_t j = line.find(' ', i);
        if (j == std::string_view::npos) j = line.size();
        out.push_back(line.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

bpf::Status sync_dir(const std::string& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sys_error("open '" + dir + "'", errno);
    const int rc = ::fsync(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return sys_error("fsync '" + dir + "'", err);
    return bpf::ok();
}

}  // namespace

void Table::note(bool trie, bool present, const std::vector<std::uint8_t>& key) {
    auto& v = keys[trie][present];
    v.insert(v.end(), key.begin(), key.end());
}

std::size_t Table::changes() const {
    std::size_t n = 0;
    for (const auto& by_map : keys)
        for (const auto& v : by_map) n += v.size();
    return n / set_table_key_size(kind);
}

std::string path(std::string_view ifname) {
    return pins::lock_dir() + "/" + std::string(ifname) + ".set-journal";
}

// Text, one line per key: "weir set journal 1", "set NAME", "op OP ELEMENTS", per table
// "table KIND ID LIVE_EDITS EDITED_AT DESC|-" then "KEY t|h 0|1 HEX" lines, and "end".
bpf::Status write(std::string_view ifname, const Journal& j) {
    std::string text = std::string(kMagic) + "\nset " + j.set + "\nop " + j.op + " " + std::to_string(j.elements) + "\n";
    for (const Table& t : j.tables) {
        text += "table " + std::string(pins::kind_name(t.kind)) + " " + std::to_string(t.id) + " " +
                std::to_string(t.live_edits) + " " + std::to_string(t.edited_at) + " ";
        if (t.desc) put_hex(text, reinterpret_cast<const std::uint8_t*>(&*t.desc), sizeof *t.desc);
        else text += "-";
        text += "\n";
        const std::size_t ks = set_table_key_size(t.kind);
        text.reserve(text.size() + t.changes() * (2 * ks + 6));
        for (int trie = 0; trie < 2; ++trie)
            for (int present = 0; present < 2; ++present) {
                const auto& v = t.keys[trie][present];
                for (std::size_t off = 0; off < v.size(); off += ks) {
                    text += trie ? "t " : "h ";
                    text += present ? "1 " : "0 ";
                    put_hex(text, v.data() + off, ks);
                    text += '\n';
                }
            }
    }
    text += "end\n";

    const std::string file = path(ifname), tmp = file + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return sys_error("create set journal '" + tmp + "'", errno);
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            const int err = n < 0 ? errno : EIO;
            ::close(fd);
            ::unlink(tmp.c_str());
            return sys_error("write set journal '" + tmp + "'", err);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return sys_error("fsync set journal '" + tmp + "'", err);
    }
    ::close(fd);
    if (::rename(tmp.c_str(), file.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return sys_error("rename set journal to '" + file + "'", err);
    }
    return sync_dir(pins::lock_dir());
}

bpf::Result<std::optional<Journal>> read(std::string_view ifname) {
    const std::string file = path(ifname);
    if (::access(file.c_str(), F_OK) != 0) {
        if (errno == ENOENT) return std::optional<Journal>{};
        return sys_error("open set journal '" + file + "'", errno);
    }
    std::ifstream in(file);
    if (!in) return sys_error("open set journal '" + file + "'", errno ? errno : EIO);
    Journal j;
    std::string line;
    std::size_t n = 0;
    bool ended = false;
    while (std::getline(in, line)) {
        ++n;
        auto f = fields(line);
        if (n == 1) {
            if (line != kMagic) return malformed(file, n);
        } else if (ended) {
            return malformed(file, n);
        } else if (f.size() == 2 && f[0] == "set") {
            j.set = f[1];
        } else if (f.size() == 3 && f[0] == "op") {
            j.op = f[1];
            if (!get_num(f[2], j.elements)) return malformed(file, n);
        } else if (f.size() == 6 && f[0] == "table") {
            Table& t = j.tables.emplace_back();
            auto kind = pins::kind_from_name(f[1]);
            if (!kind || !get_num(f[2], t.id) || !get_num(f[3], t.live_edits) || !get_num(f[4], t.edited_at))
                return malformed(file, n);
            t.kind = *kind;
            if (f[5] != "-") {
                std::vector<std::uint8_t> raw;
                if (!get_hex(f[5], raw) || raw.size() != sizeof(weir_set_desc)) return malformed(file, n);
                weir_set_desc d;
                std::memcpy(&d, raw.data(), sizeof d);
                t.desc = d;
            }
        } else if (f.size() == 3 && (f[0] == "t" || f[0] == "h") && (f[1] == "0" || f[1] == "1") &&
                   !j.tables.empty()) {
            Table& t = j.tables.back();
            auto& v = t.keys[f[0] == "t"][f[1] == "1"];
            const std::size_t before = v.size();
            if (!get_hex(f[2], v) || v.size() - before != set_table_key_size(t.kind)) return malformed(file, n);
        } else if (line == "end") {
            ended = true;
        } else {
            return malformed(file, n);
        }
    }
    // No "end": cut short, which rename() rules out unless someone else wrote it.
    if (!ended || j.set.empty() || j.op.empty()) return malformed(file, n);
    return std::optional<Journal>(std::move(j));
}

bpf::Status remove(std::string_view ifname) {
    const std::string file = path(ifname);
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) return sys_error("remove set journal '" + file + "'", errno);
    (void)::unlink((file + ".tmp").c_str());  // left by an edit killed while writing it
    return sync_dir(pins::lock_dir());
}

bpf::Status rollback(const pins::Pinned& p, const Journal& j) {
    std::size_t kill_after = SIZE_MAX, writes = 0;
    if (std::string_view k = attach::detail::inject_kill_env(); k.starts_with("set-rollback-after-"))
        (void)get_num(k.substr(std::strlen("set-rollback-after-")), kill_after);
    auto counted = [&] {
        if (++writes == kill_after) attach::detail::maybe_kill("set-rollback-after-" + std::to_string(writes));
    };
    std::optional<bpf::Error> first;
    auto keep = [&](bpf::Error e) {
        if (!first) first = std::move(e);
    };
    const std::uint8_t one = 1;
    for (int present : {1, 0}) {
        for (const Table& t : j.tables) {
            const SetMaps m = set_maps(t.kind, [&](const char* n) { return p.map(n); });
            const std::size_t ks = set_table_key_size(t.kind);
            for (int trie = 0; trie < 2; ++trie) {
                const int fd = trie ? m.trie : m.hash;
                const auto& v = t.keys[trie][present];
                if (v.empty()) continue;
                if (fd < 0) {
                    keep({std::string(trie ? "the set trie" : "the set hash") + " of kind " + pins::kind_name(t.kind) +
                              " is not pinned",
                          {}, -ENOENT});
                    continue;
                }
                for (std::size_t off = 0; off < v.size(); off += ks) {
                    const int rc = present ? bpf_map_update_elem(fd, v.data() + off, &one, BPF_ANY)
                                           : bpf_map_delete_elem(fd, v.data() + off);
                    if (rc != 0 && !(errno == ENOENT && !present))
                        keep(sys_error(present ? "restore a set entry" : "delete a set entry", errno));
                    counted();
                }
            }
        }
        if (!present) continue;
        // Between the two: entries that were there are back before a descriptor lists them, and
        // entries that were not are delisted before they go.
        for (const Table& t : j.tables) {
            const SetMaps m = set_maps(t.kind, [&](const char* n) { return p.map(n); });
            if (t.desc && m.desc >= 0) {
                const std::uint32_t slot = t.id & (WEIR_SET_DESC_SLOTS - 1);
                if (bpf_map_update_elem(m.desc, &slot, &*t.desc, BPF_ANY) != 0)
                    keep(sys_error("restore a set descriptor", errno));
            }
        }
    }
    // The edit records, if the edit got as far as writing them.
    if (p.meta) {
        auto meta = pins::read_meta(p.meta.get());
        if (!meta) return meta.error();
        bool changed = false;
        if (meta->current)
            for (auto& s : meta->current->sets)
                for (const Table& t : j.tables)
                    if (s.kind == t.kind && s.id == t.id && (s.live_edits != t.live_edits || s.edited_at != t.edited_at)) {
                        s.live_edits = t.live_edits;
                        s.edited_at = t.edited_at;
                        changed = true;
                    }
        if (changed)
            if (auto st = pins::write_meta(p.meta.get(), *meta); !st) keep(st.error());
    }
    if (first) return *first;
    return bpf::ok();
}

}  // namespace journal

std::string recover(const std::string& ifname, attach::Failure& failure) {
    auto j = journal::read(ifname);
    if (!j) {
        failure = attach::detail::env_failure(j.error().message);
        return {};
    }
    if (!*j) return {};
    const journal::Journal& jr = **j;
    const std::string what = "an interrupted set edit of @" + jr.set + " (" + jr.op + ", " +
                             std::to_string(jr.elements) + " element" + (jr.elements == 1 ? "" : "s") + ")";
    auto discard = [&](const std::string& why) {
        if (auto st = journal::remove(ifname); !st) failure = attach::detail::env_failure(st.error().message);
        return "discarded the journal of " + what + ": " + why;
    };
    if (!pins::exists(pins::dir(ifname))) return discard("no policy is pinned on '" + ifname + "' any more");
    auto p = pins::open_pinned(ifname);
    if (!p) {
        failure = attach::detail::env_failure(p.error().message);
        return {};
    }
    // The set's tables must still be the running policy's (an edit runs only on a recovered
    // interface, so they are, unless the pins were changed by hand).
    std::optional<pins::Meta> meta;
    if (p->meta) {
        auto m = pins::read_meta(p->meta.get());
        if (!m) {
            failure = attach::detail::env_failure("cannot read " + pins::path(ifname, pins::kMeta) + ": " + m.error().message);
            return {};
        }
        meta = std::move(*m);
    }
    for (const auto& t : jr.tables) {
        bool found = false;
        if (meta && meta->current)
            for (const auto& s : meta->current->sets) found = found || (s.kind == t.kind && s.id == t.id);
        if (!found) return discard("the running policy no longer has that set");
    }
    if (auto st = journal::rollback(*p, jr); !st) {
        failure = attach::detail::env_failure("roll back " + what + ": " + st.error().message +
                                              " (the journal stays: the next weir command on '" + ifname +
                                              "' tries again)");
        return {};
    }
    if (auto st = journal::remove(ifname); !st) {
        failure = attach::detail::env_failure(st.error().message);
        return {};
    }
    return "rolled back " + what + ": the set holds its previous contents";
}

}  // namespace weir::sets
