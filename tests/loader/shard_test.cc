// Sharding an epoch across data-parallel ranks, checked against what accelerate's
// BatchSamplerShard (even_batches=True) yields for the same order.
#include "loader/shard.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <vector>

namespace {

using Positions = std::vector<size_t>;

Positions iota(size_t n) {
  Positions order(n);
  std::iota(order.begin(), order.end(), 0);
  return order;
}

TEST(ShardTest, OneRankKeepsTheOrderAndItsPartialLastBatch) {
  EXPECT_EQ(loader::shard_order(iota(10), 4, 0, 1), iota(10));
  EXPECT_EQ(loader::shard_size(10, 4, 1), 10u);
}

TEST(ShardTest, BatchesGoRoundRobinWhenTheyDivideEvenly) {
  // 16 samples, batch 4, 2 ranks: batches 0 and 2 to rank 0, 1 and 3 to rank 1.
  EXPECT_EQ(loader::shard_order(iota(16), 4, 0, 2), (Positions{0, 1, 2, 3, 8, 9, 10, 11}));
  EXPECT_EQ(loader::shard_order(iota(16), 4, 1, 2), (Positions{4, 5, 6, 7, 12, 13, 14, 15}));
}

// 10 samples, batch 3, 2 ranks: batches [0 1 2] [3 4 5] [6 7 8] [9], the last one completed
// from the start of the order as [9 0 1].
TEST(ShardTest, UnevenLastBatchesWrapAroundToTheStart) {
  EXPECT_EQ(loader::shard_order(iota(10), 3, 0, 2), (Positions{0, 1, 2, 6, 7, 8}));
  EXPECT_EQ(loader::shard_order(iota(10), 3, 1, 2), (Positions{3, 4, 5, 9, 0, 1}));
  EXPECT_EQ(loader::shard_size(10, 3, 2), 6u);
  // 11 samples, batch 3: four batches, the last [9 10] completed to [9 10 0].
  EXPECT_EQ(loader::shard_order(iota(11), 3, 1, 2), (Positions{3, 4, 5, 9, 10, 0}));
  // 7 samples, batch 3, 2 ranks: [0 1 2] [3 4 5] [6 0 1] [2 3 4].
  EXPECT_EQ(loader::shard_order(iota(7), 3, 0, 2), (Positions{0, 1, 2, 6, 0, 1}));
  EXPECT_EQ(loader::shard_order(iota(7), 3, 1, 2), (Positions{3, 4, 5, 2, 3, 4}));
}

TEST(ShardTest, FewerSamplesThanOneRoundCycleThroughThemAgain) {
  // 2 samples, batch 2, 3 ranks: each rank one full batch of the two samples, cycled.
  EXPECT_EQ(loader::shard_order(iota(2), 2, 0, 3), (Positions{0, 1}));
  EXPECT_EQ(loader::shard_order(iota(2), 2, 1, 3), (Positions{0, 1}));
  EXPECT_EQ(loader::shard_order(iota(2), 2, 2, 3), (Positions{0, 1}));
}

TEST(ShardTest, EveryRankGetsAsManyFullBatchesAndEverySampleIsSeen) {
  const Positions order = {7, 3, 9, 0, 5, 1, 8, 2, 6, 4, 11, 10, 12};
  for (size_t ranks : {2u, 3u, 4u, 5u}) {
    for (size_t batch : {1u, 2u, 3u, 5u}) {
      std::map<size_t, int> seen;
      for (size_t rank = 0; rank < ranks; ++rank) {
        const Positions shard = loader::shard_order(order, batch, rank, ranks);
        EXPECT_EQ(shard.size(), loader::shard_size(order.size(), batch, ranks));
        EXPECT_EQ(shard.size() % batch, 0u);
        for (size_t sample : shard) ++seen[sample];
      }
      EXPECT_EQ(seen.size(), order.size()) << ranks << " ranks, batch " << batch;
    }
  }
}

}  // namespace
