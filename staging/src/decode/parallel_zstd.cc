#include "decode/parallel_zstd.h"

// ZSTD_getFrameHeader (frame checks) is in the advanced API.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>

#include "base/bounded_queue.h"
#include "common/ordered_workers.h"
#include "decode/decoder.h"

namespace staging {
namespace {

// Decoded blocks beyond the frames in flight: enough for the queue and the parser to overlap.
constexpr size_t kSpareBlocks = 3;
// The decoded frames in flight stay under this, whatever the thread count.
constexpr uint64_t kMaxInFlightBytes = 192 << 20;

size_t MaxFrameSize(const std::vector<ZstdFrameInfo>& frames) {
  uint32_t largest = 1;
  for (const ZstdFrameInfo& frame : frames) largest = std::max(largest, frame.decompressed_size);
  return largest;
}

size_t Window(const std::vector<ZstdFrameInfo>& frames, int threads) {
  size_t by_memory = std::max<uint64_t>(2, kMaxInFlightBytes / MaxFrameSize(frames));
  return std::min<size_t>(2 * static_cast<size_t>(threads), by_memory);
}

std::string FrameLabel(const ZstdFrameInfo& frame, size_t index) {
  return "zstd frame " + std::to_string(index) + " at compressed byte " +
         std::to_string(frame.compressed_offset);
}

// A frame on its way: its compressed bytes, then its decoded block (or why it has none). A frame
// that lies within one source block is read where it lies (`source` keeps that block alive);
// one that straddles blocks is gathered into `gathered`.
struct Frame {
  size_t index = 0;
  BlockRef source;
  const std::byte* bytes = nullptr;
  size_t size = 0;
  std::vector<std::byte> gathered;
  BlockRef block;
  Status status;

