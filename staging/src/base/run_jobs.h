// Runs independent jobs on a few threads, handed out in order.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace staging {

// Calls job(i) for every i in [0, count), on up to `threads` threads (<= 0: one per core), each
// thread taking the next i. A job that returns false stops the handing out of further jobs, as
// does `stop()` (checked before each one); jobs already running finish.
inline void RunJobs(size_t count, int threads, const std::function<bool(size_t)>& job,
                    const std::function<bool()>& stop) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min(threads, static_cast<int>(count)));
  std::mutex mu;
  size_t next = 0;
  bool stopped = false;
  auto worker = [&] {
    while (true) {
      size_t index;
      {
        std::lock_guard lock(mu);
        if (stopped || next >= count || stop()) return;
        index = next++;
      }
      if (!job(index)) {
        std::lock_guard lock(mu);
        stopped = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
}

}  // namespace staging
