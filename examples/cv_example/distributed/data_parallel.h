// The trainer's data-parallel side, with the semantics of accelerate's multi-process run: rank 0's
// parameters and buffers everywhere at start, gradients averaged every step, BatchNorm's running
// statistics taken from rank 0 where they are read (DDP's broadcast_buffers), evaluation gathered
// over the ranks with the wrapped-around duplicates dropped.
#ifndef CV_EXAMPLE_DISTRIBUTED_DATA_PARALLEL_H_
#define CV_EXAMPLE_DISTRIBUTED_DATA_PARALLEL_H_

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "distributed/communicator.h"
#include "distributed/gradient_averager.h"
#include "distributed/run_agreement.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace cv_example::distributed {

// One evaluated image: its position in the eval set and what the model said.
struct EvalRecord {
  size_t sample;
  int64_t predicted;
  float logit;  // the predicted class's logit
  bool correct;
};

// Without torchrun's variables it is a group of one process: every collective is then a no-op
// (a broadcast from itself, a mean of one), so the trainer has one code path for both.
class DataParallel {
 public:
  // Joins the job torchrun's variables describe, or makes a one-process group when they are not
  // set. Returns null with `*error` set to one line when joining failed.
  static std::unique_ptr<DataParallel> start(const GroupOptions& options, std::string* error);

  // Whether other processes take part (torchrun's variables were set).
  bool distributed() const { return communicator_ != nullptr; }
  int rank() const { return communicator_ ? communicator_->rank() : 0; }
  int world_size() const { return communicator_ ? communicator_->world_size() : 1; }
  int local_rank() const { return communicator_ ? communicator_->env().local_rank : 0; }
  int local_world_size() const { return communicator_ ? communicator_->env().local_world_size : 1; }
  // "rank N: " in a data-parallel run, so that every line says which rank it comes from.
  std::string rank_prefix() const;
  // The run-wide agreement on `facts` (distributed/run_agreement.h); "" or one line.
  std::string check_every_rank_agrees(const RunFacts& facts);
  // Tells the other ranks why this one fails (Communicator::report_failure).
  void report_failure(const std::string& reason);

  // Copies rank 0's parameters and buffers into `module` on every rank. Throws CollectiveError.
  void broadcast_state(torch::nn::Module& module, bool buffers_only);
  // Gradient averaging for `params` (those requiring a gradient); call once, before training.
  void prepare_gradients(const std::vector<at::Tensor>& params);
  // The allreduce calls a step makes (buckets of gradients); 0 before prepare_gradients().
  size_t gradient_buckets() const { return averager_ ? averager_->buckets() : 0; }
  // See GradientAverager::average. Throws CollectiveError.
  GradientAverager::Agreed average_gradients(bool stop, const at::Tensor& loss);
  // Seconds spent averaging gradients since the last call (the allreduce's cost per step).
  double take_averaging_seconds();
  // Every rank's records merged: one per sample of an eval set of `samples`, in sample order.
  // Duplicates (even_batches' wrap-around) give identical records and count once. One process
  // has them already: `mine` is returned as it is.
  std::vector<EvalRecord> gather_eval(size_t samples, const std::vector<EvalRecord>& mine);
  // Returns once every rank got here (before rank 0, which serves the store, may exit).
  void barrier(const std::string& what) {
    if (communicator_) communicator_->barrier(what);
  }

 private:
  std::unique_ptr<Communicator> communicator_;  // null for one process
  std::unique_ptr<GradientAverager> averager_;
  double averaging_seconds_ = 0;
};

}  // namespace cv_example::distributed

#endif  // CV_EXAMPLE_DISTRIBUTED_DATA_PARALLEL_H_
