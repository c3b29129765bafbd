// Data-parallel sharding of an epoch, as HF accelerate shards a DataLoader across processes
// (BatchSamplerShard with split_batches=False and even_batches=True).
#ifndef LOADER_SHARD_H_
#define LOADER_SHARD_H_

#include <cstddef>
#include <vector>

namespace loader {

// The epoch order cut into batches of `batch_size`, batch b going to rank b % ranks. With more
// than one rank every rank gets the same number of full batches: the last, uneven ones are
// completed with samples taken again from the start of the order (accelerate's even_batches),
// so some samples are seen twice. One rank keeps the order as is, its last batch partial.
// Returns the positions of `order` that `rank` trains on, its batches one after the other.
std::vector<size_t> shard_order(const std::vector<size_t>& order, size_t batch_size, size_t rank,
                                size_t ranks);

// The length of shard_order() for an order of n samples (the same for every rank).
size_t shard_size(size_t n, size_t batch_size, size_t ranks);

}  // namespace loader

#endif  // LOADER_SHARD_H_
