// Helpers shared by the commands.
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.hpp"

namespace weir::cli {

bool use_color(const std::string& mode) {
    if (mode == "always") return true;
    if (mode == "never") return false;
    // no-color.org: NO_COLOR set to a non-empty value turns off the default; --color always wins.
    const char* no_color = std::getenv("NO_COLOR");
    return isatty(STDERR_FILENO) && !(no_color && *no_color);
}

api::CompileOptions compile_options(const CommonOptions& o) {
    api::CompileOptions opts;
    opts.include_dirs = o.include_dirs;
    opts.werror = o.werror;
    return opts;
}

int exit_code(const api::Error& e) { return e.kind == api::ErrorKind::Policy ? kExitFindings : kExitUsage; }

void print_load_diagnostics(const api::LoadReport& r) {
    std::cerr << r.diagnostics_text;
    for (const auto& f : r.self_test_failures) {
        std::cerr << f.where.file;
        if (f.where.valid()) std::cerr << ":" << f.where.line << ":" << f.where.column;
        std::cerr << ": self-test '" << f.test << "': expected " << f.expected << ", got " << f.actual << "\n";
    }
}

bool write_file_atomic(const std::string& path, const std::string& data, std::string& err) {
    namespace fs = std::filesystem;
    std::error_code ec;
    // A symbolic link is followed on purpose: its target is rewritten and the link stays.
    fs::path target = path;
    if (fs::is_symlink(fs::symlink_status(path, ec))) {
        target = fs::canonical(path, ec);
        if (ec) {
            err = "it is a symbolic link to a file that does not exist";
            return false;
        }
    }
    auto st = fs::status(target, ec);
    bool exists = !ec && fs::exists(st);
    if (exists && !fs::is_regular_file(st)) {
        err = "not a regular file";
        return false;
    }
    // A fresh name beside the target, created exclusively (never an existing file or link).
    std::string tmp = (target.parent_path() / ("." + target.filename().string() + ".weir-XXXXXX")).string();
    int fd = ::mkstemp(tmp.data());
    if (fd < 0) {
        err = std::strerror(errno);
        return false;
    }
    auto fail = [&](int e) {
        err = std::strerror(e);
        ::close(fd);
        ::unlink(tmp.c_str());
        return false;
    };
    // The original's permissions, or what a new file gets under the umask.
    mode_t mask = ::umask(0);
    ::umask(mask);
    auto mode = exists ? static_cast<mode_t>(st.permissions()) : static_cast<mode_t>(0666 & ~mask);
    if (::fchmod(fd, mode) != 0) return fail(errno);
    for (std::size_t done = 0; done < data.size();) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(errno);
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) return fail(errno);
    if (::close(fd) != 0) {
        ::unlink(tmp.c_str());
        err = std::strerror(errno);
        return false;
    }
    if (::rename(tmp.c_str(), target.c_str()) != 0) {
        err = std::strerror(errno);
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

std::string plural(std::size_t n, const std::string& one, const std::string& many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace weir::cli
