#include "base/block.h"

#include <utility>

namespace staging {

BlockRef::BlockRef(Block* block) : block_(block) {
  if (block_) block_->refs.fetch_add(1, std::memory_order_relaxed);
}
BlockRef::BlockRef(const BlockRef& other) : BlockRef(other.block_) {}
BlockRef::BlockRef(BlockRef&& other) noexcept : block_(std::exchange(other.block_, nullptr)) {}
BlockRef& BlockRef::operator=(BlockRef other) noexcept {
  std::swap(block_, other.block_);
  return *this;
}
BlockRef::~BlockRef() { reset(); }

void BlockRef::reset() {
  Block* block = std::exchange(block_, nullptr);
  if (block && block->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    block->pool->Release(block);
}

BlockPool::BlockPool(size_t count, size_t block_size) : block_size_(block_size) {
  for (size_t i = 0; i < count; ++i) {
    auto block = std::make_unique<Block>();
    block->buffer = std::make_unique_for_overwrite<std::byte[]>(block_size);
    block->data = block->buffer.get();
    block->capacity = block_size;
    block->pool = this;
    free_.push_back(block.get());
    blocks_.push_back(std::move(block));
  }
}

BlockRef BlockPool::TakeLocked() {
  Block* block = free_.back();
  free_.pop_back();
  block->begin = 0;
  block->size = 0;
  block->offset = 0;
  return BlockRef(block);
}

BlockRef BlockPool::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !free_.empty() || closed_; });
  if (closed_) return BlockRef();
  return TakeLocked();
}

std::optional<BlockRef> BlockPool::TryAcquire() {
  std::lock_guard lock(mu_);
  if (free_.empty() || closed_) return std::nullopt;
  return TakeLocked();
}

void BlockPool::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  cv_.notify_all();
}

void BlockPool::Release(Block* block) {
  // Outside the lock: dropping a view may unmap memory, which takes a while.
  if (block->view) {
    block->view.reset();
    block->data = block->buffer.get();
  }
  std::lock_guard lock(mu_);
  free_.push_back(block);
  cv_.notify_one();
}

}  // namespace staging
