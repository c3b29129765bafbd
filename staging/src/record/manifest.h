// The manifest under DEST/.stage/: what was staged from which source, so a re-run can skip what
// is already there and `stage clean` removes exactly what staging made. One JSON file per source,
// each written atomically (temp file, fsync, rename, fsync of the directory).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/source_identity.h"
#include "common/unique_fd.h"
#include "staging/status.h"

namespace staging {

struct ManifestEntry {
  SourceIdentity source;
  std::string kind;                // "tar.gz", "file", ...
  std::string dest;                // directory under DEST it was staged into ("" = DEST)
  std::vector<std::string> paths;  // every path made, relative to DEST
  uint64_t files = 0;
  uint64_t bytes = 0;
  // False while the tree is being moved into place: such a record lists what may already be
  // visible, so that a re-run or `stage clean` removes it, but never counts as staged.
  bool complete = true;
};

class Manifest {
 public:
  // `stage_fd`: the destination's DEST/.stage (stage_dir.h); its manifest directory is created
  // when missing.
  static Status Open(int stage_fd, Manifest* out);

  // The record of `source_path`, if it has a readable one. `damaged` (optional) is set when a
  // record file is there but cannot be read or parsed (or names another source).
  std::optional<ManifestEntry> Find(const std::string& source_path, bool* damaged = nullptr) const;
  // Writes `entry`'s record (atomically, synced). `paths_text` (optional) keeps the text of
  // entry.paths, the bulk of a record (84,000 names for the Linux tree), between the two writes
  // of one staging (pending, then complete): made and kept there when empty, used as it is when
  // not, so it must then come from the same paths.
  Status Record(const ManifestEntry& entry, std::string* paths_text = nullptr) const;
  Status Forget(const std::string& source_path) const;
  // Every readable record. `unreadable` (optional) receives the names of record files that could
  // not be read or parsed. An error when the manifest directory cannot be listed.
  Status All(std::vector<ManifestEntry>* entries,
             std::vector<std::string>* unreadable = nullptr) const;

 private:
  std::shared_ptr<common::UniqueFd> dir_fd_;  // DEST/.stage/manifest
};

}  // namespace staging
