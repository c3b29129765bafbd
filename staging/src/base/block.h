// Blocks: large reusable buffers that carry bytes between the pipeline's stages. A block returns to
// its pool when its last reference goes, so a write still in flight keeps its bytes alive without a
// copy. A block may instead lend memory it does not own (a mapped window of the source file): its
// view keeps that memory alive until the block goes back to the pool.
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

// Memory a block lends instead of its own buffer; destroyed when the block returns to its pool.
struct BlockView {
  virtual ~BlockView() = default;
};

struct Block {
  std::unique_ptr<std::byte[]> buffer;  // the pool's memory for this block, `capacity` bytes
  // The block's memory: `buffer`, or, with a `view`, memory the view keeps alive (read-only).
  std::byte* data = nullptr;
  std::unique_ptr<BlockView> view;
  size_t capacity = 0;
  size_t begin = 0;     // the valid bytes are data[begin, begin + size)
  size_t size = 0;      // valid bytes
  uint64_t offset = 0;  // position of the first valid byte in the stream it came from
  std::atomic<int> refs{0};
  BlockPool* pool = nullptr;

  std::byte* bytes() const { return data + begin; }
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

}  // namespace staging
