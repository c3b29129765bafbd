// make_pets end to end: names, determinism, image sizes and kinds, and the archive.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "loader/decode.h"
#include "test_util.h"

namespace {

using cv_example_test::program;
using cv_example_test::read_text;
using cv_example_test::run;
using cv_example_test::TempDir;

// File name -> content, for every file of `dir`.
std::map<std::string, std::string> files_of(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    files[entry.path().filename().string()] = read_text(entry.path().string());
  }
  return files;
}

// Entry name -> content, in archive order (names prefixed with their position).
std::vector<std::pair<std::string, std::string>> entries_of(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> entries;
  archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK) {
    archive_read_free(a);
    return entries;
  }
  archive_entry* entry = nullptr;
  while (archive_read_next_header(a, &entry) == ARCHIVE_OK) {
    std::string data(static_cast<size_t>(archive_entry_size(entry)), '\0');
    if (!data.empty()) archive_read_data(a, data.data(), data.size());
    entries.emplace_back(archive_entry_pathname(entry), data);
  }
  archive_read_free(a);
  return entries;
}

class MakePetsTest : public ::testing::Test {
 protected:
  // Runs make_pets with `args` and expects success.
  void make(const std::vector<std::string>& args) {
    std::vector<std::string> all = {program("make_pets")};
    all.insert(all.end(), args.begin(), args.end());
    const auto result = run(all, scratch_);
    ASSERT_EQ(result.status, 0) << result.err;
  }
  TempDir scratch_, a_, b_;
};

TEST_F(MakePetsTest, NamesAreBreedsNumberedFromOne) {
  make({"--out", a_.path(), "--count", "80"});
  const auto files = files_of(a_.path());
  EXPECT_EQ(files.size(), 80u);
  const std::regex pattern(R"(([A-Za-z_]+)_(\d+)\.jpg)");
  std::set<std::string> breeds;
  for (const auto& [name, content] : files) {
    std::smatch match;
    ASSERT_TRUE(std::regex_match(name, match, pattern)) << name;
    breeds.insert(match[1]);
  }
  EXPECT_EQ(breeds.size(), 37u);
  EXPECT_TRUE(files.count("Abyssinian_1.jpg") && files.count("Abyssinian_3.jpg"));
  EXPECT_TRUE(files.count("yorkshire_terrier_2.jpg"));
  EXPECT_FALSE(files.count("yorkshire_terrier_3.jpg"));  // 80 = 2 x 37 + 6
  EXPECT_TRUE(files.count("great_pyrenees_1.jpg"));
}

TEST_F(MakePetsTest, SameSeedGivesIdenticalFilesWhateverTheThreads) {
  make({"--out", a_.path(), "--count", "50", "--seed", "7", "--threads", "1"});
  make({"--out", b_.path(), "--count", "50", "--seed", "7", "--threads", "2"});
  EXPECT_TRUE(files_of(a_.path()) == files_of(b_.path()));
}

TEST_F(MakePetsTest, OtherSeedGivesOtherImages) {
  make({"--out", a_.path(), "--count", "10", "--seed", "1"});
  make({"--out", b_.path(), "--count", "10", "--seed", "2"});
  EXPECT_NE(read_text(a_.file("Bengal_1.jpg")), read_text(b_.file("Bengal_1.jpg")));
}

// The channels a PNG (its IHDR colour type) or a baseline JPEG (its SOF0 component count) holds.
int channels_of(const std::string& file) {
  if (file.rfind("\x89PNG", 0) == 0) {
    switch (file.at(25)) {
      case 0:
        return 1;
      case 2:
        return 3;
      case 6:
        return 4;
      default:
        return 0;
    }
  }
  const size_t sof = file.find("\xFF\xC0");
  return sof == std::string::npos ? 0 : file.at(sof + 9);
}

