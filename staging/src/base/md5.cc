#include "base/md5.h"

#include <openssl/evp.h>

namespace staging {

struct Md5::Context {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(md); }
};

Md5::Md5() : context_(std::make_unique<Context>()) {
  EVP_DigestInit_ex(context_->md, EVP_md5(), nullptr);
}
Md5::~Md5() = default;

void Md5::Update(const void* data, size_t len) { EVP_DigestUpdate(context_->md, data, len); }

std::string Md5::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(context_->md, digest, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace staging
