#include "inplace/tar_stream.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "decode/decoder.h"

namespace staging {
namespace {

Status ReadFile(const ArchiveFile& file, bool in_file_order, uint64_t offset, std::byte* out,
                size_t len, size_t* got) {
  return in_file_order ? file.ReadInFileOrder(offset, out, len, got)
                       : file.Read(offset, out, len, got);
}

class PlainStream : public TarStream {
 public:
  PlainStream(const ArchiveFile& file, bool in_file_order)
      : file_(file), in_file_order_(in_file_order) {}
  Status Read(uint64_t offset, std::byte* out, size_t len, size_t* got) override {
    return ReadFile(file_, in_file_order_, offset, out, len, got);
  }
  uint64_t size() const override { return file_.size(); }

 private:
  const ArchiveFile& file_;
  const bool in_file_order_;
};

class ArrivingStream : public TarStream {
 public:
  explicit ArrivingStream(BoundedQueue<BlockRef>& blocks) : blocks_(blocks) {}
  Status Read(uint64_t offset, std::byte* out, size_t len, size_t* got) override {
    *got = 0;
    while (*got < len) {
      const uint64_t at = offset + *got;
      if (!block_ || block_->offset + block_->size <= at) {
        std::optional<BlockRef> next = blocks_.Pop();
        if (!next) {
          if (blocks_.failed()) return Status::Error("the download stopped");
          return Status::Ok();  // the end: a short read
        }
        block_ = std::move(*next);
        continue;
      }
      if (at < block_->offset) return Status::Error("read behind the bytes already gone");
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(len - *got, block_->offset + block_->size - at));
      std::memcpy(out + *got, block_->bytes() + (at - block_->offset), n);
      *got += n;
    }
    return Status::Ok();
  }
  uint64_t size() const override { return UINT64_MAX; }

 private:
  BoundedQueue<BlockRef>& blocks_;
  BlockRef block_;
};

using DctxPtr = std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)>;

// A decoder and an input buffer per thread, kept across member reads: making them afresh for
// every member (a zstd context, a zeroed buffer) cost as much as reading the member. One
// PackedStream at a time per thread uses them.
struct Scratch {
  DctxPtr dctx{ZSTD_createDCtx(), ZSTD_freeDCtx};
  std::vector<std::byte> input;
};
Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Decodes one frame at a time, streaming its compressed bytes in `chunk`s, and keeps its place
// so that reading on from where it stopped continues the frame instead of restarting it.
class PackedStream : public TarStream {
 public:
  PackedStream(const ArchiveFile& file, const std::vector<ZstdFrameInfo>& frames, size_t chunk,
               bool in_file_order)
      : file_(file),
        frames_(frames),
        in_file_order_(in_file_order),
        chunk_(chunk),
        scratch_(ThreadScratch()) {
    if (scratch_.input.size() < chunk_) scratch_.input.resize(chunk_);
    const ZstdFrameInfo* last = frames_.empty() ? nullptr : &frames_.back();
    size_ = last ? last->decompressed_offset + last->decompressed_size : 0;
  }

  Status Read(uint64_t offset, std::byte* out, size_t len, size_t* got) override {
    *got = 0;
    while (*got < len && offset < size_) {
      size_t frame = FrameAt(frames_, offset);
      if (frame != frame_ || offset < produced_) STAGING_RETURN_IF_ERROR(Start(frame));
      if (offset > produced_) STAGING_RETURN_IF_ERROR(Decode(nullptr, offset - produced_));
      const ZstdFrameInfo& f = frames_[frame_];
      uint64_t frame_end = f.decompressed_offset + f.decompressed_size;
      size_t n = static_cast<size_t>(std::min<uint64_t>(len - *got, frame_end - offset));
      STAGING_RETURN_IF_ERROR(Decode(out + *got, n));
      *got += n;
      offset += n;
    }
    return Status::Ok();
  }
  uint64_t size() const override { return size_; }

 private:
  Status Start(size_t frame) {
    ZSTD_DCtx* dctx = scratch_.dctx.get();
    if (!dctx) return Status::Error(file_.path() + ": out of memory for a zstd decoder");
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
    ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, kZstdMaxWindowLog);
    frame_ = frame;
    produced_ = frames_[frame].decompressed_offset;
    read_ = frames_[frame].compressed_offset;
    in_ = {scratch_.input.data(), 0, 0};
    return Status::Ok();
  }

  Status Error(const std::string& what) const {
    return Status::Error(file_.path() + ": frame " + std::to_string(frame_) + ": " + what);
  }

  Status Refill() {
    const ZstdFrameInfo& f = frames_[frame_];
    uint64_t end = f.compressed_offset + f.compressed_size;
    size_t want = static_cast<size_t>(std::min<uint64_t>(chunk_, end - read_));
    size_t got = 0;
    if (want > 0) {
      STAGING_RETURN_IF_ERROR(
          ReadFile(file_, in_file_order_, read_, scratch_.input.data(), want, &got));
    }
    if (got == 0) return Error("truncated (the file ends inside it)");
    read_ += got;
    in_ = {scratch_.input.data(), got, 0};
    return Status::Ok();
  }

  // Decodes the frame's next `len` bytes into `out`, or drops them when `out` is null.
  Status Decode(std::byte* out, size_t len) {
    std::byte scratch[16384];
    while (len > 0) {
      if (in_.pos == in_.size) STAGING_RETURN_IF_ERROR(Refill());
      size_t n = out ? len : std::min(len, sizeof scratch);
      ZSTD_outBuffer o{out ? out : scratch, n, 0};
      size_t rc = ZSTD_decompressStream(scratch_.dctx.get(), &o, &in_);
      if (ZSTD_isError(rc)) return Error(std::string("damaged: ") + ZSTD_getErrorName(rc));
      if (rc == 0 && o.pos < n) return Error("decodes to fewer bytes than its seek table says");
      produced_ += o.pos;
      len -= o.pos;
      if (out) out += o.pos;
    }
    return Status::Ok();
  }

  const ArchiveFile& file_;
  const std::vector<ZstdFrameInfo>& frames_;
  const bool in_file_order_;
  uint64_t size_ = 0;
  const size_t chunk_;
  Scratch& scratch_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  size_t frame_ = SIZE_MAX;  // the frame being decoded
  uint64_t produced_ = 0;    // decoded offset of its next byte
  uint64_t read_ = 0;        // file offset of its next compressed byte
};

}  // namespace

size_t FrameAt(const std::vector<ZstdFrameInfo>& frames, uint64_t offset) {
  auto after = std::upper_bound(
      frames.begin(), frames.end(), offset,
      [](uint64_t value, const ZstdFrameInfo& f) { return value < f.decompressed_offset; });
  if (after == frames.begin()) return frames.size();
  size_t frame = static_cast<size_t>(after - frames.begin()) - 1;
  const ZstdFrameInfo& f = frames[frame];
  return offset < f.decompressed_offset + f.decompressed_size ? frame : frames.size();
}

std::unique_ptr<TarStream> ArrivingTarStream(BoundedQueue<BlockRef>& blocks) {
  return std::make_unique<ArrivingStream>(blocks);
}

std::unique_ptr<TarStream> PlainTarStream(const ArchiveFile& file, bool in_file_order) {
  return std::make_unique<PlainStream>(file, in_file_order);
}

std::unique_ptr<TarStream> PackedTarStream(const ArchiveFile& file,
                                           const std::vector<ZstdFrameInfo>& frames, size_t chunk,
                                           bool in_file_order) {
  return std::make_unique<PackedStream>(file, frames, chunk, in_file_order);
}

}  // namespace staging
