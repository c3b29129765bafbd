#include "loader/data_loader.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/from_blob.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "loader/decode.h"
#include "loader/transforms.h"
#include "test_util.h"

namespace loader {
namespace {

using loader_test::read_bytes;
using loader_test::TempDir;
using loader_test::test_image;
using loader_test::write_bytes;

// `count` JPEGs of assorted sizes named like Pets files, three classes.
std::vector<Sample> make_images(const TempDir& dir, int count, int base_size = 40) {
  const char* breeds[] = {"Bengal", "beagle", "pug"};
  for (int i = 0; i < count; ++i) {
    std::string name = std::string(breeds[i % 3]) + "_" + std::to_string(i) + ".jpg";
    write_bytes(dir.file(name), loader_test::jpeg_bytes(test_image(base_size + (i * 7) % 30,
                                                                   base_size + (i * 5) % 20, i)));
  }
  return label_images(dir.path(), pets_label).samples;
}

std::vector<Batch> whole_epoch(DataLoader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  while (std::optional<Batch> batch = loader.next()) batches.push_back(std::move(*batch));
  return batches;
}

LoaderOptions small_options(int threads) {
  LoaderOptions options;
  options.image_size = 24;
  options.batch_size = 8;
  options.threads = threads;
  return options;
}

TEST(DataLoader, SameBatchesForOneAndFourThreads) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 37);
  DataLoader one(samples, small_options(1)), four(samples, small_options(4));
  for (int64_t epoch : {0, 1}) {
    std::vector<Batch> a = whole_epoch(one, epoch), b = whole_epoch(four, epoch);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].sample_indices, b[i].sample_indices);
      EXPECT_TRUE(at::equal(a[i].images, b[i].images)) << "epoch " << epoch << " batch " << i;
      EXPECT_TRUE(at::equal(a[i].labels, b[i].labels));
    }
  }
}

TEST(DataLoader, EpochCoversEverySampleOnceAndKeepsPartialBatch) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 37);
  DataLoader loader(samples, small_options(2));
  EXPECT_EQ(loader.batches_per_epoch(), 5u);
  EXPECT_EQ(loader.samples(), 37u);
  std::vector<Batch> batches = whole_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 5u);
  EXPECT_EQ(batches.back().images.size(0), 5);
  std::multiset<size_t> seen;
  for (const Batch& batch : batches) {
    EXPECT_EQ(batch.images.dtype(), at::kByte);
    EXPECT_EQ(batch.images.sizes(), (std::vector<int64_t>{batch.images.size(0), 3, 24, 24}));
    EXPECT_EQ(batch.labels.dtype(), at::kLong);
    for (size_t i = 0; i < batch.sample_indices.size(); ++i) {
      seen.insert(batch.sample_indices[i]);
      EXPECT_EQ(batch.labels[i].item<int64_t>(), samples[batch.sample_indices[i]].label);
    }
  }
  EXPECT_EQ(seen.size(), 37u);
  EXPECT_EQ(std::set<size_t>(seen.begin(), seen.end()).size(), 37u);
}

TEST(DataLoader, ShuffleChangesWithEpochAndRepeatsWithSeed) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 30);
  DataLoader a(samples, small_options(2)), b(samples, small_options(2));
  auto order = [](const std::vector<Batch>& batches) {
    std::vector<size_t> all;
    for (const Batch& batch : batches) {
      all.insert(all.end(), batch.sample_indices.begin(), batch.sample_indices.end());
    }
    return all;
  };
  std::vector<size_t> a0 = order(whole_epoch(a, 0)), a1 = order(whole_epoch(a, 1));
  EXPECT_NE(a0, a1);
  EXPECT_EQ(order(whole_epoch(b, 1)), a1);
  EXPECT_EQ(order(whole_epoch(b, 0)), a0);
}

// Eval mode: in order and exactly the square squash of the decoded file.
TEST(DataLoader, EvalIsInOrderAndEqualsDirectResize) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 10);
  LoaderOptions options = small_options(2);
  options.mode = Mode::kEval;
  options.shuffle = false;
  DataLoader loader(samples, options);
  std::vector<Batch> batches = whole_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].sample_indices, (std::vector<size_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  for (size_t i : {0, 7}) {
    Decoded d = decode_image(read_bytes(samples[i].path));
    ASSERT_TRUE(d.ok());
    std::vector<uint8_t> planes(3 * 24 * 24);
    resize_to_planar_rgb(d.bgr, {0, 0, double(d.bgr.cols), double(d.bgr.rows)}, 24, 24,
                         planes.data());
    at::Tensor expected = at::from_blob(planes.data(), {3, 24, 24}, at::kByte);
    EXPECT_TRUE(at::equal(batches[0].images[int64_t(i)], expected)) << "sample " << i;
  }
}

