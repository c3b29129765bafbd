#include "normalizer.h"

#include <torch/torch.h>

namespace cv_example {

Normalizer::Normalizer(c10::Device device, bool channels_last) : channels_last_(channels_last) {
  const auto options = torch::TensorOptions().device(device);
  const torch::Tensor mean = torch::tensor({0.485f, 0.456f, 0.406f}, options).view({1, 3, 1, 1});
  const torch::Tensor std = torch::tensor({0.229f, 0.224f, 0.225f}, options).view({1, 3, 1, 1});
  scale_ = 1.0f / (255.0f * std);
  shift_ = -mean / std;
}

at::Tensor Normalizer::operator()(const at::Tensor& images) const {
  torch::Tensor x = images.to(scale_.device(), /*non_blocking=*/true).to(torch::kFloat32);
  x = torch::addcmul(shift_, x, scale_);
  return channels_last_ ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

}  // namespace cv_example
