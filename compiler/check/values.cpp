// Literal conversion: addresses, MACs, integers, and their canonical text.
#include "values.hpp"

#include <algorithm>
#include <cctype>

#include <arpa/inet.h>

#include <cstring>
#include <string>

namespace weir {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// All ones in the low `bits` bits (bits <= 128).
u128 low_ones(int bits) {
    if (bits <= 0) return 0;
    if (bits >= 128) return ~u128{0};
    return (u128{1} << bits) - 1;
}

}  // namespace

std::optional<Element> parse_ip(const ast::Value& v, Diagnostics& diags) {
    const std::string& text = v.text;
    auto slash = text.find('/');
    std::string addr = text.substr(0, slash);
    bool v6 = addr.find(':') != std::string::npos;
    const char* fam_name = v6 ? "IPv6" : "IPv4";
    const int width = v6 ? 128 : 32;

    Element e;
    e.family = v6 ? Family::V6 : Family::V4;
    e.range = v.range;
    u128 value = 0;
    if (v6) {
        unsigned char buf[16];
        if (inet_pton(AF_INET6, addr.c_str(), buf) != 1) {
            diags.error("invalid-address", v.range, "'" + addr + "' is not a valid IPv6 address");
            return std::nullopt;
        }
        for (unsigned char b : buf) value = (value << 8) | b;
    } else {
        unsigned char buf[4];
        if (inet_pton(AF_INET, addr.c_str(), buf) != 1) {
            diags.error("invalid-address", v.range,
                        "'" + addr + "' is not a valid IPv4 address (expected a dotted quad like 192.0.2.1)");
            return std::nullopt;
        }
        for (unsigned char b : buf) value = (value << 8) | b;
    }

    int len = width;
    if (slash != std::string::npos) {
        std::string digits = text.substr(slash + 1);
        bool ok = !digits.empty() && digits.size() <= 3;
        for (char c : digits) ok = ok && c >= '0' && c <= '9';
        if (!ok) {
            diags.error("invalid-prefix", v.range,
                        "'/" + digits + "' is not a prefix length (expected /0 to /" + std::to_string(width) + ")");
            return std::nullopt;
        }
        len = std::stoi(digits);
        if (len > width) {
            diags.error("invalid-prefix", v.range,
                        "prefix length /" + digits + " is too long for an " + fam_name + " address (0-" +
                            std::to_string(width) + ")");
            return std::nullopt;
        }
    }
    u128 host = low_ones(width - len);
    u128 net = value & ~host & low_ones(width);
    e.lo = net;
    e.hi = net | host;
    e.prefix = len;
    if (net != value) {
        std::string canon = format_ip(e.family, net) + "/" + std::to_string(len);
        diags.warning("cidr-host-bits", v.range,
                      text + " has host bits set; it means the network " + canon);
    }
    return e;
}

namespace {

// "/len" after an address: 1-3 digits without a leading zero (parse_ip takes "/024" too, but
// that rare spelling can take the full path), at most `width`. -1 if not so.
int plain_prefix(std::string_view digits, int width) {
    if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return -1;
    int len = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return -1;
        len = len * 10 + (c - '0');
    }
    return len <= width ? len : -1;
}

// A dotted quad as inet_pton(AF_INET) reads it: four decimal octets, no leading zeros.
bool plain_v4(std::string_view s, u128& out) {
    std::uint32_t value = 0;
    std::size_t i = 0;
    for (int octet = 0; octet < 4; ++octet) {
        if (octet > 0) {
            if (i >= s.size() || s[i] != '.') return false;
            ++i;
        }
        std::size_t start = i;
        unsigned n = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 3) n = n * 10 + unsigned(s[i++] - '0');
        if (i == start || n > 255 || (i - start > 1 && s[start] == '0')) return false;
        value = (value << 8) | n;
    }
    if (i != s.size()) return false;
    out = value;
    return true;
}

}  // namespace