  void Release() {
    source.reset();
    gathered = {};
    bytes = nullptr;
  }
};

// Adds what `frame` (of `compressed_size` bytes) still lacks from `data`, `len` bytes of `block`;
// returns the bytes taken. A frame whole within one block is decoded where it lies; one split
// across blocks is gathered into its own buffer.
size_t TakeFrameBytes(const BlockRef& block, const std::byte* data, size_t len,
                      uint64_t compressed_size, Frame* frame) {
  if (frame->gathered.empty() && len >= compressed_size) {
    frame->source = block;
    frame->bytes = data;
    frame->size = compressed_size;
    return compressed_size;
  }
  const size_t taken = std::min<size_t>(len, compressed_size - frame->gathered.size());
  frame->gathered.reserve(compressed_size);  // one allocation, no copy on growth
  frame->gathered.insert(frame->gathered.end(), data, data + taken);
  frame->bytes = frame->gathered.data();  // a moved vector keeps its buffer
  frame->size = frame->gathered.size();
  return taken;
}

Status Disagrees(const ZstdFrameInfo& info, size_t index, const char* what) {
  return Status::Error(FrameLabel(info, index) + ": the seek table disagrees with the " + what);
}

// The table is only a hint: each frame must be one whole zstd frame of the size it claims,
// within the window limit the sequential decoder enforces.
Status CheckFrame(const Frame& frame, const ZstdFrameInfo& info) {
  ZSTD_frameHeader header;
  if (ZSTD_getFrameHeader(&header, frame.bytes, frame.size) != 0 ||
      header.frameType != ZSTD_frame) {
    return Disagrees(info, frame.index, "frame start");
  }
  if (header.windowSize > (1ull << kZstdMaxWindowLog)) {
    return Status::Error(FrameLabel(info, frame.index) + ": zstd: window above the " +
                         std::to_string(1 << (kZstdMaxWindowLog - 20)) + " MiB limit");
  }
  if (header.frameContentSize != ZSTD_CONTENTSIZE_UNKNOWN &&
      header.frameContentSize != info.decompressed_size) {
    return Disagrees(info, frame.index, "content size");
  }
  if (ZSTD_findFrameCompressedSize(frame.bytes, frame.size) != frame.size) {
    return Disagrees(info, frame.index, "frame length");
  }
  return Status::Ok();
}

// Decodes `frame` into a block from `pool` (none for an empty frame).
Status DecodeFrame(ZSTD_DCtx* dctx, const ZstdFrameInfo& info, BlockPool& pool, Frame& frame) {
  STAGING_RETURN_IF_ERROR(CheckFrame(frame, info));
  if (info.decompressed_size == 0) return Status::Ok();
  frame.block = pool.Acquire();
  if (!frame.block) return Status::Error("aborted");
  size_t n =
      ZSTD_decompressDCtx(dctx, frame.block->data, frame.block->capacity, frame.bytes, frame.size);
  if (ZSTD_isError(n)) {
    return Status::Error(FrameLabel(info, frame.index) + ": zstd: " + ZSTD_getErrorName(n));
  }
  if (n != info.decompressed_size) return Disagrees(info, frame.index, "decoded size");
  frame.block->size = n;
  frame.block->offset = info.decompressed_offset;
  return Status::Ok();
}

}  // namespace

ParallelZstdDecoder::ParallelZstdDecoder(std::vector<ZstdFrameInfo> frames, int threads)
    : frames_(std::move(frames)),
      threads_(std::max(1, threads)),
      window_(Window(frames_, threads_)),
      pool_(window_ + kSpareBlocks, MaxFrameSize(frames_)) {}

// This thread cuts the input into frames, in order; workers decode them; the emitting thread
// pushes them in frame order.
Status ParallelZstdDecoder::Run(BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& out) {
  Status status;  // the first failure in frame order (set by the emitting thread)
  common::OrderedWorkers<Frame> workers(
      threads_, window_,
      [&](Frame& frame) {
        thread_local std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(),
                                                                               ZSTD_freeDCtx);
        frame.status = DecodeFrame(dctx.get(), frames_[frame.index], pool_, frame);
        frame.Release();
      },
      [&](Frame& frame) {
        if (frame.status.ok() && frame.block && !out.Push(std::move(frame.block))) {
          frame.status = Status::Error("aborted");
        }
        if (frame.status.ok()) return true;
        status = frame.status;
        pool_.Close();  // wakes the workers waiting for a block
        return false;
      });
  size_t index = 0;
  Frame frame;
  bool submitting = true;
  while (submitting) {
    std::optional<BlockRef> block = in.Pop();
    if (!block) break;
    const std::byte* data = (*block)->bytes();
    size_t len = (*block)->size;
    while (len > 0 && index < frames_.size()) {
      const ZstdFrameInfo& info = frames_[index];
      const size_t taken = TakeFrameBytes(*block, data, len, info.compressed_size, &frame);
      data += taken;
      len -= taken;
      if (frame.size < info.compressed_size) break;  // the rest is in the next block
      frame.index = index++;
      if (!workers.Submit(std::move(frame))) {
        submitting = false;
        break;
      }
      frame = Frame();
    }
    // What follows the last frame is the seek table itself: read and dropped.
  }
  if (!in.finished() || in.failed()) {
    workers.Cancel();
    pool_.Close();
  }
  const bool all_emitted = workers.Finish();
  if (!status.ok()) return status;
  if (!all_emitted || in.failed()) return Status::Error("aborted");
  if (index < frames_.size()) {
    return Status::Error("truncated zstd stream: input ends in " +
                         FrameLabel(frames_[index], index));
  }
  return Status::Ok();
}

std::vector<uint64_t> ParallelZstdDecoder::read_cuts() const {
  std::vector<uint64_t> cuts;
  cuts.reserve(frames_.size() + 1);
  for (const ZstdFrameInfo& frame : frames_) cuts.push_back(frame.compressed_offset);
  cuts.push_back(frames_.back().compressed_offset + frames_.back().compressed_size);
  return cuts;
}

std::unique_ptr<ParallelZstdDecoder> MakeParallelZstdDecoder(int fd, uint64_t size, int threads) {
  std::vector<ZstdFrameInfo> frames;
  if (!ReadSeekTable(fd, size, &frames).ok() || frames.size() < 2) return nullptr;
  for (const ZstdFrameInfo& frame : frames) {
    if (frame.decompressed_size > kMaxParallelFrameBytes) return nullptr;
  }
  // Half the cores (at least one): the writer threads creating the files get the others
  // (ResolveWriterThreads). Measured on 2 cores: a packed Pets set staged 12% faster with one
  // decoding thread than with two.
  if (threads <= 0) {
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  }
  return std::make_unique<ParallelZstdDecoder>(std::move(frames), threads);
}

}  // namespace staging
