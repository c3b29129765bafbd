#include "loader/data_loader.h"

#include <ATen/ops/empty.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>

#include "batch_buffers.h"
#include "loader/decode.h"
#include "loader/shard.h"
#include "loader/transforms.h"

namespace loader {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A generator that depends on (seed, epoch, index) only: a counter-based hash chain, so any
// thread may make any sample and get the same draws.
std::mt19937_64 generator_for(uint64_t seed, int64_t epoch, uint64_t index) {
  uint64_t state = splitmix64(seed);
  state = splitmix64(state ^ static_cast<uint64_t>(epoch));
  state = splitmix64(state ^ index);
  return std::mt19937_64(state);
}

// Fisher-Yates with our own bounded draw, so the order is the same on every platform.
std::vector<size_t> epoch_order(size_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  if (!shuffle) return order;
  std::mt19937_64 rng = generator_for(seed, epoch, UINT64_MAX);
  for (size_t i = n; i > 1; --i) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % i;
    uint64_t value;
    do {
      value = rng();
    } while (value >= limit);
    std::swap(order[i - 1], order[value % i]);
  }
  return order;
}

// The largest DCT scale-down that still leaves at least `size` pixels on each side of `rect`, so
// the final resize still shrinks and stays antialiased.
int reduction_for(const cv::Rect& rect, int size) {
  for (int reduce : {8, 4, 2}) {
    if (rect.width / reduce >= size && rect.height / reduce >= size) return reduce;
  }
  return 1;
}

// Resizes `rect` (in full-size pixel coordinates, `full` being the full size) of `image`, which
// may have been decoded at a reduced size.
void resize_rect(const cv::Mat& image, const cv::Size& full, const cv::Rect& rect, int size,
                 uint8_t* out) {
  if (image.size() == full) {
    cv::Mat view = image(rect);
    resize_to_planar_rgb(view, {0, 0, double(view.cols), double(view.rows)}, size, size, out);
    return;
  }
  double sx = double(image.cols) / full.width, sy = double(image.rows) / full.height;
  Region region{rect.x * sx, rect.y * sy, (rect.x + rect.width) * sx, (rect.y + rect.height) * sy};
  int x0 = std::max(int(std::floor(region.left)), 0);
  int y0 = std::max(int(std::floor(region.top)), 0);
  int x1 = std::min(int(std::ceil(region.right)), image.cols);
  int y1 = std::min(int(std::ceil(region.bottom)), image.rows);
  cv::Mat view = image(cv::Rect(x0, y0, x1 - x0, y1 - y0));
  Region inside{region.left - x0, region.top - y0, std::min(region.right, double(x1)) - x0,
                std::min(region.bottom, double(y1)) - y0};
  resize_to_planar_rgb(view, inside, size, size, out);
}

}  // namespace

class DataLoader::Impl {
 public:
  Impl(std::vector<Sample> samples, LoaderOptions options);
  ~Impl();
  void start_epoch(int64_t epoch);
  std::optional<Batch> next();
  size_t batches_per_epoch() const {
    const size_t size = shard_size(samples_.size(), options_.batch_size, options_.shard_count);
    return (size + options_.batch_size - 1) / options_.batch_size;
  }
  size_t samples() const { return samples_.size(); }
  LoaderStats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }
  std::string error() const {
    std::lock_guard lock(mu_);
    return failure_;
  }

 private:
  // A batch being made: workers fill its slots, the consumer takes it once none remain.
  struct Job {
    at::Tensor images;
    std::vector<size_t> indices;
    std::vector<uint8_t> ok;
    size_t remaining;
  };

  bool can_take_task() const {
    return next_task_ < order_.size() && (next_task_ % options_.batch_size != 0 ||
                                          jobs_.size() < size_t(options_.prefetch_batches));
  }
  void work();
  // Decodes and transforms one sample into `out`; returns false (after reporting) on failure.
  bool make_sample(size_t index, int64_t epoch, uint8_t* out, std::vector<uint8_t>* bytes);
  // `*partial_decode`: set when the JPEG was decoded only around its crop.
  std::string transform(size_t index, int64_t epoch, std::span<const uint8_t> bytes, uint8_t* out,
                        bool* partial_decode);
  Batch assemble(Job& job) const;
  // Lets the store start reading a new batch's samples at once, in file order.
  void announce_reads(const Job& job) const {
    std::vector<uint64_t> keys;
    keys.reserve(job.indices.size());
    for (size_t index : job.indices) keys.push_back(samples_[index].key);
    options_.store->will_read(keys);
  }

  const std::vector<Sample> samples_;
  const LoaderOptions options_;
  const size_t image_bytes_;
  const bool pin_;
  // Unpinned batches come from here; pinned ones from LibTorch's caching host allocator, which
  // already reuses its blocks.
  BatchBuffers buffers_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // workers: a task may be available, or stop
  std::condition_variable ready_cv_;  // consumer: a batch completed
  std::condition_variable idle_cv_;   // start_epoch: no task in progress
  bool stopping_ = false;
  int64_t epoch_ = -1;
  std::vector<size_t> order_;
  size_t next_task_ = 0;                   // position in order_ of the next sample to make
  size_t next_batch_ = 0;                  // the next batch to deliver
  size_t busy_ = 0;                        // tasks in progress
  std::deque<std::unique_ptr<Job>> jobs_;  // allocated batches, front = next_batch_
  std::unordered_set<size_t> reported_;
  std::string failure_;  // a SampleStore's read error: it ends the loader's delivery
  LoaderStats stats_;
  std::vector<std::thread> workers_;
};

