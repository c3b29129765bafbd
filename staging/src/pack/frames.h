// Pack's frames: the tar stream cut at member boundaries into frames of a target size, each
// compressed on worker threads and appended to the output in order.
#pragma once

#include <archive.h>
#include <zstd.h>

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

inline Status WriteFully(int fd, const std::byte* data, size_t len, const std::string& label) {
  const int error = common::WriteAll(fd, data, len);
  return error ? Status::FromErrno(label + ": write", error) : Status::Ok();
}

// Compresses frames on `threads` workers, each independently (ZSTD_compress2 with a content
// checksum, so `zstd -d` verifies it), and appends them to `fd` in submission order. At most
// kFramesInFlightPerThread * threads frames are held at once. Submit from one thread.
class FrameCompressor {
 public:
  // `output_hash`, when set, receives every byte written, in file order.
  FrameCompressor(int fd, std::string label, int level, int threads, Sha256* output_hash = nullptr)
      : fd_(fd),
        label_(std::move(label)),
        level_(level),
        output_hash_(output_hash),
        workers_(
            threads, static_cast<size_t>(threads) * kFramesInFlightPerThread,
            [this](Frame& frame) { Compress(frame); },
            [this](Frame& frame) { return Write(frame); }) {}

  // Queues `frame`; waits while too many are in flight. Returns the first error so far.
  Status Submit(std::vector<std::byte> frame) {
    if (!workers_.Submit(Frame{submitted_++, std::move(frame), {}, 0, Status::Ok()})) {
      return status_.ok() ? Status::Error(label_ + ": aborted") : status_;
    }
    return Status::Ok();
  }

  // Waits for every frame to be written; `frames` receives their sizes in file order.
  Status Finish(std::vector<ZstdFrameInfo>* frames, uint64_t* compressed_bytes) {
    const bool all_written = workers_.Finish();
    *frames = std::move(frames_);
    *compressed_bytes = compressed_bytes_;
    if (!status_.ok()) return status_;
    return all_written ? Status::Ok() : Status::Error(label_ + ": aborted");
  }

 private:
  struct Frame {
    uint64_t index;
    std::vector<std::byte> data;        // the tar bytes, dropped once compressed
    std::vector<std::byte> compressed;  // the zstd frame
    uint32_t decompressed_size;
    Status status;
  };

  void Compress(Frame& frame) {
    thread_local std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(),
                                                                           ZSTD_freeCCtx);
    ZSTD_CCtx_reset(cctx.get(), ZSTD_reset_session_and_parameters);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level_);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
    frame.decompressed_size = static_cast<uint32_t>(frame.data.size());
    frame.compressed.resize(ZSTD_compressBound(frame.data.size()));
    size_t n = ZSTD_compress2(cctx.get(), frame.compressed.data(), frame.compressed.size(),
                              frame.data.data(), frame.data.size());
    frame.data = {};
    if (ZSTD_isError(n)) {
      frame.status =
          Status::Error(label_ + ": zstd compression of frame " + std::to_string(frame.index) +
                        " failed: " + ZSTD_getErrorName(n));
      return;
    }
    frame.compressed.resize(n);
  }

  // In frame order, on the emitting thread.
  bool Write(Frame& frame) {
    if (frame.status.ok()) {
      frame.status = WriteFully(fd_, frame.compressed.data(), frame.compressed.size(), label_);
    }
    if (!frame.status.ok()) {
      status_ = frame.status;
      return false;
    }
    if (output_hash_) output_hash_->Update(frame.compressed.data(), frame.compressed.size());
    ZstdFrameInfo info;
    info.compressed_offset = compressed_bytes_;
    info.compressed_size = static_cast<uint32_t>(frame.compressed.size());
    info.decompressed_size = frame.decompressed_size;
    frames_.push_back(info);
    compressed_bytes_ += frame.compressed.size();
    return true;
  }

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

  static la_ssize_t Write(archive*, void* self, const void* buffer, size_t length) {
    auto* framer = static_cast<TarFramer*>(self);
    if (!framer->Append(static_cast<const std::byte*>(buffer), length).ok()) return -1;
    return static_cast<la_ssize_t>(length);
  }

  void BeginMember(uint64_t size) { split_inside_ = size >= frame_bytes_; }
  Status EndMember() {
    split_inside_ = false;
    bool full = per_member_ ? !frame_.empty() : frame_.size() >= frame_bytes_;
    return full ? Cut() : Status::Ok();
  }
  Status Finish() { return frame_.empty() ? Status::Ok() : Cut(); }

  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  const Status& status() const { return status_; }

 private:
  Status Append(const std::byte* data, size_t len) {
    while (len > 0 && status_.ok()) {
      uint64_t limit = split_inside_ ? frame_bytes_ : 2 * frame_bytes_;
      if (frame_.size() >= limit) {
        status_ = Cut();
        continue;
      }
      size_t n = static_cast<size_t>(std::min<uint64_t>(len, limit - frame_.size()));
      if (frame_.capacity() == 0 && !per_member_) frame_.reserve(frame_bytes_ + frame_bytes_ / 4);
      frame_.insert(frame_.end(), data, data + n);
      bytes_.fetch_add(n, std::memory_order_relaxed);
      data += n;
      len -= n;
      if (frame_.size() >= limit) status_ = Cut();
    }
    return status_;
  }

  Status Cut() {
    Status status = compressor_.Submit(std::move(frame_));
    frame_ = {};
    if (!status.ok() && status_.ok()) status_ = status;
    return status;
  }

  FrameCompressor& compressor_;
  uint64_t frame_bytes_;
  bool per_member_;
  std::vector<std::byte> frame_;
  bool split_inside_ = false;
  std::atomic<uint64_t> bytes_{0};
  Status status_;
};

// Calls the progress callback every kProgressInterval from its own thread, and once at the end.
}  // namespace staging
