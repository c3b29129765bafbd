// One training or evaluation run of cv_example, as run() drives it: trainer.cc holds the loop
// (train, train_epoch, evaluate), trainer_setup.cc what comes before it. Private to those two.
#ifndef CV_EXAMPLE_TRAINER_RUN_H_
#define CV_EXAMPLE_TRAINER_RUN_H_

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint.h"
#include "distributed/data_parallel.h"
#include "epoch_report.h"
#include "evaluation.h"
#include "loader/data_loader.h"
#include "mixed_precision.h"
#include "normalizer.h"
#include "one_cycle.h"
#include "resnet.h"
#include "tracking/tracker.h"
#include "trainer.h"
#include "training_batches.h"

namespace cv_example {

using Clock = std::chrono::steady_clock;

// Everything one run holds, built by setup() and driven by train() or evaluate_only(). A run of
// one process is a data-parallel group of one, whose collectives do nothing.
class Trainer {
 public:
  explicit Trainer(const TrainConfig& config) : config_(config) {}
  std::string setup();
  std::string train();
  std::string evaluate_only();
  bool stopped() const { return stopped_; }
  // Tells the other ranks of a data-parallel run why this one fails.
  void report_failure(const std::string& reason) {
    if (dp_) dp_->report_failure(reason);
  }
  std::string rank_prefix() const { return dp_ ? dp_->rank_prefix() : std::string(); }

 private:
  // setup()'s parts, in order.
  std::string start_data_parallel(bool cuda);
  void choose_device(bool cuda);
  std::string load_data();
  std::string build_model();
  std::string load_weights();
  void prepare_training();
  void describe_run() const;
  std::string resume();
  std::string open_tracker();
  std::string agree_and_synchronise();

  std::string train_epoch(int64_t epoch);
  // One optimizer step on `batch`; whether the ranks agreed to stop after it.
  bool train_step(const loader::Batch& batch);
  // Evaluates, reports and checkpoints the epoch whose training `figures` describe.
  std::string finish_epoch(EpochFigures figures, Clock::time_point start);
  // Moves the losses still on the device into progress_, in step order, and to the tracker.
  std::string collect_losses();
  std::string save();
  // Ends training on a stop request: saves where it can and says so in one line.
  std::string stop();
  EvalResult evaluate(bool keep_predictions);

  bool main_rank() const { return dp_->rank() == 0; }
  // The rank that reports, unless --quiet: what is said for information, not warning.
  bool chatty() const { return main_rank() && !config_.quiet; }
  // The default for decoding and intra-op threads: the ranks of one machine share its cores.
  int cores_per_rank() const {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max(1, cores / dp_->local_world_size());
  }
  bool stop_requested() const { return config_.stop && config_.stop->load(); }

  const TrainConfig& config_;
  std::unique_ptr<distributed::DataParallel> dp_;
  torch::Device device_{torch::kCPU};
  std::vector<std::string> classes_;
  std::vector<loader::Sample> train_set_, eval_set_;
  std::unique_ptr<loader::DataLoader> train_loader_, eval_loader_;
  std::unique_ptr<TrainingBatches> batches_;
  ResNet model_{nullptr};
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  std::unique_ptr<OneCycle> schedule_;
  std::unique_ptr<tracking::Tracker> tracker_;  // --with_tracking, on the reporting rank
  std::unique_ptr<Normalizer> normalize_;
  std::unique_ptr<LossScaler> scaler_;
  // Losses stay on the device until a checkpoint or the epoch's end needs them: reading each one
  // back would make every step wait for the device.
  std::vector<torch::Tensor> pending_losses_;
  Progress progress_;
  bool stopped_ = false;  // config_.stop ended training
};

}  // namespace cv_example

#endif  // CV_EXAMPLE_TRAINER_RUN_H_