TEST(DataLoader, CorruptAndTruncatedFilesAreSkippedCountedAndReportedOnce) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 12);
  std::vector<uint8_t> jpeg = read_bytes(samples[3].path);
  jpeg.resize(jpeg.size() / 2);
  loader_test::write_bytes(samples[3].path, jpeg);
  loader_test::write_bytes(samples[5].path, std::vector<uint8_t>(500, 0x42));
  DataLoader loader(samples, small_options(3));
  testing::internal::CaptureStderr();
  std::vector<Batch> e0 = whole_epoch(loader, 0), e1 = whole_epoch(loader, 1);
  std::string errors = testing::internal::GetCapturedStderr();
  for (const std::vector<Batch>* epoch : {&e0, &e1}) {
    size_t images = 0;
    for (const Batch& batch : *epoch) {
      images += batch.images.size(0);
      EXPECT_EQ(batch.images.size(0), int64_t(batch.sample_indices.size()));
      for (size_t index : batch.sample_indices) EXPECT_TRUE(index != 3 && index != 5);
    }
    EXPECT_EQ(images, 10u);
  }
  EXPECT_EQ(loader.stats().skipped, 4u);
  EXPECT_EQ(loader.stats().decoded, 20u);
  for (size_t bad : {3, 5}) {
    size_t first = errors.find(samples[bad].path);
    EXPECT_NE(first, std::string::npos) << errors;
    EXPECT_EQ(errors.find(samples[bad].path, first + 1), std::string::npos) << errors;
  }
}

TEST(DataLoader, BatchOfOnlyUnreadableFilesIsNotDelivered) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 3);
  samples.insert(samples.begin(), {{dir.file("missing_1.jpg"), 0}, {dir.file("missing_2.jpg"), 0}});
  LoaderOptions options = small_options(1);
  options.batch_size = 2;
  options.shuffle = false;
  DataLoader loader(samples, options);
  testing::internal::CaptureStderr();
  std::vector<Batch> batches = whole_epoch(loader, 0);
  testing::internal::GetCapturedStderr();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].sample_indices, (std::vector<size_t>{2, 3}));
  EXPECT_EQ(batches[1].sample_indices, (std::vector<size_t>{4}));
}

// With nobody consuming, the workers stop after filling prefetch_batches batches.
TEST(DataLoader, PrefetchBoundsBatchesHeld) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 40);
  LoaderOptions options = small_options(4);
  options.batch_size = 4;
  options.prefetch_batches = 2;
  DataLoader loader(samples, options);
  loader.start_epoch(0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (loader.stats().decoded < 8 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // room to overrun, were it able
  EXPECT_EQ(loader.stats().decoded, 8u);
  EXPECT_EQ(loader.stats().max_batches_held, 2u);
  size_t delivered = 0;
  while (std::optional<Batch> batch = loader.next()) delivered += batch->sample_indices.size();
  EXPECT_EQ(delivered, 40u);
  EXPECT_EQ(loader.stats().max_batches_held, 2u);
}

// Batch memory is recycled once the caller drops a batch, never while it holds one.
TEST(DataLoader, DroppedBatchMemoryIsReusedHeldBatchesStayIntact) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 50);
  LoaderOptions options = small_options(2);
  options.prefetch_batches = 1;
  DataLoader reference(samples, options), recycling(samples, options);
  std::vector<Batch> expected = whole_epoch(reference, 0);

  // Held: every batch of the epoch kept, each compared at the end with a copy taken on arrival.
  recycling.start_epoch(0);
  std::vector<Batch> held;
  std::vector<at::Tensor> copies;
  while (std::optional<Batch> batch = recycling.next()) {
    copies.push_back(batch->images.clone());
    held.push_back(std::move(*batch));
  }
  ASSERT_EQ(held.size(), expected.size());
  for (size_t i = 0; i < held.size(); ++i) {
    EXPECT_TRUE(at::equal(held[i].images, copies[i])) << "batch " << i << " was overwritten";
    EXPECT_TRUE(at::equal(held[i].images, expected[i].images)) << "batch " << i;
  }
  held.clear();

  // Dropped: batch 0's memory comes back for batch 1 or 2, and the contents are still right.
  recycling.start_epoch(0);
  std::optional<Batch> first = recycling.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_TRUE(at::equal(first->images, expected[0].images));
  const void* first_memory = first->images.data_ptr();
  first.reset();
  std::optional<Batch> second = recycling.next(), third = recycling.next();
  ASSERT_TRUE(second.has_value() && third.has_value());
  EXPECT_TRUE(at::equal(second->images, expected[1].images));
  EXPECT_TRUE(at::equal(third->images, expected[2].images));
  EXPECT_TRUE(second->images.data_ptr() == first_memory ||
              third->images.data_ptr() == first_memory);
}

