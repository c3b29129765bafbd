// What the cv_example tests read from a run's output: its JSON epoch lines, and the check that a
// run resumed from a checkpoint ended exactly as the uninterrupted one.
#ifndef TESTS_CV_EXAMPLE_RUN_OUTPUT_H_
#define TESTS_CV_EXAMPLE_RUN_OUTPUT_H_

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
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

// The resumed run (stdout `resumed_out`, model `resumed_model`) ends as the uninterrupted
// `reference` of `epochs` epochs did: the last epoch's every loss and its accuracy, and the
// saved model byte for byte.
inline void expect_resumed_as_uninterrupted(const std::string& reference_out,
                                            const std::string& resumed_out, size_t epochs,
                                            const std::string& reference_model,
                                            const std::string& resumed_model) {
  const auto expected = json_lines(reference_out), got = json_lines(resumed_out);
  ASSERT_EQ(expected.size(), epochs);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back()["losses"], expected.back()["losses"]);
  EXPECT_EQ(got.back()["accuracy"], expected.back()["accuracy"]);
  EXPECT_TRUE(read_text(reference_model) == read_text(resumed_model)) << "the models differ";
}

}  // namespace cv_example_test

#endif  // TESTS_CV_EXAMPLE_RUN_OUTPUT_H_
