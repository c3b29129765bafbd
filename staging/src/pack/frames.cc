#include "pack/frames.h"

#include <zstd.h>

#include <algorithm>
#include <utility>

namespace staging {

Status WriteFully(int fd, const std::byte* data, size_t len, const std::string& label) {
  const int error = common::WriteAll(fd, data, len);
  return error ? Status::FromErrno(label + ": write", error) : Status::Ok();
}

FrameCompressor::FrameCompressor(int fd, std::string label, int level, int threads,
                                 Sha256* output_hash)
    : fd_(fd),
      label_(std::move(label)),
      level_(level),
      output_hash_(output_hash),
      workers_(
          threads, static_cast<size_t>(threads) * kFramesInFlightPerThread,
          [this](Frame& frame) { Compress(frame); },
          [this](Frame& frame) { return Write(frame); }) {}

Status FrameCompressor::Submit(std::vector<std::byte> frame) {
  if (!workers_.Submit(Frame{submitted_++, std::move(frame), {}, 0, Status::Ok()})) {
    return status_.ok() ? Status::Error(label_ + ": aborted") : status_;
  }
  return Status::Ok();
}

Status FrameCompressor::Finish(std::vector<ZstdFrameInfo>* frames, uint64_t* compressed_bytes) {
  const bool all_written = workers_.Finish();
  *frames = std::move(frames_);
  *compressed_bytes = compressed_bytes_;
  if (!status_.ok()) return status_;
  return all_written ? Status::Ok() : Status::Error(label_ + ": aborted");
}

void FrameCompressor::Compress(Frame& frame) {
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
    frame.status = Status::Error(label_ + ": zstd compression of frame " +
                                 std::to_string(frame.index) + " failed: " + ZSTD_getErrorName(n));
    return;
  }
  frame.compressed.resize(n);
}

bool FrameCompressor::Write(Frame& frame) {
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

la_ssize_t TarFramer::Write(archive*, void* self, const void* buffer, size_t length) {
  auto* framer = static_cast<TarFramer*>(self);
  if (!framer->Append(static_cast<const std::byte*>(buffer), length).ok()) return -1;
  return static_cast<la_ssize_t>(length);
}

Status TarFramer::EndMember() {
  split_inside_ = false;
  bool full = per_member_ ? !frame_.empty() : frame_.size() >= frame_bytes_;
  return full ? Cut() : Status::Ok();
}

Status TarFramer::Append(const std::byte* data, size_t len) {
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

Status TarFramer::Cut() {
  Status status = compressor_.Submit(std::move(frame_));
  frame_ = {};
  if (!status.ok() && status_.ok()) status_ = status;
  return status;
}

}  // namespace staging
