// Whole-tree operations beneath a directory descriptor, never following a symlink.
#pragma once

#include <functional>
#include <string>
#include <unordered_set>

#include "staging/status.h"

namespace staging {

// Removes `name` in `dirfd` and, if it is a directory, everything below it. Missing is fine.
Status RemoveTree(int dirfd, const std::string& name);

// Removes the one path `rel` (a file, a symlink, or an empty directory; only a directory when
// `directory_only`) beneath `dirfd`, never following a symlink on the way. A name with '..' or a
// leading '/' is never removed. True when something was removed.
bool RemoveBeneath(int dirfd, const std::string& rel, bool directory_only = false);

// Checks, before anything moves, what MergeTree(from_fd, to_fd, prefix) would do: a directory
// meeting a non-directory is an error, and so is replacing a non-directory for which
// `may_replace(path)` is false (the error names the path and says --overwrite replaces it).
// `merged_dirs` receives the directories that exist on both sides (paths with `prefix`).
Status CheckMerge(int from_fd, int to_fd, const std::string& prefix,
                  const std::function<bool(const std::string&)>& may_replace,
                  std::unordered_set<std::string>* merged_dirs);

// Moves every entry of directory `from_fd` into `to_fd`: a name new to `to_fd` is renamed in
// whole (one rename for a whole subtree); directories on both sides are merged; any other
// existing name is replaced. A directory meeting a non-directory (a symlink included) is an
// error naming the path: nothing is ever moved through a link. `prefix` is for messages.
Status MergeTree(int from_fd, int to_fd, const std::string& prefix);

}  // namespace staging
