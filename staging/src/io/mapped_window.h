// MappedWindow: a read-only mapping of a span of a source file, so that a source already in the
// page cache is read without a copy into a buffer of our own (the copy cost about 18% of the CPU
// of staging a tar of large files).
//
// A mapping has one hazard that a read does not: if the file shrinks while mapped, touching a
// lost page raises SIGBUS, which would kill the process. The first window installs a SIGBUS
// handler that maps zeros over a window's lost pages and raises the window's `lost` flag; the
// pipeline then fails the staging with an error instead of crashing. A SIGBUS at any other address
// goes to the handler that was there before (by default: the process dies, as it would have).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/block.h"
#include "staging/status.h"

namespace staging {

class MappedWindow : public BlockView {
 public:
  // Maps bytes [offset, offset + length) of `fd` (length > 0) and faults them in
  // (MADV_POPULATE_READ, then a touch of every page) on this thread, so that readers of the window
  // do not wait on page faults.
  // Sets `*out` to nothing, with an ok status, where the file cannot be mapped (a filesystem
  // without mmap) or every guarded slot is taken: read it instead. Pages that cannot be read (a
  // file now shorter than the window: EFAULT) are an error. `lost` is raised if pages of the
  // window are lost later.
  static Status Map(int fd, uint64_t offset, size_t length, std::shared_ptr<std::atomic<bool>> lost,
                    std::unique_ptr<MappedWindow>* out);
  ~MappedWindow() override;
  MappedWindow(const MappedWindow&) = delete;
  MappedWindow& operator=(const MappedWindow&) = delete;

  // The window's first byte (the byte at `offset` of the file).
  std::byte* bytes() const { return base_ + lead_; }

 private:
  MappedWindow(std::byte* base, size_t mapped, size_t lead, int slot,
               std::shared_ptr<std::atomic<bool>> lost);

  std::byte* base_;  // page-aligned start of the mapping
  size_t mapped_;    // bytes mapped from base_
  size_t lead_;      // bytes before the window's first byte: offset's distance to its page start
  int slot_;         // its entry in the SIGBUS handler's table
  std::shared_ptr<std::atomic<bool>> lost_;
};

}  // namespace staging
