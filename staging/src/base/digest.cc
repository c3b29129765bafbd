#include "base/digest.h"

#include <openssl/evp.h>

namespace staging {

struct Digest::Context {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Context() { EVP_MD_CTX_free(md); }
};

Digest::Digest(Algorithm algorithm) : context_(std::make_unique<Context>()) {
  EVP_DigestInit_ex(context_->md, algorithm == Algorithm::kMd5 ? EVP_md5() : EVP_sha256(), nullptr);
}
Digest::~Digest() = default;

void Digest::Update(const void* data, size_t len) { EVP_DigestUpdate(context_->md, data, len); }

std::string Digest::HexDigest() {
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
