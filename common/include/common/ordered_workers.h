// Work out of order, emit in order: items submitted one by one are worked on by a pool of
// threads in any order and handed on one by one in submission order, with a bounded number in
// flight. Used wherever staging or its tools parallelise a stream (indexed gzip chunks, packed
// zstd frames, `stage pack`'s compression, make_pets' images).
//
// Errors stay with the caller: `work` records any failure in the item itself, `emit` sees the
// items in order and returns false to stop everything (so the failure reported is the first in
// stream order, after every item before it was emitted whole).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace common {

template <typename Item>
class OrderedWorkers {
 public:
  // `work(item)` runs on `threads` threads; `emit(item)` on one thread of its own, in
  // submission order; at most `window` items are between Submit and the end of their emit.
  OrderedWorkers(int threads, size_t window, std::function<void(Item&)> work,
                 std::function<bool(Item&)> emit)
      : window_(window < 1 ? 1 : window), work_(std::move(work)), emit_(std::move(emit)) {
    for (int i = 0; i < (threads < 1 ? 1 : threads); ++i) workers_.emplace_back([this] { Work(); });
    emitter_ = std::thread([this] { Emit(); });
  }

  ~OrderedWorkers() {
    Cancel();
    Join();
  }

  OrderedWorkers(const OrderedWorkers&) = delete;
  OrderedWorkers& operator=(const OrderedWorkers&) = delete;

  // Queues `item`, waiting while `window` items are in flight. False once stopped: an emit
  // returned false, or Cancel was called; the item is dropped.
  bool Submit(Item item) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return stopped_ || submitted_ < emitted_ + window_; });
    if (stopped_) return false;
    todo_.emplace_back(submitted_++, std::move(item));
    changed_.notify_all();
    return true;
  }

  // Waits until every submitted item was emitted, then ends the threads. True when all were
  // emitted, false when the run stopped first.
  bool Finish() {
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return stopped_ || emitted_ == submitted_; });
      if (!stopped_) finished_ = true;
      stopped_ = true;
      changed_.notify_all();
    }
    Join();
    return finished_;
  }

  // Stops at once: items not yet emitted are dropped, Submit and Finish return false. A `work`
  // blocked on something of the caller's (a buffer pool) must be woken by the caller.
  void Cancel() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    changed_.notify_all();
  }

 private:
  void Work() {
    std::unique_lock lock(mu_);
    while (true) {
      changed_.wait(lock, [&] { return stopped_ || !todo_.empty(); });
      if (stopped_) return;
      std::pair<uint64_t, Item> next = std::move(todo_.front());
      todo_.pop_front();
      lock.unlock();
      work_(next.second);
      lock.lock();
      done_.emplace(next.first, std::move(next.second));
      changed_.notify_all();
    }
  }

  void Emit() {
    std::unique_lock lock(mu_);
    while (true) {
      changed_.wait(lock, [&] { return stopped_ || done_.count(emitted_) > 0; });
      if (stopped_) return;
      auto it = done_.find(emitted_);
      Item item = std::move(it->second);
      done_.erase(it);
      lock.unlock();
      const bool go_on = emit_(item);
      lock.lock();
      if (!go_on) stopped_ = true;
      ++emitted_;
      changed_.notify_all();
    }
  }

  void Join() {
    for (std::thread& t : workers_) {
      if (t.joinable()) t.join();
    }
    if (emitter_.joinable()) emitter_.join();
  }

  const size_t window_;
  std::function<void(Item&)> work_;
  std::function<bool(Item&)> emit_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::pair<uint64_t, Item>> todo_;  // submitted, waiting for a worker
  std::map<uint64_t, Item> done_;               // worked, waiting for their turn
  uint64_t submitted_ = 0, emitted_ = 0;
  bool stopped_ = false, finished_ = false;
  std::vector<std::thread> workers_;
  std::thread emitter_;
};

}  // namespace common
