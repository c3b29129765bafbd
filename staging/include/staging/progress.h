// Progress of a staging or a pack, as the caller samples it.
#pragma once

#include <cstdint>
#include <functional>

namespace staging {

// Progress, sampled by the caller: totals so far. Called from a progress thread, never the
// hot path; must be thread-safe on the caller's side.
struct Progress {
  uint64_t source_bytes_done = 0;   // bytes read from the sources
  uint64_t source_bytes_total = 0;  // bytes of every source to stage
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint32_t archives_done = 0;
  uint32_t archives_total = 0;
};
using ProgressCallback = std::function<void(const Progress&)>;

}  // namespace staging
