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

#include "base/block.h"
#include "staging/io_backend.h"
#include "staging/status.h"

namespace staging {

// How a writer's finished files were written. A fast path that silently falls back makes every
// test pass and every benchmark lie: these make the fallback visible (stage --json, -v).
struct WriterCounts {
  uint64_t ring_files = 0;    // created and written through io_uring
  uint64_t redone_files = 0;  // a ring chain failed; written again with plain system calls
  uint64_t plain_files = 0;   // written with plain system calls from the start
};

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
  // Hands on whatever the writer holds back to batch it; the caller calls this before it waits
  // for input, since what is held back may hold the blocks that input waits for.
  virtual void Flush() {}
  // The files finished so far (after Drain(): every file ended).
  virtual WriterCounts counts() const = 0;
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
// `threads` (at least 1) threads creating files, each with an io_uring writer, or plain system
// calls where io_uring cannot be set up.
std::unique_ptr<EntryWriter> MakeEntryWriter(IoKind kind, int threads);

// The writer threads for a request: `requested` when positive, else the cores a decoder keeping
// `decoder_cores` busy leaves (at least one): file creation and decoding share the machine, so a
// packed archive's frames never starve the writers, nor the writers the frames.
int ResolveWriterThreads(int requested, int decoder_cores);

// Spreads files over `threads` worker threads, each writing with an EntryWriter made by `make`.
// A file goes whole to one worker, chosen by directory and name (two entries of one name keep
// their order). Operations go over in batches, each pinning at most one block until it is handed
// over (Flush hands over the rest); Drain() waits for every worker. Busy() is always false:
// workers finish their files on their own.
std::unique_ptr<EntryWriter> MakeParallelWriter(
    unsigned threads, const std::function<std::unique_ptr<EntryWriter>()>& make);

// The io_uring writer, or nullptr when io_uring cannot be set up. For tests,
// `fail_every_nth_chain` > 0 makes every n-th small file's chain fail (its openat2 is given a
// resolve flag no kernel knows), so that the plain redo is exercised.
std::unique_ptr<EntryWriter> MakeUringWriter(unsigned fail_every_nth_chain = 0);

}  // namespace staging
