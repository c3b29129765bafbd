// What this build of the LibTorch programs was compiled and linked with, so that nothing is
// compiled out silently: a CPU LibTorch, a CUDA LibTorch whose CUDA library the linker dropped,
// or a data-parallel back end whose headers were missing all show here.
#ifndef LOADER_BUILD_INFO_H_
#define LOADER_BUILD_INFO_H_

#include <string>

namespace loader {

struct BuildInfo {
  std::string libtorch;     // LibTorch's version, e.g. "2.11.0"
  bool cuda = false;        // built against a CUDA LibTorch and its CUDA library loaded
  std::string cuda_detail;  // the CUDA runtime's version, or why there is no CUDA
  bool nccl = false;        // c10d's NCCL process group compiled in
  bool gloo = false;        // c10d's Gloo process group compiled in
};

// This build's facts. Loads nothing and needs no GPU; never throws.
BuildInfo GetBuildInfo();

// One line: "LibTorch 2.11.0, cuda: yes (runtime 13.0), nccl: yes, gloo: yes".
std::string BuildInfoLine();

}  // namespace loader

#endif  // LOADER_BUILD_INFO_H_