std::optional<Element> parse_ip_plain(std::string_view text) {
    std::size_t slash = text.find('/');
    std::string_view addr = text.substr(0, slash);
    Element e;
    u128 value = 0;
    if (addr.find(':') == std::string_view::npos) {
        if (!plain_v4(addr, value)) return std::nullopt;
        e.family = Family::V4;
    } else {
        // inet_pton wants a C string; the longest IPv6 text (with an IPv4 tail) is 45 bytes.
        char buf[INET6_ADDRSTRLEN + 1];
        if (addr.size() >= sizeof buf) return std::nullopt;
        std::memcpy(buf, addr.data(), addr.size());
        buf[addr.size()] = '\0';
        unsigned char bytes[16];
        if (inet_pton(AF_INET6, buf, bytes) != 1) return std::nullopt;
        for (unsigned char b : bytes) value = (value << 8) | b;
        e.family = Family::V6;
    }
    const int width = e.family == Family::V6 ? 128 : 32;
    int len = width;
    if (slash != std::string_view::npos && (len = plain_prefix(text.substr(slash + 1), width)) < 0)
        return std::nullopt;
    u128 host = low_ones(width - len);
    if ((value & host) != 0) return std::nullopt;  // parse_ip warns: cidr-host-bits
    e.lo = value;
    e.hi = value | host;
    e.prefix = len;
    return e;
}

std::optional<Element> parse_mac(const ast::Value& v, Diagnostics& diags) {
    const std::string& t = v.text;
    bool ok = t.size() == 17;
    u128 value = 0;
    for (std::size_t i = 0; ok && i < 17; ++i) {
        if (i % 3 == 2) {
            ok = t[i] == ':';
            continue;
        }
        int d = hex_digit(t[i]);
        ok = d >= 0;
        value = (value << 4) | static_cast<unsigned>(d < 0 ? 0 : d);
    }
    if (!ok) {
        diags.error("invalid-mac", v.range,
                    "'" + t + "' is not a MAC address (expected six hex pairs like 02:00:5e:00:53:01)");
        return std::nullopt;
    }
    Element e;
    e.lo = e.hi = value;
    e.range = v.range;
    return e;
}

std::optional<std::uint64_t> parse_uint(const ast::Value& v, std::uint64_t max, std::string_view what,
                                        Diagnostics& diags) {
    const std::string& t = v.text;
    bool hex = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
    std::size_t start = hex ? 2 : 0;
    bool ok = t.size() > start;
    bool overflow = false;
    std::uint64_t value = 0;
    const std::uint64_t base = hex ? 16 : 10;
    for (std::size_t i = start; ok && i < t.size(); ++i) {
        int d = hex ? hex_digit(t[i]) : (t[i] >= '0' && t[i] <= '9' ? t[i] - '0' : -1);
        if (d < 0) {
            ok = false;
            break;
        }
        if (value > (~std::uint64_t{0} - static_cast<std::uint64_t>(d)) / base) overflow = true;
        else value = value * base + static_cast<std::uint64_t>(d);
    }
    if (!ok) {
        diags.error("invalid-number", v.range,
                    "'" + t + "' is not a number (expected decimal digits or 0x followed by hex digits)");
        return std::nullopt;
    }
    if (overflow || value > max) {
        diags.error("out-of-range", v.range,
                    std::string(what) + " " + t + " is out of range (0-" + std::to_string(max) + ")");
        return std::nullopt;
    }
    return value;
}

std::string format_ip(Family f, u128 addr) {
    char buf[INET6_ADDRSTRLEN];
    if (f == Family::V6) {
        unsigned char b[16];
        for (int i = 15; i >= 0; --i) {
            b[i] = static_cast<unsigned char>(addr & 0xff);
            addr >>= 8;
        }
        inet_ntop(AF_INET6, b, buf, sizeof buf);
    } else {
        unsigned char b[4];
        for (int i = 3; i >= 0; --i) {
            b[i] = static_cast<unsigned char>(addr & 0xff);
            addr >>= 8;
        }
        inet_ntop(AF_INET, b, buf, sizeof buf);
    }
    return buf;
}

std::string format_mac(u128 mac) {
    static const char* kDigits = "0123456789abcdef";
    std::string out;
    for (int i = 5; i >= 0; --i) {
        unsigned b = static_cast<unsigned>((mac >> (8 * i)) & 0xff);
        out += kDigits[b >> 4];
        out += kDigits[b & 0xf];
        if (i) out += ':';
    }
    return out;
}

Element iface_element(std::string_view name) {
    Element e;
    for (std::size_t i = 0; i < name.size() && i < 16; ++i)
        e.lo |= u128{static_cast<unsigned char>(name[i])} << (8 * i);
    e.hi = e.lo;
    return e;
}

