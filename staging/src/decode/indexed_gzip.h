// The parallel inflate of a .tar.gz from its restart-point index.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "decode/decoder.h"
#include "decode/gzip_index.h"
#include "decode/indexed_gzip.h"
#include "staging/status.h"

namespace staging {

// Inflates a gzip source on up to `threads` threads, chunk by chunk between the restart points
// of `index`. The source comes from the pipeline's reader, in order, so a slow disk streams with
// as many reads in flight as for any other source. Each chunk is inflated into one of the
// decoder's buffers, which then travels down the pipeline as the block itself, so no decoded
// byte is copied: keep the decoder alive until every block it pushed has been released (declare
// it before the writer). Its buffers stay under 160 MiB whatever the thread count, plus one
// compressed span per thread.
class IndexedGzipDecoder : public Decoder {
 public:
  // `threads` <= 0: one per core.
  IndexedGzipDecoder(uint64_t file_size, const GzipIndex& index, int threads);
  ~IndexedGzipDecoder();
  IndexedGzipDecoder(const IndexedGzipDecoder&) = delete;
  IndexedGzipDecoder& operator=(const IndexedGzipDecoder&) = delete;

  // Reads the `file_size`-byte source from `in` (its blocks in order, as the reader reads
  // them) and pushes the decoded stream to `out` in order. Call once.
  Status Run(BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& out) override;
  void Abort() override;
  int busy_cores() const override { return threads_; }

 private:
  uint64_t file_size_;
  const GzipIndex& index_;
  int threads_;
  std::mutex mu_;                       // guards buffers_ and aborted_ against Abort()
  std::unique_ptr<BlockPool> buffers_;  // outlives Run: its blocks may still be in use
  bool aborted_ = false;
};

}  // namespace staging
