// What surrounds the archive, tried as someone who can write the persistent disk or the job
// directory would: symlinks and loops in --from, a planted .stage, the user's own files in --to.
// After every test nothing outside --to and the sources may have changed.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostile_archives.h"
#include "staging/stage.h"
#include "test_support.h"

namespace staging_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

class SurroundingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(src_);
    fs::create_directories(to_);
    WriteFile(outside_ / "secret", "private key");
    fs::permissions(outside_ / "secret", fs::perms::owner_read | fs::perms::owner_write);
    WriteFile(outside_ / "dir" / "precious", "keep");
    before_ = Outside();
  }

  void TearDown() override { EXPECT_EQ(Outside(), before_) << "something changed outside --to"; }

  std::map<std::string, std::string> Outside() { return Snapshot(outside_); }

  staging::StageReport StageSrc(staging::StageOptions options = {}) {
    options.from = src_.string();
    options.to = to_.string();
    options.jobs = 1;
    return staging::Stage(options);
  }

  TempDir tmp_;
  fs::path src_ = tmp_ / "src";
  fs::path to_ = tmp_ / "job";
  fs::path outside_ = tmp_ / "outside";
  std::map<std::string, std::string> before_;
};

// --- symlinks and special files in --from ---

TEST_F(SurroundingsTest, ASymlinkToAFileOutsideIsSkippedWithAWarning) {
  WriteFile(src_ / "data.txt", "data");
  fs::create_symlink(outside_ / "secret", src_ / "key");
  auto report = StageSrc();
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "data.txt"), "data");
  EXPECT_FALSE(fs::exists(fs::symlink_status(to_ / "key")));
  EXPECT_THAT(Joined(report.warnings), HasSubstr("key: a symbolic link, not followed"));
}

TEST_F(SurroundingsTest, FollowingSymlinksStaysInsideTheSource) {
  WriteFile(src_ / "real/file.txt", "inside");
  fs::create_symlink("real/file.txt", src_ / "alias.txt");
  fs::create_directory_symlink("real", src_ / "alias_dir");
  fs::create_symlink(outside_ / "secret", src_ / "key");
  fs::create_directory_symlink(outside_ / "dir", src_ / "escape");
  fs::create_symlink("missing", src_ / "dangling");
  staging::StageOptions options;
  options.follow_symlinks = true;
  auto report = StageSrc(options);
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "alias.txt"), "inside");
  EXPECT_EQ(ReadFile(to_ / "alias_dir/file.txt"), "inside");
  EXPECT_EQ(ReadFile(to_ / "real/file.txt"), "inside");
  EXPECT_FALSE(fs::exists(fs::symlink_status(to_ / "key")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(to_ / "escape")));
  const std::string warnings = Joined(report.warnings);
  EXPECT_THAT(warnings, HasSubstr("key: a symbolic link to a place outside --from, skipped"));
  EXPECT_THAT(warnings, HasSubstr("escape: a symbolic link to a place outside --from, skipped"));
  EXPECT_THAT(warnings, HasSubstr("dangling: a symbolic link that does not resolve"));
}

TEST_F(SurroundingsTest, SymlinkLoopsEndTheWalkOnce) {
  WriteFile(src_ / "a/file.txt", "once");
  fs::create_directory_symlink(".", src_ / "self");
  fs::create_directory_symlink("..", src_ / "a/up");
  fs::create_directory_symlink("../a", src_ / "a/again");
  for (bool follow : {false, true}) {
    staging::StageOptions options;
    options.follow_symlinks = follow;
    options.force = true;
    auto report = StageSrc(options);
    ASSERT_TRUE(report.ok()) << Joined(report.failures()) << Joined(report.warnings);
    ASSERT_EQ(report.archives.size(), 1u) << "each file once";
    EXPECT_EQ(ReadFile(to_ / "a/file.txt"), "once");
    const std::string warnings = Joined(report.warnings);
    if (follow) {
      EXPECT_THAT(warnings, HasSubstr("self: a symbolic link to a directory above it (a loop)"));
      EXPECT_THAT(warnings, HasSubstr("a/up: a symbolic link to a directory above it"));
      EXPECT_THAT(warnings, HasSubstr("a/again: a symbolic link to a directory above it"));
    } else {
      EXPECT_THAT(warnings, HasSubstr("self: a symbolic link, not followed"));
    }
  }
}

