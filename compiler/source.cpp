#include "source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace weir {

FileId SourceManager::add(std::string path, std::string text) {
    SourceFile f;
    f.path = std::move(path);
    f.text = std::move(text);
    f.line_starts.push_back(0);
    for (std::uint32_t i = 0; i < f.text.size(); ++i)
        if (f.text[i] == '\n') f.line_starts.push_back(i + 1);
    files_.push_back(std::move(f));
    return static_cast<FileId>(files_.size() - 1);
}

FileId SourceManager::load(const std::string& path, std::string& error) {
    // POSIX reads: an iostream takes a read error (EIO, EISDIR) for the end of the file, and
    // would load a file that cannot be read as an empty or a shortened one.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error = std::strerror(errno);
        return kNoFile;
    }
    std::string text;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = std::strerror(errno);
            ::close(fd);
            return kNoFile;
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
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
