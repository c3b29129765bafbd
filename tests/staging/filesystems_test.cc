// The destination on every filesystem a job directory may be: ext4 with and without a journal,
// XFS, btrfs, tmpfs, and overlayfs (a container's writable layer, here over a lower layer that
// already holds part of the tree). Each is mounted by the test (loop devices need root; skipped
// otherwise, or where the kernel or the mkfs tool is missing), and `stage` must make there,
// through io_uring and through plain calls, the same tree GNU tar makes on the test's own
// filesystem: byte for byte, with modes, times, links and sparse files; re-runs find it staged
// and `stage clean` removes exactly it.
#include <sys/mount.h>
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "gtest/gtest.h"
#include "sample_tree.h"
#include "staging/io_backend.h"
#include "test_support.h"

namespace staging_test {
namespace {

struct Filesystem {
  const char* name;
  const char* mkfs;  // the command that formats the image; nullptr: not a block filesystem
  int image_mib;     // at least the tool's minimum (XFS: 300 MiB)
};

void PrintTo(const Filesystem& filesystem, std::ostream* out) { *out << filesystem.name; }

const Filesystem kFilesystems[] = {
    {"ext4", "mkfs.ext4 -q -F", 64},
    {"ext4_without_journal", "mkfs.ext4 -q -F -O ^has_journal", 64},
    {"xfs", "mkfs.xfs -q -f", 320},
    {"btrfs", "mkfs.btrfs -q -f", 128},
    {"tmpfs", nullptr, 0},
    {"overlayfs", nullptr, 0},
};

bool HaveProgram(const std::string& command) {
  const std::string program = command.substr(0, command.find(' '));
  return RunCommand("command -v " + program).exit_code == 0;
}

class FilesystemTest : public ::testing::TestWithParam<Filesystem> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a filesystem needs root";
    const Filesystem& fsys = GetParam();
    fs::create_directories(mnt_);
    RunResult mounted;
    if (fsys.mkfs) {
      if (!HaveProgram(fsys.mkfs)) GTEST_SKIP() << fsys.mkfs << ": not installed";
      const fs::path image = work_ / "fs.img";
      WriteFile(image, "");
      ASSERT_EQ(truncate(image.c_str(), off_t{fsys.image_mib} << 20), 0);
      RunResult made = RunCommand(std::string(fsys.mkfs) + " " + Quote(image));
      ASSERT_EQ(made.exit_code, 0) << made.err;
      mounted = RunCommand("mount -o loop " + Quote(image) + " " + Quote(mnt_));
    } else if (std::string(fsys.name) == "tmpfs") {
      mounted = RunCommand("mount -t tmpfs -o size=256m tmpfs " + Quote(mnt_));
    } else {
      // The lower layer already holds a directory of the archive (merged into, so copied up)
      // and a file of its own; upper and work are fresh, as in a container.
      WriteFile(work_ / "lower/job/data/from-the-image.txt", "lower layer\n");
      fs::create_directories(work_ / "upper");
      fs::create_directories(work_ / "overlay-work");
      mounted = RunCommand("mount -t overlay overlay -o lowerdir=" + (work_ / "lower").string() +
                           ",upperdir=" + (work_ / "upper").string() +
                           ",workdir=" + (work_ / "overlay-work").string() + " " + Quote(mnt_));
    }
    if (mounted.exit_code != 0) GTEST_SKIP() << "cannot mount " << fsys.name << ": " << mounted.err;
    mounted_ = true;
  }

  void TearDown() override {
    if (mounted_) RunCommand("umount " + Quote(mnt_) + " || umount -l " + Quote(mnt_));
  }

  // What the destination looks like beforehand: empty, or the overlay's lower layer.
  void AddPreexisting(const fs::path& job) {
    if (std::string(GetParam().name) == "overlayfs") {
      // The lower layer's file, time included: written a second later, it compared unequal.
      WriteFile(job / "data/from-the-image.txt", "lower layer\n");
      fs::last_write_time(job / "data/from-the-image.txt",
                          fs::last_write_time(work_ / "lower/job/data/from-the-image.txt"));
    }
  }

  TempDir work_;
  fs::path mnt_ = work_ / "mnt";
  bool mounted_ = false;
};

