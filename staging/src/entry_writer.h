// EntryWriter: creates regular files and writes their bytes, beneath directories handed out by
// DirTree. The io_uring version batches open -> write -> close chains into direct descriptors for
// small files and queues large writes for big ones; the plain version uses system calls. Both
// create files exclusively (O_EXCL) and never follow a symlink. Not thread-safe: one caller.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "block.h"
#include "staging/io_backend.h"
#include "staging/status.h"

namespace staging {

class EntryWriter {
 public:
  virtual ~EntryWriter() = default;

  // Starts file `name` in directory `dirfd` (which must stay open until the file is finished;
  // Drain() guarantees that). `label` names the file in errors; `size` is its final size. Once
  // written, the file gets `mtime` and exactly `mode` (whatever the umask).
  virtual Status BeginFile(int dirfd, const std::string& name, const std::string& label,
                           mode_t mode, uint64_t size, const timespec& mtime) = 0;
  // Appends `len` bytes at `data`, which `owner` keeps alive until they are written.
  virtual Status Append(const BlockRef& owner, const std::byte* data, size_t len) = 0;
  virtual Status EndFile() = 0;
  // Waits for everything queued; returns the first error of any file.
  virtual Status Drain() = 0;
  // Finishes what has completed without waiting; returns the first error so far.
  virtual Status Poll() = 0;
  // True while operations are queued or in flight.
  virtual bool Busy() const = 0;
};

// System calls the plain writer makes, replaceable by tests to inject short writes, EINTR,
// ENOSPC or EAGAIN. Each returns what the system call returns, errno set on failure.
struct WriterSyscalls {
  std::function<int(int, const char*, int, mode_t)> openat;
  std::function<ssize_t(int, const void*, size_t, off_t)> pwrite;
  std::function<int(int, off_t)> fallocate;  // (fd, length)
  static const WriterSyscalls& Real();
};

std::unique_ptr<EntryWriter> MakePlainWriter(const WriterSyscalls& calls = WriterSyscalls::Real());
// Falls back to the plain writer when io_uring cannot be set up.
std::unique_ptr<EntryWriter> MakeEntryWriter(IoKind kind);

}  // namespace staging