TEST_F(SurroundingsTest, FifosAndSocketsAreSkippedWithoutBlocking) {
  WriteFile(src_ / "data.txt", "data");
  ASSERT_EQ(mkfifo((src_ / "pipe").c_str(), 0644), 0);
  auto report = StageSrc();
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_THAT(Joined(report.warnings), HasSubstr("pipe: a FIFO, skipped"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(to_ / "pipe")));
}

TEST_F(SurroundingsTest, TheWalkIsBoundedAndStopsOnAnInterrupt) {
  for (int i = 0; i < 20; ++i) WriteFile(src_ / ("d" + std::to_string(i)) / "f", "x");
  staging::StageOptions options;
  options.max_entries = 15;
  auto report = StageSrc(options);
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(Joined(report.failures()), HasSubstr("more than 15 entries under --from"));
  std::atomic<bool> stop{true};
  options = {};
  options.interrupt = &stop;
  report = StageSrc(options);
  EXPECT_TRUE(report.interrupted);
  EXPECT_TRUE(report.archives.empty()) << "the walk went on after the interrupt";
  EXPECT_FALSE(fs::exists(to_ / "d0"));
}

// A FIFO or a link to /dev/zero planted as a .tar.gz's gzip index: never opened for reading
// (it would block, or never end); the archive is inflated sequentially and the index made again,
// with one line saying so.
TEST_F(SurroundingsTest, AGzipIndexThatIsAFifoOrALinkIsIgnoredInOneLine) {
  std::string big;
  for (int i = 0; i < 40000; ++i) big += "line " + std::to_string(i * 7919 % 100003) + "\n";
  WriteFile(src_ / "set.tar.gz", Gzip(Tar({File("set/a.txt", big), File("set/b.txt", big)})));
  const fs::path index = src_ / "set.tar.gz.stageidx";
  for (int planted = 0; planted < 2; ++planted) {
    fs::remove(index);
    if (planted == 0) {
      ASSERT_EQ(mkfifo(index.c_str(), 0644), 0);
    } else {
      fs::create_symlink("/dev/zero", index);
    }
    staging::StageOptions options;
    options.force = true;
    auto report = StageSrc(options);
    ASSERT_TRUE(report.ok()) << Joined(report.failures());
    ASSERT_EQ(report.archives.size(), 1u);
    EXPECT_EQ(report.archives[0].gzip_index, "written");
    EXPECT_THAT(Joined(report.archives[0].warnings),
                HasSubstr(planted == 0 ? "not a regular file" : "a symbolic link, not a file"));
    EXPECT_EQ(ReadFile(to_ / "set/b.txt"), big);
  }
}

// --- the destination's .stage ---

TEST_F(SurroundingsTest, ASymlinkedStageDirectoryIsRefusedAndNeverFollowed) {
  WriteFile(src_ / "a.tar", Tar({File("x", "x")}));
  WriteFile(outside_ / "dir" / "tmp" / "victim", "keep");
  before_ = Outside();
  fs::create_directory_symlink(outside_ / "dir", to_ / ".stage");
  auto report = StageSrc();
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(Joined(report.failures()),
              HasSubstr(".stage is a symbolic link; refusing to use it"));
  EXPECT_FALSE(fs::exists(to_ / "x"));
  const staging::Status cleaned = staging::Clean(to_.string());
  EXPECT_FALSE(cleaned.ok());
  EXPECT_THAT(cleaned.message(), HasSubstr(".stage is a symbolic link"));
}

TEST_F(SurroundingsTest, AStageThatIsAFileOrAnotherUsersIsRefused) {
  WriteFile(src_ / "a.tar", Tar({File("x", "x")}));
  WriteFile(to_ / ".stage", "not a directory");
  auto report = StageSrc();
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(Joined(report.failures()), HasSubstr(".stage is not a directory"));
  fs::remove(to_ / ".stage");
  if (geteuid() != 0) GTEST_SKIP() << "giving .stage to another user needs root";
  fs::create_directory(to_ / ".stage");
  ASSERT_EQ(chown((to_ / ".stage").c_str(), 12345, 12345), 0);
  report = StageSrc();
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(Joined(report.failures()), HasSubstr(".stage belongs to user 12345"));
  EXPECT_FALSE(fs::exists(to_ / "x"));
}

// --- the user's own files in --to ---

