#include "inplace/archive_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include "base/pread_full.h"

namespace staging {
namespace {

constexpr size_t kPreloadChunk = 8 << 20;

}  // namespace

ArchiveFile::ArchiveFile(std::string path, common::UniqueFd fd, uint64_t size)
    : path_(std::move(path)), fd_(std::move(fd)), size_(size) {}

ArchiveFile::~ArchiveFile() {
  stop_ = true;
  if (preloader_.joinable()) preloader_.join();
}

bool ArchiveFile::StartPreload() {
  if (memory_ || size_ == 0) return memory_ != nullptr;
  try {
    memory_ = std::make_unique_for_overwrite<std::byte[]>(size_);
  } catch (const std::bad_alloc&) {
    return false;  // reads go to the file, as without a preload
  }
  preloader_ = std::thread([this] { PreloadAll(); });
  return true;
}

// Reads in file order; a failing read ends the preload there, and the random reads that follow
// meet the same failure and report it.
void ArchiveFile::PreloadAll() {
  posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t done = 0;
  while (done < size_ && !stop_.load(std::memory_order_relaxed)) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kPreloadChunk, size_ - done));
    ssize_t n = PreadFull(fd_.get(), memory_.get() + done, want, done);
    if (n <= 0) break;
    done += static_cast<uint64_t>(n);
    {
      std::lock_guard lock(mu_);
      loaded_.store(done, std::memory_order_release);
    }
    progress_.notify_all();
    if (static_cast<size_t>(n) < want) break;
  }
  {
    std::lock_guard lock(mu_);
    preload_ended_ = true;
  }
  progress_.notify_all();
}

Status ArchiveFile::ReadInFileOrder(uint64_t offset, std::byte* out, size_t len,
                                    size_t* got) const {
  if (memory_) {
    const uint64_t end = std::min<uint64_t>(offset + len, size_);
    std::unique_lock lock(mu_);
    progress_.wait(lock, [&] { return preload_ended_ || loaded_.load() >= end; });
  }
  return Read(offset, out, len, got);
}

Status ArchiveFile::Read(uint64_t offset, std::byte* out, size_t len, size_t* got) const {
  *got = 0;
  if (offset >= size_) return Status::Ok();
  len = static_cast<size_t>(std::min<uint64_t>(len, size_ - offset));
  if (memory_ && offset + len <= loaded_.load(std::memory_order_acquire)) {
    std::memcpy(out, memory_.get() + offset, len);
    *got = len;
    return Status::Ok();
  }
  ssize_t n = PreadFull(fd_.get(), out, len, offset);
  if (n < 0) return Status::FromErrno(path_ + ": read at byte " + std::to_string(offset), errno);
  *got = static_cast<size_t>(n);
  return Status::Ok();
}

double ArchiveFile::CachedFraction() const {
  if (size_ == 0) return 0;
  // A mapping that is never touched: mincore reads the page cache's state without any I/O.
  void* map = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_.get(), 0);
  if (map == MAP_FAILED) return 0;
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((size_ + page - 1) / page);
  double fraction = 0;
  if (mincore(map, size_, resident.data()) == 0) {
    size_t cached = 0;
    for (unsigned char r : resident) cached += r & 1;
    fraction = static_cast<double>(cached) / static_cast<double>(resident.size());
  }
  munmap(map, size_);
  return fraction;
}

void ArchiveFile::WillNeed(uint64_t offset, uint64_t len) const {
  if (memory_ && offset + len <= loaded_.load(std::memory_order_acquire)) return;
  posix_fadvise(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(len),
                POSIX_FADV_WILLNEED);
}

}  // namespace staging
