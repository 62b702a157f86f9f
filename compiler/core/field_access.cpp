#include "field_access.hpp"

#include <cstring>

namespace weir {

namespace {

std::uint64_t load_member(const weir_pkt& pkt, std::uint16_t offset, std::uint8_t size) {
    const auto* base = reinterpret_cast<const unsigned char*>(&pkt) + offset;
    switch (size) {
        case 1: return *base;
        case 2: {
            std::uint16_t v;
            std::memcpy(&v, base, 2);
            return v;
        }
        case 4: {
            std::uint32_t v;
            std::memcpy(&v, base, 4);
            return v;
        }
        case 8: {
            std::uint64_t v;
            std::memcpy(&v, base, 8);
            return v;
        }
    }
    return 0;
}

bool has_header(const weir_pkt& pkt, std::uint32_t mask) { return mask == 0 || (pkt.present & mask) != 0; }

}  // namespace

std::optional<u128> field_value(FieldId id, const weir_pkt& pkt) {
    const FieldAccess& a = field_access(id);
    if (!has_header(pkt, a.present)) return std::nullopt;
    if (a.size == 0) {  // IpAny: the present family
        if (pkt.present & WEIR_H_IP4) return field_value(a.v4, pkt);
        return field_value(a.v6, pkt);
    }
    if (a.size == 16)
        return u128_of(load_member(pkt, a.offset, 8), load_member(pkt, static_cast<std::uint16_t>(a.offset + 8), 8));
    std::uint64_t v = load_member(pkt, a.offset, a.size);
    if (a.bit) return u128{(v & a.bit) != 0};
    if (field(id).type == FieldType::Bool) return u128{v != 0};
    return u128{v};
}

}  // namespace weir
