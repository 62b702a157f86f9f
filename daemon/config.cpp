// The daemon's config: JSON parsing and validation (config.hpp).
#include "config.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

namespace weir::daemon {
namespace fs = std::filesystem;

namespace {

// One parse: the problems found so far, and the folder relative paths are resolved from.
struct Parser {
    ConfigResult& r;
    const std::string& path;
    fs::path base;

    void err(const std::string& m) { r.errors.push_back(path + ": " + m); }

    void strings(const nlohmann::json& v, const std::string& where, std::vector<std::string>& out) {
        if (!v.is_array()) return err("\"" + where + "\" must be an array of strings");
        for (const auto& s : v)
            if (s.is_string()) out.push_back((base / s.get<std::string>()).lexically_normal().string());
            else err("\"" + where + "\" must be an array of strings");
    }

    // The top-level keys other than "interfaces"; the common include and allowed folders.
    void top_level(const nlohmann::json& j, std::vector<std::string>& includes, std::vector<std::string>& allowed) {
        for (const auto& [key, v] : j.items()) {
            if (key == "listen") {
                if (!v.is_string()) err("\"listen\" must be a string such as \"127.0.0.1:9464\" or \"off\"");
                else r.config.listen = v.get<std::string>();
            } else if (key == "debounce_ms") {
                if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 60000)
                    err("\"debounce_ms\" must be a whole number of milliseconds, 0 to 60000");
                else r.config.debounce = std::chrono::milliseconds(v.get<std::uint64_t>());
            } else if (key == "program_statistics") {
                if (!v.is_boolean()) err("\"program_statistics\" must be true or false");
                else r.config.program_statistics = v.get<bool>();
            } else if (key == "include_dirs") {
                strings(v, key, includes);
            } else if (key == "allowed_dirs") {
                strings(v, key, allowed);
            } else if (key != "interfaces") {
                err("unknown key \"" + key + "\" (known: listen, debounce_ms, program_statistics, include_dirs, allowed_dirs, interfaces)");
            }
        }
        if (r.config.listen != "off") {
            std::string host, e;
            int port = 0;
            if (!parse_listen(r.config.listen, host, port, e)) err("\"listen\": " + e);
        }
    }

    // One string-valued key of an "interfaces" entry; false: a problem was reported.
    bool binding_key(Binding& b, const std::string& at, const std::string& key, const std::string& s) {
        if (key == "interface") {
            b.interface = s;
        } else if (key == "file") {
            b.file = s.empty() ? s : (base / s).lexically_normal().string();
        } else if (key == "policy") {
            b.policy = s;
        } else if (key == "mode") {
            if (s == "auto") b.mode = api::Mode::Auto;
            else if (s == "native") b.mode = api::Mode::Native;
            else if (s == "generic") b.mode = api::Mode::Generic;
            else {
                err(at + ".mode must be auto, native or generic, not \"" + s + "\"");
                return false;
            }
        } else {
            err(at + ": unknown key \"" + key + "\" (known: interface, file, policy, mode, include_dirs, shadow_seconds, "
                   "shadow_max_packets)");
            return false;
        }
        return true;
    }

    // One entry of "interfaces"; false: it had a problem (reported).
    bool binding(const nlohmann::json& e, const std::string& at, Binding& b) {
        if (!e.is_object()) {
            err(at + " must be an object");
            return false;
        }
        bool good = true;
        for (const auto& [key, v] : e.items()) {
            if (key == "include_dirs") {
                strings(v, at + ".include_dirs", b.include_dirs);
            } else if (key == "shadow_seconds" || key == "shadow_max_packets") {
                if (!v.is_number_unsigned() || (key == "shadow_seconds" && v.get<std::uint64_t>() > 86400)) {
                    err(at + "." + key + " must be a whole number" + (key == "shadow_seconds" ? ", 0 to 86400" : ""));
                    good = false;
                } else if (key == "shadow_seconds") {
                    b.shadow_seconds = static_cast<std::uint32_t>(v.get<std::uint64_t>());
                } else {
                    b.shadow_max_packets = v.get<std::uint64_t>();
                }
            } else if (!v.is_string()) {
                err(at + "." + key + " must be a string");
                good = false;
            } else {
                good = binding_key(b, at, key, v.get<std::string>()) && good;
            }
        }
        if (b.interface.empty() || b.interface.size() >= 16) {
            err(at + ".interface must be an interface name (1 to 15 characters)");
            good = false;
        }
        if (b.file.empty()) {
            err(at + ".file must name a policy file");
            good = false;
        }
        return good;
    }
};

bool inside_any(const std::string& file, const std::vector<std::string>& dirs) {
    return std::any_of(dirs.begin(), dirs.end(), [&](const std::string& d) {
        auto rel = fs::path(file).lexically_relative(d);
        return !rel.empty() && *rel.begin() != "..";
    });
}

}  // namespace

ConfigResult parse_config(const std::string& path, const std::string& text) {
    ConfigResult r;
    Parser p{r, path, fs::absolute(fs::path(path)).parent_path()};
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text, nullptr, true, /*ignore_comments=*/true);
    } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e500
        p.err(std::string("not valid JSON: ") + e.what());
        return r;
    }
    if (!j.is_object()) {
        p.err("the config must be a JSON object");
        return r;
    }
    std::vector<std::string> common_includes, allowed;
    p.top_level(j, common_includes, allowed);
    auto it = j.find("interfaces");
    if (it == j.end() || !it->is_array() || it->empty()) {
        p.err("\"interfaces\" must be a non-empty array of {\"interface\", \"file\"[, \"policy\", \"mode\"]}");
        return r;
    }
    std::set<std::string> seen;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const std::string at = "interfaces[" + std::to_string(i) + "]";
        Binding b;
        b.include_dirs = common_includes;
        b.allowed_dirs = allowed;
        if (!p.binding((*it)[i], at, b)) continue;
        if (!allowed.empty() && !inside_any(b.file, allowed)) {
            p.err(at + ".file '" + b.file + "' is outside \"allowed_dirs\"");
        } else if (!seen.insert(b.interface).second) {
            p.err(at + ": interface '" + b.interface + "' is configured twice");
        } else {
            r.config.bindings.push_back(std::move(b));
        }
    }
    return r;
}

ConfigResult read_config(const std::string& path) {
    api::Result<std::string> text = api::read_input_file(path, kMaxConfigBytes);
    if (!text) {
        ConfigResult r;
        r.errors.push_back(text.error.message);
        return r;
    }
    return parse_config(path, text.value);
}

bool parse_listen(const std::string& text, std::string& host, int& port, std::string& error) {
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
        error = "expected HOST:PORT, e.g. 127.0.0.1:9464, not '" + text + "'";
        return false;
    }
    host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const std::string p = text.substr(colon + 1);
    if (p.find_first_not_of("0123456789") != std::string::npos || p.size() > 5 || std::stoi(p) > 65535) {
        error = "bad port '" + p + "' in '" + text + "'";
        return false;
    }
    port = std::stoi(p);
    return true;
}

}  // namespace weir::daemon
