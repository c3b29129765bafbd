// What identifies a source file's content without reading all of it.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "staging/status.h"

namespace staging {

// Size and mtime can be set back by whoever writes the file (touch -d); inode and ctime cannot:
// a file replaced or rewritten in place gets a new ctime, a copy renamed over it a new inode. An
// index or record carrying all of them is taken for another file's once the file changes.
struct SourceIdentity {
  std::string path;  // absolute
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;
  int64_t ctime_ns = 0;
  std::string head_sha256;  // of its first and last 64 KiB
  bool operator==(const SourceIdentity&) const = default;
};

Status IdentifySource(int fd, const std::string& path, SourceIdentity* out);

// The identity's stat facts (size, mtime, inode, ctime), leaving path and head_sha256.
void SetStatFacts(const struct stat& st, SourceIdentity* out);

// A file kept for `source` (an index) under the name `source` + `suffix` in the cache directory:
// `cache_dir`, or when empty $XDG_CACHE_HOME/stage or ~/.cache/stage (created), the source's
// whole path flattened into the name.
std::string CachedSidecarPath(const std::string& source, std::string_view suffix,
                              const std::string& cache_dir);

// Where such a file is written: beside the source when its directory is writable, else in the
// cache directory.
std::string SidecarPath(const std::string& source, std::string_view suffix,
                        const std::string& cache_dir);

}  // namespace staging
