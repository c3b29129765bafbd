// The LibTorch version differences the trainer meets, in one place: Debian's 1.13 (CPU) and
// LibTorch 2.x (CUDA). Everything else is written against the API common to both.
#ifndef CV_EXAMPLE_TORCH_COMPAT_H_
#define CV_EXAMPLE_TORCH_COMPAT_H_

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <torch/version.h>

namespace cv_example::compat {

// Autocast for one device type: 2.4 replaced the per-device setters (set_enabled for CUDA,
// set_cpu_enabled for CPU) with setters taking the device type.
inline void set_autocast(c10::DeviceType device_type, c10::ScalarType dtype, bool enabled) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype(device_type, dtype);
  at::autocast::set_autocast_enabled(device_type, enabled);
#else
  if (device_type == c10::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
  // Casts of the weights are cached while autocast is on; they are stale after the next step.
  if (!enabled) at::autocast::clear_cache();
}

}  // namespace cv_example::compat

#endif  // CV_EXAMPLE_TORCH_COMPAT_H_
