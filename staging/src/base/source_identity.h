// What identifies a source file's content without reading all of it.
#pragma once

#include <cstdint>
#include <string>

#include "staging/status.h"

namespace staging {

struct SourceIdentity {
  std::string path;  // absolute
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::string head_sha256;  // of its first and last 64 KiB
  bool operator==(const SourceIdentity&) const = default;
};

Status IdentifySource(int fd, const std::string& path, SourceIdentity* out);

}  // namespace staging
