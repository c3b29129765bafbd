#include "record/stage_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/stage_layout.h"

namespace staging {

Status OpenStageDir(int dest_fd, bool create, common::UniqueFd* out) {
  const std::string name = kStageDir;
  if (create && mkdirat(dest_fd, kStageDir, 0755) < 0 && errno != EEXIST) {
    return Status::FromErrno("create " + name, errno);
  }
  out->reset(openat(dest_fd, kStageDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (out->valid()) {
    struct stat st;
    if (fstat(out->get(), &st) < 0) return Status::FromErrno("stat " + name, errno);
    if (st.st_uid != geteuid()) {
      out->reset();
      return Status::Error(name + " belongs to user " + std::to_string(st.st_uid) +
                           ", not to this one; refusing to use it");
    }
    return Status::Ok();
  }
  const int error = errno;
  if (error == ENOENT && !create) return Status::Ok();
  struct stat st;
  if ((error == ELOOP || error == ENOTDIR) &&
      fstatat(dest_fd, kStageDir, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    return Status::Error(name + " is " +
                         (S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory") +
                         "; refusing to use it (it is staging's own; remove it if it is yours)");
  }
  return Status::FromErrno("open " + name, error);
}

}  // namespace staging
