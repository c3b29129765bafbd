// libarchive's read callback over the pipeline's decoded blocks.
#pragma once

#include <archive.h>

#include <optional>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "io/entry_writer.h"

namespace staging {

// Feeds libarchive from the decoded queue, keeping the block it is reading alive.
class DecodedStream {
 public:
  DecodedStream(BoundedQueue<BlockRef>& decoded, EntryWriter& writer)
      : decoded_(decoded), writer_(writer) {}

  static la_ssize_t Read(archive*, void* self, const void** buffer) {
    return static_cast<DecodedStream*>(self)->Next(buffer);
  }

  const BlockRef& current() const { return current_; }
  uint64_t consumed() const { return consumed_; }

 private:
  la_ssize_t Next(const void** buffer) {
    current_.reset();
    // While no block is ready, finish queued writes: they hold the blocks the decoder waits for.
    std::optional<BlockRef> block = decoded_.TryPop();
    if (!block) writer_.Flush();
    while (!block && writer_.Busy()) {
      writer_.Poll();
      block = decoded_.TryPop();
      if (!block && writer_.Busy()) {
        writer_.Drain();
        block = decoded_.TryPop();
      }
    }
    if (!block) block = decoded_.Pop();
    if (!block) return 0;
    current_ = std::move(*block);
    *buffer = current_->bytes();
    consumed_ += current_->size;
    return static_cast<la_ssize_t>(current_->size);
  }

  BoundedQueue<BlockRef>& decoded_;
  EntryWriter& writer_;
  BlockRef current_;
  uint64_t consumed_ = 0;
};

}  // namespace staging
