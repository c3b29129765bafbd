// Stages one source file: an archive is extracted, anything else copied, into a private staging
// area inside the destination, then moved into place and recorded in the manifest. Nothing from
// a failed source stays visible.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <string>

#include "record/manifest.h"
#include "record/recorded_paths.h"
#include "staging/stage.h"

namespace staging {

struct SourceJob {
  std::string path;       // absolute source path, as found under --from (the manifest's key)
  std::string open_path;  // where a followed symlink resolved to ("" = path)
  std::string rel_dir;    // where under the destination it goes ("" = the destination itself)
  std::string rel_name;   // its name relative to --from, for messages
  uint64_t size = 0;
  dev_t device = 0;  // the file the walk listed (source_walk.h)
  ino_t inode = 0;
};

// Shared counters the progress thread samples.
struct StageCounters {
  std::atomic<uint64_t> source_bytes{0};
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint32_t> archives_done{0};
};

// The destination as the stagings of all sources share it.
struct Destination {
  int fd = -1;        // DEST
  int stage_fd = -1;  // DEST/.stage, opened once (stage_dir.h)
  const Manifest* manifest = nullptr;
  RecordedPaths* recorded = nullptr;  // what stagings made there: all that may be replaced
};

ArchiveReport StageSource(const SourceJob& job, const StageOptions& options,
                          const Destination& destination, StageCounters& counters);

}  // namespace staging
