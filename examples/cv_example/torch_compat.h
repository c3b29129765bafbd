// The LibTorch version differences the trainer meets, in one place: Debian's 1.13 (CPU, c10d with
// Gloo only) and LibTorch 2.x (CUDA, with NCCL). Everything else is written against the API common
// to both (for c10d: Store, TCPStore, PrefixStore, Work, broadcast/allreduce/barrier on a group).
#ifndef CV_EXAMPLE_TORCH_COMPAT_H_
#define CV_EXAMPLE_TORCH_COMPAT_H_

// The Gloo and NCCL headers are empty unless these are defined (LibTorch's own build defines
// them). CMake defines CV_EXAMPLE_WITH_GLOO when Gloo's own headers are found (Debian: libgloo-dev)
// and CV_EXAMPLE_WITH_NCCL when the LibTorch in use was built with CUDA and ships
// ProcessGroupNCCL.hpp.
#if defined(CV_EXAMPLE_WITH_GLOO) && !defined(USE_C10D_GLOO)
#define USE_C10D_GLOO
#endif
#if defined(CV_EXAMPLE_WITH_NCCL) && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL
#endif

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <torch/version.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CV_EXAMPLE_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CV_EXAMPLE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

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

// 2.0 split the collectives of a process group out into c10d::Backend, which ProcessGroupGloo
// and ProcessGroupNCCL derive from; in 1.13 they derive from c10d::ProcessGroup directly.
#if TORCH_VERSION_MAJOR >= 2
using CollectiveGroup = ::c10d::Backend;
#else
using CollectiveGroup = ::c10d::ProcessGroup;
#endif

// Whether this build can make an NCCL group: CMake defines CV_EXAMPLE_WITH_NCCL when the LibTorch
// in use was built with CUDA and ships ProcessGroupNCCL.hpp.
#ifdef CV_EXAMPLE_WITH_NCCL
inline constexpr bool kHaveNccl = true;
#else
inline constexpr bool kHaveNccl = false;
#endif

#ifdef CV_EXAMPLE_WITH_GLOO
inline constexpr bool kHaveGloo = true;
#else
inline constexpr bool kHaveGloo = false;
#endif

// An NCCL group (null where this build has none).
inline c10::intrusive_ptr<CollectiveGroup> make_nccl_group(
    [[maybe_unused]] const c10::intrusive_ptr<::c10d::Store>& store, [[maybe_unused]] int rank,
    [[maybe_unused]] int size, [[maybe_unused]] std::chrono::milliseconds timeout) {
#ifdef CV_EXAMPLE_WITH_NCCL
  auto options = ::c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<::c10d::ProcessGroupNCCL>(store, rank, size, options);
#else
  return {};
#endif
}

// A TCPStore that works whatever the LibTorch was built with. Since 2.4 the store's server runs
// on libuv unless told otherwise, and a LibTorch built without libuv (Debian 13's 2.6) refuses
// that ("use_libuv was requested but PyTorch was build without libuv support"); whether it has
// libuv is not in its headers (the probe is not exported), so the store is asked with libuv
// first and, refused for that reason, made again with the classic server, saying so in one line.
inline c10::intrusive_ptr<::c10d::TCPStore> make_tcp_store(const std::string& host,
                                                           ::c10d::TCPStoreOptions options) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  try {
    return c10::make_intrusive<::c10d::TCPStore>(host, options);
  } catch (const std::exception& e) {
    if (!options.useLibUV || std::string(e.what()).find("libuv") == std::string::npos) throw;
  }
  options.useLibUV = false;
  if (options.isServer) {
    std::cerr << "cv_example: this LibTorch has no libuv: the store runs LibTorch's classic TCP "
                 "server\n";
  }
#endif
  return c10::make_intrusive<::c10d::TCPStore>(host, options);
}

}  // namespace cv_example::compat

#endif  // CV_EXAMPLE_TORCH_COMPAT_H_
