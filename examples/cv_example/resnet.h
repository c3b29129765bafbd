// The ResNet family as timm and torchvision build it, with their state_dict names, so published
// weights load tensor for tensor: resnet50d (deep stem, average-pool shortcut), resnet50, and small
// members for CPU runs.
#ifndef CV_EXAMPLE_RESNET_H_
#define CV_EXAMPLE_RESNET_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cv_example {

// What distinguishes the variants. The stem is a 7x7 convolution ("plain", named conv1) or three
// 3x3 convolutions (named conv1.0, conv1.3, conv1.6) whose first two widths are stem_widths.
struct ResNetConfig {
  bool bottleneck = true;       // Bottleneck blocks (expansion 4) or BasicBlocks (expansion 1)
  std::array<int, 4> layers{};  // blocks per stage
  bool deep_stem = false;       // three 3x3 convolutions instead of one 7x7
  std::array<int, 2> stem_widths{32, 32};
  bool avg_down = false;  // shortcut average-pools before its 1x1 convolution (stride moved there)
};

// The configuration of a model known by `name` (timm's names), or nullopt.
std::optional<ResNetConfig> resnet_config(std::string_view name);
// The names resnet_config() knows, for help texts and errors.
std::vector<std::string> resnet_names();

// One residual block: BasicBlock (conv1 3x3, conv2 3x3) or Bottleneck (conv1 1x1, conv2 3x3 with
// the stride, conv3 1x1), each convolution followed by its BatchNorm (bn1..bn3), and an optional
// `downsample` shortcut.
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(bool bottleneck, int64_t in_channels, int64_t width, int64_t stride, bool avg_down);
  torch::Tensor forward(torch::Tensor x);
  // The BatchNorm closing the residual branch, zero-initialised so each block starts as identity.
  torch::nn::BatchNorm2d& last_bn() { return bn3_ ? bn3_ : bn2_; }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(Block);

// The network: stem, bn1, ReLU, 3x3 max-pool, layer1..layer4, global average pool, fc. Input is
// a normalised float batch [N, 3, H, W] (any H, W >= 32); output the logits [N, num_classes].
// Weights are initialised as timm does (Kaiming-normal convolutions, unit BatchNorms with the last
// of each block zeroed, PyTorch's default Linear): a classifier left unloaded is what timm's
// reset_classifier would make.
class ResNetImpl : public torch::nn::Module {
 public:
  ResNetImpl(const ResNetConfig& config, int64_t num_classes);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1_plain_{nullptr};  // one of these two is registered as "conv1"
  torch::nn::Sequential conv1_deep_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::array<torch::nn::Sequential, 4> layers_;
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace cv_example

#endif  // CV_EXAMPLE_RESNET_H_
