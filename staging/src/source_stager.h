// Stages one source file: an archive is extracted, anything else copied, into a private staging
// area inside the destination, then moved into place and recorded in the manifest. Nothing from
// a failed source stays visible.
#pragma once

#include <atomic>
#include <string>

#include "record/manifest.h"
#include "staging/stage.h"

namespace staging {

struct SourceJob {
  std::string path;      // absolute source path
  std::string rel_dir;   // where under the destination it goes ("" = the destination itself)
  std::string rel_name;  // its name relative to --from, for messages
  uint64_t size = 0;
};

// Shared counters the progress thread samples.
struct StageCounters {
  std::atomic<uint64_t> source_bytes{0};
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint32_t> archives_done{0};
};

ArchiveReport StageSource(const SourceJob& job, const StageOptions& options, int dest_fd,
                          const Manifest& manifest, StageCounters& counters);

}  // namespace staging
