// The pipeline's decoded blocks as one stream, for stage's own tar reader and for libarchive's
// read callback.
#pragma once

#include <archive.h>

#include <optional>
#include <string>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "io/entry_writer.h"

namespace staging {

// Hands out the decoded queue's blocks in turn, keeping the one being read alive. Not
// thread-safe: one reader thread.
class DecodedStream {
 public:
  DecodedStream(BoundedQueue<BlockRef>& decoded, EntryWriter& writer)
      : decoded_(decoded), writer_(writer) {}

  // The next block, now current(); an empty ref at the end of the stream (or when the decoder
  // failed: the pipeline reports that failure).
  const BlockRef& Advance() {
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
    if (block) current_ = std::move(*block);
    return current_;
  }

  const BlockRef& current() const { return current_; }

  // Makes libarchive's reads start where another reader stopped: first `held` (bytes that
  // reader had taken, copied), then the current block from `resume_at`, then the blocks after.
  void ResumeAt(std::string held, size_t resume_at) {
    held_ = std::move(held);
    resume_at_ = resume_at;
  }

  // libarchive's read callback.
  static la_ssize_t Read(archive*, void* self, const void** buffer) {
    return static_cast<DecodedStream*>(self)->ReadForLibarchive(buffer);
  }

 private:
  la_ssize_t ReadForLibarchive(const void** buffer) {
    if (!held_.empty()) {
      held_given_.swap(held_);  // kept alive until libarchive's next call
      held_.clear();
      *buffer = held_given_.data();
      return static_cast<la_ssize_t>(held_given_.size());
    }
    held_given_.clear();
    if (current_ && resume_at_ < current_->size) {
      *buffer = current_->bytes() + resume_at_;
      la_ssize_t n = static_cast<la_ssize_t>(current_->size - resume_at_);
      resume_at_ = current_->size;
      return n;
    }
    if (!Advance()) return 0;
    resume_at_ = current_->size;
    *buffer = current_->bytes();
    return static_cast<la_ssize_t>(current_->size);
  }

  BoundedQueue<BlockRef>& decoded_;
  EntryWriter& writer_;
  BlockRef current_;
  std::string held_, held_given_;
  size_t resume_at_ = 0;  // of current_: the bytes from here on are not yet given to libarchive
};

}  // namespace staging
