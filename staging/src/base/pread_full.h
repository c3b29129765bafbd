// pread that carries on after short reads and EINTR. Network and FUSE filesystems return short
// reads before end of file; a single pread would take those for the whole.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace staging {

// Reads up to `len` bytes of `fd` at `offset` into `buf`. Returns how many were read, fewer than
// `len` only at end of file, or -1 with errno set.
inline ssize_t PreadFull(int fd, void* buf, size_t len, uint64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n =
        pread(fd, static_cast<char*>(buf) + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

}  // namespace staging
