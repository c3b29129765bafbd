// Recycled host memory for batch tensors.
//
// A batch of 64 images at 224 px is 9.6 MB; allocated fresh for every batch, each of its 2,352
// pages is faulted in and zeroed by the kernel as the workers first write it, which costs more
// than the resize of the images in it on a virtual machine. The pool hands out tensors whose
// memory returns to the pool when the last tensor sharing it is destroyed (by the consumer,
// possibly after the loader is gone), so steady-state batches reuse pages already mapped.
#ifndef LOADER_SRC_BATCH_BUFFERS_H_
#define LOADER_SRC_BATCH_BUFFERS_H_

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <memory>

namespace loader {

class BatchBuffers {
 public:
  // Buffers of `bytes` bytes; at most `keep_idle` unused ones are kept, further returns are freed.
  BatchBuffers(size_t bytes, size_t keep_idle);
  ~BatchBuffers();
  BatchBuffers(const BatchBuffers&) = delete;
  BatchBuffers& operator=(const BatchBuffers&) = delete;

  // A uint8 tensor of shape `sizes` (at most `bytes` bytes) over a recycled or new buffer; its
  // contents are unspecified.
  at::Tensor take(at::IntArrayRef sizes);
  // Buffers currently idle in the pool (for tests).
  size_t idle() const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;  // also held by every tensor's deleter
};

}  // namespace loader

#endif  // LOADER_SRC_BATCH_BUFFERS_H_
