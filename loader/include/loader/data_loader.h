// Batches of decoded, transformed images for training and evaluation, made by a pool of threads
// ahead of the consumer.
#ifndef LOADER_DATA_LOADER_H_
#define LOADER_DATA_LOADER_H_

// The tensor type alone: <torch/torch.h> costs every file that includes this one ~15 s to compile.
#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "loader/dataset.h"
#include "loader/sample_store.h"

namespace loader {

enum class Mode {
  kTrain,  // RandomResizedCrop(image_size, scale=(0.5, 1), ratio=(3/4, 4/3)), see transforms.h
  kEval,   // Resize((image_size, image_size)): a square squash, no crop
};

struct LoaderOptions {
  int image_size = 224;
  int batch_size = 64;
  int threads = 2;           // decoding threads, at least 1
  int prefetch_batches = 4;  // batches being made or ready, at most; at least 1
  bool shuffle = true;       // a new order each epoch, from (seed, epoch)
  uint64_t seed = 42;
  Mode mode = Mode::kTrain;
  bool pin_memory = false;  // page-locked batches, honoured only when CUDA is available
  // Decode a JPEG at 1/2, 1/4 or 1/8 size by DCT scaling when the crop is shrunk at least that
  // much anyway, so the resize still shrinks. Faster, with pixel values slightly different from
  // PIL's full-size decode (bench/RESULTS.md has the measured difference).
  bool reduced_decode = false;
  // Training: decode a JPEG's crop alone (its rows, and its columns to the JPEG's block grid),
  // the crop being drawn from the header's size first. Same pixels as a full decode, less work;
  // off decodes every image whole (kept to compare the two).
  bool partial_decode = true;
  // Samples are read from here by their key when set (an archive read in place), else from
  // their paths.
  std::shared_ptr<const SampleStore> store;
  // Data-parallel training: deliver only rank shard_rank's share of each epoch, out of
  // shard_count ranks, as loader::shard_order() describes (shard.h). Crops still depend on
  // (seed, epoch, sample index) alone, so a sample looks the same on whichever rank reads it.
  int shard_rank = 0;
  int shard_count = 1;
};

struct Batch {
  at::Tensor images;  // uint8 [N, 3, image_size, image_size], RGB; pinned if asked and possible
  at::Tensor labels;  // int64 [N]
  std::vector<size_t> sample_indices;  // positions in the loader's samples, one per image
};

struct LoaderStats {
  uint64_t decoded = 0;  // samples delivered since construction
  uint64_t skipped = 0;  // samples that could not be read or decoded (each counted every epoch)
  uint64_t partial_decodes =
      0;                        // of the decoded, those whose JPEG was decoded only around its crop
  double wait_seconds = 0;      // time next() spent waiting for a batch
  size_t max_batches_held = 0;  // most batches allocated by the loader at once (<= prefetch)
};

// Delivers one epoch at a time: start_epoch(e), then next() until it returns nullopt.
// Batch b of an epoch holds the samples at positions [b * batch_size, (b + 1) * batch_size) of
// the epoch's order (the last batch may be partial). A sample that cannot be read or decoded is
// left out, so its batch is one image shorter; it is reported on stderr the first time, by name.
// A batch left empty that way is not delivered. A sample the SampleStore cannot read is not a bad
// sample but a bad archive: it ends the delivery and error() says why. Each sample's crop comes
// from (seed, epoch, sample index) alone, so the batches are identical for any number of threads.
// Memory: the loader holds at most prefetch_batches batches (being made or ready); a batch
// returned by next() belongs to the caller. Unpinned batch memory is recycled: when the caller
// drops a batch its buffer goes back to the loader, which keeps up to prefetch_batches idle
// buffers for the batches to come (so no more than 2 x prefetch_batches full-size buffers plus
// those the caller holds). Not thread-safe: one consumer thread.
class DataLoader {
 public:
  DataLoader(std::vector<Sample> samples, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Starts epoch `epoch`, abandoning what remains of the current one.
  void start_epoch(int64_t epoch);
  // The epoch's next batch, in order; nullopt at the end of the epoch or before any start_epoch.
  std::optional<Batch> next();
  size_t batches_per_epoch() const;
  size_t samples() const;
  LoaderStats stats() const;
  // The store's first read error (an archive damaged, changed or unreadable: one line naming it
  // and the member), after which next() delivers nothing more; "" while there is none.
  std::string error() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loader

#endif  // LOADER_DATA_LOADER_H_
