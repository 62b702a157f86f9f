// Stage 1b: the root file and everything it includes, depth first, each file parsed once.
#include "loader.hpp"

#include <filesystem>
#include <map>
#include <optional>
#include <system_error>

#include "parser.hpp"

namespace weir {
namespace fs = std::filesystem;

namespace {

#ifndef WEIR_SOURCE_RULES_DIR
#define WEIR_SOURCE_RULES_DIR ""
#endif
#ifndef WEIR_INSTALLED_RULES_DIR
#define WEIR_INSTALLED_RULES_DIR ""
#endif

// Identity of a file on disk, so "a/../b.weir" and "b.weir" are the same file.
std::string canonical_key(const std::string& path) {
    std::error_code ec;
    fs::path p = fs::weakly_canonical(fs::path(path), ec);
    if (ec) p = fs::absolute(fs::path(path), ec).lexically_normal();
    return p.string();
}

bool is_candidate(const fs::path& p) {
    std::error_code ec;
    auto st = fs::status(p, ec);
    return !ec && fs::exists(st) && !fs::is_directory(st);
}

class Loader {
public:
    Loader(SourceManager& sm, const LoadOptions& opts, Diagnostics& diags)
        : sm_(sm), opts_(opts), diags_(diags) {}

    std::vector<ast::File> run(FileId root) {
        by_key_.emplace(canonical_key(sm_.file(root).path), root);
        visit(root);
        return std::move(out_);
    }

private:
    enum class Mark { Open, Done };

    struct Frame {
        FileId file;
        SourceRange via;  // the include in `file` currently being followed
    };

    void visit(FileId id) {
        marks_[id] = Mark::Open;
        stack_.push_back({id, {}});
        std::optional<ast::File> file = parse(sm_, id, diags_);
        if (file) {
            for (const auto& d : file->decls)
                if (const auto* inc = std::get_if<ast::Include>(&d)) follow(id, *inc);
            out_.push_back(std::move(*file));
        }
        stack_.pop_back();
        marks_[id] = Mark::Done;
    }

    void follow(FileId from, const ast::Include& inc) {
        const std::string& written = inc.path.text;
        std::optional<std::string> found;
        std::vector<std::string> searched;
        if (fs::path(written).is_absolute()) {
            if (is_candidate(written)) found = written;
        } else {
            searched = include_search_path(sm_.file(from).path, opts_);
            for (const auto& dir : searched) {
                fs::path p = (fs::path(dir) / written).lexically_normal();
                if (is_candidate(p)) {
                    found = p.string();
                    break;
                }
            }
        }
        if (!found) {
            auto& d = diags_.error("include-not-found", inc.range, "cannot find included file '" + written + "'");
            if (searched.empty()) {
                d.notes.push_back({{}, "the path is absolute, so no folders were searched"});
            } else {
                std::string dirs;
                for (const auto& s : searched) dirs += (dirs.empty() ? "" : ", ") + s;
                d.notes.push_back({{}, "searched in: " + dirs});
            }
            return;
        }

        std::string key = canonical_key(*found);
        if (auto it = by_key_.find(key); it != by_key_.end()) {
            if (marks_[it->second] == Mark::Open) report_cycle(it->second, inc);
            return;  // already loaded (a diamond): parsed once
        }
        std::string error;
        FileId id = sm_.load(*found, error);
        if (id == kNoFile) {
            diags_.error("include-unreadable", inc.range, "cannot read included file '" + *found + "': " + error);
            return;
        }
        by_key_.emplace(key, id);
        stack_.back().via = inc.range;
        visit(id);
    }

    // `inc` (in the innermost open file) includes `target`, which is still open.
    void report_cycle(FileId target, const ast::Include& inc) {
        std::size_t start = 0;
        while (start < stack_.size() && stack_[start].file != target) ++start;
        std::string chain;
        for (std::size_t i = start; i < stack_.size(); ++i) chain += sm_.file(stack_[i].file).path + " -> ";
        chain += sm_.file(target).path;
        // The error sits at the include that entered the cycle; for a file including itself that
        // is the closing include too.
        SourceRange entry = start + 1 < stack_.size() ? stack_[start].via : inc.range;
        auto& d = diags_.error("include-cycle", entry, "include cycle: " + chain);
        d.notes.push_back({inc.range, "the cycle closes here: '" + sm_.file(stack_.back().file).path +
                                          "' includes '" + sm_.file(target).path + "' again"});
    }

    SourceManager& sm_;
    const LoadOptions& opts_;
    Diagnostics& diags_;
    std::map<std::string, FileId> by_key_;
    std::map<FileId, Mark> marks_;
    std::vector<Frame> stack_;
    std::vector<ast::File> out_;
};

}  // namespace

std::vector<std::string> include_search_path(const std::string& from_file, const LoadOptions& opts) {
    std::vector<std::string> dirs;
    std::string own = fs::path(from_file).parent_path().string();
    dirs.push_back(own.empty() ? "." : own);
    for (const auto& d : opts.include_dirs) dirs.push_back(d);
    if (opts.use_default_rules)
        for (auto& d : default_rules_dirs()) dirs.push_back(std::move(d));
    return dirs;
}

std::vector<std::string> default_rules_dirs() {
    std::vector<std::string> dirs;
    for (const char* d : {WEIR_SOURCE_RULES_DIR, WEIR_INSTALLED_RULES_DIR})
        if (*d) dirs.emplace_back(d);
    return dirs;
}

std::vector<ast::File> load(SourceManager& sm, FileId root, const LoadOptions& opts, Diagnostics& diags) {
    return Loader(sm, opts, diags).run(root);
}

}  // namespace weir
