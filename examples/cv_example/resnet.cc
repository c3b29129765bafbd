#include "resnet.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <map>

namespace cv_example {
namespace {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

// The shortcut where the block changes shape. timm's avg_down moves the stride into a 2x2
// average pool (ceil mode, padding not counted) so the 1x1 convolution sees every pixel; index 0
// stays the pool (an Identity at stride 1) so the names match timm's.
torch::nn::Sequential downsample(int64_t in, int64_t out, int64_t stride, bool avg_down) {
  torch::nn::Sequential shortcut;
  if (avg_down) {
    if (stride == 1) {
      shortcut->push_back(torch::nn::Identity());
    } else {
      shortcut->push_back(torch::nn::AvgPool2d(
          torch::nn::AvgPool2dOptions(2).stride(stride).ceil_mode(true).count_include_pad(false)));
    }
    shortcut->push_back(conv(in, out, /*kernel=*/1, /*stride=*/1));
  } else {
    shortcut->push_back(conv(in, out, /*kernel=*/1, stride));
  }
  shortcut->push_back(torch::nn::BatchNorm2d(out));
  return shortcut;
}

const std::map<std::string, ResNetConfig, std::less<>>& known_models() {
  static const std::map<std::string, ResNetConfig, std::less<>> models = {
      // timm's resnet10t: the smallest, for CPU tests and the demo; tiered deep stem 24/32.
      {"resnet10t",
       {.bottleneck = false,
        .layers = {1, 1, 1, 1},
        .deep_stem = true,
        .stem_widths = {24, 32},
        .avg_down = true}},
      {"resnet18", {.bottleneck = false, .layers = {2, 2, 2, 2}}},
      {"resnet18d",
       {.bottleneck = false, .layers = {2, 2, 2, 2}, .deep_stem = true, .avg_down = true}},
      {"resnet26d", {.layers = {2, 2, 2, 2}, .deep_stem = true, .avg_down = true}},
      {"resnet34", {.bottleneck = false, .layers = {3, 4, 6, 3}}},
      {"resnet50", {.layers = {3, 4, 6, 3}}},
      {"resnet50d", {.layers = {3, 4, 6, 3}, .deep_stem = true, .avg_down = true}},
  };
  return models;
}

}  // namespace

std::optional<ResNetConfig> resnet_config(std::string_view name) {
  auto it = known_models().find(name);
  if (it == known_models().end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> resnet_names() {
  std::vector<std::string> names;
  for (const auto& [name, config] : known_models()) names.push_back(name);
  return names;
}

BlockImpl::BlockImpl(bool bottleneck, int64_t in_channels, int64_t width, int64_t stride,
                     bool avg_down) {
  const int64_t out_channels = bottleneck ? width * 4 : width;
  if (bottleneck) {
    conv1_ = register_module("conv1", conv(in_channels, width, /*kernel=*/1, /*stride=*/1));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(width));
    conv2_ = register_module("conv2", conv(width, width, /*kernel=*/3, stride));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(width));
    conv3_ = register_module("conv3", conv(width, out_channels, /*kernel=*/1, /*stride=*/1));
    bn3_ = register_module("bn3", torch::nn::BatchNorm2d(out_channels));
  } else {
    conv1_ = register_module("conv1", conv(in_channels, width, /*kernel=*/3, stride));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(width));
    conv2_ = register_module("conv2", conv(width, width, /*kernel=*/3, /*stride=*/1));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(width));
  }
  if (stride != 1 || in_channels != out_channels) {
    downsample_ =
        register_module("downsample", downsample(in_channels, out_channels, stride, avg_down));
  }
}

torch::Tensor BlockImpl::forward(torch::Tensor x) {
  torch::Tensor shortcut = downsample_ ? downsample_->forward(x) : x;
  x = torch::relu(bn1_->forward(conv1_->forward(x)));
  x = bn2_->forward(conv2_->forward(x));
  if (conv3_) x = bn3_->forward(conv3_->forward(torch::relu(x)));
  return torch::relu(x + shortcut);
}

ResNetImpl::ResNetImpl(const ResNetConfig& config, int64_t num_classes) {
  constexpr int64_t kStemOut = 64;
  if (config.deep_stem) {
    const auto [w0, w1] = config.stem_widths;
    conv1_deep_ = register_module(
        "conv1",
        torch::nn::Sequential(conv(3, w0, 3, 2), torch::nn::BatchNorm2d(w0), torch::nn::ReLU(),
                              conv(w0, w1, 3, 1), torch::nn::BatchNorm2d(w1), torch::nn::ReLU(),
                              conv(w1, kStemOut, 3, 1)));
  } else {
    conv1_plain_ = register_module("conv1", conv(3, kStemOut, /*kernel=*/7, /*stride=*/2));
  }
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(kStemOut));

  int64_t channels = kStemOut;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t width = int64_t{64} << stage;
    torch::nn::Sequential layer;
    for (int i = 0; i < config.layers[stage]; ++i) {
      const int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
      layer->push_back(Block(config.bottleneck, channels, width, stride, config.avg_down));
      channels = config.bottleneck ? width * 4 : width;
    }
    layers_[stage] = register_module("layer" + std::to_string(stage + 1), layer);
  }
  fc_ = register_module("fc", torch::nn::Linear(channels, num_classes));

  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* c = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(c->weight, /*a=*/0, torch::kFanOut, torch::kReLU);
    }
  }
  for (auto& layer : layers_) {
    for (auto& block : *layer) {
      torch::nn::init::zeros_(block.get<BlockImpl>().last_bn()->weight);
    }
  }
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = conv1_deep_ ? conv1_deep_->forward(x) : conv1_plain_->forward(x);
  x = torch::relu(bn1_->forward(x));
  x = torch::max_pool2d(x, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
  for (auto& layer : layers_) x = layer->forward(x);
  return fc_->forward(x.mean({2, 3}));
}

}  // namespace cv_example
