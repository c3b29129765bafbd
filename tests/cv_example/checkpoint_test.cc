// Checkpoint files: what they restore, how they are named, pruned and written.
#include "checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "common/file_io.h"
#include "resnet.h"
#include "safetensors.h"
#include "test_util.h"

namespace cv_example {
namespace {

using cv_example_test::read_text;
using cv_example_test::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

ResNet tiny_model() { return ResNet(*resnet_config("resnet10t"), 3); }

// One optimizer step on random data, so Adam has state worth saving.
void train_step(ResNet& model, torch::optim::Adam& optimizer) {
  optimizer.zero_grad();
  torch::nn::functional::cross_entropy(model->forward(torch::randn({4, 3, 32, 32})),
                                       torch::tensor({0, 1, 2, 0}))
      .backward();
  optimizer.step();
}

TEST(CheckpointTest, RestoresModelOptimizerProgressAndRng) {
  TempDir dir;
  torch::manual_seed(1);
  ResNet model = tiny_model();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  train_step(model, optimizer);
  const Progress saved{.epoch = 2,
                       .step_in_epoch = 5,
                       .global_step = 17,
                       .epoch_losses = {1.5, 0.25},
                       .fingerprint = "run A"};
  const std::string path = checkpoint_path(dir.path(), 17);
  ASSERT_EQ(save_checkpoint(path, *model, optimizer, saved), "");
  // What the saved run does next: draws from the generator, then trains a step on random data.
  const torch::Tensor next_random = torch::rand({4});
  train_step(model, optimizer);
  const TensorMap expected = state_dict(*model);

  torch::manual_seed(99);
  ResNet restored = tiny_model();
  torch::optim::Adam restored_optimizer(restored->parameters(), torch::optim::AdamOptions(1e-3));
  Progress progress{.fingerprint = "run A"};
  ASSERT_EQ(load_checkpoint(path, *restored, restored_optimizer, &progress), "");
  EXPECT_EQ(progress.epoch, 2);
  EXPECT_EQ(progress.step_in_epoch, 5);
  EXPECT_EQ(progress.global_step, 17);
  EXPECT_EQ(progress.epoch_losses, (std::vector<double>{1.5, 0.25}));
  EXPECT_TRUE(torch::equal(torch::rand({4}), next_random));
  // Same weights, Adam moments and data: the same step, bit for bit.
  train_step(restored, restored_optimizer);
  for (const auto& [name, tensor] : state_dict(*restored)) {
    EXPECT_TRUE(torch::equal(tensor, expected.at(name))) << name;
  }
}

// The refusal names each setting that differs, with both values, not two strings to compare.
TEST(CheckpointTest, RefusesAnotherRunsCheckpointNamingWhatDiffers) {
  TempDir dir;
  ResNet model = tiny_model();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  const std::string path = checkpoint_path(dir.path(), 1);
  const std::string saved = encode_run_settings(
      {{"--model", "resnet10t"}, {"classes", "3"}, {"--epochs", "1"}, {"--seed", "42"}});
  ASSERT_EQ(save_checkpoint(path, *model, optimizer, {.fingerprint = saved}), "");
  Progress progress{
      .fingerprint = encode_run_settings(
          {{"--model", "resnet10t"}, {"classes", "3"}, {"--epochs", "2"}, {"--seed", "7"}})};
  const std::string error = load_checkpoint(path, *model, optimizer, &progress);
  EXPECT_THAT(error, HasSubstr(path + ": cannot resume this run: "));
  EXPECT_THAT(error, HasSubstr("--epochs: checkpoint 1, now 2 (the one-cycle schedule's length "
                               "is fixed at the start: it cannot be stretched)"));
  EXPECT_THAT(error, HasSubstr("--seed: checkpoint 42, now 7"));
  EXPECT_THAT(error, Not(HasSubstr("--model")));
  EXPECT_THAT(error, Not(HasSubstr("classes")));
  EXPECT_EQ(error.find('\n'), std::string::npos) << "one line";
  // The same settings resume.
  Progress same{.fingerprint = saved};
  EXPECT_EQ(load_checkpoint(path, *model, optimizer, &same), "");
  // A checkpoint of an older version (a sentence, not settings) is refused saying so.
  ASSERT_EQ(save_checkpoint(path, *model, optimizer, {.fingerprint = "resnet10t, 3 classes"}), "");
  EXPECT_THAT(load_checkpoint(path, *model, optimizer, &same),
              HasSubstr("made by an older version of cv_example"));
}

TEST(CheckpointTest, DamagedFileIsReportedNotThrown) {
  TempDir dir;
  ResNet model = tiny_model();
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(1e-3));
  ASSERT_EQ(common::WriteFileAtomically(dir.file("checkpoint-3.pt"), "not a checkpoint"), "");
  Progress progress;
  EXPECT_THAT(load_checkpoint(dir.file("checkpoint-3.pt"), *model, optimizer, &progress),
              HasSubstr("checkpoint-3.pt: not a usable checkpoint"));
}

TEST(CheckpointTest, LatestIsHighestStepNotNewestName) {
  TempDir dir;
  EXPECT_FALSE(latest_checkpoint(dir.path()).has_value());
  for (int step : {9, 10, 100, 25}) {
    ASSERT_EQ(common::WriteFileAtomically(checkpoint_path(dir.path(), step), "x"), "");
  }
  ASSERT_EQ(common::WriteFileAtomically(dir.file("checkpoint-final.pt"), "x"), "");
  EXPECT_EQ(latest_checkpoint(dir.path()), checkpoint_path(dir.path(), 100));
}

TEST(CheckpointTest, PruneKeepsNewestAndDropsStrayTemporaries) {
  TempDir dir;
  for (int step : {2, 4, 6, 8}) {
    ASSERT_EQ(common::WriteFileAtomically(checkpoint_path(dir.path(), step), "x"), "");
  }
  ASSERT_EQ(common::WriteFileAtomically(dir.file(".checkpoint-10.pt.tmp.1234"), "partial"), "");
  ASSERT_EQ(prune_checkpoints(dir.path(), 2), "");
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    left.push_back(entry.path().filename().string());
  }
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"checkpoint-6.pt", "checkpoint-8.pt"}));
}

TEST(CheckpointTest, AtomicWriteReplacesWholeFileAndLeavesNoTemporary) {
  TempDir dir;
  ASSERT_EQ(common::WriteFileAtomically(dir.file("f"), "old content"), "");
  ASSERT_EQ(common::WriteFileAtomically(dir.file("f"), "new"), "");
  EXPECT_EQ(read_text(dir.file("f")), "new");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            1);
  EXPECT_THAT(common::WriteFileAtomically(dir.file("missing/f"), "x"), HasSubstr("cannot create"));
}

}  // namespace
}  // namespace cv_example
