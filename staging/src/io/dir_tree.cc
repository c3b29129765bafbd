#include "io/dir_tree.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace staging {
namespace {

constexpr size_t kMaxCachedDirectories = 512;

long RawOpenat2(int dirfd, const char* path, open_how* how) {
  return syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

bool ProbeOpenat2() {
  if (const char* off = std::getenv("STAGE_NO_OPENAT2"); off && *off && std::strcmp(off, "0")) {
    return false;
  }
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  long fd = RawOpenat2(AT_FDCWD, ".", &how);
  if (fd < 0) return false;
  close(static_cast<int>(fd));
  return true;
}

// One O_NOFOLLOW openat per component: no symlink is followed, no '..' is possible (names are
// checked before they get here), so the result is beneath `dirfd` as with RESOLVE_BENEATH.
int WalkNoFollow(int dirfd, const std::string& path, int flags, mode_t mode) {
  common::UniqueFd current;
  int at = dirfd;
  size_t start = 0;
  while (true) {
    size_t end = path.find('/', start);
    std::string part =
        path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (end == std::string::npos) {
      int fd = openat(at, part.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
      return fd < 0 ? -errno : fd;
    }
    if (!part.empty()) {
      int fd = openat(at, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return errno == ELOOP ? -ENOTDIR : -errno;
      current.reset(fd);
      at = fd;
    }
    start = end + 1;
  }
}

}  // namespace

bool Openat2Available() {
  static const bool available = ProbeOpenat2();
  return available;
}

int OpenBeneath(int dirfd, const std::string& path, int flags, mode_t mode) {
  if (path.empty()) {
    int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
  }
  if (!Openat2Available()) return WalkNoFollow(dirfd, path, flags, mode);
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  if (flags & (O_CREAT | O_TMPFILE)) how.mode = mode;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  while (true) {
    long fd = RawOpenat2(dirfd, path.c_str(), &how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EAGAIN || errno == EINTR) continue;  // a concurrent rename somewhere; retry
    return errno == ELOOP ? -ENOTDIR : -errno;
  }
}

DirTree::DirTree(int root_fd, mode_t implicit_mode)
    : root_(root_fd), implicit_mode_(implicit_mode) {}

Status DirTree::Directory(const std::string& rel, int* fd) {
  if (rel.empty()) {
    *fd = root_;
    return Status::Ok();
  }
  if (auto it = cache_.find(rel); it != cache_.end()) {
    *fd = it->second.get();
    return Status::Ok();
  }
  if (cache_.size() >= kMaxCachedDirectories) Forget();
  common::UniqueFd opened;
  STAGING_RETURN_IF_ERROR(Walk(rel, &opened));
  *fd = opened.get();
  cache_.emplace(rel, std::move(opened));
  return Status::Ok();
}

// Opens `rel`, creating what is missing one component at a time from the deepest existing one.
Status DirTree::Walk(const std::string& rel, common::UniqueFd* out) {
  int fd = OpenBeneath(root_, rel, O_PATH | O_DIRECTORY);
  if (fd >= 0) {
    out->reset(fd);
    return Status::Ok();
  }
  if (fd == -ENOTDIR) {
    return Status::Error("'" + rel +
                         "' passes through something that is not a directory "
                         "(a symlink or a file; refused: writes never go through links)");
  }
  if (fd != -ENOENT) return Status::FromErrno("open directory '" + rel + "'", -fd);
  size_t slash = rel.rfind('/');
  std::string parent = slash == std::string::npos ? "" : rel.substr(0, slash);
  std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  int parent_fd;
  STAGING_RETURN_IF_ERROR(Directory(parent, &parent_fd));
  if (mkdirat(parent_fd, name.c_str(), implicit_mode_) < 0 && errno != EEXIST) {
    return Status::FromErrno("create directory '" + rel + "'", errno);
  }
  fd = openat(parent_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return Status::Error("'" + rel +
                             "' exists and is not a directory (refused: writes never go "
                             "through links)",
                         errno);
  }
  out->reset(fd);
  return Status::Ok();
}

void DirTree::Forget() {
  if (cache_.empty()) return;
  if (before_forget_) before_forget_();
  cache_.clear();
}

}  // namespace staging
