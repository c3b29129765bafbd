#include "fetch/digest_thread.h"

#include <algorithm>
#include <cstring>

namespace staging {
namespace {

constexpr size_t kBlockBytes = 1 << 20;
constexpr size_t kBlocks = 8;

}  // namespace

DigestThread::DigestThread(Digest::Algorithm algorithm)
    : digest_(algorithm), pool_(kBlocks, kBlockBytes), queue_(kBlocks) {
  thread_ = std::thread([this] {
    while (std::optional<BlockRef> block = queue_.Pop()) {
      digest_.Update((*block)->bytes(), (*block)->size);
    }
  });
}

DigestThread::~DigestThread() {
  if (!thread_.joinable()) return;
  current_.reset();
  queue_.Fail();
  thread_.join();
}

void DigestThread::Update(const void* data, size_t len) {
  const auto* bytes = static_cast<const std::byte*>(data);
  while (len > 0) {
    if (!current_) current_ = pool_.Acquire();
    const size_t n = std::min(len, current_->capacity - current_->size);
    std::memcpy(current_->data + current_->size, bytes, n);
    current_->size += n;
    bytes += n;
    len -= n;
    if (current_->size == current_->capacity) Push();
  }
}

void DigestThread::Push() {
  if (current_ && current_->size > 0) queue_.Push(std::move(current_));
  current_.reset();
}

std::string DigestThread::HexDigest() {
  Push();
  queue_.Close();
  thread_.join();
  return digest_.HexDigest();
}

}  // namespace staging
