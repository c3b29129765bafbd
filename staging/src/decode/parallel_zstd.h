// Parallel decoding of a zstd file made of independent frames listed by a seek table (as
// `stage pack` writes them): frames are decoded on several threads and pushed in order, one
// block per frame. Memory stays bounded: a few frames per thread, compressed and decoded.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "decode/decoder.h"
#include "decode/zstd_seek_table.h"
#include "staging/status.h"

namespace staging {

// Frames whose decoded size exceeds this are left to the sequential decoder.
inline constexpr uint32_t kMaxParallelFrameBytes = 32 << 20;

class ParallelZstdDecoder : public Decoder {
 public:
  // `frames` come from a validated seek table and are at most kMaxParallelFrameBytes each.
  ParallelZstdDecoder(std::vector<ZstdFrameInfo> frames, int threads);

  // Pulls the whole source file from `in`, in order (the frames, then the seek table), and
  // pushes decoded blocks to `out` in stream order. Does not close `out`. Returns at the end of
  // the input or at the first error, which names the frame and its compressed offset. A frame
  // that disagrees with the table is an error (never wrong output). Call once.
  Status Run(BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& out) override;

  void Abort() override { pool_.Close(); }
  int busy_cores() const override { return threads_; }
  // Every frame's start and the seek table's: a frame read whole into one block is decoded where
  // it lies, not first gathered from two (which cost more than decoding the stored frames of
  // JPEGs).
  std::vector<uint64_t> read_cuts() const override;

  size_t frame_count() const { return frames_.size(); }

 private:
  std::vector<ZstdFrameInfo> frames_;
  int threads_;
  size_t window_;  // frames dispatched but not yet pushed
  BlockPool pool_;
};

// The parallel decoder for the zstd source `fd` of `size` bytes, or nullptr when it has no valid
// seek table, has a single frame, or has frames too large: the caller then decodes it
// sequentially. `threads` <= 0 means the number of cores. The decoder must outlive every block
// it pushed.
std::unique_ptr<ParallelZstdDecoder> MakeParallelZstdDecoder(int fd, uint64_t size,
                                                             int threads = 0);

}  // namespace staging
