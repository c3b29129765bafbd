#include "io/free_space.h"

#include <sys/statvfs.h>

#include <cerrno>

namespace staging {

Status CheckRoom(int fd, uint64_t bytes, uint64_t inodes, const std::string& what) {
  struct statvfs vfs;
  if (fstatvfs(fd, &vfs) < 0) return Status::Ok();
  uint64_t free_bytes = uint64_t{vfs.f_bavail} * vfs.f_frsize;
  if (bytes > free_bytes) {
    return Status::Error("not enough space in the destination: needs " + std::to_string(bytes) +
                             " bytes" + what + ", " + std::to_string(free_bytes) + " free",
                         ENOSPC);
  }
  if (vfs.f_files > 0 && inodes > vfs.f_favail) {
    return Status::Error("not enough inodes in the destination: needs " + std::to_string(inodes) +
                             ", " + std::to_string(vfs.f_favail) + " free",
                         ENOSPC);
  }
  return Status::Ok();
}

}  // namespace staging
