#include "parallel_zstd.h"

// ZSTD_getFrameHeader (frame checks) is in the advanced API.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "decoder.h"

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

}  // namespace

// One Decode call: the dispatcher (the calling thread) cuts the input into frames, workers
// decode them and take turns pushing, in frame order.
class ParallelZstdDecoder::Run {
 public:
  Run(ParallelZstdDecoder& decoder, BoundedQueue<BlockRef>& out)
      : frames_(decoder.frames_), window_(decoder.window_), pool_(decoder.pool_), out_(out) {}

  Status Go(BoundedQueue<BlockRef>& in, int threads) {
    std::vector<std::thread> workers;
    for (int i = 0; i < threads; ++i) workers.emplace_back([this] { Work(); });
    Status status = Dispatch(in);
    {
      std::lock_guard lock(mu_);
      if (!status.ok()) FailLocked(status);
      no_more_jobs_ = true;
      cv_.notify_all();
    }
    for (std::thread& t : workers) t.join();
    return status_;
  }

 private:
  struct Job {
    size_t index;
    std::vector<std::byte> data;
  };

  Status Dispatch(BoundedQueue<BlockRef>& in) {
    size_t index = 0;
    std::vector<std::byte> frame;
    while (std::optional<BlockRef> block = in.Pop()) {
      const std::byte* data = (*block)->data.get();
      size_t len = (*block)->size;
      while (len > 0 && index < frames_.size()) {
        const ZstdFrameInfo& info = frames_[index];
        if (frame.empty() && !WaitForRoom(index)) return Status::Error("aborted");
        size_t n = std::min<size_t>(len, info.compressed_size - frame.size());
        frame.insert(frame.end(), data, data + n);
        data += n;
        len -= n;
        if (frame.size() == info.compressed_size) {
          Enqueue({index++, std::move(frame)});
          frame = {};
        }
      }
      // What follows the last frame is the seek table itself: read and dropped.
    }
    if (!in.finished()) return Status::Error("aborted");
    if (index < frames_.size()) {
      return Status::Error("truncated zstd stream: input ends in " +
                           FrameLabel(frames_[index], index));
    }
    return Status::Ok();
  }

  bool WaitForRoom(size_t index) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return index < next_push_ + window_ || !status_.ok(); });
    return status_.ok();
  }

  void Enqueue(Job job) {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
    cv_.notify_all();
  }

  void Work() {
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !jobs_.empty() || no_more_jobs_ || !status_.ok(); });
        if (!status_.ok() || jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      BlockRef block;
      Status status = DecodeFrame(dctx.get(), job, &block);
      job.data = {};
      if (status.ok()) status = PushInTurn(job.index, std::move(block));
      if (!status.ok()) {
        std::lock_guard lock(mu_);
        FailLocked(status);
      }
    }
  }

  Status DecodeFrame(ZSTD_DCtx* dctx, const Job& job, BlockRef* block) {
    const ZstdFrameInfo& info = frames_[job.index];
    STAGING_RETURN_IF_ERROR(CheckFrame(job, info));
    if (info.decompressed_size == 0) return Status::Ok();
    *block = pool_.Acquire();
    if (!*block) return Status::Error("aborted");
    size_t n = ZSTD_decompressDCtx(dctx, (*block)->data.get(), (*block)->capacity, job.data.data(),
                                   job.data.size());
    if (ZSTD_isError(n)) {
      return Status::Error(FrameLabel(info, job.index) + ": zstd: " + ZSTD_getErrorName(n));
    }
    if (n != info.decompressed_size) return Disagrees(info, job.index, "decoded size");
    (*block)->size = n;
    (*block)->offset = info.decompressed_offset;
    return Status::Ok();
  }

  // The table is only a hint: each frame must be one whole zstd frame of the size it claims,
  // within the window limit the sequential decoder enforces.
  Status CheckFrame(const Job& job, const ZstdFrameInfo& info) {
    ZSTD_frameHeader header;
    if (ZSTD_getFrameHeader(&header, job.data.data(), job.data.size()) != 0 ||
        header.frameType != ZSTD_frame) {
      return Disagrees(info, job.index, "frame start");
    }
    if (header.windowSize > (1ull << kZstdMaxWindowLog)) {
      return Status::Error(FrameLabel(info, job.index) + ": zstd: window above the " +
                           std::to_string(1 << (kZstdMaxWindowLog - 20)) + " MiB limit");
    }
    if (header.frameContentSize != ZSTD_CONTENTSIZE_UNKNOWN &&
        header.frameContentSize != info.decompressed_size) {
      return Disagrees(info, job.index, "content size");
    }
    if (ZSTD_findFrameCompressedSize(job.data.data(), job.data.size()) != job.data.size()) {
      return Disagrees(info, job.index, "frame length");
    }
    return Status::Ok();
  }

  Status Disagrees(const ZstdFrameInfo& info, size_t index, const char* what) {
    return Status::Error(FrameLabel(info, index) + ": the seek table disagrees with the " + what);
  }

  Status PushInTurn(size_t index, BlockRef block) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return next_push_ == index || !status_.ok(); });
      if (!status_.ok()) return status_;
    }
    if (block && !out_.Push(std::move(block))) return Status::Error("aborted");
    std::lock_guard lock(mu_);
    ++next_push_;
    cv_.notify_all();
    return Status::Ok();
  }

  void FailLocked(const Status& status) {
    if (status_.ok()) status_ = status;
    cv_.notify_all();
  }

  const std::vector<ZstdFrameInfo>& frames_;
  size_t window_;
  BlockPool& pool_;
  BoundedQueue<BlockRef>& out_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  size_t next_push_ = 0;
  bool no_more_jobs_ = false;
  Status status_;
};

ParallelZstdDecoder::ParallelZstdDecoder(std::vector<ZstdFrameInfo> frames, int threads)
    : frames_(std::move(frames)),
      threads_(std::max(1, threads)),
      window_(Window(frames_, threads_)),
      pool_(window_ + kSpareBlocks, MaxFrameSize(frames_)) {}

Status ParallelZstdDecoder::Decode(BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& out) {
  return Run(*this, out).Go(in, threads_);
}

std::unique_ptr<ParallelZstdDecoder> MakeParallelZstdDecoder(int fd, uint64_t size, int threads) {
  std::vector<ZstdFrameInfo> frames;
  if (!ReadSeekTable(fd, size, &frames).ok() || frames.size() < 2) return nullptr;
  for (const ZstdFrameInfo& frame : frames) {
    if (frame.decompressed_size > kMaxParallelFrameBytes) return nullptr;
  }
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::make_unique<ParallelZstdDecoder>(std::move(frames), threads);
}

}  // namespace staging
