// For tests and fuzz targets of the decoders: runs a producer on its own thread, as the pipeline
// does, and collects the blocks it pushes, as the tar parser would consume them.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>

#include "base/block.h"
#include "base/bounded_queue.h"
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

// As CollectDecoded, for decoders that take the source's blocks in order as the pipeline's reader
// hands them out: `decode(in, out)`. The file `fd` is read in blocks of `block_size` bytes, an
// odd size by default, so that spans a decoder needs cross block boundaries anywhere. The pool
// holds 6 blocks, and more when they are small, as the pipeline's 4 MiB blocks cover far more.
template <typename Decoder>
staging::Status CollectDecodedFromFile(int fd, Decoder decode, std::string* out,
                                       size_t block_size = (1 << 20) + 7) {
  staging::BlockPool source_pool(std::max<size_t>(6, 4 + (256 << 10) / block_size), block_size);
  staging::BoundedQueue<staging::BlockRef> in(6);
  std::thread reader([&] {
    uint64_t offset = 0;
    while (true) {
      staging::BlockRef block = source_pool.Acquire();
      if (!block) break;
      ssize_t n = pread(fd, block->data, block->capacity, static_cast<off_t>(offset));
      if (n <= 0) {
        n < 0 ? in.Fail() : in.Close();
        break;
      }
      block->size = static_cast<size_t>(n);
      block->offset = offset;
      offset += static_cast<uint64_t>(n);
      if (!in.Push(std::move(block))) break;
    }
  });
  staging::Status status = CollectDecoded(
      [&](staging::BlockPool&, staging::BoundedQueue<staging::BlockRef>& decoded) {
        staging::Status decoded_status = decode(in, decoded);
        in.Fail();  // stops the reader wherever the decoder left it
        return decoded_status;
      },
      out);
  source_pool.Close();
  reader.join();
  return status;
}

}  // namespace staging_test
