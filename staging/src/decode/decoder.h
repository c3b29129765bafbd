// The decode stage: compressed source blocks in, decoded blocks out, in order, behind one
// interface. gzip goes through ISA-L (sequentially, or from a restart-point index on every
// core), zstd through libzstd (sequentially, or frame-parallel for a `stage pack` archive), and
// anything else passes through untouched for libarchive's own filters (xz, bzip2).
#pragma once

#include <memory>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "decode/source_format.h"
#include "staging/status.h"

namespace staging {

// zstd frames needing a window above this are refused (a 2 GiB window is a memory bomb).
inline constexpr int kZstdMaxWindowLog = 27;  // 128 MiB

class RestartPointSink;
struct GzipIndex;

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Pulls the source's blocks from `in`, in order, to its end, and pushes decoded blocks to
  // `out` in stream order; does not close `out`. Returns at the end of the input or at the first
  // error, whose message names the compressed position. Call once. Decoded blocks may be the
  // decoder's own buffers: it must outlive every block it pushed.
  virtual Status Run(BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& out) = 0;
  // Wakes whatever the decoder waits on for output buffers; called when the pipeline aborts.
  virtual void Abort() = 0;
  // The cores its decoding keeps busy: 0 when it passes bytes through, 1 for a sequential
  // inflate, its thread count when it decodes in parallel. Writers share the rest.
  virtual int busy_cores() const = 0;
  // Source offsets, ascending, where a read had best end so that what the decoder works on
  // arrives whole in one block (a packed archive's frame starts); empty when any block will do.
  virtual std::vector<uint64_t> read_cuts() const { return {}; }
};

// What picks the decoder for one source.
struct DecoderChoice {
  Codec codec = Codec::kNone;  // as detected from the source's head
  int fd = -1;                 // the source, whose seek table a packed zstd file has at its end
  uint64_t size = 0;
  bool parallel = true;                        // frames or chunks on every core when possible
  const GzipIndex* gzip_index = nullptr;       // inflate from these restart points
  RestartPointSink* restart_points = nullptr;  // or record them while inflating
};

// The decoder for `choice`: indexed gzip, frame-parallel zstd, or a sequential one.
std::unique_ptr<Decoder> MakeDecoder(const DecoderChoice& choice);

// What libarchive must still decode of what MakeDecoder's decoder passes through: the codec
// itself for xz and bzip2, kNone for the rest.
Codec LeftForLibarchive(Codec codec);

// Pulls every block from `in` and pushes decoded blocks from `pool` to `out`; returns at the end
// of the input or at the first error, whose message names the compressed byte offset. Does not
// close `out`. `restart_points`, when set, receives gzip restart points as decoding goes.
Status DecodeStream(Codec codec, BoundedQueue<BlockRef>& in, BlockPool& pool,
                    BoundedQueue<BlockRef>& out, RestartPointSink* restart_points = nullptr);

}  // namespace staging
