// cv_example end to end on small synthetic sets from make_pets, on the CPU.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "run_output.h"
#include "test_util.h"

namespace {

using cv_example_test::json_lines;
using cv_example_test::Outcome;
using cv_example_test::program;
using cv_example_test::read_text;
using cv_example_test::run;
using cv_example_test::TempDir;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;

size_t count_lines(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

class CvExampleTest : public ::testing::Test {
 protected:
  // Makes `count` synthetic images in data_dir().
  void make_data(int count) {
    const Outcome made = run(
        {program("make_pets"), "--out", data_.path(), "--count", std::to_string(count)}, scratch_);
    ASSERT_EQ(made.status, 0) << made.err;
  }
  // The cv_example command on data_dir() with `args`, plus the small, deterministic CPU settings
  // that `args` leaves out.
  std::vector<std::string> command(const std::vector<std::string>& args) {
    std::vector<std::string> all = {program("cv_example"), "--data_dir", data_.path(), "--cpu"};
    all.insert(all.end(), args.begin(), args.end());
    for (const auto& [flag, value] :
         {std::pair{"--model", "resnet10t"}, {"--threads", "1"}, {"--workers", "1"}}) {
      if (std::find(args.begin(), args.end(), flag) == args.end()) {
        all.insert(all.end(), {flag, value});
      }
    }
    return all;
  }
  Outcome train(const std::vector<std::string>& args) { return run(command(args), scratch_); }
  TempDir scratch_, data_;
};

TEST_F(CvExampleTest, HelpShowsExamples) {
  const Outcome help = run({program("cv_example"), "--help"}, scratch_);
  EXPECT_EQ(help.status, 0);
  EXPECT_THAT(help.out, HasSubstr("Examples:"));
  EXPECT_THAT(help.out, HasSubstr("--resume_from_checkpoint"));
}

// What was compiled in is said, from the program as linked: a CUDA LibTorch whose CUDA library
// the linker dropped would say "cuda: no" while configure had found CUDA.
TEST_F(CvExampleTest, VersionSaysWhatWasCompiledAndLinkedIn) {
  const Outcome version = run({program("cv_example"), "--version"}, scratch_);
  ASSERT_EQ(version.status, 0) << version.err;
  const auto yes_no = [](bool value) { return std::string(value ? "yes" : "no"); };
  EXPECT_THAT(version.out, HasSubstr("LibTorch " STAGE_EXPECT_LIBTORCH));
  EXPECT_THAT(version.out, HasSubstr("cuda: " + yes_no(STAGE_EXPECT_CUDA)));
  EXPECT_THAT(version.out, HasSubstr("nccl: " + yes_no(STAGE_EXPECT_NCCL)));
  EXPECT_THAT(version.out, HasSubstr("gloo: " + yes_no(STAGE_EXPECT_GLOO)));
  if (STAGE_REQUIRE_CUDA) {  // the CUDA build
    EXPECT_THAT(version.out, HasSubstr("cuda: yes (runtime "));
    EXPECT_THAT(version.out, HasSubstr("nccl: yes"));
  }
  // The version line, then the build facts.
  EXPECT_THAT(version.out,
              ContainsRegex("^cv_example [0-9]+\\.[0-9]+\\.[0-9]+ \\(git [^)]+\\)\nLibTorch"));
  EXPECT_EQ(count_lines(version.out), 2u);
}

// --fixed_batch takes as many steps as a normal epoch, all on the first batch: the same batch
// seen again and again is learnt by heart, which images never seen before would not allow.
TEST_F(CvExampleTest, FixedBatchTakesEveryStepOnTheFirstBatch) {
  make_data(74);
  const std::vector<std::string> args = {"--image_size", "32",    "--batch_size", "8",
                                         "--epochs",     "2",     "--train_all",  "--lr",
                                         "1e-2",         "--json"};
  const Outcome normal = train(args);
  std::vector<std::string> fixed_args = args;
  fixed_args.push_back("--fixed_batch");
  const Outcome fixed = train(fixed_args);
  ASSERT_EQ(normal.status, 0) << normal.err;
  ASSERT_EQ(fixed.status, 0) << fixed.err;
  EXPECT_THAT(fixed.err, HasSubstr("every step on one fixed batch"));
  const auto normal_epochs = json_lines(normal.out), fixed_epochs = json_lines(fixed.out);
  ASSERT_EQ(fixed_epochs.size(), 2u);
  ASSERT_EQ(normal_epochs.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(fixed_epochs[e]["losses"].size(), normal_epochs[e]["losses"].size());
  }
  // The first step is the same in both; after that the fixed batch's loss falls far lower.
  EXPECT_EQ(fixed_epochs[0]["losses"][0], normal_epochs[0]["losses"][0]);
  EXPECT_LT(fixed_epochs[1]["losses"].back().get<double>(),
            0.5 * normal_epochs[1]["losses"].back().get<double>());
}

TEST_F(CvExampleTest, LearnsTinySyntheticSet) {
  make_data(370);
  const Outcome trained = train({"--image_size", "48", "--batch_size", "16", "--epochs", "6",
                                 "--train_all", "--lr", "3e-3", "--threads", "2", "--json"});
  ASSERT_EQ(trained.status, 0) << trained.err;
  // With --json stdout holds JSON lines alone; the recipe's line and the epoch's wall time and
  // rates go to stderr.
  EXPECT_TRUE(std::regex_search(trained.err, std::regex(R"((^|\n)epoch 0: \d+\.\d\d\n)")))
      << trained.err;
  EXPECT_TRUE(std::regex_search(
      trained.err, std::regex(R"(epoch 5: [0-9.]+ s \(train [0-9.]+ s, eval [0-9.]+ s\), train )"
                              R"(loss [0-9.]+, [0-9.]+ images/s, waiting for data)")))
      << trained.err;
  const auto epochs = json_lines(trained.out);
  ASSERT_EQ(epochs.size(), 6u);
  EXPECT_EQ(static_cast<size_t>(std::count(trained.out.begin(), trained.out.end(), '\n')), 6u)
      << "a line on stdout that is not JSON:\n"
      << trained.out;
  for (const auto& epoch : epochs) {
    EXPECT_GT(epoch["epoch_seconds"].get<double>(), epoch["train_seconds"].get<double>());
  }
  // 37 classes: chance is 2.7%. Measured: above 80% from the fourth epoch on.
  EXPECT_GT(epochs.back()["accuracy_pct"].get<double>(), 50.0) << trained.out;
  EXPECT_LT(epochs.back()["train_loss"].get<double>(), epochs.front()["train_loss"].get<double>());
}

TEST_F(CvExampleTest, ResumeAfterKillMatchesUninterruptedRun) {
  make_data(74);
  const std::vector<std::string> args = {"--image_size", "32", "--batch_size", "8",
                                         "--epochs",     "2",  "--json",       "--train_all"};
  TempDir whole, killed;
  std::vector<std::string> uninterrupted = args;
  uninterrupted.insert(uninterrupted.end(), {"--output_dir", whole.path()});
  const Outcome reference = train(uninterrupted);
  ASSERT_EQ(reference.status, 0) << reference.err;

  std::vector<std::string> interrupted = args;
  interrupted.insert(interrupted.end(), {"--output_dir", killed.path(), "--checkpointing_steps",
                                         "3", "--keep_checkpoints", "2"});
  const pid_t pid = cv_example_test::start(command(interrupted), scratch_.file("killed.out"),
                                           scratch_.file("killed.err"));
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(killed.file("checkpoint-6.pt")) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(pid, SIGKILL);
  EXPECT_EQ(cv_example_test::wait_for(pid), 128 + SIGKILL) << "finished before it was killed";
  EXPECT_FALSE(std::filesystem::exists(killed.file("model.safetensors")));

  const int64_t newest = cv_example_test::newest_checkpoint_step(killed.path());
  interrupted.insert(interrupted.end(), {"--resume_from_checkpoint", "latest"});
  const Outcome resumed = train(interrupted);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  cv_example_test::expect_resumed_as_uninterrupted(reference.out, resumed.out, resumed.err, 2,
                                                   newest, whole.file("model.safetensors"),
                                                   killed.file("model.safetensors"));
  // Every step saved a checkpoint at 3, 6, ...; only the newest two are left.
  size_t checkpoints = 0;
  for (const auto& entry : std::filesystem::directory_iterator(killed.path())) {
    checkpoints += entry.path().extension() == ".pt";
  }
  EXPECT_EQ(checkpoints, 2u);
}

// Waits until `path` holds `text` (or a minute passed).
void wait_for_text(const std::string& path, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (read_text(path).find(text) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// SIGTERM mid-epoch (a reclaimed spot machine): the step at hand finishes, a checkpoint is
// saved, and resuming from it gives exactly the uninterrupted run.
TEST_F(CvExampleTest, SigtermSavesACheckpointAndResumeMatchesUninterruptedRun) {
  make_data(96);
  const std::vector<std::string> args = {"--image_size", "32", "--batch_size", "8",
                                         "--epochs",     "3",  "--json",       "--train_all"};
  TempDir whole, stopped;
  std::vector<std::string> uninterrupted = args;
  uninterrupted.insert(uninterrupted.end(), {"--output_dir", whole.path()});
  const Outcome reference = train(uninterrupted);
  ASSERT_EQ(reference.status, 0) << reference.err;

  std::vector<std::string> interrupted = args;
  interrupted.insert(interrupted.end(), {"--output_dir", stopped.path()});
  const pid_t pid = cv_example_test::start(command(interrupted), scratch_.file("stopped.out"),
                                           scratch_.file("stopped.err"));
  ASSERT_GT(pid, 0);
  wait_for_text(scratch_.file("stopped.out"), "\"epoch\":0");
  ::kill(pid, SIGTERM);
  ASSERT_EQ(cv_example_test::wait_for(pid), 128 + SIGTERM) << "finished before the signal";
  const std::string err = read_text(scratch_.file("stopped.err"));
  std::smatch stop;
  ASSERT_TRUE(std::regex_search(
      err, stop,
      std::regex(R"(cv_example: stopped by SIGTERM after step (\d+) \(epoch \d\); checkpoint )"
                 R"(saved to .*checkpoint-(\d+)\.pt)")))
      << err;
  EXPECT_EQ(stop[1], stop[2]) << "the checkpoint is of the step the run stopped after";
  EXPECT_FALSE(std::filesystem::exists(stopped.file("model.safetensors")));

  interrupted.insert(interrupted.end(), {"--resume_from_checkpoint", "latest"});
  const Outcome resumed = train(interrupted);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  cv_example_test::expect_resumed_as_uninterrupted(
      reference.out, resumed.out, resumed.err, 3, std::stoll(stop[1]),
      whole.file("model.safetensors"), stopped.file("model.safetensors"));
}

// Ctrl-C without --output_dir: it stops and says that nothing was saved.
TEST_F(CvExampleTest, SigintWithoutOutputDirSaysNothingWasSaved) {
  make_data(148);
  const pid_t pid =
      cv_example_test::start(command({"--image_size", "32", "--batch_size", "8", "--epochs", "6"}),
                             scratch_.file("out"), scratch_.file("err"));
  wait_for_text(scratch_.file("out"), "epoch 0: ");
  ::kill(pid, SIGINT);
  ASSERT_EQ(cv_example_test::wait_for(pid), 128 + SIGINT);
  EXPECT_THAT(read_text(scratch_.file("err")), HasSubstr("; nothing saved (no --output_dir)\n"));
}

// A second signal ends the run at once, possibly in the middle of writing a checkpoint: the
// checkpoints left are whole, and the run resumes from the newest.
TEST_F(CvExampleTest, SecondSignalDuringCheckpointingLeavesWholeCheckpoints) {
  make_data(148);
  TempDir out;
  std::vector<std::string> args = {
      "--image_size", "32",       "--batch_size",          "8", "--epochs", "3",
      "--output_dir", out.path(), "--checkpointing_steps", "1"};
  const pid_t pid =
      cv_example_test::start(command(args), scratch_.file("out"), scratch_.file("err"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(out.file("checkpoint-5.pt")) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Two different signals, so that neither merges into the other while pending: whichever is
  // delivered second ends the run at once.
  ::kill(pid, SIGTERM);
  ::kill(pid, SIGINT);
  const int status = cv_example_test::wait_for(pid);
  EXPECT_TRUE(status == 128 + SIGTERM || status == 128 + SIGINT) << status;
  // The second signal ended it at once: no graceful stop, no stop line, no final model.
  EXPECT_EQ(read_text(scratch_.file("err")).find("stopped by"), std::string::npos)
      << read_text(scratch_.file("err"));
  EXPECT_FALSE(std::filesystem::exists(out.file("model.safetensors")));
  const int64_t newest = cv_example_test::newest_checkpoint_step(out.path());
  ASSERT_GE(newest, 5);
  args.insert(args.end(), {"--resume_from_checkpoint", "latest"});
  const Outcome resumed = train(args);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  const cv_example_test::ResumedFrom from = cv_example_test::resumed_from(resumed.err);
  EXPECT_EQ(from.step, newest) << resumed.err;
  EXPECT_EQ(resumed.err.find("starting afresh"), std::string::npos) << resumed.err;
}

TEST_F(CvExampleTest, EvalOnlyWritesOneRowPerImage) {
  make_data(40);
  // A class and files whose names need CSV quoting (a comma, quotes), as names from an archive may.
  for (const char* odd : {"Odd, \"cat\"_1.jpg", "Odd, \"cat\"_2.jpg", "Odd, \"cat\"_3.jpg"}) {
    std::filesystem::copy_file(std::filesystem::path(data_.path()) / "Abyssinian_1.jpg",
                               std::filesystem::path(data_.path()) / odd);
  }
  TempDir out;
  // The output directory is created when missing, as on a fresh persistent disk.
  const Outcome trained = train({"--image_size", "32", "--batch_size", "8", "--epochs", "1",
                                 "--output_dir", out.file("run")});
  ASSERT_EQ(trained.status, 0) << trained.err;
  const Outcome evaluated =
      train({"--image_size", "32", "--eval_only", "--weights", out.file("run/model.safetensors"),
             "--predictions_out", out.file("predictions.csv")});
  ASSERT_EQ(evaluated.status, 0) << evaluated.err;
  EXPECT_TRUE(std::regex_search(evaluated.out, std::regex(R"(^eval: \d+\.\d\d\n)")));
  const std::string csv = read_text(out.file("predictions.csv"));
  EXPECT_EQ(count_lines(csv), 44u);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "file,true_label,predicted_label,logit");
  EXPECT_TRUE(
      std::regex_search(csv, std::regex(R"(\nAbyssinian_1\.jpg,Abyssinian,[^\n]+,-?[\d.e+-]+\n)")))
      << csv;
  // RFC 4180: quoted, quotes doubled.
  EXPECT_THAT(csv, HasSubstr("\n\"Odd, \"\"cat\"\"_2.jpg\",\"Odd, \"\"cat\"\"\","));
}

// The same job from a plain tar of the directory, read in place: the same losses, accuracy and
// weights, the same resumed run from a checkpoint, and the same evaluation.
TEST_F(CvExampleTest, TrainsFromTheArchiveInPlaceExactlyAsFromTheDirectory) {
  make_data(48);
  const std::string tar = scratch_.file("pets.tar");
  ASSERT_EQ(run({"/usr/bin/tar", "-C", data_.path(), "-cf", tar, "."}, scratch_).status, 0);
  const std::vector<std::string> args = {
      "--image_size", "32",          "--batch_size",          "8", "--epochs", "2",
      "--json",       "--train_all", "--checkpointing_steps", "3"};
  auto from = [&](const std::string& data, const std::string& output_dir,
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> all = command(args);
    all[2] = data;  // --data_dir's value
    all.insert(all.end(), {"--output_dir", output_dir});
    all.insert(all.end(), extra.begin(), extra.end());
    return run(all, scratch_);
  };
  TempDir dir_run, tar_run;
  const Outcome from_dir = from(data_.path(), dir_run.path());
  const Outcome from_tar = from(tar, tar_run.path());
  ASSERT_EQ(from_dir.status, 0) << from_dir.err;
  ASSERT_EQ(from_tar.status, 0) << from_tar.err;
  EXPECT_THAT(from_tar.err, HasSubstr(tar + ": read in place (plain tar, member index built"));
  const auto expected = json_lines(from_dir.out), got = json_lines(from_tar.out);
  ASSERT_EQ(got.size(), 2u);
  for (size_t epoch = 0; epoch < 2; ++epoch) {
    EXPECT_EQ(got[epoch]["losses"], expected[epoch]["losses"]);
    EXPECT_EQ(got[epoch]["accuracy_pct"], expected[epoch]["accuracy_pct"]);
  }
  EXPECT_TRUE(read_text(dir_run.file("model.safetensors")) ==
              read_text(tar_run.file("model.safetensors")));

  // Resumed mid-epoch from the archive: the rest of the run is the same.
  for (const auto& entry : std::filesystem::directory_iterator(tar_run.path())) {
    if (entry.path().filename() != "checkpoint-6.pt") std::filesystem::remove(entry.path());
  }
  const Outcome resumed = from(tar, tar_run.path(), {"--resume_from_checkpoint", "latest"});
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_THAT(resumed.err, HasSubstr("member index loaded"));
  EXPECT_TRUE(read_text(dir_run.file("model.safetensors")) ==
              read_text(tar_run.file("model.safetensors")));

  const std::string weights = dir_run.file("model.safetensors");
  for (const std::string& data : {data_.path(), tar}) {
    std::vector<std::string> all =
        command({"--image_size", "32", "--eval_only", "--weights", weights, "--predictions_out",
                 scratch_.file(data == tar ? "tar.csv" : "dir.csv")});
    all[2] = data;
    ASSERT_EQ(run(all, scratch_).status, 0);
  }
  EXPECT_EQ(read_text(scratch_.file("tar.csv")), read_text(scratch_.file("dir.csv")));
  EXPECT_EQ(count_lines(read_text(scratch_.file("tar.csv"))), 49u);
}

TEST_F(CvExampleTest, DamagedArchiveStopsTheRunWithOneLine) {
  make_data(20);
  const std::string tar = scratch_.file("pets.tar");
  ASSERT_EQ(run({"/usr/bin/tar", "-C", data_.path(), "-cf", tar, "."}, scratch_).status, 0);
  std::filesystem::resize_file(tar, std::filesystem::file_size(tar) / 2);
  std::vector<std::string> all = command({"--image_size", "32", "--epochs", "1"});
  all[2] = tar;
  const Outcome failed = run(all, scratch_);
  EXPECT_EQ(failed.status, 1);
  EXPECT_THAT(failed.err, HasSubstr("cv_example: " + tar + ": "));
  EXPECT_EQ(count_lines(failed.err), 1u) << failed.err;
}

TEST_F(CvExampleTest, DamagedWeightsFailWithOneLine) {
  make_data(40);
  cv_example_test::write_text(scratch_.file("bad.safetensors"), std::string(16, '\x7f'));
  const Outcome failed = train({"--weights", scratch_.file("bad.safetensors")});
  EXPECT_EQ(failed.status, 1);
  EXPECT_THAT(failed.err, HasSubstr("bad.safetensors: bad header"));
  EXPECT_EQ(count_lines(failed.err), 1u) << failed.err;
}

// Usage mistakes exit 2 with one line naming them, before anything is read or trained; what
// this machine cannot do (fp16 without CUDA) is a runtime failure, 1.
TEST_F(CvExampleTest, BadArgumentsAreNamed) {
  make_data(40);
  struct Case {
    std::vector<std::string> args;
    int status;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{"--model", "resnet51"}, 2, "cv_example: unknown --model resnet51 (known:"},
      {{"--epochs", "-1"}, 2, "--epochs and --batch_size must be at least 1"},
      {{"--epochs", "two"}, 2, "the argument ('two') for option '--epochs' is invalid"},
      {{"--image_size", "8"}, 2, "--image_size must be at least 32"},
      {{"--lr", "0"}, 2, "--lr must be positive"},
      {{"--mixed_precision", "fp8"}, 2, "--mixed_precision must be no, bf16 or fp16, not fp8"},
      {{"--checkpointing_steps", "often", "--output_dir", scratch_.path()},
       2,
       "--checkpointing_steps must be epoch or a positive step count"},
      {{"--checkpointing_steps", "epoch"}, 2, "need --output_dir"},
      {{"--dist_timeout", "0"}, 2, "--dist_timeout must be positive"},
      {{"--max_member_mb", "0"}, 2, "--max_member_mb must be a positive count of MiB"},
      {{"--no_such_option"}, 2, "unrecognised option '--no_such_option'"},
      {{"stray"}, 2, "unexpected argument 'stray'"},
      {{"--mixed_precision", "fp16"}, 1, "fp16 needs a CUDA device"},
  };
  for (const Case& c : cases) {
    const Outcome outcome = train(c.args);
    EXPECT_EQ(outcome.status, c.status) << c.words << "\n" << outcome.err;
    EXPECT_THAT(outcome.err, HasSubstr(c.words));
    EXPECT_EQ(count_lines(outcome.err), 1u) << outcome.err;
    EXPECT_EQ(outcome.out, "") << c.words;
  }
  EXPECT_EQ(run({program("cv_example")}, scratch_).status, 2);
}

// -h as --help; every option with hyphens as with underscores (torchrun's and accelerate's
// spellings); a repeated option takes its last value.
TEST_F(CvExampleTest, EitherSpellingAndTheLastValueOfARepeatedOption) {
  const Outcome short_help = run({program("cv_example"), "-h"}, scratch_);
  EXPECT_EQ(short_help.status, 0);
  EXPECT_EQ(short_help.out, run({program("cv_example"), "--help"}, scratch_).out);
  EXPECT_THAT(short_help.out, HasSubstr("--data_dir PATH"));
  EXPECT_EQ(short_help.out.find(" arg "), std::string::npos)
      << "an option without its value's name";
  EXPECT_THAT(short_help.out, HasSubstr("Exit status: 0 on success, 1 when the work failed"));
  make_data(40);
  const Outcome hyphens = run({program("cv_example"), "--data-dir", data_.path(), "--cpu",
                               "--model", "resnet10t", "--image-size", "32", "--batch-size", "8",
                               "--epochs", "5", "--epochs", "1", "--threads", "1", "--json"},
                              scratch_);
  ASSERT_EQ(hyphens.status, 0) << hyphens.err;
  const auto epochs = json_lines(hyphens.out);
  ASSERT_EQ(epochs.size(), 1u) << "--epochs 5 --epochs 1 is one epoch:\n" << hyphens.out;
}

#ifdef STAGE_WITH_TRACKING
// --with_tracking: metrics.jsonl has every step's loss and learning rate and every epoch's
// figures, the same as --json says; TensorBoard's own reader reads the same from the event file.
TEST_F(CvExampleTest, WithTrackingRecordsEveryStepAndEpoch) {
  make_data(60);  // 48 training images: 6 steps of 8 per epoch
  const std::string project = scratch_.file("logs");
  const Outcome trained = train({"--image_size", "32", "--batch_size", "8", "--epochs", "2",
                                 "--json", "--with_tracking", "--project_dir", project});
  ASSERT_EQ(trained.status, 0) << trained.err;
  EXPECT_THAT(trained.err, HasSubstr("tracking to " + project + "/cv_example"));
  const auto epochs = json_lines(trained.out);
  ASSERT_EQ(epochs.size(), 2u);
  std::vector<double> losses;
  for (const auto& epoch : epochs) {
    for (double loss : epoch["losses"]) losses.push_back(loss);
  }
  ASSERT_EQ(losses.size(), 12u);

  std::vector<nlohmann::json> steps, epoch_lines;
  std::istringstream metrics(read_text(project + "/cv_example/metrics.jsonl"));
  for (std::string line; std::getline(metrics, line);) {
    const nlohmann::json record = nlohmann::json::parse(line);
    (record.contains("epoch") ? epoch_lines : steps).push_back(record);
  }
  ASSERT_EQ(steps.size(), 12u);
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i]["step"], i);
    EXPECT_EQ(steps[i]["train_loss"].get<double>(), losses[i]) << "step " << i;
    EXPECT_GT(steps[i]["lr"].get<double>(), 0);
  }
  // One-cycle: the rate rises, then falls to almost nothing.
  EXPECT_GT(steps[3]["lr"].get<double>(), steps[0]["lr"].get<double>());
  EXPECT_LT(steps[11]["lr"].get<double>(), steps[3]["lr"].get<double>() / 100);
  ASSERT_EQ(epoch_lines.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(epoch_lines[e]["epoch"], e);
    EXPECT_EQ(epoch_lines[e]["step"], 6 * (e + 1));
    EXPECT_EQ(epoch_lines[e]["accuracy_pct"], epochs[e]["accuracy_pct"]);
    EXPECT_EQ(epoch_lines[e]["images_per_second"], epochs[e]["images_per_second"]);
    EXPECT_EQ(epoch_lines[e]["data_wait_fraction"], epochs[e]["data_wait_fraction"]);
  }
#ifdef STAGE_TENSORBOARD_READER
  const Outcome read =
      run({"/bin/sh", "-c", STAGE_TENSORBOARD_READER " " + project + "/cv_example"}, scratch_);
  ASSERT_EQ(read.status, 0) << read.err;
  const nlohmann::json scalars = nlohmann::json::parse(read.out);
  ASSERT_EQ(scalars["train_loss"].size(), 12u) << read.out;
  for (size_t i = 0; i < 12; ++i) {
    EXPECT_EQ(scalars["train_loss"][i][0], i);
    EXPECT_FLOAT_EQ(scalars["train_loss"][i][1].get<float>(), static_cast<float>(losses[i]));
    EXPECT_FLOAT_EQ(scalars["lr"][i][1].get<float>(),
                    static_cast<float>(steps[i]["lr"].get<double>()));
  }
  for (const char* tag : {"accuracy_pct", "images_per_second", "data_wait_fraction"}) {
    ASSERT_EQ(scalars[tag].size(), 2u) << tag;
    EXPECT_EQ(scalars[tag][1][0], 12) << tag;
    EXPECT_FLOAT_EQ(scalars[tag][1][1].get<float>(), epochs[1][tag].get<float>()) << tag;
  }
#endif
}
#endif

// --quiet: the epoch line on stdout, nothing on stderr; with --json, the JSON line alone.
TEST_F(CvExampleTest, QuietLeavesOnlyWhatStdoutSays) {
  make_data(40);
  const Outcome quiet = train({"--image_size", "32", "--batch_size", "8", "--epochs", "1", "-q"});
  ASSERT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_TRUE(std::regex_match(quiet.out, std::regex(R"(epoch 0: \d+\.\d\d\n)"))) << quiet.out;
  const Outcome json =
      train({"--image_size", "32", "--batch_size", "8", "--epochs", "1", "--quiet", "--json"});
  ASSERT_EQ(json.status, 0) << json.err;
  EXPECT_EQ(json.err, "");
  EXPECT_EQ(json_lines(json.out).size(), 1u);
  EXPECT_EQ(count_lines(json.out), 1u);
}

// A checkpoint of a run with other settings is refused naming each difference, in one line.
TEST_F(CvExampleTest, AResumeThatCannotContinueNamesWhatDiffers) {
  make_data(40);
  const std::vector<std::string> args = {
      "--image_size",          "32",   "--batch_size", "8", "--output_dir", scratch_.file("run"),
      "--checkpointing_steps", "epoch"};
  std::vector<std::string> first = args;
  first.insert(first.end(), {"--epochs", "1"});
  ASSERT_EQ(train(first).status, 0);
  std::vector<std::string> longer = args;
  longer.insert(longer.end(),
                {"--epochs", "2", "--seed", "7", "--resume_from_checkpoint", "latest"});
  const Outcome refused = train(longer);
  EXPECT_EQ(refused.status, 1);
  EXPECT_THAT(refused.err, HasSubstr("cannot resume this run: --epochs: checkpoint 1, now 2 (the "
                                     "one-cycle schedule's length is fixed at the start: it "
                                     "cannot be stretched); --seed: checkpoint 42, now 7"));
}

}  // namespace
