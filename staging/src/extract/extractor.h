// The tar stage: the members of the decoded stream (read by stage's own reader or libarchive,
// tar_members.h) are each checked, then created beneath the root through DirTree and
// EntryWriter. File bytes go to the writer without a copy when they lie in a decoded block.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "base/member_path.h"
#include "decode/source_format.h"
#include "extract/tar_members.h"
#include "io/entry_writer.h"
#include "staging/status.h"

namespace staging {

struct ExtractOptions {
  PathLimits path_limits;
  uint64_t max_bytes = 1ull << 40;
  uint64_t max_entries = 10'000'000;
  mode_t implicit_dir_mode = 0755;
  const std::atomic<bool>* interrupt = nullptr;  // checked before each entry and data block
};

struct ExtractResult {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t entries = 0;
  std::vector<std::string> warnings;
  std::vector<std::string> created;  // every path made, relative to the root, in archive order
  TarReaderCounts tar_readers;       // whose reading of the headers it was
};

// Reads the tar stream in `decoded` (already decompressed, except for xz/bzip2 which libarchive
// filters itself: pass that codec as `libarchive_filter`) and extracts it beneath `root_fd`.
// Errors name the entry; the caller adds the archive's name.
Status ExtractTar(BoundedQueue<BlockRef>& decoded, Codec libarchive_filter, int root_fd,
                  EntryWriter& writer, const ExtractOptions& options, ExtractResult* result,
                  std::atomic<uint64_t>* bytes_progress);

}  // namespace staging
