// A source on a failing or slow filesystem: faulty_fs (FUSE, started by the test) in front of the
// source directory returns EIO at a byte, gives short reads, delays every read, or has a file
// rewritten midway. Each fault is one error line naming the source, with nothing left visible;
// short and slow reads stage the same tree as a healthy disk. Skipped where FUSE cannot mount.
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "sample_tree.h"
#include "test_support.h"

extern char** environ;

namespace staging_test {
namespace {

constexpr uint64_t kMiB = 1 << 20;

class SourceFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/fuse";
    // Several members, 6 MiB in all, so that a fault lands in the middle of the stream.
    for (int i = 0; i < 6; ++i) {
      WriteFile(tmp_ / "tree/set" / ("part" + std::to_string(i)), Pattern(kMiB, i));
    }
    fs::create_directories(backing_);
    const std::string tree = " -C " + Quote(tmp_ / "tree") + " set";
    ASSERT_EQ(RunCommand("tar -cf " + Quote(backing_ / "set.tar") + tree).exit_code, 0);
    ASSERT_EQ(RunCommand("tar -czf " + Quote(backing_ / "set.tar.gz") + tree).exit_code, 0);
    WriteFile(backing_ / "model.bin", Pattern(6 * kMiB, 99));
  }

  void TearDown() override {
    if (pid_ <= 0) return;
    RunCommand("fusermount3 -u " + Quote(mnt_) + " || umount -l " + Quote(mnt_));
    int status;
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
  }

  // Mounts faulty_fs over the backing directory, holding only `source` (the others are moved
  // aside), with `faults`. Skips the test where FUSE cannot mount.
  void Mount(const std::string& source, const std::vector<std::string>& faults) {
    for (const char* name : {"set.tar", "set.tar.gz", "model.bin"}) {
      if (name != source) fs::rename(backing_ / name, tmp_ / name);
    }
    fs::create_directories(mnt_);
    std::vector<std::string> args = {BinDir() + "/faulty_fs", backing_.string(), mnt_.string()};
    args.insert(args.end(), faults.begin(), faults.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const fs::path log = tmp_ / "faulty_fs.log";
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    struct stat parent, mounted;
    ASSERT_EQ(stat(tmp_.path().c_str(), &parent), 0);
    for (int i = 0; i < 500; ++i) {
      if (stat(mnt_.c_str(), &mounted) == 0 && mounted.st_dev != parent.st_dev) return;
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        GTEST_SKIP() << "faulty_fs cannot mount: " << ReadFile(log);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "faulty_fs did not mount within 5 s: " << ReadFile(log);
  }

  RunResult Stage(const std::string& flags = "") {
    return RunCommand(StageBinary() + " " + flags + " --from " + Quote(mnt_) + " --to " +
                      Quote(to_));
  }

  // What a healthy disk gives: the source staged straight from the backing directory.
  std::map<std::string, std::string> Healthy() {
    RunResult run = RunCommand(StageBinary() + " --from " + Quote(backing_) + " --to " +
                               Quote(tmp_ / "healthy"));
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return Snapshot(tmp_ / "healthy", /*with_mtime=*/false);
  }

  void ExpectOneErrorAndNothingVisible(const RunResult& run, const std::string& source,
                                       const std::string& cause) {
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_NE(run.err.find("error: " + (mnt_ / source).string() + ": "), std::string::npos)
        << run.err;
    EXPECT_NE(run.err.find(cause), std::string::npos) << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 2) << run.err;  // error, summary
    EXPECT_TRUE(Snapshot(to_).empty());
    const fs::path area = to_ / ".stage/tmp";
    EXPECT_TRUE(!fs::exists(area) || fs::is_empty(area)) << "leftovers in .stage/tmp";
  }

  TempDir tmp_;
  fs::path backing_ = tmp_ / "backing";
  fs::path mnt_ = tmp_ / "mnt";
  fs::path to_ = tmp_ / "to";
  pid_t pid_ = -1;
};

// The identity hash the manifest under `dest` records for its one source.
std::string RecordedHeadHash(const fs::path& dest) {
  for (const auto& record : fs::directory_iterator(dest / ".stage/manifest")) {
    const std::string json = ReadFile(record.path());
    const size_t at = json.find("\"head_sha256\"");
    if (at != std::string::npos) return json.substr(at, 82);
  }
  return "no record";
}

class EachSource : public SourceFaultsTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(EachSource, ReadErrorMidwayIsOneLineAndLeavesNothing) {
  Mount(GetParam(), {"--eio-at", std::to_string(kMiB + 12345)});
  if (HasFatalFailure() || IsSkipped()) return;
  ExpectOneErrorAndNothingVisible(Stage(), GetParam(), "Input/output error");
}

TEST_P(EachSource, FileRewrittenMidwayIsRefusedAndLeavesNothing) {
  WriteFile(tmp_ / "other-version", Pattern(6 * kMiB + 4096, 7));
  Mount(GetParam(), {"--replace-at", std::to_string(2 * kMiB), "--replacement",
                     (tmp_ / "other-version").string()});
  if (HasFatalFailure() || IsSkipped()) return;
  ExpectOneErrorAndNothingVisible(Stage(), GetParam(), "changed while it was read");
}

TEST_P(EachSource, ShortReadsAreReadThrough) {
  Mount(GetParam(), {"--short-reads"});
  if (HasFatalFailure() || IsSkipped()) return;
  for (const char* flags : {"", "--plain-io"}) {
    SCOPED_TRACE(flags);
    RunResult run = Stage(flags);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(Snapshot(to_, /*with_mtime=*/false), Healthy());
    // The source's identity (a hash of its head and tail) is read whole too.
    EXPECT_EQ(RecordedHeadHash(to_), RecordedHeadHash(tmp_ / "healthy"));
    fs::remove_all(to_);
  }
}

TEST_P(EachSource, SlowReadsStageTheSameTree) {
  Mount(GetParam(), {"--delay-ms", "3"});
  if (HasFatalFailure() || IsSkipped()) return;
  RunResult run = Stage();
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Snapshot(to_, /*with_mtime=*/false), Healthy());
}

INSTANTIATE_TEST_SUITE_P(Sources, EachSource,
                         ::testing::Values("set.tar", "set.tar.gz", "model.bin"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

}  // namespace
}  // namespace staging_test
