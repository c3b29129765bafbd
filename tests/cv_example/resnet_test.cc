// The ResNet family against the state_dict names and shapes in CV_EXAMPLE.md (timm's resnet50d),
// and against torchvision's own resnet18/resnet50 (names, shapes and outputs) when the system
// Python has torchvision.
#include "resnet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "safetensors.h"
#include "test_util.h"

namespace cv_example {
namespace {

using Shapes = std::map<std::string, std::vector<int64_t>>;

Shapes shapes_of(const torch::nn::Module& module) {
  Shapes shapes;
  for (const auto& [name, tensor] : state_dict(module)) shapes[name] = tensor.sizes().vec();
  return shapes;
}

void add_batch_norm(Shapes& shapes, const std::string& prefix, int64_t channels) {
  for (const char* name : {"weight", "bias", "running_mean", "running_var"}) {
    shapes[prefix + "." + name] = {channels};
  }
  shapes[prefix + ".num_batches_tracked"] = {};
}

// resnet50d's state_dict as CV_EXAMPLE.md describes it: deep stem conv1.{0,3,6} with BatchNorms
// conv1.{1,4}, Bottleneck blocks (3, 4, 6, 3) with conv1..3/bn1..3, and on each stage's first
// block the shortcut downsample.1 (1x1 conv) and downsample.2 (BatchNorm) after the pool at 0.
Shapes expected_resnet50d(int64_t classes) {
  Shapes shapes;
  shapes["conv1.0.weight"] = {32, 3, 3, 3};
  add_batch_norm(shapes, "conv1.1", 32);
  shapes["conv1.3.weight"] = {32, 32, 3, 3};
  add_batch_norm(shapes, "conv1.4", 32);
  shapes["conv1.6.weight"] = {64, 32, 3, 3};
  add_batch_norm(shapes, "bn1", 64);
  const int blocks[] = {3, 4, 6, 3};
  int64_t in = 64;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t width = int64_t{64} << stage, out = width * 4;
    for (int i = 0; i < blocks[stage]; ++i) {
      const std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(i) + ".";
      const int64_t block_in = i == 0 ? in : out;
      shapes[p + "conv1.weight"] = {width, block_in, 1, 1};
      add_batch_norm(shapes, p + "bn1", width);
      shapes[p + "conv2.weight"] = {width, width, 3, 3};
      add_batch_norm(shapes, p + "bn2", width);
      shapes[p + "conv3.weight"] = {out, width, 1, 1};
      add_batch_norm(shapes, p + "bn3", out);
      if (i == 0) {
        shapes[p + "downsample.1.weight"] = {out, block_in, 1, 1};
        add_batch_norm(shapes, p + "downsample.2", out);
      }
    }
    in = out;
  }
  shapes["fc.weight"] = {classes, 2048};
  shapes["fc.bias"] = {classes};
  return shapes;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& p : module.parameters()) count += p.numel();
  return count;
}

TEST(ResNetTest, Resnet50dHasTimmNamesAndShapes) {
  ResNet model(*resnet_config("resnet50d"), 1000);
  EXPECT_EQ(shapes_of(*model), expected_resnet50d(1000));
}

TEST(ResNetTest, Resnet50dHas25Point6MillionParameters) {
  ResNet model(*resnet_config("resnet50d"), 1000);
  EXPECT_NEAR(parameter_count(*model), 25.6e6, 0.05e6);
}

TEST(ResNetTest, Resnet50HasTorchvisionNamesAndCount) {
  ResNet model(*resnet_config("resnet50"), 1000);
  const Shapes shapes = shapes_of(*model);
  EXPECT_EQ(shapes.at("conv1.weight"), (std::vector<int64_t>{64, 3, 7, 7}));
  EXPECT_EQ(shapes.at("layer1.0.downsample.0.weight"), (std::vector<int64_t>{256, 64, 1, 1}));
  EXPECT_EQ(shapes.at("layer2.0.downsample.0.weight"), (std::vector<int64_t>{512, 256, 1, 1}));
  EXPECT_EQ(shapes.at("layer4.0.downsample.1.running_var"), (std::vector<int64_t>{2048}));
  EXPECT_EQ(shapes.count("layer1.1.downsample.0.weight"), 0u);
  EXPECT_EQ(shapes.size(), 320u);  // torchvision's resnet50 state_dict has 320 entries
  EXPECT_EQ(parameter_count(*model), 25557032);
}

