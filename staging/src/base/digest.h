// Hashes over a stream of bytes (OpenSSL's EVP), as lowercase hex.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace staging {

class Digest {
 public:
  enum class Algorithm { kSha256, kMd5 };
  explicit Digest(Algorithm algorithm);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void Update(const void* data, size_t len);
  std::string HexDigest();  // ends the stream

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// SHA-256: checksum files, source identities, the manifest.
class Sha256 : public Digest {
 public:
  Sha256() : Digest(Algorithm::kSha256) {}
};

// MD5: only to check downloads against the MD5 sums some dataset sites publish (the
// Oxford-IIIT Pets site among them), never for anything of our own.
class Md5 : public Digest {
 public:
  Md5() : Digest(Algorithm::kMd5) {}
};

}  // namespace staging
