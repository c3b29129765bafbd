#include "io/file_writing.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

namespace staging {

namespace {
// Read, not set-and-restore: umask() is process-wide and other threads are creating files.
mode_t CurrentUmask() {
  FILE* status = fopen("/proc/self/status", "re");
  if (!status) return 022;
  char line[256];
  unsigned value = 022;
  while (fgets(line, sizeof line, status)) {
    if (sscanf(line, "Umask: %o", &value) == 1) break;
  }
  fclose(status);
  return static_cast<mode_t>(value);
}

// The umask bits `mode` asks for, which creation left out.
mode_t TrimmedByUmask(mode_t mode) {
  static const mode_t umask_bits = CurrentUmask();
  return mode & umask_bits;
}

}  // namespace

Status ApplyOpenFileMetadata(int fd, const std::string& label, mode_t mode, const timespec& mtime) {
  if (TrimmedByUmask(mode) && fchmod(fd, mode) < 0)
    return Status::FromErrno(label + ": chmod", errno);
  const timespec times[2] = {{0, UTIME_OMIT}, mtime};
  if (futimens(fd, times) < 0) return Status::FromErrno(label + ": set modification time", errno);
  return Status::Ok();
}

Status ApplyFileMetadata(int dirfd, const std::string& name, const std::string& label, mode_t mode,
                         const timespec& mtime) {
  if (TrimmedByUmask(mode)) {
    struct stat st;
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        fchmodat(dirfd, name.c_str(), mode, 0) < 0) {
      return Status::FromErrno(label + ": chmod", errno);
    }
  }
  const timespec times[2] = {{0, UTIME_OMIT}, mtime};
  if (utimensat(dirfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0) {
    return Status::FromErrno(label + ": set modification time", errno);
  }
  return Status::Ok();
}

}  // namespace staging
