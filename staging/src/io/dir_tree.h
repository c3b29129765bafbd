// DirTree: directories beneath a root, opened and created without ever following a symlink, with
// a cache of the ones already at hand. Uses openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where
// the kernel has it, and an equivalent walk (one O_NOFOLLOW openat per component) where not.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <unordered_map>

#include "common/unique_fd.h"
#include "staging/status.h"

namespace staging {

// True when openat2 with RESOLVE_BENEATH works here (probed once; STAGE_NO_OPENAT2 turns it off).
bool Openat2Available();

// Opens `path` (relative, no '..') beneath `dirfd` with `flags`, refusing symlinks anywhere on
// the way. Returns the fd or -errno.
int OpenBeneath(int dirfd, const std::string& path, int flags, mode_t mode = 0);

class DirTree {
 public:
  // `root_fd` must outlive the tree. Directories the archive does not list are made with
  // `implicit_mode`.
  DirTree(int root_fd, mode_t implicit_mode);

  // An O_PATH descriptor for the directory `rel` ("" is the root), making missing components.
  // Valid until Forget() or the tree's end. A component that exists but is not a directory
  // (a symlink included) is an error.
  Status Directory(const std::string& rel, int* fd);

  // Drops every cached descriptor. `before_forget` runs first, so that queued operations
  // naming a cached descriptor can finish.
  void Forget();
  void set_before_forget(std::function<void()> hook) { before_forget_ = std::move(hook); }

 private:
  Status Walk(const std::string& rel, common::UniqueFd* out);

  int root_;
  mode_t implicit_mode_;
  std::unordered_map<std::string, common::UniqueFd> cache_;
  std::function<void()> before_forget_;
};

}  // namespace staging
