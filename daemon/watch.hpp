// Which policy files changed: inotify on the folders a file is reached through, so that an edit
// in place, a rename over it and a Kubernetes ConfigMap update (a new `..data` symlink renamed
// into place) are all seen.
#pragma once
#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace weir::daemon {

// Each file is watched through the folder of its configured path and the folder of every path
// its symlinks lead through (a ConfigMap mount: edge.weir -> ..data/edge.weir,
// ..data -> ..2024_01_01_00_00_00.123; an update renames a new ..data into place: IN_MOVED_TO in
// the first folder). Any event in a file's folders marks it changed; the daemon compares source
// hashes, so spurious events cost a compile, never a swap.
class Watcher {
public:
    explicit Watcher(std::vector<std::string> files);
    ~Watcher();
    Watcher(const Watcher&) = delete;
    Watcher& operator=(const Watcher&) = delete;
    int fd() const { return fd_; }  // readable when read_changes() has something

    // (Re)computes every file's folders and adds watches that are missing. Cheap; called after
    // every change and once a second (a folder that did not exist may appear).
    void arm();
    // Drains the queue; returns the indexes (into `files`) whose folders saw an event.
    std::set<std::size_t> read_changes();

    // The folder of `path` and of every symlink met while resolving it, component by
    // component, and the folder of the file it finally names.
    static std::set<std::string> folders_of(const std::string& path);

private:
    std::vector<std::string> files_;
    int fd_ = -1;
    std::vector<std::set<std::string>> dirs_;     // per file
    std::map<std::string, int> watched_;          // folder -> watch
    std::map<int, std::set<std::string>> paths_;  // watch -> folders (one inode, several paths)
};

}  // namespace weir::daemon
