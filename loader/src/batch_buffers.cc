#include "batch_buffers.h"

#include <ATen/ops/from_blob.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <vector>

namespace loader {

struct BatchBuffers::Shared {
  size_t bytes;
  size_t keep_idle;
  std::mutex mu;
  std::vector<void*> idle;

  ~Shared() {
    for (void* buffer : idle) std::free(buffer);
  }
  void give_back(void* buffer) {
    {
      std::lock_guard lock(mu);
      if (idle.size() < keep_idle) {
        idle.push_back(buffer);
        return;
      }
    }
    std::free(buffer);
  }
};

BatchBuffers::BatchBuffers(size_t bytes, size_t keep_idle) : shared_(std::make_shared<Shared>()) {
  shared_->bytes = bytes;
  shared_->keep_idle = keep_idle;
}

BatchBuffers::~BatchBuffers() = default;

at::Tensor BatchBuffers::take(at::IntArrayRef sizes) {
  size_t wanted = 1;
  for (int64_t size : sizes) wanted *= static_cast<size_t>(size);
  if (wanted > shared_->bytes) throw std::invalid_argument("batch larger than its buffers");
  void* buffer = nullptr;
  {
    std::lock_guard lock(shared_->mu);
    if (!shared_->idle.empty()) {
      buffer = shared_->idle.back();
      shared_->idle.pop_back();
    }
  }
  if (buffer == nullptr) {
    // 64-byte alignment, as LibTorch's own CPU allocator gives.
    size_t rounded = (shared_->bytes + 63) / 64 * 64;
    buffer = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
    if (buffer == nullptr) throw std::bad_alloc();
  }
  std::shared_ptr<Shared> shared = shared_;
  return at::from_blob(
      buffer, sizes, [shared](void* p) { shared->give_back(p); },
      at::TensorOptions().dtype(at::kByte));
}

size_t BatchBuffers::idle() const {
  std::lock_guard lock(shared_->mu);
  return shared_->idle.size();
}

}  // namespace loader
