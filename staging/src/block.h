// Blocks: large reusable buffers that carry bytes between the pipeline's stages, and the bounded
// queue between two stages. A block returns to its pool when its last reference goes, so a write
// still in flight keeps its bytes alive without a copy.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace staging {

class BlockPool;

struct Block {
  std::unique_ptr<std::byte[]> data;
  size_t capacity = 0;
  size_t begin = 0;     // the valid bytes are data[begin, begin + size)
  size_t size = 0;      // valid bytes
  uint64_t offset = 0;  // position of the first valid byte in the stream it came from
  std::atomic<int> refs{0};
  BlockPool* pool = nullptr;

  std::byte* bytes() const { return data.get() + begin; }
};

// A counted reference to a pooled block; the block goes back to the pool with the last one.
class BlockRef {
 public:
  BlockRef() = default;
  explicit BlockRef(Block* block);
  BlockRef(const BlockRef& other);
  BlockRef(BlockRef&& other) noexcept;
  BlockRef& operator=(BlockRef other) noexcept;
  ~BlockRef();

  Block* get() const { return block_; }
  Block* operator->() const { return block_; }
  explicit operator bool() const { return block_ != nullptr; }
  void reset();

 private:
  Block* block_ = nullptr;
};

// A fixed set of equal blocks; Acquire blocks while all are in use, which bounds memory and
// gives back-pressure. Thread-safe.
class BlockPool {
 public:
  BlockPool(size_t count, size_t block_size);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  BlockRef Acquire();  // waits for a free block
  std::optional<BlockRef> TryAcquire();
  size_t block_size() const { return block_size_; }
  // Wakes every waiter in Acquire and makes it return an empty ref (used on abort).
  void Close();

 private:
  friend class BlockRef;
  void Release(Block* block);
  BlockRef TakeLocked();  // a free block, emptied; under mu_ with free_ not empty

  size_t block_size_;
  std::vector<std::unique_ptr<Block>> blocks_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Block*> free_;
  bool closed_ = false;
};

// A bounded FIFO between two pipeline stages. Close() ends the stream: Pop returns nullopt once
// drained. Fail() stops it at once for both sides. Thread-safe.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  // False when the queue was failed (the item is dropped).
  bool Push(T item) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_ || failed_; });
    if (failed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }
  std::optional<T> Pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_ || failed_; });
    return TakeLocked();
  }
  std::optional<T> TryPop() {
    std::lock_guard lock(mu_);
    return TakeLocked();
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }
  void Fail() {
    std::lock_guard lock(mu_);
    failed_ = true;
    items_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  bool finished() {
    std::lock_guard lock(mu_);
    return failed_ || (closed_ && items_.empty());
  }
  bool failed() {
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  std::optional<T> TakeLocked() {
    if (failed_ || items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<T> items_;
  bool closed_ = false;
  bool failed_ = false;
};

}  // namespace staging
