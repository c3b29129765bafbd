#include "loader/shard.h"

#include <algorithm>

namespace loader {
namespace {

size_t round_up(size_t value, size_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

}  // namespace

size_t shard_size(size_t n, size_t batch_size, size_t ranks) {
  if (ranks <= 1) return n;
  if (n == 0) return 0;
  const size_t batches = (n + batch_size - 1) / batch_size;
  return round_up(batches, ranks) / ranks * batch_size;
}

std::vector<size_t> shard_order(const std::vector<size_t>& order, size_t batch_size, size_t rank,
                                size_t ranks) {
  if (ranks <= 1) return order;
  const size_t n = order.size();
  // accelerate fills the gap from the samples of the first `ranks` batches, over and over.
  const size_t wrap = std::min(n, ranks * batch_size);
  std::vector<size_t> shard;
  shard.reserve(shard_size(n, batch_size, ranks));
  const size_t total_batches = shard_size(n, batch_size, ranks) / batch_size * ranks;
  for (size_t batch = rank; batch < total_batches; batch += ranks) {
    for (size_t k = batch * batch_size; k < (batch + 1) * batch_size; ++k) {
      shard.push_back(k < n ? order[k] : order[(k - n) % wrap]);
    }
  }
  return shard;
}

}  // namespace loader
