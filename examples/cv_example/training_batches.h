// The batches an epoch trains on, as the trainer's loop asks for them: the loader's, in order,
// with the ones a resumed epoch already trained on replayed and dropped; or with --fixed_batch
// the first batch again every step, kept on the device (the step's speed without the loader, a
// measurement, not training); each written to --dump_batches when that is set.
#ifndef CV_EXAMPLE_TRAINING_BATCHES_H_
#define CV_EXAMPLE_TRAINING_BATCHES_H_

#include <c10/core/Device.h>

#include <cstdint>
#include <optional>
#include <string>

#include "loader/data_loader.h"

namespace cv_example {

class TrainingBatches {
 public:
  // `loader` must outlive this object. A --fixed_batch epoch has as many steps as a loader one.
  TrainingBatches(loader::DataLoader& loader, bool fixed_batch, c10::Device device,
                  std::string dump_dir);

  // Begins `epoch` with its first `done_steps` batches already trained on (a resume): they are
  // drawn and dropped, so the rest are exactly those of an uninterrupted run.
  void start_epoch(int64_t epoch, int64_t done_steps);
  // The next batch, or none at the epoch's end or on a failure, which `*error` then names.
  std::optional<loader::Batch> next(std::string* error);
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

 private:
  loader::DataLoader& loader_;
  bool fixed_;
  c10::Device device_;
  std::string dump_dir_;
  int64_t steps_per_epoch_;
  int64_t epoch_ = 0, step_ = 0;
  std::optional<loader::Batch> fixed_batch_;
};

}  // namespace cv_example

#endif  // CV_EXAMPLE_TRAINING_BATCHES_H_
