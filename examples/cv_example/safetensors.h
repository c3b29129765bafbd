// The safetensors format (an 8-byte little-endian header length, a JSON header giving each
// tensor's dtype, shape and byte range, then the raw data) and strict loading of a model from it.
#ifndef CV_EXAMPLE_SAFETENSORS_H_
#define CV_EXAMPLE_SAFETENSORS_H_

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace cv_example {

// Name -> tensor, ordered so that written files are byte-identical for the same tensors.
using TensorMap = std::map<std::string, at::Tensor>;

// Reads every tensor of the file at `path` into `*tensors` (CPU tensors owning their memory).
// The header is checked completely (dtype known, shape and byte range consistent, data present)
// before any tensor is made. Returns an empty string or a one-line reason naming the file.
std::string read_safetensors(const std::string& path, TensorMap* tensors);

// Writes `tensors` (any device; written contiguous, in their own dtype) to `path` atomically.
// Returns an empty string or a one-line reason naming the file.
std::string write_safetensors(const std::string& path, const TensorMap& tensors);

// The module's parameters and buffers by their state_dict names ("layer1.0.conv1.weight"),
// detached, for writing.
TensorMap state_dict(const torch::nn::Module& module);

// Copies `tensors` into the module's parameters and buffers, strictly: every name must be present
// with the same shape and a compatible dtype (floating to floating, converted as PyTorch's
// load_state_dict does; integer to integer), and nothing may be left over. Two exceptions, as in
// timm and PyTorch: a missing BatchNorm "num_batches_tracked" keeps its value, and tensors under
// `classifier` (e.g. "fc.") whose shape differs only because the class count differs are skipped,
// leaving the module's freshly initialised classifier; `*classifier_skipped` says whether that
// happened. Returns an empty string or a one-line reason naming `source` and the tensor.
std::string load_state_dict(torch::nn::Module& module, const TensorMap& tensors,
                            const std::string& source, const std::string& classifier,
                            bool* classifier_skipped);

}  // namespace cv_example

#endif  // CV_EXAMPLE_SAFETENSORS_H_
