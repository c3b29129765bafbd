// What earlier stagings made in a destination, by path: the only files and directories a
// staging may replace (without --overwrite) and the only ones `stage clean` removes. Everything
// else there is the user's.
#pragma once

#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "record/manifest.h"

namespace staging {

class RecordedPaths {
 public:
  // The paths of `manifest`'s readable records, read when first asked (a run in which every
  // source is already staged never reads them).
  explicit RecordedPaths(const Manifest* manifest) : manifest_(manifest) {}
  // Paths of a staging just recorded in the manifest.
  void Add(const std::vector<std::string>& paths);
  bool Contains(const std::string& path);

  // Held while a staged tree is checked against the destination, moved in and recorded, so that
  // two sources staged at once see each other's files as recorded, never as the user's.
  std::mutex& merge_mutex() { return merge_mutex_; }

 private:
  void LoadLocked();

  const Manifest* manifest_;
  std::mutex mu_;
  bool loaded_ = false;
  std::unordered_set<std::string> paths_;
  std::mutex merge_mutex_;
};

// The paths a record of a staging lists: every member path it made (`created`, relative to the
// source's directory `rel_dir` under DEST), each directory above them up to DEST that the staging
// made implicitly, and `rel_dir`'s own components, less `existing_dirs` (directories that were
// there before and were merged into). All relative to DEST, parents before children.
std::vector<std::string> PathsToRecord(const std::string& rel_dir, std::vector<std::string> created,
                                       const std::unordered_set<std::string>& existing_dirs);

}  // namespace staging
