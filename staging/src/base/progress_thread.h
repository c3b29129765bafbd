// Reports progress from a thread of its own: samples the caller's counters every interval and
// hands them to the callback, never on the hot path. Staging and `stage pack` share it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "staging/progress.h"

namespace staging {

class ProgressThread {
 public:
  // With no callback, does nothing. `final_report`: one last sample when it ends.
  ProgressThread(const ProgressCallback& callback, std::function<Progress()> sample,
                 std::chrono::milliseconds interval, bool final_report)
      : callback_(callback),
        sample_(std::move(sample)),
        interval_(interval),
        final_report_(final_report) {
    if (callback_) thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressThread() {
    if (!callback_) return;
    {
      std::lock_guard lock(mu_);
      done_ = true;
      cv_.notify_all();
    }
    thread_.join();
    if (final_report_) callback_(sample_());
  }
  ProgressThread(const ProgressThread&) = delete;
  ProgressThread& operator=(const ProgressThread&) = delete;

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [&] { return done_; })) {
      lock.unlock();
      callback_(sample_());
      lock.lock();
    }
  }

  const ProgressCallback& callback_;
  std::function<Progress()> sample_;
  std::chrono::milliseconds interval_;
  bool final_report_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace staging
