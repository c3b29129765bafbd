// For tests and fuzz targets of the decoders: runs a producer on its own thread, as the pipeline
// does, and collects the blocks it pushes, as the tar parser would consume them.
#pragma once

#include <string>
#include <thread>

#include "block.h"
#include "staging/status.h"

namespace staging_test {

// `produce(pool, queue)` pushes decoded blocks into `queue` and returns its status; the pool (for
// producers that need one) outlives every block still held here. The bytes go to `*out`.
template <typename Producer>
staging::Status CollectDecoded(Producer produce, std::string* out) {
  staging::BlockPool pool(6, 4 << 20);
  staging::BoundedQueue<staging::BlockRef> decoded(6);
  staging::Status status;
  std::thread producer([&] {
    status = produce(pool, decoded);
    status.ok() ? decoded.Close() : decoded.Fail();
  });
  out->clear();
  while (std::optional<staging::BlockRef> block = decoded.Pop()) {
    out->append(reinterpret_cast<const char*>((*block)->bytes()), (*block)->size);
  }
  producer.join();
  return status;
}

}  // namespace staging_test
