#include "util/sha256.h"

#include <openssl/evp.h>

#include <memory>

#include "util/error.h"

namespace cascade {

std::string sha256_hex(const uint8_t* data, size_t size) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  check(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx.get(), data, size) == 1 &&
            EVP_DigestFinal_ex(ctx.get(), md, &len) == 1,
        "SHA-256 failed (OpenSSL)");
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += hex[md[i] >> 4];
    s += hex[md[i] & 15];
  }
  return s;
}

}  // namespace cascade
