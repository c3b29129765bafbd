// The TensorBoard event file and metrics.jsonl of --with_tracking, read back independently of
// the writer: TFRecord framing checked with a bitwise CRC32C written here, each record parsed as
// TensorBoard's Event message.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "tracking/event_file.h"
#include "tracking/tensorboard_event.pb.h"
#include "tracking/tracker.h"

namespace {

using cv_example_test::TempDir;
using ::testing::HasSubstr;
namespace tb = cv_example::tensorboard;

// CRC32C bit by bit (Castagnoli's reflected polynomial 0x82f63b78), as the definition says.
uint32_t reference_crc32c(const std::string& data) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t reference_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint64_t little_endian(const std::string& bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = (value << 8) | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

// Every record of a TFRecord file, each frame's two CRCs checked.
std::vector<std::string> records_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  std::vector<std::string> records;
  for (size_t at = 0; at < bytes.size();) {
    EXPECT_LE(at + 12, bytes.size()) << "a frame cut short";
    if (at + 12 > bytes.size()) break;
    const uint64_t length = little_endian(bytes, at, 8);
    EXPECT_EQ(little_endian(bytes, at + 8, 4),
              reference_mask(reference_crc32c(bytes.substr(at, 8))))
        << "length CRC of the record at byte " << at;
    EXPECT_LE(at + 12 + length + 4, bytes.size());
    if (at + 12 + length + 4 > bytes.size()) break;
    std::string record = bytes.substr(at + 12, length);
    EXPECT_EQ(little_endian(bytes, at + 12 + length, 4), reference_mask(reference_crc32c(record)))
        << "data CRC of the record at byte " << at;
    records.push_back(std::move(record));
    at += 12 + length + 4;
  }
  return records;
}

std::string only_event_file(const std::string& dir) {
  std::string found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("events.out.tfevents.", 0) == 0) {
      EXPECT_TRUE(found.empty()) << "two event files in " << dir;
      found = entry.path().string();
    }
  }
  return found;
}

TEST(TrackingTest, MaskedCrcIsTfRecordsCrc32c) {
  // CRC32C's check value: "123456789" gives 0xe3069283.
  EXPECT_EQ(reference_crc32c("123456789"), 0xe3069283u);
  EXPECT_EQ(cv_example::tracking::masked_crc32c("123456789", 9), reference_mask(0xe3069283u));
  const std::string long_text(100000, 'x');
  EXPECT_EQ(cv_example::tracking::masked_crc32c(long_text.data(), long_text.size()),
            reference_mask(reference_crc32c(long_text)));
}

TEST(TrackingTest, EventsAndMetricsHoldWhatWasLogged) {
  ASSERT_TRUE(cv_example::tracking::available());
  TempDir project;
  std::string error;
  auto tracker = cv_example::tracking::Tracker::open(project.path(), &error);
  ASSERT_TRUE(tracker) << error;
  EXPECT_EQ(tracker->dir(), project.path() + "/cv_example");
  ASSERT_EQ(tracker->log(0, {{"train_loss", 3.5}, {"lr", 0.001}}), "");
  ASSERT_EQ(tracker->log(1, {{"train_loss", 2.25}, {"lr", 0.002}}), "");
  ASSERT_EQ(tracker->log(2, {{"accuracy_pct", 12.5}}, /*epoch=*/0), "");
  ASSERT_EQ(tracker->flush(), "");

  const std::vector<std::string> records = records_of(only_event_file(tracker->dir()));
  ASSERT_EQ(records.size(), 4u);
  tb::Event version;
  ASSERT_TRUE(version.ParseFromString(records[0]));
  EXPECT_EQ(version.file_version(), "brain.Event:2");
  EXPECT_GT(version.wall_time(), 1.6e9);
  tb::Event second;
  ASSERT_TRUE(second.ParseFromString(records[2]));
  EXPECT_EQ(second.step(), 1);
  ASSERT_EQ(second.summary().value_size(), 2);
  EXPECT_EQ(second.summary().value(0).tag(), "lr");  // in tag order
  EXPECT_FLOAT_EQ(second.summary().value(0).simple_value(), 0.002f);
  EXPECT_EQ(second.summary().value(1).tag(), "train_loss");
  EXPECT_FLOAT_EQ(second.summary().value(1).simple_value(), 2.25f);
  tb::Event epoch;
  ASSERT_TRUE(epoch.ParseFromString(records[3]));
  EXPECT_EQ(epoch.step(), 2);
  EXPECT_EQ(epoch.summary().value(0).tag(), "accuracy_pct");

  std::ifstream metrics(tracker->dir() + "/metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(metrics, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["step"], 1);
  EXPECT_EQ(lines[1]["train_loss"], 2.25);
  EXPECT_FALSE(lines[1].contains("epoch"));
  EXPECT_EQ(lines[2]["epoch"], 0);
  EXPECT_EQ(lines[2]["accuracy_pct"], 12.5);
}

TEST(TrackingTest, AProjectDirThatCannotBeMadeIsOneLine) {
  TempDir scratch;
  std::ofstream(scratch.file("a_file")) << "x";
  std::string error;
  EXPECT_FALSE(cv_example::tracking::Tracker::open(scratch.file("a_file"), &error));
  EXPECT_THAT(error, HasSubstr(scratch.file("a_file") + "/cv_example"));
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

}  // namespace