TEST_P(FilesystemTest, StagesTheTreeGnuTarMakesThroughBothWritersAndCleansIt) {
  MakeTree(work_ / "tree", /*portable=*/false);
  WriteFile(work_ / "tree/data/caf\xe9-latin1.txt", "a Latin-1 name\n");
  RunCommand("touch -h -d '2024-03-01 12:00:00' " + Quote(work_ / "tree/data/caf\xe9-latin1.txt"));
  const fs::path source = work_ / "source";
  fs::create_directories(source / "sub");
  const std::string tree = " -C " + Quote(work_ / "tree") + " data";
  ASSERT_EQ(RunCommand("tar --sparse -cf " + Quote(source / "plain.tar") + tree).exit_code, 0);
  ASSERT_EQ(RunCommand("tar --sparse -czf " + Quote(source / "sub/gz.tar.gz") + tree).exit_code, 0);
  WriteFile(source / "checkpoints/model.bin", Pattern(3'000'000, 9));

  // GNU tar's tree on the test's own filesystem: the archive, twice more under sub/, a copy.
  const fs::path expected = work_ / "expected";
  AddPreexisting(expected);
  fs::create_directories(expected / "sub");
  ASSERT_EQ(
      RunCommand("tar -xpf " + Quote(source / "plain.tar") + " -C " + Quote(expected)).exit_code,
      0);
  ASSERT_EQ(RunCommand("tar -xpf " + Quote(source / "plain.tar") + " -C " + Quote(expected / "sub"))
                .exit_code,
            0);
  WriteFile(expected / "checkpoints/model.bin", Pattern(3'000'000, 9));
  RunCommand("touch -d '2024-03-01 12:00:00' " + Quote(expected / "checkpoints/model.bin") + " " +
             Quote(source / "checkpoints/model.bin"));

  for (const char* writer : {" --uring-writes", " --plain-io"}) {
    const bool plain = std::string(writer) == " --plain-io";
    SCOPED_TRACE(plain ? "plain calls" : "io_uring");
    fs::path job = mnt_ / (plain ? "plain" : "ring") / "job";
    if (std::string(GetParam().name) == "overlayfs") {
      // The lower layer's job/ is the destination, once per writer: cleaned in between.
      job = mnt_ / "job";
    }
    const std::string stage =
        StageBinary() + writer + " --from " + Quote(source) + " --to " + Quote(job);
    RunResult staged = RunCommand(stage + " --json");
    ASSERT_EQ(staged.exit_code, 0) << staged.err;
    EXPECT_NE(staged.out.find("\"redone_files\":0"), std::string::npos) << staged.out;
    // The back end asked for is the one that wrote: through the ring, or plain calls alone.
    const nlohmann::json report = nlohmann::json::parse(staged.out, nullptr, false);
    ASSERT_TRUE(report.is_object()) << staged.out;
    uint64_t ring = 0, plain_files = 0;
    for (const auto& source : report["archives"]) {
      ring += source["ring_files"].get<uint64_t>();
      plain_files += source["plain_files"].get<uint64_t>();
    }
    if (plain) {
      EXPECT_EQ(ring, 0u) << staged.out;
      EXPECT_GT(plain_files, 0u) << staged.out;
    } else if (!staging::UringAvailable()) {
      std::cerr << "io_uring unavailable here (" << staging::UringUnavailableReason()
                << "): the ring count is not checked\n";
    } else {
      EXPECT_GT(ring, 0u) << "--uring-writes wrote nothing through the ring: " << staged.out;
    }
    // Copied files keep their bytes, not their times, and the directories made for sources
    // have the time they were made: those are compared without times.
    auto comparable = [](std::map<std::string, std::string> tree) {
      for (const char* made_now : {"checkpoints", "checkpoints/model.bin", "sub"}) {
        std::string& line = tree[made_now];
        line = line.substr(0, line.find(" mtime "));
      }
      return tree;
    };
    EXPECT_EQ(comparable(Snapshot(job)), comparable(Snapshot(expected)));
    EXPECT_EQ(ReadFile(job / "checkpoints/model.bin"), Pattern(3'000'000, 9));

    RunResult again = RunCommand(stage);
    EXPECT_EQ(again.exit_code, 0) << again.err;
    EXPECT_NE(again.err.find("3 sources (3 already staged), "), std::string::npos) << again.err;

    RunResult cleaned = RunCommand(StageBinary() + " clean --to " + Quote(job));
    ASSERT_EQ(cleaned.exit_code, 0) << cleaned.err;
    std::map<std::string, std::string> left = Snapshot(job);
    if (std::string(GetParam().name) == "overlayfs") {
      // Only what the lower layer brought stays.
      EXPECT_EQ(left.size(), 2u);
      EXPECT_EQ(ReadFile(job / "data/from-the-image.txt"), "lower layer\n");
    } else {
      EXPECT_TRUE(left.empty()) << left.begin()->first;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Destinations, FilesystemTest, ::testing::ValuesIn(kFilesystems),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace staging_test
