// Shared rules for writing files: how they are created, a pwrite loop that survives EINTR,
// EAGAIN and short writes, and the metadata a finished file gets.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "staging/status.h"

namespace staging {

// Exclusive creation, never through a symlink: duplicates are unlinked first by the caller.
inline constexpr int kCreateFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
// Files at least this large get their space reserved up front (fewer extents, early ENOSPC).
inline constexpr uint64_t kPreallocateFrom = 1 << 20;

// Gives a finished file its modification time, and its mode where the umask trimmed it. Never
// follows a symlink: a later duplicate entry may have replaced the name.
Status ApplyFileMetadata(int dirfd, const std::string& name, const std::string& label, mode_t mode,
                         const timespec& mtime);
// The same for a file still open for writing as `fd`, once its last byte is written: no name to
// look up again, which a call by name costs on every small file.
Status ApplyOpenFileMetadata(int fd, const std::string& label, mode_t mode, const timespec& mtime);

template <typename Pwrite>
Status PwriteAll(const Pwrite& pwrite_fn, int fd, const std::byte* data, size_t len,
                 uint64_t offset, const std::string& label) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite_fn(fd, data + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      return Status::FromErrno(label + ": write at byte " + std::to_string(offset + done), errno);
    }
    if (n == 0) return Status::Error(label + ": write made no progress", EIO);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace staging
