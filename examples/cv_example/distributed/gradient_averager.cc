#include "distributed/gradient_averager.h"

#include <ATen/core/grad_mode.h>
#include <ATen/ops/zeros.h>

namespace cv_example::distributed {
namespace {

// The stop wish and the loss follow the last bucket's gradients.
constexpr int64_t kControlSlots = 2;

}  // namespace

GradientAverager::GradientAverager(Communicator& communicator,
                                   const std::vector<at::Tensor>& params, size_t bucket_bytes)
    : communicator_(communicator) {
  size_t bytes = 0;
  for (const at::Tensor& p : params) {
    if (!p.requires_grad()) continue;
    const size_t size = p.numel() * p.element_size();
    const bool fits = !buckets_.empty() && bytes + size <= bucket_bytes &&
                      buckets_.back().params.front().dtype() == p.dtype() &&
                      buckets_.back().params.front().device() == p.device();
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().params.push_back(p);
    bytes += size;
  }
  // With nothing to train, the control values still need a (float) bucket of their own.
  if (buckets_.empty()) buckets_.emplace_back();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    int64_t numel = b + 1 == buckets_.size() ? kControlSlots : 0;
    for (const at::Tensor& p : bucket.params) numel += p.numel();
    const at::TensorOptions options = bucket.params.empty()
                                          ? at::TensorOptions(at::kFloat)
                                          : bucket.params.front().options().requires_grad(false);
    bucket.flat = at::zeros({numel}, options);
  }
}

GradientAverager::Agreed GradientAverager::average(bool stop, const at::Tensor& loss) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> flats;
  for (Bucket& bucket : buckets_) {
    int64_t offset = 0;
    for (const at::Tensor& p : bucket.params) {
      at::Tensor slot = bucket.flat.narrow(0, offset, p.numel());
      if (p.grad().defined()) {
        slot.copy_(p.grad().reshape({-1}));
      } else {
        slot.zero_();
      }
      offset += p.numel();
    }
    flats.push_back(bucket.flat);
  }
  at::Tensor control = buckets_.back().flat.narrow(0, buckets_.back().flat.numel() - 2, 2);
  control[0].fill_(stop ? 1.0 : 0.0);
  control[1].copy_(loss.detach().reshape({}));
  communicator_.allreduce(flats, ::c10d::ReduceOp::SUM, "the gradient allreduce");
  const double scale = 1.0 / communicator_.world_size();
  for (Bucket& bucket : buckets_) {
    bucket.flat.mul_(scale);
    int64_t offset = 0;
    for (const at::Tensor& p : bucket.params) {
      at::Tensor mean = bucket.flat.narrow(0, offset, p.numel()).view_as(p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(mean);
      } else {
        p.mutable_grad() = mean.clone();
      }
      offset += p.numel();
    }
  }
  // The stop flags were summed and then scaled: any rank's wish leaves a positive value.
  return {.stop = control[0].item<double>() > 0, .loss = control[1].clone()};
}

}  // namespace cv_example::distributed
