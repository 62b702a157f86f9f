// weir fields [--markdown]
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "fields.hpp"

namespace weir::cli {
namespace {

const char* type_name(FieldType t) {
    switch (t) {
        case FieldType::Int: return "integer";
        case FieldType::Bool: return "flag";
        case FieldType::Ip4: return "IPv4 address";
        case FieldType::Ip6: return "IPv6 address";
        case FieldType::IpAny: return "IPv4 or IPv6 address";
        case FieldType::Mac: return "MAC address";
        case FieldType::Iface: return "interface name (string)";
    }
    return "?";
}

const char* header_name(Header h) {
    switch (h) {
        case Header::Eth: return "Ethernet";
        case Header::Vlan: return "VLAN tag";
        case Header::Ip: return "IPv4 or IPv6";
        case Header::Ip4: return "IPv4";
        case Header::Ip6: return "IPv6";
        case Header::Tcp: return "TCP";
        case Header::Udp: return "UDP";
        case Header::L4: return "TCP or UDP";
        case Header::Icmp: return "ICMP";
        case Header::Icmp6: return "ICMPv6";
        case Header::Pkt: return "always (metadata)";
    }
    return "?";
}

}  // namespace

// The Markdown form is the field table of docs/language.md, which a test keeps in sync.
int cmd_fields(bool markdown) {
    if (markdown) {
        std::cout << "| Field | Bits | Type | Header required | Symbols | Meaning |\n";
        std::cout << "| --- | --- | --- | --- | --- | --- |\n";
    }
    for (const auto& f : all_fields()) {
        std::string syms(symbol_table_name(f.symbols));
        if (markdown) {
            std::cout << "| `" << f.name << "` | " << int(f.bits) << " | " << type_name(f.type) << " | "
                      << header_name(f.header) << " | " << syms << " | " << f.doc << " |\n";
        } else {
            std::printf("%-15s %4d  %-24s %-18s %s\n", std::string(f.name).c_str(), int(f.bits),
                        type_name(f.type), header_name(f.header), std::string(f.doc).c_str());
        }
    }
    return kExitOk;
}

}  // namespace weir::cli
