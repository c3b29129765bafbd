// What the cv_example tests read from a run's output: its JSON epoch lines, and the check that a
// run resumed from a checkpoint ended exactly as the uninterrupted one.
#ifndef TESTS_CV_EXAMPLE_RUN_OUTPUT_H_
#define TESTS_CV_EXAMPLE_RUN_OUTPUT_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace cv_example_test {

// The JSON lines (one per epoch with --json) of a run's stdout.
inline std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == '{') lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

// What a run's stderr says it resumed from: the checkpoint's step, and the epoch and step within
// it that the run went on at, of how many steps an epoch has (-1 when it says no such thing).
struct ResumedFrom {
  int64_t step = -1;
  int64_t epoch = -1;
  int64_t step_in_epoch = -1;
  int64_t steps_per_epoch = -1;
};

inline ResumedFrom resumed_from(const std::string& err) {
  std::smatch match;
  static const std::regex line(
      R"(resumed from \S*checkpoint-(\d+)\.pt at epoch (\d+), step (\d+) of (\d+))");
  if (!std::regex_search(err, match, line)) return {};
  return {std::stoll(match[1]), std::stoll(match[2]), std::stoll(match[3]), std::stoll(match[4])};
}

// The step of the newest checkpoint-N.pt in `dir`, -1 when there is none.
inline int64_t newest_checkpoint_step(const std::string& dir) {
  int64_t newest = -1;
  static const std::regex name(R"(checkpoint-(\d+)\.pt)");
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::smatch match;
    const std::string file = entry.path().filename().string();
    if (std::regex_match(file, match, name))
      newest = std::max<int64_t>(newest, std::stoll(match[1]));
  }
  return newest;
}

// The resumed run (stdout `resumed_out`, stderr `resumed_err`, model `resumed_model`) did resume,
// from the checkpoint of step `from_step` (as the stop line or the newest checkpoint says), went on
// right after that step and ran only the epochs left, and ended as the uninterrupted `reference` of
// `epochs` epochs did: the last epoch's every loss and its accuracy, and the saved model byte for
// byte. A run that found no checkpoint and started afresh would end the same (training is
// deterministic), so the resume itself is asserted first.
inline void expect_resumed_as_uninterrupted(const std::string& reference_out,
                                            const std::string& resumed_out,
                                            const std::string& resumed_err, size_t epochs,
                                            int64_t from_step, const std::string& reference_model,
                                            const std::string& resumed_model) {
  const ResumedFrom resumed = resumed_from(resumed_err);
  ASSERT_GE(resumed.step, 0) << "it did not resume:\n" << resumed_err;
  EXPECT_EQ(resumed_err.find("starting afresh"), std::string::npos) << resumed_err;
  EXPECT_EQ(resumed.step, from_step) << "resumed from another checkpoint than the newest";
  EXPECT_GT(resumed.step, 0) << "nothing was skipped";
  EXPECT_EQ(resumed.epoch * resumed.steps_per_epoch + resumed.step_in_epoch, resumed.step)
      << "it went on elsewhere than after the checkpoint's step:\n"
      << resumed_err;
  const auto expected = json_lines(reference_out), got = json_lines(resumed_out);
  ASSERT_EQ(expected.size(), epochs);
  EXPECT_EQ(got.size(), epochs - static_cast<size_t>(resumed.epoch)) << "epochs run after it";
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back()["losses"], expected.back()["losses"]);
  EXPECT_EQ(got.back()["accuracy_pct"], expected.back()["accuracy_pct"]);
  EXPECT_TRUE(read_text(reference_model) == read_text(resumed_model)) << "the models differ";
}

}  // namespace cv_example_test

#endif  // TESTS_CV_EXAMPLE_RUN_OUTPUT_H_
