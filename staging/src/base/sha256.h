// SHA-256 over a stream of bytes (OpenSSL), as hex.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace staging {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t len);
  std::string HexDigest();  // ends the stream

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace staging