std::string iface_name(const Element& e) {
    std::string out;
    for (int i = 0; i < 16; ++i) {
        auto c = static_cast<char>((e.lo >> (8 * i)) & 0xff);
        if (c == 0) break;
        out += c;
    }
    return out;
}

std::string quote_string(std::string_view s) {
    static const char* kDigits = "0123456789abcdef";
    std::string out = "\"";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (u < 0x20 || u >= 0x7f) {
            out += "\\x";
            out += kDigits[u >> 4];
            out += kDigits[u & 0xf];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string format_element(const Element& e, FieldType type, SymbolTable syms) {
    if (e.family != Family::None) {
        const int width = e.family == Family::V6 ? 128 : 32;
        if (e.prefix < 0) return format_ip(e.family, e.lo) + "-" + format_ip(e.family, e.hi);
        if (e.prefix == width) return format_ip(e.family, e.lo);
        return format_ip(e.family, e.lo) + "/" + std::to_string(e.prefix);
    }
    switch (type) {
        case FieldType::Mac:
            if (e.lo == e.hi) return format_mac(e.lo);
            return format_mac(e.lo) + "-" + format_mac(e.hi);
        case FieldType::Iface: return quote_string(iface_name(e));
        default: break;
    }
    auto num = [](u128 x) { return std::to_string(static_cast<std::uint64_t>(x)); };
    if (e.lo != e.hi) return num(e.lo) + "-" + num(e.hi);
    if (syms != SymbolTable::None && e.lo <= 0xffffffffu) {
        std::string_view name = symbol_name(syms, static_cast<std::uint32_t>(e.lo));
        if (!name.empty()) return std::string(name);
    }
    return num(e.lo);
}


namespace {

bool element_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool element_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// The lexical class of one literal, as the parser would see it.
ast::Value classify_literal(std::string_view text, SourceRange r) {
    using K = ast::Value::Kind;
    ast::Value v;
    v.text = std::string(text);
    v.range = r;
    bool mac = text.size() == 17;
    for (std::size_t i = 0; mac && i < 17; ++i)
        mac = i % 3 == 2 ? text[i] == ':' : std::isxdigit(static_cast<unsigned char>(text[i])) != 0;
    if (mac) v.kind = K::Mac;
    else if (text.find(':') != std::string_view::npos) v.kind = K::Ipv6;
    else if (!text.empty() && std::isdigit(static_cast<unsigned char>(text[0])))
        v.kind = text.find('.') != std::string_view::npos ? K::Ipv4 : K::Int;
    else v.kind = K::Symbol;
    return v;
}

}  // namespace

std::optional<ast::Item> element_token(std::string_view text, FileId file, std::uint32_t begin) {
    auto range = [&](std::size_t x, std::size_t y) {
        return SourceRange{file, static_cast<std::uint32_t>(begin + x), static_cast<std::uint32_t>(begin + y)};
    };
    // One value: [x, y) of text, without surrounding blanks.
    auto value = [&](std::size_t x, std::size_t y) -> std::optional<ast::Value> {
        while (x < y && std::isspace(static_cast<unsigned char>(text[x]))) ++x;
        while (y > x && std::isspace(static_cast<unsigned char>(text[y - 1]))) --y;
        std::string_view s = text.substr(x, y - x);
        if (s.empty() || std::any_of(s.begin(), s.end(), [](char c) {
                return std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '{' || c == '}';
            }))
            return std::nullopt;
        return classify_literal(s, range(x, y));
    };
    ast::Item item;
    item.range = range(0, text.size());
    // As in the grammar, a name never ends in '-': `tcp-` is a dangling range, not a name.
    bool name = !text.empty() && element_name_start(text[0]) && text.back() != '-' &&
                std::all_of(text.begin(), text.end(), element_name_char);
    std::size_t dash = name ? std::string_view::npos : text.find('-');
    if (dash == std::string_view::npos) {
        auto v = value(0, text.size());
        if (!v) return std::nullopt;
        item.lo = *v;
        return item;
    }
    auto lo = value(0, dash);
    auto hi = value(dash + 1, text.size());
    if (!lo || !hi) return std::nullopt;
    item.lo = *lo;
    item.hi = *hi;
    return item;
}

}  // namespace weir
