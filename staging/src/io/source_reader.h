// SourceReader: streams one source file into pooled blocks, in order. The io_uring version keeps
// several large reads in flight; the plain version uses pread; the mapped one lends each block a
// mapping of its span of the file (no copy). Not thread-safe: one consumer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/block.h"
#include "staging/io_backend.h"
#include "staging/status.h"

namespace staging {

class SourceReader {
 public:
  virtual ~SourceReader() = default;
  // Sets `out` to the next block of the file (size > 0), or leaves it empty at the end.
  // A file that ends before the size it had when opened is an error.
  virtual Status Next(BlockRef& out) = 0;
  // How it reads: "io_uring", "mapped" or "plain".
  virtual const char* how() const = 0;
  // For a mapped source: raised when pages of the mapping were lost (the file shrank while
  // mapped) and zeros stood in for them; check it once nothing touches the blocks any more.
  virtual std::shared_ptr<const std::atomic<bool>> lost() const { return nullptr; }
};

// True when the first `size` bytes of `fd` are in the page cache, all but at most a 64th of their
// pages (cachestat, Linux 6.5 and later); false when more are missing, or when the kernel cannot
// say.
bool SourceInPageCache(int fd, uint64_t size);

// `fd` must stay open for the reader's life; `size` is the file size from fstat; reads start at
// its beginning. `in_flight` bounds the reads queued at once (io_uring only). kAuto reads through
// io_uring, whose reads in flight hide a slow disk's latency, except a source already in the page
// cache, which has no latency to hide: it is mapped, which spares copying it (reads where it
// cannot be mapped, and, for a source of 16 blocks or more, where its first blocks, read both
// ways in turn, found mapping slower than pread). kPlain reads with pread, kUring through io_uring.
// `cuts` (ascending offsets, may be empty) end a block early at the last cut it would pass, so that
// what lies between two cuts arrives in one block whenever it fits in one.
// `reads` other than kAuto forces the way, whatever `kind` and the page cache say (io_uring
// still falls back to pread where it is unavailable; how() tells).
std::unique_ptr<SourceReader> MakeSourceReader(IoKind kind, int fd, uint64_t size, BlockPool& pool,
                                               int in_flight, std::vector<uint64_t> cuts = {},
                                               SourceReads reads = SourceReads::kAuto);

// Where a block that starts at `offset` ends: at `offset + capacity` (or `size`), or earlier, at
// the last of `cuts` beyond `offset` that it reaches.
uint64_t BlockEnd(uint64_t offset, size_t capacity, uint64_t size,
                  const std::vector<uint64_t>& cuts);

}  // namespace staging
