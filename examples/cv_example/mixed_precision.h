// Mixed precision as the recipe's --mixed_precision asks for it: autocast around the forward
// pass (bf16 or fp16), and for fp16 the loss scaling that keeps small gradients from flushing to
// zero. LibTorch has neither torch.autocast's context manager nor GradScaler; these are them.
#ifndef CV_EXAMPLE_MIXED_PRECISION_H_
#define CV_EXAMPLE_MIXED_PRECISION_H_

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <optional>
#include <string>
#include <vector>

namespace cv_example {

enum class MixedPrecision { kNo, kBf16, kFp16 };

// "no", "bf16" or "fp16" into `*mode`; otherwise a one-line usage error and `*mode` untouched.
std::string parse_mixed_precision(const std::string& text, MixedPrecision* mode);
// The command line's spelling of `mode`.
const char* mixed_precision_name(MixedPrecision mode);
// The dtype autocast computes in, or none for kNo.
std::optional<c10::ScalarType> autocast_dtype(MixedPrecision mode);

// Autocast on for the guard's lifetime when `dtype` is set.
class AutocastGuard {
 public:
  AutocastGuard(std::optional<c10::ScalarType> dtype, c10::DeviceType device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  std::optional<c10::ScalarType> dtype_;
  c10::DeviceType device_;
};

// Dynamic loss scaling for fp16, with GradScaler's defaults: scale 2^16, halved (and the step
// skipped) when a gradient overflows, doubled after 2000 clean steps. Checking for overflow reads
// one value back from the device per step, a sync GradScaler avoids; it costs little next to a
// training step. Disabled, it passes everything through.
class LossScaler {
 public:
  explicit LossScaler(bool enabled) : enabled_(enabled) {}
  at::Tensor scale(const at::Tensor& loss) const;
  // Unscales the gradients; false when one is not finite, and the optimizer step must be skipped.
  bool unscale(const std::vector<at::Tensor>& params);

 private:
  bool enabled_;
  double scale_ = 65536.0;
  int clean_steps_ = 0;
};

}  // namespace cv_example

#endif  // CV_EXAMPLE_MIXED_PRECISION_H_
