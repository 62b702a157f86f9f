#include "source.hpp"

#include <algorithm>
#include <cerrno>
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

FileId SourceManager::load(const std::string& path, std::string& error, std::uint64_t max_bytes) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        error = std::strerror(errno);
        return kNoFile;
    }
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        error = std::strerror(errno);
        return kNoFile;
    }
    if (!S_ISREG(st.st_mode)) {
        error = std::string("it is ") + file_kind(st.st_mode) + ", not a regular file";
        return kNoFile;
    }
    auto too_large = [&] {
        error = "it is larger than the limit of " + size_text(max_bytes);
        return kNoFile;
    };
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return too_large();
    std::string text;
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
            return kNoFile;
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
    }
    if (used > max_bytes) return too_large();
    text.resize(used);
    return add(path, std::move(text));
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