TEST(ResNetTest, OutputIsBatchByClassesForEveryModel) {
  torch::NoGradGuard no_grad;
  for (const std::string& name : resnet_names()) {
    SCOPED_TRACE(name);
    ResNet model(*resnet_config(name), 37);
    model->eval();
    EXPECT_EQ(model->forward(torch::randn({2, 3, 64, 48})).sizes(), (torch::IntArrayRef{2, 37}));
  }
}

TEST(ResNetTest, Resnet50dTakesTheRecipeInputSize) {
  torch::NoGradGuard no_grad;
  ResNet model(*resnet_config("resnet50d"), 37);
  model->eval();
  EXPECT_EQ(model->forward(torch::randn({1, 3, 224, 224})).sizes(), (torch::IntArrayRef{1, 37}));
}

TEST(ResNetTest, UnknownNameHasNoConfig) { EXPECT_FALSE(resnet_config("resnet51").has_value()); }

TEST(ResNetTest, LastBatchNormOfEachBlockStartsAtZero) {
  ResNet model(*resnet_config("resnet26d"), 10);
  const TensorMap tensors = state_dict(*model);
  EXPECT_EQ(tensors.at("layer3.1.bn3.weight").abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(tensors.at("layer3.1.bn2.weight").min().item<float>(), 1.0f);
}

// torchvision (an independent implementation) writes its resnet18 and resnet50 with random
// weights and BatchNorm statistics, an input, and its output; ours must load the weights strictly
// and compute the same output.
constexpr const char* kTorchvisionScript = R"(
import json, struct, sys, torch, torchvision
def save(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().tobytes()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
torch.manual_seed(0)
for name in sys.argv[2:]:
    model = getattr(torchvision.models, name)()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5); m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2); m.running_var.uniform_(0.5, 1.5)
    model.eval()
    x = torch.randn(2, 3, 96, 80)
    with torch.no_grad():
        y = model(x)
    save(sys.argv[1] + "/" + name + ".safetensors", model.state_dict())
    save(sys.argv[1] + "/" + name + "_io.safetensors", {"input": x, "output": y})
)";

TEST(ResNetTest, MatchesTorchvisionOutputs) {
  cv_example_test::TempDir dir;
  cv_example_test::write_text(dir.file("export.py"), kTorchvisionScript);
  const std::string command = STAGE_TORCH_PYTHON " " + dir.file("export.py") + " " + dir.path() +
                              " resnet18 resnet50 2>" + dir.file("python.err");
  // Skipped only where torchvision is not there at all; any other failure of the export (an API
  // that moved, a crash) is this test failing.
  const std::string probe = STAGE_TORCH_PYTHON " -c 'import torch, torchvision' >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    GTEST_SKIP() << "no torch and torchvision in " STAGE_TORCH_PYTHON;
  }
  ASSERT_EQ(std::system(command.c_str()), 0)
      << "the export failed: " << cv_example_test::read_text(dir.file("python.err"));
  torch::NoGradGuard no_grad;
  for (const std::string name : {"resnet18", "resnet50"}) {
    SCOPED_TRACE(name);
    TensorMap weights, io;
    ASSERT_EQ(read_safetensors(dir.file(name + ".safetensors"), &weights), "");
    ASSERT_EQ(read_safetensors(dir.file(name + "_io.safetensors"), &io), "");
    ResNet model(*resnet_config(name), 1000);
    EXPECT_EQ(shapes_of(*model).size(), weights.size());
    bool skipped = true;
    ASSERT_EQ(load_state_dict(*model, weights, name, "fc.", &skipped), "");
    EXPECT_FALSE(skipped);
    model->eval();
    const torch::Tensor output = model->forward(io.at("input"));
    EXPECT_TRUE(torch::allclose(output, io.at("output"), /*rtol=*/1e-4, /*atol=*/1e-4))
        << "largest difference " << (output - io.at("output")).abs().max().item<float>();
  }
}

}  // namespace
}  // namespace cv_example
