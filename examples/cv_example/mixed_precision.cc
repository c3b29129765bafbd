#include "mixed_precision.h"

#include <torch/torch.h>

#include "torch_compat.h"

namespace cv_example {

std::string parse_mixed_precision(const std::string& text, MixedPrecision* mode) {
  for (MixedPrecision m : {MixedPrecision::kNo, MixedPrecision::kBf16, MixedPrecision::kFp16}) {
    if (text == mixed_precision_name(m)) {
      *mode = m;
      return {};
    }
  }
  return "--mixed_precision must be no, bf16 or fp16, not " + text;
}

const char* mixed_precision_name(MixedPrecision mode) {
  switch (mode) {
    case MixedPrecision::kBf16:
      return "bf16";
    case MixedPrecision::kFp16:
      return "fp16";
    case MixedPrecision::kNo:
      break;
  }
  return "no";
}

std::optional<c10::ScalarType> autocast_dtype(MixedPrecision mode) {
  switch (mode) {
    case MixedPrecision::kBf16:
      return torch::kBFloat16;
    case MixedPrecision::kFp16:
      return torch::kFloat16;
    case MixedPrecision::kNo:
      break;
  }
  return std::nullopt;
}

AutocastGuard::AutocastGuard(std::optional<c10::ScalarType> dtype, c10::DeviceType device)
    : dtype_(dtype), device_(device) {
  if (dtype_) compat::set_autocast(device_, *dtype_, true);
}

AutocastGuard::~AutocastGuard() {
  if (dtype_) compat::set_autocast(device_, *dtype_, false);
}

at::Tensor LossScaler::scale(const at::Tensor& loss) const {
  return enabled_ ? loss * scale_ : loss;
}

bool LossScaler::unscale(const std::vector<at::Tensor>& params) {
  if (!enabled_) return true;
  std::vector<torch::Tensor> finite;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    p.grad().mul_(1.0 / scale_);
    finite.push_back(torch::isfinite(p.grad()).all());
  }
  // One read-back for all the gradients.
  const bool all_finite = finite.empty() || torch::stack(finite).all().item<bool>();
  if (!all_finite) {
    scale_ /= 2;
    clean_steps_ = 0;
  } else if (++clean_steps_ == 2000) {
    scale_ *= 2;
    clean_steps_ = 0;
  }
  return all_finite;
}

}  // namespace cv_example
