// Pack: writes a .tar.zst made of independent zstd frames (each a few MiB of tar, ending on a
// member boundary where possible) followed by a seek table in zstd's seekable format (a
// skippable frame). `zstd -d | tar -x` reads it as usual; stage decodes its frames in parallel.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "staging/progress.h"
#include "staging/status.h"

namespace staging {

struct PackOptions {
  std::string from;  // a directory, or an archive (any kind stage reads)
  std::string to;    // the .tar.zst to write (atomically: temp file, rename)
  // When >= 0, the archive is read from this descriptor (a pipe will do: it is read once, in
  // order) instead of opening `from`, which then only names it in messages. Not closed.
  int from_fd = -1;
  int level = 3;                   // zstd level
  uint64_t frame_bytes = 4 << 20;  // target bytes of tar per frame
  int threads = 0;                 // compression threads; 0 = cores
  // One frame per member (a member of frame_bytes or more is cut into several), so reading a
  // member in place decodes only its own bytes: for already compressed members (JPEG), where
  // zstd gains nothing and big frames only cost readers.
  bool random_access = false;
  bool hash_output = false;        // fill PackReport::sha256 as the output is written
  // When set and it becomes true (a signal handler may set it), packing stops within a member's
  // next chunk and returns "interrupted"; the output is left as it was (no temporary file).
  const std::atomic<bool>* interrupt = nullptr;
};

struct PackReport {
  uint64_t files = 0;             // regular files packed
  uint64_t bytes = 0;             // bytes of tar stream
  uint64_t compressed_bytes = 0;  // size of the result
  uint64_t frames = 0;
  std::string sha256;  // of the file written, with hash_output
  double seconds = 0;
  Status status;
};

PackReport Pack(const PackOptions& options, const ProgressCallback& on_progress = nullptr);

}  // namespace staging
