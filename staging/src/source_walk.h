// The walk over --from that lists what to stage. Persistent disks are shared and written by other
// people and tools, so the tree is untrusted: symlinks are not followed unless asked, and then
// only to places inside --from, each directory once (no loops); FIFOs, devices and sockets are
// skipped; the walk is bounded and stops at once on an interrupt.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "source_stager.h"
#include "staging/status.h"

namespace staging {

struct SourceWalkOptions {
  bool follow_symlinks = false;  // follow links that resolve inside --from
  uint64_t max_entries = 10'000'000;
  uint32_t max_depth = 256;
  const std::atomic<bool>* interrupt = nullptr;
  // A directory left out of the walk with everything below it: the destination, when it lies
  // inside the source (a second run must not stage the first one's output again).
  dev_t skip_device = 0;
  ino_t skip_inode = 0;
};

// Lists the regular files under `from` (or `from` itself when it is a file) into `jobs`, largest
// first. Skipped entries (links not followed, special files) add one line each to `warnings`.
// Each job carries the device and inode seen here: the file opened later must be that one.
Status WalkSources(const std::string& from, const SourceWalkOptions& options,
                   std::vector<SourceJob>* jobs, std::vector<std::string>* warnings);

// Opens a job's source for reading: no symlink at its last component, a regular file, and the
// very file the walk listed (a file swapped since is refused).
Status OpenSource(const SourceJob& job, common::UniqueFd* fd);

}  // namespace staging
