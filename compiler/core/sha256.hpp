// SHA-256 (FIPS 180-4): takes bytes, gives 64 lowercase hex digits. Identifies the sources a
// policy was compiled from and the contents of its set tables; not used for secrecy.
#pragma once
#include <string>
#include <string_view>

namespace weir {

std::string sha256_hex(std::string_view data);

}  // namespace weir