// A batch may outlive its loader: its memory stays valid and is freed when the batch goes.
TEST(DataLoader, BatchOutlivesItsLoader) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 10);
  std::optional<Batch> kept;
  at::Tensor copy;
  {
    DataLoader loader(samples, small_options(2));
    loader.start_epoch(0);
    kept = loader.next();
    ASSERT_TRUE(kept.has_value());
    copy = kept->images.clone();
  }
  EXPECT_TRUE(at::equal(kept->images, copy));
  kept.reset();
}

TEST(DataLoader, NextBeforeAnyEpochIsEmpty) {
  TempDir dir;
  DataLoader loader(make_images(dir, 3), small_options(1));
  EXPECT_FALSE(loader.next().has_value());
}

TEST(DataLoader, StartEpochMidwayStartsAFullEpoch) {
  TempDir dir;
  DataLoader loader(make_images(dir, 30), small_options(2));
  loader.start_epoch(0);
  ASSERT_TRUE(loader.next().has_value());
  EXPECT_EQ(whole_epoch(loader, 0).size(), 4u);
}

// Decoding only the crop of each JPEG changes nothing in the batches; a PNG under a .jpg name
// goes through the whole-image path of the same option.
TEST(DataLoader, PartialDecodeGivesTheSameBatchesAsWholeDecode) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 14, 90);
  write_bytes(dir.file("pug_99.jpg"), loader_test::png_bytes(test_image(70, 50, 99)));
  samples = label_images(dir.path(), pets_label).samples;
  LoaderOptions options = small_options(2);
  DataLoader partial(samples, options);
  options.partial_decode = false;
  DataLoader whole(samples, options);
  for (int64_t epoch : {0, 1, 2}) {
    std::vector<Batch> a = whole_epoch(partial, epoch), b = whole_epoch(whole, epoch);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].sample_indices, b[i].sample_indices);
      EXPECT_TRUE(at::equal(a[i].images, b[i].images)) << "epoch " << epoch << " batch " << i;
    }
  }
  EXPECT_EQ(partial.stats().skipped, 0u);
  // The path under test ran: JPEGs decoded only around their crops, and none with it off.
  EXPECT_GT(partial.stats().partial_decodes, 0u);
  EXPECT_LE(partial.stats().partial_decodes, 3u * 14u) << "the PNG is never decoded in part";
  EXPECT_EQ(whole.stats().partial_decodes, 0u);
}

// DCT-scaled decoding when the crop is shrunk a lot: a different low-pass, close to the full path.
TEST(DataLoader, ReducedDecodeStaysCloseToFullDecode) {
  TempDir dir;
  std::vector<Sample> samples = make_images(dir, 8, 400);
  LoaderOptions options = small_options(2);
  options.image_size = 64;
  DataLoader full(samples, options);
  options.reduced_decode = true;
  DataLoader reduced(samples, options);
  std::vector<Batch> a = whole_epoch(full, 0), b = whole_epoch(reduced, 0);
  ASSERT_EQ(a.size(), b.size());
  at::Tensor diff = (a[0].images.to(at::kFloat) - b[0].images.to(at::kFloat)).abs();
  EXPECT_FALSE(at::equal(a[0].images, b[0].images));
  EXPECT_LT(diff.mean().item<double>(), 4.0);
}

}  // namespace
}  // namespace loader
