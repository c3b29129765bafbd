// Restart points inside a gzip stream, so that a later staging of the same archive can inflate
// chunks in parallel. A restart point is ISA-L's whole decoder state at a known compressed and
// decoded offset, plus the 32 KiB of output before it (the window back-references may reach).
#pragma once

#include <isa-l/igzip_lib.h>

#include <cstdint>
#include <string>

namespace staging {

inline constexpr size_t kDeflateWindow = 32 * 1024;

// Receives restart points while a gzip stream is decoded sequentially.
class RestartPointSink {
 public:
  virtual ~RestartPointSink() = default;
  // `window_end` points just past the last decoded byte; the kDeflateWindow bytes before it are
  // valid for the duration of the call.
  virtual void Offer(const inflate_state& state, uint64_t compressed_offset,
                     uint64_t decoded_offset, const std::byte* window_end) = 0;
  // The stream cannot be indexed (e.g. several gzip members); drop what was recorded.
  virtual void Abandon(const std::string& why) = 0;
};

}  // namespace staging
