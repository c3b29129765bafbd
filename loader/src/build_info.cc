#include "loader/build_info.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/version.h>

#include <exception>

namespace loader {

BuildInfo GetBuildInfo() {
  BuildInfo info;
  info.libtorch = TORCH_VERSION;
#ifdef STAGE_TORCH_WITH_CUDA
  // A CUDA LibTorch registers its CUDA hooks when libtorch_cuda.so loads; a linker that dropped
  // the library as unneeded leaves the CPU-only stubs, which throw here.
  try {
    const long runtime = at::detail::getCUDAHooks().versionCUDART();
    info.cuda = true;
    info.cuda_detail =
        "runtime " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
  } catch (const std::exception&) {
    info.cuda_detail = "LibTorch's CUDA library is not loaded: the program was linked without it";
  }
#else
  info.cuda_detail = "a CPU LibTorch";
#endif
#ifdef STAGE_TORCH_WITH_NCCL
  info.nccl = true;
#endif
#ifdef STAGE_TORCH_WITH_GLOO
  info.gloo = true;
#endif
  return info;
}

std::string BuildInfoLine() {
  const BuildInfo info = GetBuildInfo();
  const auto yes_no = [](bool value) { return value ? "yes" : "no"; };
  return "LibTorch " + info.libtorch + ", cuda: " + yes_no(info.cuda) + " (" + info.cuda_detail +
         "), nccl: " + yes_no(info.nccl) + ", gloo: " + yes_no(info.gloo);
}

}  // namespace loader
