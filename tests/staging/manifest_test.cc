// The manifest's records: every name a tar can hold (any bytes but NUL) is written as valid JSON
// and read back as the same bytes; a record that is not whole JSON counts as absent.
#include "record/manifest.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "base/stage_layout.h"
#include "common/unique_fd.h"
#include "test_support.h"

namespace staging {
namespace {

using staging_test::TempDir;

ManifestEntry SampleEntry(std::vector<std::string> paths) {
  ManifestEntry entry;
  entry.source = {"/data/set \"one\"\\.tar", 1234, 5678, 91011, 121314, std::string(64, 'a')};
  entry.kind = "tar";
  entry.dest = "sub\tdir";
  entry.files = paths.size();
  entry.bytes = 42;
  entry.complete = false;
  entry.paths = std::move(paths);
  return entry;
}

class ManifestRecords : public testing::Test {
 protected:
  void SetUp() override {
    dest_.reset(open(work_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dest_.valid());
    ASSERT_TRUE(Manifest::Open(dest_.get(), &manifest_).ok());
  }

  // The one record file's text.
  std::string RecordText() {
    std::string text;
    for (const auto& file : std::filesystem::directory_iterator(work_.path() / kManifestDir)) {
      text = staging_test::ReadFile(file.path());
    }
    return text;
  }

  TempDir work_;
  common::UniqueFd dest_;
  Manifest manifest_;
};

TEST_F(ManifestRecords, EveryByteOfEveryNameRoundTrips) {
  std::vector<std::string> paths = {"",           "plain/ascii.txt",      "quote\"d", "back\\slash",
                                    "new\nline",  "tab\tand\x01\x1F\x7F", "100%",     "caf\xE9",
                                    "日本語/ünï", "\xC0\xAF overlong",    "\"\\\"\\"};
  std::string every_byte;
  for (int c = 1; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  paths.push_back(every_byte);
  std::mt19937 rng(11);
  for (int i = 0; i < 500; ++i) {
    std::string name(1 + rng() % 30, '\0');
    for (char& c : name) c = static_cast<char>(1 + rng() % 255);
    paths.push_back(name);
  }
  const ManifestEntry entry = SampleEntry(paths);
  ASSERT_TRUE(manifest_.Record(entry).ok());

  // Valid JSON, readable by anything, with one array element per path.
  const nlohmann::json json = nlohmann::json::parse(RecordText(), nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << RecordText().substr(0, 400);
  ASSERT_EQ(json.at("paths").size(), paths.size());
  EXPECT_EQ(json.at("paths")[1], "plain/ascii.txt");
  EXPECT_EQ(json.at("paths")[3], "back\\slash");
  EXPECT_EQ(json.at("paths")[6], "100%25");
  EXPECT_FALSE(json.at("complete").get<bool>());

  const std::optional<ManifestEntry> found = manifest_.Find(entry.source.path);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->paths, paths);
  EXPECT_EQ(found->source.path, entry.source.path);
  EXPECT_EQ(found->source.size, 1234u);
  EXPECT_EQ(found->source.mtime_ns, 5678);
  EXPECT_EQ(found->source.inode, 91011u);
  EXPECT_EQ(found->source.ctime_ns, 121314);
  EXPECT_EQ(found->dest, entry.dest);
  EXPECT_EQ(found->files, paths.size());
  EXPECT_EQ(found->bytes, 42u);
  EXPECT_FALSE(found->complete);
}

TEST_F(ManifestRecords, NoPathsIsAnEmptyList) {
  ASSERT_TRUE(manifest_.Record(SampleEntry({})).ok());
  const std::optional<ManifestEntry> found = manifest_.Find(SampleEntry({}).source.path);
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->paths.empty());
}

// A staging writes its record twice, pending then complete, making the text of its paths once:
// each write is the record made from scratch, and the second says complete.
TEST_F(ManifestRecords, ThePathsTextKeptBetweenWritesGivesTheSameRecords) {
  ManifestEntry entry = SampleEntry({"a/b", "100%", "caf\xE9", "q\"uote"});
  std::string paths_text;
  ASSERT_TRUE(manifest_.Record(entry, &paths_text).ok());
  EXPECT_FALSE(paths_text.empty());
  const std::string pending = RecordText();
  entry.complete = true;
  ASSERT_TRUE(manifest_.Record(entry, &paths_text).ok());
  const std::string complete = RecordText();
  ASSERT_TRUE(manifest_.Record(entry).ok());
  EXPECT_EQ(complete, RecordText());
  entry.complete = false;
  ASSERT_TRUE(manifest_.Record(entry).ok());
  EXPECT_EQ(pending, RecordText());
  const std::optional<ManifestEntry> found = manifest_.Find(entry.source.path);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->paths, entry.paths);
  EXPECT_NE(complete, pending);
}

TEST_F(ManifestRecords, ARecordCutShortCountsAsDamagedNotAsAnotherList) {
  const ManifestEntry entry = SampleEntry({"a", "b", "c"});
  ASSERT_TRUE(manifest_.Record(entry).ok());
  std::string text = RecordText();
  for (const auto& file : std::filesystem::directory_iterator(work_.path() / kManifestDir)) {
    staging_test::WriteFile(file.path(), text.substr(0, text.size() - 8));
  }
  bool damaged = false;
  EXPECT_FALSE(manifest_.Find(entry.source.path, &damaged).has_value());
  EXPECT_TRUE(damaged);
}

}  // namespace
}  // namespace staging
