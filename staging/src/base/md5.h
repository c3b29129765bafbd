// MD5 over a stream of bytes (OpenSSL), as hex: only to check downloads against the MD5 sums some
// dataset sites publish (the Oxford-IIIT Pets site among them), never for anything of our own.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace staging {

class Md5 {
 public:
  Md5();
  ~Md5();
  Md5(const Md5&) = delete;
  Md5& operator=(const Md5&) = delete;
  void Update(const void* data, size_t len);
  std::string HexDigest();  // ends the stream

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

}  // namespace staging
