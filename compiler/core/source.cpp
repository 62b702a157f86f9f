#include "source.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace weir {

void advise_huge_pages(const void* p, std::size_t bytes) {
    constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
    if (bytes < 2 * kHuge) return;
    auto begin = (reinterpret_cast<std::uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
    auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(kHuge - 1);
    if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

FileId SourceManager::add(std::string path, std::string text) {
    SourceFile f;
    f.path = std::move(path);
    f.text = std::move(text);
    // Sized first: a set file of a million lines must not regrow the table twenty times.
    f.line_starts.reserve(1 + static_cast<std::size_t>(std::count(f.text.begin(), f.text.end(), '\n')));
    f.line_starts.push_back(0);
    for (const char* p = f.text.data(), *end = p + f.text.size();
         (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) != nullptr; ++p)
        f.line_starts.push_back(static_cast<std::uint32_t>(p - f.text.data() + 1));
    files_.push_back(std::move(f));
    return static_cast<FileId>(files_.size() - 1);
}

namespace {

const char* file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

std::string size_text(std::uint64_t bytes) {
    if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}

}  // namespace

namespace {

// The path of what `fd` refers to, symlinks resolved: the file actually opened, so a link
// swapped after a check cannot lead elsewhere.
std::string opened_path(int fd) {
    char buf[4096];
    std::string proc = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(proc.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

bool inside(const std::string& path, const std::string& dir) {
    if (dir == "/") return !path.empty() && path[0] == '/';
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

}  // namespace

bool read_regular_file(const std::string& path, std::uint64_t max_bytes, std::string& text, std::string& error,
                       const std::vector<std::string>& within) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        error = std::strerror(errno);
        return false;
    }
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        error = std::strerror(errno);
        return false;
    }
    if (!within.empty()) {
        std::string real = opened_path(fd);
        bool ok = std::any_of(within.begin(), within.end(), [&](const std::string& d) { return inside(real, d); });
        if (!ok) {
            std::string dirs;
            for (const auto& d : within) dirs += (dirs.empty() ? "" : ", ") + d;
            error = "it is outside the folders policies may be read from (" + dirs + ")";
            return false;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        error = std::string("it is ") + file_kind(st.st_mode) + ", not a regular file";
        return false;
    }
    auto too_large = [&] {
        error = "it is larger than the limit of " + size_text(max_bytes);
        return false;
    };
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return too_large();
    text.clear();
    // One byte past the size fstat gave: a file that did not grow ends in one read() and one
    // read() of 0, without doubling the buffer just to see EOF.
    text.resize(static_cast<std::size_t>(st.st_size) + 1);
    advise_huge_pages(text.data(), text.size());
    std::size_t used = 0;
    for (;;) {
        // The file may grow while it is read: read until EOF, never past the limit.
        if (used == text.size()) {
            if (text.size() > max_bytes) return too_large();
            text.resize(std::min<std::uint64_t>(max_bytes + 1, std::max<std::size_t>(4096, text.size() * 2)));
        }
        ssize_t n = ::read(fd, text.data() + used, text.size() - used);
        if (n < 0) {
            if (errno == EINTR) continue;
            error = std::strerror(errno);
            return false;
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
    }
    if (used > max_bytes) return too_large();
    text.resize(used);
    return true;
}

FileId SourceManager::load(const std::string& path, std::string& error, std::uint64_t max_bytes) {
    std::string text;
    if (confined_ && confined_to_.empty()) {
        error = "no folder policies may be read from exists";
        return kNoFile;
    }
    if (!read_regular_file(path, max_bytes, text, error, confined_to_)) return kNoFile;
    return add(path, std::move(text));
}

void SourceManager::confine(const std::vector<std::string>& dirs) {
    confined_ = true;
    confined_to_.clear();
    for (const auto& d : dirs) {
        // A folder that does not exist holds no file: it is left out.
        if (char* real = ::realpath(d.c_str(), nullptr)) {
            confined_to_.emplace_back(real);
            std::free(real);
        }
    }
}

LineCol SourceManager::line_col(FileId id, std::uint32_t offset) const {
    const auto& f = files_.at(id);
    auto it = std::upper_bound(f.line_starts.begin(), f.line_starts.end(), offset);
    auto line = static_cast<std::uint32_t>(it - f.line_starts.begin());
    return {line, offset - f.line_starts[line - 1] + 1};
}

std::string_view SourceManager::line_text(FileId id, std::uint32_t line) const {
    const auto& f = files_.at(id);
    if (line == 0 || line > f.line_starts.size()) return {};
    std::uint32_t b = f.line_starts[line - 1];
    std::uint32_t e = line < f.line_starts.size() ? f.line_starts[line] : f.text.size();
    std::string_view s(f.text.data() + b, e - b);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string_view SourceManager::text(SourceRange r) const {
    if (!r.valid()) return {};
    const auto& t = files_.at(r.file).text;
    if (r.begin > t.size() || r.end > t.size() || r.end < r.begin) return {};
    return std::string_view(t).substr(r.begin, r.end - r.begin);
}

FileId SourceManager::find(const std::string& path) const {
    for (std::size_t i = 0; i < files_.size(); ++i)
        if (files_[i].path == path) return static_cast<FileId>(i);
    return kNoFile;
}

}  // namespace weir
