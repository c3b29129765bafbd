// An archive file read at random by many threads, and optionally preloaded: a thread reads the
// whole file sequentially into memory (network disks stream fast and read at random slowly)
// while reads of what it has not reached yet go to the file.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "staging/status.h"

namespace staging {

class ArchiveFile {
 public:
  ArchiveFile(std::string path, common::UniqueFd fd, uint64_t size);
  ~ArchiveFile();  // stops the preload
  ArchiveFile(const ArchiveFile&) = delete;
  ArchiveFile& operator=(const ArchiveFile&) = delete;

  // Starts reading the whole file into memory (size() bytes) on a thread of its own. Once.
  // False when that memory cannot be had (then there is no preload).
  bool StartPreload();
  // Copies [offset, offset + len) into `out`, from memory where the preload has reached, else
  // with pread; `*got` is short only at the end of the file. Errors name the file and offset.
  // Thread-safe.
  Status Read(uint64_t offset, std::byte* out, size_t len, size_t* got) const;
  // As Read, but while a preload runs, waits for it to reach the range instead of reading it at
  // random: a pass over the whole file then costs one sequential read (for the header pass, on
  // a disk that is slow at random reads).
  Status ReadInFileOrder(uint64_t offset, std::byte* out, size_t len, size_t* got) const;
  // The share of the file's pages in the page cache now (0 when it cannot tell).
  double CachedFraction() const;
  // Asks the kernel to start reading [offset, offset + len), unless it is in memory already.
  void WillNeed(uint64_t offset, uint64_t len) const;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  bool preloading() const { return memory_ != nullptr; }
  uint64_t preloaded() const { return loaded_.load(std::memory_order_acquire); }

 private:
  void PreloadAll();

  const std::string path_;
  const common::UniqueFd fd_;
  const uint64_t size_;
  std::unique_ptr<std::byte[]> memory_;
  std::atomic<uint64_t> loaded_{0};  // memory_[0, loaded_) is valid
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable progress_;  // the preload advanced or ended
  bool preload_ended_ = false;                // guarded by mu_
  std::thread preloader_;
};

}  // namespace staging
