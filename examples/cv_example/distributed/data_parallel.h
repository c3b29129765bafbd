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

class DataParallel {
 public:
  // Joins the job torchrun's variables describe, or returns null with `*error` empty when they
  // are not set (a single process). `*error` holds one line when joining failed.
  static std::unique_ptr<DataParallel> start(const GroupOptions& options, std::string* error);

  Communicator& communicator() { return *communicator_; }
  int rank() const { return communicator_->rank(); }
  int world_size() const { return communicator_->world_size(); }
  int local_rank() const { return communicator_->env().local_rank; }
  int local_world_size() const { return communicator_->env().local_world_size; }

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
  // Duplicates (even_batches' wrap-around) give identical records and count once.
  std::vector<EvalRecord> gather_eval(size_t samples, const std::vector<EvalRecord>& mine);
  // Returns once every rank got here (before rank 0, which serves the store, may exit).
  void barrier(const std::string& what) { communicator_->barrier(what); }

 private:
  std::unique_ptr<Communicator> communicator_;
  std::unique_ptr<GradientAverager> averager_;
  double averaging_seconds_ = 0;
};

}  // namespace cv_example::distributed

#endif  // CV_EXAMPLE_DISTRIBUTED_DATA_PARALLEL_H_