DataLoader::Impl::Impl(std::vector<Sample> samples, LoaderOptions options)
    : samples_(std::move(samples)),
      options_([&] {
        options.image_size = std::max(options.image_size, 1);
        options.batch_size = std::max(options.batch_size, 1);
        options.threads = std::max(options.threads, 1);
        options.prefetch_batches = std::max(options.prefetch_batches, 1);
        options.shard_count = std::max(options.shard_count, 1);
        options.shard_rank = std::clamp(options.shard_rank, 0, options.shard_count - 1);
        return options;
      }()),
      image_bytes_(size_t(3) * options_.image_size * options_.image_size),
      pin_(options_.pin_memory && torch::cuda::is_available()),
      buffers_(image_bytes_ * options_.batch_size, size_t(options_.prefetch_batches)) {
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { work(); });
}

DataLoader::Impl::~Impl() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void DataLoader::Impl::start_epoch(int64_t epoch) {
  std::vector<size_t> order =
      shard_order(epoch_order(samples_.size(), options_.shuffle, options_.seed, epoch),
                  options_.batch_size, options_.shard_rank, options_.shard_count);
  std::unique_lock lock(mu_);
  next_task_ = order_.size();  // hand out nothing more of the old epoch
  idle_cv_.wait(lock, [&] { return busy_ == 0; });
  jobs_.clear();
  epoch_ = epoch;
  order_ = std::move(order);
  next_task_ = 0;
  next_batch_ = 0;
  work_cv_.notify_all();
}

void DataLoader::Impl::work() {
  std::vector<uint8_t> bytes;
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [&] { return stopping_ || can_take_task(); });
    if (stopping_) return;
    size_t position = next_task_++;
    size_t slot = position % options_.batch_size;
    if (slot == 0) {
      size_t size = std::min<size_t>(options_.batch_size, order_.size() - position);
      auto job = std::make_unique<Job>();
      const std::vector<int64_t> shape = {int64_t(size), 3, options_.image_size,
                                          options_.image_size};
      job->images = pin_
                        ? at::empty(shape, at::TensorOptions().dtype(at::kByte).pinned_memory(true))
                        : buffers_.take(shape);
      job->indices.assign(order_.begin() + position, order_.begin() + position + size);
      job->ok.assign(size, 0);
      job->remaining = size;
      jobs_.push_back(std::move(job));
      stats_.max_batches_held = std::max(stats_.max_batches_held, jobs_.size());
    }
    Job* job = jobs_.back().get();  // a position always belongs to the newest batch
    int64_t epoch = epoch_;
    ++busy_;
    lock.unlock();
    if (slot == 0 && options_.store) announce_reads(*job);
    uint8_t* out = job->images.data_ptr<uint8_t>() + slot * image_bytes_;
    bool ok = make_sample(job->indices[slot], epoch, out, &bytes);
    lock.lock();
    --busy_;
    job->ok[slot] = ok;
    if (--job->remaining == 0) ready_cv_.notify_all();
    if (busy_ == 0) idle_cv_.notify_all();
  }
}

bool DataLoader::Impl::make_sample(size_t index, int64_t epoch, uint8_t* out,
                                   std::vector<uint8_t>* bytes) {
  const std::string& path = samples_[index].path;
  std::string error =
      options_.store ? options_.store->read(samples_[index].key, bytes) : read_file(path, bytes);
  const bool archive_failed = options_.store && !error.empty();
  bool partial = false;
  if (error.empty()) error = transform(index, epoch, *bytes, out, &partial);
  std::lock_guard lock(mu_);
  if (archive_failed) {  // the archive itself: no later batch can be trusted
    if (failure_.empty()) failure_ = error;
    return false;
  }
  if (error.empty()) {
    ++stats_.decoded;
    stats_.partial_decodes += partial;
    return true;
  }
  ++stats_.skipped;
  if (reported_.insert(index).second)
    std::cerr << "loader: skipping " << path << ": " << error << "\n";
  return false;
}