TEST_F(SurroundingsTest, AMemberNeverReplacesAUsersFileUnlessAsked) {
  WriteFile(to_ / "train.py", "the user's script");
  WriteFile(src_ / "a.tar", Tar({File("data/x", "x"), File("train.py", "from the archive")}));
  auto report = StageSrc();
  EXPECT_FALSE(report.ok());
  const std::string failure = Joined(report.failures());
  EXPECT_THAT(failure, HasSubstr("a.tar: 'train.py' already exists in the destination and no "
                                 "staging made it; refusing to replace it (--overwrite"));
  EXPECT_EQ(ReadFile(to_ / "train.py"), "the user's script");
  EXPECT_FALSE(fs::exists(to_ / "data")) << "part of a refused archive is visible";
  staging::StageOptions options;
  options.overwrite = true;
  report = StageSrc(options);
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "train.py"), "from the archive");
}

TEST_F(SurroundingsTest, ACopiedFileNeverReplacesAUsersFile) {
  WriteFile(to_ / "config.yaml", "mine");
  WriteFile(src_ / "config.yaml", "theirs");
  auto report = StageSrc();
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(Joined(report.failures()), HasSubstr("'config.yaml' already exists"));
  EXPECT_EQ(ReadFile(to_ / "config.yaml"), "mine");
}

TEST_F(SurroundingsTest, CleanRemovesOnlyWhatStagingMade) {
  // The user's directory with a file, and an empty one, both merged into by the archive.
  WriteFile(to_ / "data/mine.txt", "mine");
  fs::create_directories(to_ / "empty");
  WriteFile(src_ / "a.tar",
            Tar({File("data/staged.txt", "s"), File("empty/y", "y"), File("new/deep/z", "z")}));
  WriteFile(src_ / "sub/b.txt", "copied");
  auto report = StageSrc();
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  ASSERT_EQ(ReadFile(to_ / "new/deep/z"), "z");
  // Something the user adds later inside a staged directory stays, and so does the directory.
  WriteFile(to_ / "new/added_later", "later");
  uint64_t removed = 0;
  ASSERT_TRUE(staging::Clean(to_.string(), &removed).ok());
  EXPECT_EQ(ReadFile(to_ / "data/mine.txt"), "mine");
  EXPECT_TRUE(fs::is_directory(to_ / "empty"));
  EXPECT_FALSE(fs::exists(to_ / "data/staged.txt"));
  EXPECT_FALSE(fs::exists(to_ / "empty/y"));
  EXPECT_FALSE(fs::exists(to_ / "new/deep"));
  EXPECT_EQ(ReadFile(to_ / "new/added_later"), "later");
  EXPECT_FALSE(fs::exists(to_ / "sub")) << "the copied file's directory was staging's";
  EXPECT_FALSE(fs::exists(to_ / ".stage"));
  fs::remove(to_ / "new/added_later");
  ASSERT_TRUE(staging::Clean(to_.string()).ok());
  EXPECT_TRUE(fs::exists(to_ / "new")) << "clean without a manifest removes nothing";
}

TEST_F(SurroundingsTest, StagingsMayReplaceEachOthersFiles) {
  // Two archives with the same file, in one run and across runs: both made by staging.
  WriteFile(src_ / "a.tar", Tar({File("README", "a")}));
  WriteFile(src_ / "b.tar", Tar({File("README", "b"), File("pad", std::string(2048, 'p'))}));
  auto report = StageSrc();
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  WriteFile(src_ / "a.tar", Tar({File("README", "a2"), File("more", "m")}));
  report = StageSrc();
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "README"), "a2");
  ASSERT_TRUE(staging::Clean(to_.string()).ok());
  EXPECT_TRUE(fs::is_empty(to_));
}

TEST_F(SurroundingsTest, TheCommandLineRefusesAndOverwrites) {
  WriteFile(to_ / "notes.txt", "mine");
  WriteFile(src_ / "a.tar", Tar({File("notes.txt", "theirs")}));
  fs::create_symlink(outside_ / "secret", src_ / "key");
  const std::string stage =
      StageBinary() + " --from " + Quote(src_) + " --to " + Quote(to_) + " --json";
  RunResult refused = RunCommand(stage);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("stage: warning: key: a symbolic link, not followed"));
  EXPECT_THAT(refused.err, HasSubstr("'notes.txt' already exists in the destination"));
  EXPECT_THAT(refused.out, HasSubstr("\"warnings\":[\"key: a symbolic link"));
  RunResult replaced = RunCommand(stage + " --overwrite");
  EXPECT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_EQ(ReadFile(to_ / "notes.txt"), "theirs");
}

}  // namespace
}  // namespace staging_test
