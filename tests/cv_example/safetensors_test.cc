// Reading, writing and strict loading of safetensors files.
#include "safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "resnet.h"
#include "test_util.h"

namespace cv_example {
namespace {

using cv_example_test::read_text;
using cv_example_test::TempDir;
using cv_example_test::write_text;
using ::testing::HasSubstr;

// A file as the format's specification lays it out, built byte by byte.
std::string raw_file(const std::string& header, const std::string& data) {
  const uint64_t length = header.size();
  std::string bytes(sizeof(length), '\0');
  std::memcpy(bytes.data(), &length, sizeof(length));
  return bytes + header + data;
}

std::string floats(std::initializer_list<float> values) {
  std::string bytes;
  for (float v : values) bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
  return bytes;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  ResNet small_model(int64_t classes = 5) { return ResNet(*resnet_config("resnet10t"), classes); }
  // The state of a fresh resnet10t, written to "good.safetensors".
  std::string write_good(TensorMap* written) {
    *written = state_dict(*small_model());
    const std::string path = dir_.file("good.safetensors");
    EXPECT_EQ(write_safetensors(path, *written), "");
    return path;
  }
  std::string load_into_fresh(const TensorMap& tensors, bool* skipped) {
    ResNet model = small_model();
    return load_state_dict(*model, tensors, "weights", "fc.", skipped);
  }

  TempDir dir_;
};

TEST_F(SafetensorsTest, ReadsFileLaidOutAsSpecified) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  int64_t seven = 7;
  write_text(dir_.file("raw.safetensors"),
             raw_file(header, floats({1.5f, -2.0f}) +
                                  std::string(reinterpret_cast<const char*>(&seven), 8)));
  TensorMap tensors;
  ASSERT_EQ(read_safetensors(dir_.file("raw.safetensors"), &tensors), "");
  ASSERT_EQ(tensors.size(), 2u);
  EXPECT_TRUE(torch::equal(tensors["a"], torch::tensor({1.5f, -2.0f})));
  EXPECT_EQ(tensors["b"].dim(), 0);
  EXPECT_EQ(tensors["b"].item<int64_t>(), 7);
}

TEST_F(SafetensorsTest, WrittenFileReadsBackAndLoads) {
  TensorMap written;
  const std::string path = write_good(&written);
  // The writer pads the header so the data starts 8-byte aligned, as the reference one does.
  uint64_t header = 0;
  std::memcpy(&header, read_text(path).data(), sizeof(header));
  EXPECT_EQ(header % 8, 0u);

  TensorMap read;
  ASSERT_EQ(read_safetensors(path, &read), "");
  ASSERT_EQ(read.size(), written.size());
  for (const auto& [name, tensor] : written) EXPECT_TRUE(torch::equal(read[name], tensor)) << name;

  ResNet model = small_model();
  bool skipped = true;
  ASSERT_EQ(load_state_dict(*model, read, path, "fc.", &skipped), "");
  EXPECT_FALSE(skipped);
  for (const auto& [name, tensor] : state_dict(*model)) {
    EXPECT_TRUE(torch::equal(tensor, written[name])) << name;
  }
}

TEST_F(SafetensorsTest, SameTensorsGiveIdenticalFiles) {
  TensorMap written;
  write_good(&written);
  ASSERT_EQ(write_safetensors(dir_.file("again.safetensors"), written), "");
  EXPECT_EQ(read_text(dir_.file("good.safetensors")), read_text(dir_.file("again.safetensors")));
}

TEST_F(SafetensorsTest, WrongShapeIsNamed) {
  TensorMap tensors;
  write_good(&tensors);
  tensors["layer2.0.conv1.weight"] = torch::zeros({3, 3});
  bool skipped = false;
  EXPECT_THAT(load_into_fresh(tensors, &skipped),
              HasSubstr("tensor 'layer2.0.conv1.weight' has shape [3, 3], the model expects"));
}

TEST_F(SafetensorsTest, MissingTensorIsNamed) {
  TensorMap tensors;
  write_good(&tensors);
  tensors.erase("layer3.0.bn1.running_var");
  bool skipped = false;
  EXPECT_EQ(load_into_fresh(tensors, &skipped),
            "weights: missing tensor 'layer3.0.bn1.running_var'");
}

TEST_F(SafetensorsTest, UnexpectedTensorIsNamed) {
  TensorMap tensors;
  write_good(&tensors);
  tensors["head.weight"] = torch::zeros({1});
  bool skipped = false;
  EXPECT_EQ(load_into_fresh(tensors, &skipped), "weights: unexpected tensor 'head.weight'");
}

TEST_F(SafetensorsTest, IntegerTensorForFloatParameterIsRefused) {
  TensorMap tensors;
  write_good(&tensors);
  tensors["fc.bias"] = torch::zeros({5}, torch::kInt32);
  bool skipped = false;
  EXPECT_THAT(load_into_fresh(tensors, &skipped),
              HasSubstr("tensor 'fc.bias' has dtype I32, the model expects F32"));
}

TEST_F(SafetensorsTest, HalfPrecisionWeightsAreConverted) {
  TensorMap tensors;
  write_good(&tensors);
  const std::string name = "layer1.0.conv1.weight";
  // Values bf16 cannot hold exactly, so that a load that kept the float32 originals would show.
  tensors[name] =
      (torch::randn(tensors[name].sizes(), torch::TensorOptions().dtype(torch::kFloat32)) / 3)
          .to(torch::kBFloat16);
  bool skipped = false;
  ResNet model = small_model();
  ASSERT_EQ(load_state_dict(*model, tensors, "weights", "fc.", &skipped), "");
  bool found = false;
  for (const auto& parameter : model->named_parameters()) {
    if (parameter.key() != name) continue;
    found = true;
    EXPECT_EQ(parameter.value().scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::equal(parameter.value(), tensors[name].to(torch::kFloat32)))
        << "the loaded values are not the bf16 values widened";
  }
  EXPECT_TRUE(found) << name;
}

TEST_F(SafetensorsTest, MissingBatchCountersAreTolerated) {
  TensorMap tensors;
  write_good(&tensors);
  std::erase_if(tensors, [](const auto& item) {
    return item.first.find("num_batches_tracked") != std::string::npos;
  });
  bool skipped = false;
  EXPECT_EQ(load_into_fresh(tensors, &skipped), "");
}

TEST_F(SafetensorsTest, OtherClassCountLeavesFreshClassifier) {
  TensorMap tensors = state_dict(*ResNet(*resnet_config("resnet10t"), 1000));
  ResNet model = small_model(5);
  const torch::Tensor fresh = model->named_parameters()["fc.weight"].clone();
  bool skipped = false;
  ASSERT_EQ(load_state_dict(*model, tensors, "weights", "fc.", &skipped), "");
  EXPECT_TRUE(skipped);
  EXPECT_TRUE(torch::equal(model->named_parameters()["fc.weight"], fresh));
  EXPECT_TRUE(torch::equal(model->named_parameters()["conv1.0.weight"], tensors["conv1.0.weight"]));
}

TEST_F(SafetensorsTest, FailedLoadChangesNothing) {
  TensorMap tensors;
  write_good(&tensors);
  for (auto& [name, tensor] : tensors) tensor = tensor + 1;
  tensors.erase("fc.bias");
  ResNet model = small_model();
  const torch::Tensor before = model->named_parameters()["conv1.0.weight"].clone();
  bool skipped = false;
  EXPECT_NE(load_state_dict(*model, tensors, "weights", "fc.", &skipped), "");
  EXPECT_TRUE(torch::equal(model->named_parameters()["conv1.0.weight"], before));
}

TEST_F(SafetensorsTest, TruncatedDataIsReported) {
  TensorMap written;
  const std::string bytes = read_text(write_good(&written));
  write_text(dir_.file("cut.safetensors"), bytes.substr(0, bytes.size() - 100));
  TensorMap tensors;
  const std::string error = read_safetensors(dir_.file("cut.safetensors"), &tensors);
  EXPECT_THAT(error, HasSubstr("cut.safetensors: truncated: tensor '"));
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST_F(SafetensorsTest, TruncatedHeaderIsReported) {
  TensorMap written;
  const std::string bytes = read_text(write_good(&written));
  write_text(dir_.file("cut.safetensors"), bytes.substr(0, 100));
  TensorMap tensors;
  EXPECT_THAT(read_safetensors(dir_.file("cut.safetensors"), &tensors),
              HasSubstr("truncated: header of"));
  write_text(dir_.file("tiny.safetensors"), "abc");
  EXPECT_THAT(read_safetensors(dir_.file("tiny.safetensors"), &tensors),
              HasSubstr("truncated: no header length"));
}

TEST_F(SafetensorsTest, BadHeadersAreReported) {
  TensorMap tensors;
  write_text(dir_.file("json.safetensors"), raw_file("{not json", ""));
  EXPECT_THAT(read_safetensors(dir_.file("json.safetensors"), &tensors),
              HasSubstr("bad header: not a JSON object"));
  write_text(dir_.file("size.safetensors"),
             raw_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floats({1, 2})));
  EXPECT_THAT(read_safetensors(dir_.file("size.safetensors"), &tensors),
              HasSubstr("bad header: tensor 'a' has 8 data bytes for shape [3] of F32"));
  write_text(dir_.file("dtype.safetensors"),
             raw_file(R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "x"));
  EXPECT_THAT(read_safetensors(dir_.file("dtype.safetensors"), &tensors),
              HasSubstr("tensor 'a' has unsupported dtype F8_E4M3"));
  EXPECT_THAT(read_safetensors(dir_.file("absent.safetensors"), &tensors),
              HasSubstr("absent.safetensors: cannot open"));
}

}  // namespace
}  // namespace cv_example