std::string DataLoader::Impl::transform(size_t index, int64_t epoch, std::span<const uint8_t> bytes,
                                        uint8_t* out, bool* partial_decode) {
  const int size = options_.image_size;
  const bool train = options_.mode == Mode::kTrain;
  std::mt19937_64 rng = generator_for(options_.seed, epoch, index);
  // With reduced or partial decoding the crop is drawn from the header's size, before decoding;
  // the draws are the same either way since they depend on the size alone.
  std::optional<cv::Size> full;
  cv::Rect rect;
  int reduce = 1;
  const bool partial = train && options_.partial_decode;
  if ((options_.reduced_decode || partial) && (full = peek_image_size(bytes))) {
    rect = cv::Rect(0, 0, full->width, full->height);
    if (train) {
      CropBox crop = sample_resized_crop(full->width, full->height, rng);
      rect = cv::Rect(crop.left, crop.top, crop.width, crop.height);
    }
    if (options_.reduced_decode) reduce = reduction_for(rect, size);
  }
  if (full && partial && reduce == 1) {
    Decoded decoded = decode_image_region(bytes, rect);
    if (!decoded.ok()) return decoded.error;
    cv::Rect inside = rect - decoded.origin;
    if ((inside & cv::Rect(0, 0, decoded.bgr.cols, decoded.bgr.rows)) != inside)
      return "decoded region misses the crop";
    cv::Mat view = decoded.bgr(inside);
    resize_to_planar_rgb(view, {0, 0, double(view.cols), double(view.rows)}, size, size, out);
    *partial_decode = decoded.bgr.size() != *full;  // a PNG, or a crop of it all, is whole
    return "";
  }
  Decoded decoded = decode_image(bytes, reduce);
  if (!decoded.ok()) return decoded.error;
  if (!full) {
    full = decoded.bgr.size();
    rect = cv::Rect(0, 0, full->width, full->height);
    if (train) {
      CropBox crop = sample_resized_crop(full->width, full->height, rng);
      rect = cv::Rect(crop.left, crop.top, crop.width, crop.height);
    }
  } else if (reduce == 1 && decoded.bgr.size() != *full) {
    return "decoded size differs from the header's";
  }
  resize_rect(decoded.bgr, *full, rect, size, out);
  return "";
}

Batch DataLoader::Impl::assemble(Job& job) const {
  Batch batch;
  size_t kept = 0;
  uint8_t* base = job.images.data_ptr<uint8_t>();
  for (size_t slot = 0; slot < job.indices.size(); ++slot) {
    if (!job.ok[slot]) continue;
    if (kept != slot)
      std::memmove(base + kept * image_bytes_, base + slot * image_bytes_, image_bytes_);
    batch.sample_indices.push_back(job.indices[slot]);
    ++kept;
  }
  batch.images = job.images.narrow(0, 0, int64_t(kept));
  batch.labels =
      at::empty({int64_t(kept)}, at::TensorOptions().dtype(at::kLong).pinned_memory(pin_));
  int64_t* labels = batch.labels.data_ptr<int64_t>();
  for (size_t i = 0; i < kept; ++i) labels[i] = samples_[batch.sample_indices[i]].label;
  return batch;
}

std::optional<Batch> DataLoader::Impl::next() {
  std::unique_lock lock(mu_);
  while (epoch_ >= 0 && next_batch_ < batches_per_epoch() && failure_.empty()) {
    auto started = std::chrono::steady_clock::now();
    ready_cv_.wait(lock, [&] { return !jobs_.empty() && jobs_.front()->remaining == 0; });
    if (!failure_.empty()) break;
    stats_.wait_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::unique_ptr<Job> job = std::move(jobs_.front());
    jobs_.pop_front();
    ++next_batch_;
    work_cv_.notify_all();
    lock.unlock();
    Batch batch = assemble(*job);
    if (!batch.sample_indices.empty()) return batch;
    lock.lock();
  }
  return std::nullopt;
}

DataLoader::DataLoader(std::vector<Sample> samples, LoaderOptions options)
    : impl_(std::make_unique<Impl>(std::move(samples), options)) {}
DataLoader::~DataLoader() = default;
void DataLoader::start_epoch(int64_t epoch) { impl_->start_epoch(epoch); }
std::optional<Batch> DataLoader::next() { return impl_->next(); }
size_t DataLoader::batches_per_epoch() const { return impl_->batches_per_epoch(); }
size_t DataLoader::samples() const { return impl_->samples(); }
LoaderStats DataLoader::stats() const { return impl_->stats(); }
std::string DataLoader::error() const { return impl_->error(); }

}  // namespace loader
