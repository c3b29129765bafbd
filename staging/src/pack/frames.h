// Pack's frames: the tar stream cut at member boundaries into frames of a target size, each
// compressed on worker threads and appended to the output in order.
#pragma once

#include <archive.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/digest.h"
#include "common/file_io.h"
#include "common/ordered_workers.h"
#include "decode/zstd_seek_table.h"
#include "staging/status.h"

namespace staging {

// Frames in flight per compressing thread: one being compressed, one waiting its turn.
inline constexpr int kFramesInFlightPerThread = 2;

// Writes all of `data` to `fd`; errors name `label`.
Status WriteFully(int fd, const std::byte* data, size_t len, const std::string& label);

// Compresses frames on `threads` workers, each independently (ZSTD_compress2 with a content
// checksum, so `zstd -d` verifies it), and appends them to `fd` in submission order. At most
// kFramesInFlightPerThread * threads frames are held at once. Submit from one thread.
class FrameCompressor {
 public:
  // `output_hash`, when set, receives every byte written, in file order.
  FrameCompressor(int fd, std::string label, int level, int threads, Sha256* output_hash = nullptr);

  // Queues `frame`; waits while too many are in flight. Returns the first error so far.
  Status Submit(std::vector<std::byte> frame);

  // Waits for every frame to be written; `frames` receives their sizes in file order.
  Status Finish(std::vector<ZstdFrameInfo>* frames, uint64_t* compressed_bytes);

 private:
  struct Frame {
    uint64_t index;
    std::vector<std::byte> data;        // the tar bytes, dropped once compressed
    std::vector<std::byte> compressed;  // the zstd frame
    uint32_t decompressed_size;
    Status status;
  };

  void Compress(Frame& frame);

  // In frame order, on the emitting thread.
  bool Write(Frame& frame);

  int fd_;
  std::string label_;
  int level_;
  Sha256* output_hash_;
  uint64_t submitted_ = 0;
  // Written by the emitting thread; read after Finish, or after Submit saw the stop.
  std::vector<ZstdFrameInfo> frames_;
  uint64_t compressed_bytes_ = 0;
  Status status_;
  common::OrderedWorkers<Frame> workers_;  // last: its threads end before the members above
};

// Receives the tar stream from libarchive and cuts it into frames: a frame closes at the first
// member boundary once it holds frame_bytes (at every member boundary when `per_member`); a
// member of at least frame_bytes is cut inside whenever the frame reaches frame_bytes, so no
// frame exceeds twice frame_bytes.
class TarFramer {
 public:
  TarFramer(FrameCompressor& compressor, uint64_t frame_bytes, bool per_member = false)
      : compressor_(compressor), frame_bytes_(frame_bytes), per_member_(per_member) {}

  // libarchive's write callback: `self` is the TarFramer.
  static la_ssize_t Write(archive*, void* self, const void* buffer, size_t length);

  void BeginMember(uint64_t size) { split_inside_ = size >= frame_bytes_; }
  Status EndMember();
  Status Finish() { return frame_.empty() ? Status::Ok() : Cut(); }

  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  const Status& status() const { return status_; }

 private:
  Status Append(const std::byte* data, size_t len);

  Status Cut();

  FrameCompressor& compressor_;
  uint64_t frame_bytes_;
  bool per_member_;
  std::vector<std::byte> frame_;
  bool split_inside_ = false;
  std::atomic<uint64_t> bytes_{0};
  Status status_;
};

}  // namespace staging
