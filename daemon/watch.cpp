// inotify on the folders of the policy files (watch.hpp).
#include "watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <deque>
#include <filesystem>

namespace weir::daemon {
namespace fs = std::filesystem;

Watcher::Watcher(std::vector<std::string> files) : files_(std::move(files)), dirs_(files_.size()) {
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
}

Watcher::~Watcher() {
    if (fd_ >= 0) close(fd_);
}

void Watcher::arm() {
    for (std::size_t i = 0; i < files_.size(); ++i) {
        dirs_[i] = folders_of(files_[i]);
        for (const std::string& d : dirs_[i]) {
            if (watched_.count(d)) continue;
            int wd = inotify_add_watch(fd_, d.c_str(),
                                       IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                           IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR);
            if (wd < 0) continue;  // not there (yet): tried again next time
            watched_[d] = wd;
            paths_[wd].insert(d);
        }
    }
}

std::set<std::size_t> Watcher::read_changes() {
    std::set<std::size_t> changed;
    alignas(inotify_event) char buf[16384];
    for (;;) {
        ssize_t n = read(fd_, buf, sizeof buf);
        if (n <= 0) break;
        for (char* p = buf; p < buf + n;) {
            auto* ev = reinterpret_cast<inotify_event*>(p);
            p += sizeof(inotify_event) + ev->len;
            auto it = paths_.find(ev->wd);
            if (it == paths_.end()) continue;
            for (const std::string& d : it->second)
                for (std::size_t i = 0; i < dirs_.size(); ++i)
                    if (dirs_[i].count(d)) changed.insert(i);
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {  // the folder went away
                for (const std::string& d : it->second) watched_.erase(d);
                if (ev->mask & IN_IGNORED) paths_.erase(it);
                else inotify_rm_watch(fd_, ev->wd);
            }
        }
    }
    return changed;
}

std::set<std::string> Watcher::folders_of(const std::string& path) {
    std::set<std::string> out;
    fs::path lexical = fs::path(path).lexically_normal();
    out.insert(lexical.parent_path().string());
    const fs::path rel = lexical.relative_path();
    std::deque<fs::path> rest(rel.begin(), rel.end());
    fs::path acc = "/";
    std::error_code ec;
    for (int hops = 0; !rest.empty();) {
        fs::path part = rest.front();
        rest.pop_front();
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            acc = acc.parent_path();
            continue;
        }
        fs::path next = acc / part;
        if (!fs::is_symlink(fs::symlink_status(next, ec))) {
            acc = next;
            continue;
        }
        if (++hops > 40) break;  // a loop
        out.insert(acc.string());  // the folder holding the symlink
        fs::path target = fs::read_symlink(next, ec);
        if (ec) break;
        if (target.is_absolute()) acc = "/";
        const fs::path trel = target.relative_path();
        rest.insert(rest.begin(), trel.begin(), trel.end());
    }
    out.insert(acc.parent_path().string());
    return out;
}

}  // namespace weir::daemon
