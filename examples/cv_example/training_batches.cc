#include "training_batches.h"

#include <filesystem>
#include <utility>

#include "safetensors.h"

namespace cv_example {

TrainingBatches::TrainingBatches(loader::DataLoader& loader, bool fixed_batch, c10::Device device,
                                 std::string dump_dir)
    : loader_(loader),
      fixed_(fixed_batch),
      device_(device),
      dump_dir_(std::move(dump_dir)),
      steps_per_epoch_(static_cast<int64_t>(loader.batches_per_epoch())) {}

void TrainingBatches::start_epoch(int64_t epoch, int64_t done_steps) {
  epoch_ = epoch;
  step_ = done_steps;
  loader_.start_epoch(epoch);
  for (int64_t skipped = 0; skipped < done_steps; ++skipped) loader_.next();
}

std::optional<loader::Batch> TrainingBatches::next(std::string* error) {
  std::optional<loader::Batch> batch;
  if (!fixed_) {
    batch = loader_.next();
  } else if (step_ < steps_per_epoch_) {
    if (!fixed_batch_ && (fixed_batch_ = loader_.next())) {
      fixed_batch_->images = fixed_batch_->images.to(device_);
      fixed_batch_->labels = fixed_batch_->labels.to(device_);
    }
    batch = fixed_batch_;
  }
  if (!batch) {
    *error = loader_.error();
    return std::nullopt;
  }
  if (!dump_dir_.empty()) {
    const std::string name =
        "epoch" + std::to_string(epoch_) + "_step" + std::to_string(step_) + ".safetensors";
    *error = write_safetensors((std::filesystem::path(dump_dir_) / name).string(),
                               {{"images", batch->images}, {"labels", batch->labels}});
    if (!error->empty()) return std::nullopt;
  }
  ++step_;
  return batch;
}

}  // namespace cv_example
