// The bounded queue between two pipeline stages.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace staging {

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
