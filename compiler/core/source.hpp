// Source files and positions. Every diagnostic and AST node points into a SourceManager.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weir {

using FileId = std::uint32_t;
inline constexpr FileId kNoFile = 0xffffffffu;

// A half-open byte range [begin, end) inside one source file.
struct SourceRange {
    FileId file = kNoFile;
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    bool valid() const { return file != kNoFile; }
    bool operator==(const SourceRange&) const = default;
};

// Asks the kernel to back the whole pages of [p, p + bytes) with huge pages where it can
// (transparent huge pages in madvise mode): building a million-entry set touches ~100 MB, and
// one fault per 4 KiB page was a third of `weir check`'s time. A hint; nothing below 4 MiB.
void advise_huge_pages(const void* p, std::size_t bytes);

// Reads a whole regular file of at most `max_bytes` into `text`; false with `error` set
// ("it is a FIFO, not a regular file", "it is larger than the limit of 16 MiB", strerror)
// otherwise. Directories, FIFOs, devices and sockets are refused without reading or blocking.
// With `within` non-empty, the file opened (symlinks resolved, as the kernel opened it) must lie
// inside one of those folders (absolute, canonical).
bool read_regular_file(const std::string& path, std::uint64_t max_bytes, std::string& text, std::string& error,
                       const std::vector<std::string>& within = {});

struct LineCol {
    std::uint32_t line = 0;  // 1-based
    std::uint32_t col = 0;   // 1-based, in bytes
};

struct SourceFile {
    std::string path;     // as shown in diagnostics
    std::string text;
    std::vector<std::uint32_t> line_starts;  // byte offset of each line
};

class SourceManager {
public:
    // Registers text under a display path; returns its id. Never fails.
    FileId add(std::string path, std::string text);
    // Reads a regular file of at most `max_bytes` from disk; returns kNoFile and sets `error` on
    // failure. Directories, FIFOs, devices and sockets are refused without reading or blocking.
    FileId load(const std::string& path, std::string& error, std::uint64_t max_bytes = kMaxSourceBytes);
    // From now on load() reads only files inside these folders (canonicalized here; those that
    // do not exist are left out, and with none left nothing can be read).
    void confine(const std::vector<std::string>& dirs);

    // Policy and include files past this size are refused (set files have their own limit).
    static constexpr std::uint64_t kMaxSourceBytes = 16ull << 20;
    // A set file: 1,000,000 IPv6 prefixes with comments fit several times over.
    static constexpr std::uint64_t kMaxSetFileBytes = 256ull << 20;

    const SourceFile& file(FileId id) const { return files_.at(id); }
    std::size_t size() const { return files_.size(); }
    LineCol line_col(FileId id, std::uint32_t offset) const;
    // The text of the 1-based line (without the newline).
    std::string_view line_text(FileId id, std::uint32_t line) const;
    std::string_view text(SourceRange r) const;
    // Finds an already-loaded file by canonical path, kNoFile if none.
    FileId find(const std::string& path) const;

private:
    std::vector<SourceFile> files_;
    bool confined_ = false;
    std::vector<std::string> confined_to_;
};

}  // namespace weir
