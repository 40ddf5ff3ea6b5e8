// SHA-256 of a byte range, as lowercase hex (OpenSSL).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cascade {

std::string sha256_hex(const uint8_t* data, size_t size);

}  // namespace cascade
