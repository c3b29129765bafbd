// A digest computed on a thread of its own: the bytes are copied into pooled blocks and hashed
// there, so that two digests of one download (SHA-256 and the MD5 a dataset site publishes) run
// on two cores instead of one after the other on the thread that receives the bytes. Memory is
// bounded by the pool: Update blocks when the hashing falls behind.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "base/digest.h"

namespace staging {

class DigestThread {
 public:
  explicit DigestThread(Digest::Algorithm algorithm);
  ~DigestThread();  // stops the thread; the digest is lost
  DigestThread(const DigestThread&) = delete;
  DigestThread& operator=(const DigestThread&) = delete;

  // Not thread-safe: one feeding thread.
  void Update(const void* data, size_t len);
  // Waits for every byte to be hashed. Call once, after the last Update.
  std::string HexDigest();

 private:
  void Push();

  Digest digest_;
  BlockPool pool_;
  BoundedQueue<BlockRef> queue_;
  BlockRef current_;
  std::thread thread_;
};

}  // namespace staging
