// Training checkpoints: everything needed to continue a run exactly (model, optimizer, scheduler
// position, RNG states, progress), one file per checkpoint, written atomically.
#ifndef CV_EXAMPLE_CHECKPOINT_H_
#define CV_EXAMPLE_CHECKPOINT_H_

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cv_example {

// Where a run stands. The scheduler's position is `global_step`, the number of optimizer steps
// taken; the losses let a resumed epoch report what an uninterrupted one would.
struct Progress {
  int64_t epoch = 0;          // the epoch in progress (or the next one when step_in_epoch is 0)
  int64_t step_in_epoch = 0;  // batches of `epoch` already trained on
  int64_t global_step = 0;
  std::vector<double> epoch_losses;  // the batch losses of `epoch` so far, in order
  // What the run was started with (model, classes, schedule length, batch size, seed), as
  // encode_run_settings() writes it: a checkpoint resumes only a run with the same one, since
  // anything else would silently diverge.
  std::string fingerprint;
};

// When --checkpointing_steps saves: never, at each epoch's end, or after every `steps` steps.
struct CheckpointSchedule {
  enum class When { kNever, kEpoch, kSteps };
  When when = When::kNever;
  int64_t steps = 0;  // with kSteps: at least 1

  bool after_step(int64_t global_step) const {
    return when == When::kSteps && global_step % steps == 0;
  }
  bool at_epoch_end() const { return when == When::kEpoch; }
};

// "" (never), "epoch" or a positive step count into `*schedule`; otherwise a one-line usage
// error and `*schedule` untouched.
std::string parse_checkpoint_schedule(const std::string& text, CheckpointSchedule* schedule);
// The command line's spelling of `schedule`: "-" for never, "epoch", or the step count.
std::string checkpoint_schedule_name(const CheckpointSchedule& schedule);

// The settings a resume must share, ("--epochs", "2") pairs, as one string to store.
std::string encode_run_settings(const std::vector<std::pair<std::string, std::string>>& settings);

// Why a checkpoint made with the settings `saved` cannot resume a run with `now`, naming each
// setting that differs ("--epochs: checkpoint 1, now 2 (the one-cycle schedule cannot be
// stretched)"); "" when they agree.
std::string run_settings_difference(const std::string& saved, const std::string& now);

// Writes model, optimizer, progress and the CPU (and CUDA, if present) generator states to `path`
// atomically. Returns an empty string or a one-line reason.
std::string save_checkpoint(const std::string& path, torch::nn::Module& model,
                            torch::optim::Optimizer& optimizer, const Progress& progress);

// Restores what save_checkpoint() wrote into `model`, `optimizer` and `*progress`, refusing a
// checkpoint whose fingerprint differs from `progress->fingerprint`. Returns an empty string or a
// one-line reason.
std::string load_checkpoint(const std::string& path, torch::nn::Module& model,
                            torch::optim::Optimizer& optimizer, Progress* progress);

// "DIR/checkpoint-<global_step>.pt".
std::string checkpoint_path(const std::string& dir, int64_t global_step);

// The checkpoint of `dir` with the highest step, or nullopt when there is none.
std::optional<std::string> latest_checkpoint(const std::string& dir);

// Deletes all but the `keep` newest checkpoints of `dir` (keep <= 0 keeps all), and temporary
// files that a killed save left behind. Returns an empty string or a one-line reason.
std::string prune_checkpoints(const std::string& dir, int keep);

}  // namespace cv_example

#endif  // CV_EXAMPLE_CHECKPOINT_H_