TEST_F(MakePetsTest, ImagesHavePhotoSizesAndTheOddKinds) {
  make({"--out", a_.path(), "--count", "60"});
  int png = 0, rgba = 0, gray = 0;
  size_t bytes = 0;
  for (const auto& [name, content] : files_of(a_.path())) {
    bytes += content.size();
    const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(content.data()),
                                         content.size());
    ASSERT_TRUE(loader::decode_image(bytes).ok()) << name;
    const std::optional<cv::Size> size = loader::peek_image_size(bytes);
    ASSERT_TRUE(size) << name;
    EXPECT_GE(size->width, 200);
    EXPECT_LE(size->width, 800);
    EXPECT_GE(size->height, 150);
    EXPECT_LE(size->height, 800);
    const int channels = channels_of(content);
    png += content.rfind("\x89PNG", 0) == 0;
    rgba += channels == 4;
    gray += channels == 1;
  }
  EXPECT_EQ(png, 3);  // one RGB and two RGBA
  EXPECT_EQ(rgba, 2);
  EXPECT_EQ(gray, 3);
  // JPEGs of about the real ones' size (107 KB on average); the PNGs are larger.
  EXPECT_GT(bytes / 60, 60'000u);
  EXPECT_LT(bytes / 60, 250'000u);
}

TEST_F(MakePetsTest, ArchiveHoldsTheSameImagesUnderImagesAndIsReproducible) {
  make({"--out", a_.path(), "--count", "40", "--archive", scratch_.file("one.tar.gz")});
  make({"--archive", scratch_.file("two.tar.gz"), "--count", "40"});
  EXPECT_EQ(read_text(scratch_.file("one.tar.gz")), read_text(scratch_.file("two.tar.gz")));
  EXPECT_EQ(read_text(scratch_.file("one.tar.gz")).substr(0, 2), "\x1f\x8b");
  const auto entries = entries_of(scratch_.file("one.tar.gz"));
  ASSERT_EQ(entries.size(), 41u);
  EXPECT_EQ(entries[0].first, "images/");
  const auto files = files_of(a_.path());
  for (size_t i = 1; i < entries.size(); ++i) {
    const std::string name = entries[i].first.substr(std::string("images/").size());
    ASSERT_TRUE(files.count(name)) << entries[i].first;
    EXPECT_TRUE(files.at(name) == entries[i].second) << name;
  }
}

TEST_F(MakePetsTest, NoOutputIsAUsageError) {
  const auto result = run({program("make_pets"), "--count", "3"}, scratch_);
  EXPECT_EQ(result.status, 2);
  EXPECT_NE(result.err.find("give --out, --archive or both"), std::string::npos);
}

TEST_F(MakePetsTest, ACountBelowOneIsAUsageErrorNotARunaway) {
  for (const char* count : {"-1", "0"}) {
    const auto result =
        run({program("make_pets"), "--out", scratch_.file("out"), "--count", count}, scratch_);
    EXPECT_EQ(result.status, 2) << count;
    EXPECT_NE(result.err.find(std::string("--count takes a count of at least 1, not ") + count),
              std::string::npos)
        << result.err;
  }
  EXPECT_FALSE(std::filesystem::exists(scratch_.file("out")));
}

TEST_F(MakePetsTest, VersionHelpAndUsageMistakes) {
  const auto version = run({program("make_pets"), "--version"}, scratch_);
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("make_pets ", 0), 0u) << version.out;
  const auto help = run({program("make_pets"), "-h"}, scratch_);
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--count N"), std::string::npos) << help.out;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--out", "x", "--count", "3", "extra"},
        {"--out", "x", "--count", "many"},
        {"--out", "x", "--count", "3", "--threads", "-2"},
        {"--out", "x"}}) {
    std::vector<std::string> command = {program("make_pets")};
    command.insert(command.end(), args.begin(), args.end());
    const auto result = run(command, scratch_);
    EXPECT_EQ(result.status, 2) << args.back() << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
    EXPECT_NE(result.err.find("(see make_pets --help)"), std::string::npos) << result.err;
  }
}

}  // namespace
