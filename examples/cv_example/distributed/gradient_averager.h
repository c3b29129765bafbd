// What DistributedDataParallel does after backward, which the C++ frontend lacks: every rank's
// gradients replaced by their mean over the ranks. Gradients are copied into a few flat buckets
// (25 MiB each, as DDP's default), so a step costs one allreduce per bucket rather than one per
// tensor; the ranks' wishes to stop and their losses ride along in the last bucket, so agreeing
// on them costs no collective of its own.
#ifndef CV_EXAMPLE_DISTRIBUTED_GRADIENT_AVERAGER_H_
#define CV_EXAMPLE_DISTRIBUTED_GRADIENT_AVERAGER_H_

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <vector>

#include "distributed/communicator.h"

namespace cv_example::distributed {

class GradientAverager {
 public:
  // Averages the gradients of those of `params` that require one. `communicator` must outlive
  // this object; the parameters must be the same, in the same order, on every rank.
  GradientAverager(Communicator& communicator, const std::vector<at::Tensor>& params,
                   size_t bucket_bytes = size_t(25) << 20);

  struct Agreed {
    bool stop;        // some rank asked to stop after this step
    at::Tensor loss;  // the mean of the ranks' losses, on the device (no read-back)
  };
  // Replaces each gradient by its mean over the ranks (a missing one counts as zeros), with
  // this rank's `stop` wish and `loss` (a scalar) carried along. Throws CollectiveError.
  Agreed average(bool stop, const at::Tensor& loss);

  size_t buckets() const { return buckets_.size(); }

 private:
  struct Bucket {
    std::vector<at::Tensor> params;
    at::Tensor flat;  // the gradients one after another (+ stop and loss in the last bucket)
  };
  Communicator& communicator_;
  std::vector<Bucket> buckets_;
};

}  // namespace cv_example::distributed

#endif  // CV_EXAMPLE_DISTRIBUTED_GRADIENT_AVERAGER_H_
