// Containment: every row of SECURITY.md's table, each with an archive crafted at test time.
// --to is a subdirectory deep inside a temporary directory; after every test nothing else in that
// temporary directory may have changed. ctest runs this suite twice: with openat2, and with
// STAGE_NO_OPENAT2=1 (the per-component O_NOFOLLOW walk).
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostile_archives.h"
#include "io/dir_tree.h"
#include "staging/stage.h"
#include "test_support.h"

namespace staging_test {
namespace {

using ::testing::HasSubstr;

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

mode_t ModeOf(const fs::path& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) return 0;
  return st.st_mode;
}

class ContainmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(src_);
    fs::create_directories(to_);
    WriteFile(outside_ / "secret", "keep");
    WriteFile(tmp_ / "l1" / "marker", "keep");
    WriteFile(tmp_ / "l1" / "l2" / "l3" / "sibling", "keep");
    before_ = Outside();
  }

  void TearDown() override {
    EXPECT_EQ(Outside(), before_) << "something changed outside --to";
    EXPECT_FALSE(fs::exists("/etc/evil-stage-test"));
    EXPECT_FALSE(fs::exists("/abs/x"));
  }

  // Everything in the temporary directory but --to and the sources.
  std::map<std::string, std::string> Outside() {
    std::map<std::string, std::string> all = Snapshot(tmp_.path());
    std::erase_if(all, [](const auto& item) {
      return item.first.starts_with("src") || item.first.starts_with("l1/l2/l3/to");
    });
    return all;
  }

  // Stages one archive (alone in its own source directory) into --to.
  staging::StageReport StageArchive(const std::string& name, const std::string& bytes,
                                    staging::StageOptions options = {}) {
    fs::path dir = src_ / ("run" + std::to_string(runs_++));
    WriteFile(dir / name, bytes);
    options.from = dir.string();
    options.to = to_.string();
    options.jobs = 1;
    return staging::Stage(options);
  }

  staging::StageReport StageTar(const std::vector<TarMember>& members,
                                staging::StageOptions options = {}) {
    return StageArchive("hostile.tar", Tar(members), options);
  }

  // A refusal: not ok, one line naming the archive, the entry and the rule.
  void ExpectRefused(const staging::StageReport& report, const std::string& entry,
                     const std::string& rule, const std::string& archive = "hostile.tar") {
    ASSERT_FALSE(report.ok()) << "staged although it should have been refused";
    std::string message = Joined(report.failures());
    EXPECT_THAT(message, HasSubstr(archive));
    EXPECT_THAT(message, HasSubstr("'" + entry + "'"));
    EXPECT_THAT(message, HasSubstr(rule));
  }

  // Nothing of a refused archive visible under --to, and no staging area left behind.
  void ExpectNothingVisible() {
    EXPECT_TRUE(Snapshot(to_).empty()) << "left behind: " << Snapshot(to_).begin()->first;
    EXPECT_FALSE(fs::exists(to_ / ".stage" / "tmp") && !fs::is_empty(to_ / ".stage" / "tmp"));
  }

  TempDir tmp_;
  fs::path src_ = tmp_ / "src";
  fs::path to_ = tmp_ / "l1/l2/l3/to";
  fs::path outside_ = tmp_ / "outside";
  std::map<std::string, std::string> before_;
  int runs_ = 0;
};

TEST_F(ContainmentTest, WalkMatchesTheEnvironment) {
  if (const char* off = std::getenv("STAGE_NO_OPENAT2"); off && std::string(off) == "1") {
    EXPECT_FALSE(staging::Openat2Available());
  }
}

// --- names ---

TEST_F(ContainmentTest, DotDotNameIsRefused) {
  auto report = StageTar({File("ok", "fine"), File("../../tmp/evil", "bad")});
  ExpectRefused(report, "../../tmp/evil", "'..' component");
  ExpectNothingVisible();
  EXPECT_FALSE(fs::exists(tmp_ / "l1/l2/tmp/evil"));
}

TEST_F(ContainmentTest, DotDotInsideNameIsRefused) {
  auto report = StageTar({File("a/b/../../../../evil", "bad")});
  ExpectRefused(report, "a/b/../../../../evil", "'..' component");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, AbsoluteNameLosesItsLeadingSlash) {
  std::string planted = (outside_ / "planted").string();
  auto report = StageTar({File("/abs/x", "one"), File(planted, "two")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "abs/x"), "one");
  EXPECT_EQ(ReadFile(to_ / planted.substr(1)), "two");
  EXPECT_FALSE(fs::exists(outside_ / "planted"));
  EXPECT_THAT(Joined(report.archives[0].warnings), HasSubstr("leading '/' removed"));
}

// The paths TearDown checks, aimed at for real: by '..', through a link to /etc, by an absolute
// name (which lands inside --to, its '/' removed).
TEST_F(ContainmentTest, MembersAimedAtTheRealEtcNeverReachIt) {
  const std::string climb = "../../../../../../../../../../../../etc/evil-stage-test";
  ExpectRefused(StageTar({File(climb, "bad")}), climb, "'..' component");
  ExpectRefused(StageTar({Symlink("e", "/etc"), File("e/evil-stage-test", "bad")}), "e",
                "symlink target '/etc' leaves the destination");
  ExpectNothingVisible();
  auto report = StageTar({File("/etc/evil-stage-test", "inside")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "etc/evil-stage-test"), "inside");
  EXPECT_FALSE(fs::exists("/etc/evil-stage-test"));
}

TEST_F(ContainmentTest, EmptyNameIsRefused) {
  auto report = StageTar({File("", "x")});
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(Joined(report.failures()), HasSubstr("empty name"));
  ExpectNothingVisible();
}

// --- symlinks ---

TEST_F(ContainmentTest, SymlinkClimbingOutIsRefused) {
  auto report = StageTar({Symlink("x", "../../..")});
  ExpectRefused(report, "x", "symlink target '../../..' leaves the destination");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, NestedSymlinkClimbingOutIsRefused) {
  auto report = StageTar({Symlink("d/x", "../../outside")});
  ExpectRefused(report, "d/x", "leaves the destination");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, AbsoluteSymlinkIsRefused) {
  auto report = StageTar({Symlink("x", "/etc")});
  ExpectRefused(report, "x", "symlink target '/etc' leaves the destination");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, SymlinkClimbingThroughAnEarlierSymlinkIsRefused) {
  // On paper "l/../.." from "a/m" stays beneath; on disk "l" is "..", so it climbs two levels.
  auto report = StageTar({Symlink("a/l", ".."), Symlink("a/m", "l/../..")});
  ExpectRefused(report, "a/m", "leaves the destination");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, SymlinkStayingBeneathIsKept) {
  auto report = StageTar({File("f", "data"), Symlink("d/up", ".."), Symlink("d/f", "../f")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(fs::read_symlink(to_ / "d/up"), "..");
  EXPECT_EQ(ReadFile(to_ / "d/f"), "data");
}

TEST_F(ContainmentTest, SymlinkThenFileThroughItIsContained) {
  auto report = StageTar({Symlink("x", outside_.string()), File("x/evil", "bad")});
  ExpectRefused(report, "x", "leaves the destination");
  ExpectNothingVisible();
  EXPECT_FALSE(fs::exists(outside_ / "evil"));
}

TEST_F(ContainmentTest, FileThroughAnInBoundsSymlinkIsRefused) {
  auto report = StageTar({Dir("sub"), Symlink("x", "sub"), File("x/evil", "bad")});
  ExpectRefused(report, "x/evil", "not a directory (a symlink or a file; refused");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, FileBelowAnInBoundsSymlinkedDirectoryIsRefused) {
  // The symlink is a middle component of the parent: the walk must not follow it either.
  auto report =
      StageTar({Dir("sub"), Dir("sub/deeper"), Symlink("x", "sub"), File("x/deeper/evil", "bad")});
  ExpectRefused(report, "x/deeper/evil", "not a directory (a symlink or a file; refused");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, SymlinkThenDirectoryOfTheSameNameIsContained) {
  auto report = StageTar({Dir("sub"), Symlink("x", "sub"), Dir("x"), File("x/f", "data")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(to_ / "x")));
  EXPECT_EQ(ReadFile(to_ / "x/f"), "data");
  EXPECT_FALSE(fs::exists(to_ / "sub/f"));
}

TEST_F(ContainmentTest, EscapingSymlinkThenDirectoryOfTheSameNameIsContained) {
  auto report = StageTar({Symlink("x", outside_.string()), Dir("x"), File("x/evil", "bad")});
  ExpectRefused(report, "x", "leaves the destination");
  ExpectNothingVisible();
}

// GNU tar CVE-2025-45582: the first archive plants a symlink, the second writes through it.
TEST_F(ContainmentTest, SymlinkFromAnEarlierArchiveIsNotFollowed) {
  auto first = StageArchive("first.tar", Tar({Dir("sub"), Symlink("x", "sub")}));
  ASSERT_TRUE(first.ok()) << Joined(first.failures());
  auto second = StageArchive("second.tar", Tar({File("x/evil", "bad")}));
  ASSERT_FALSE(second.ok());
  std::string message = Joined(second.failures());
  EXPECT_THAT(message, HasSubstr("second.tar"));
  EXPECT_THAT(message, HasSubstr("'x'"));
  EXPECT_THAT(message, HasSubstr("refusing to replace it"));
  EXPECT_FALSE(fs::exists(to_ / "sub/evil"));
  EXPECT_TRUE(fs::is_symlink(to_ / "x"));
}

TEST_F(ContainmentTest, EscapingSymlinkAlreadyInDestinationIsNotFollowed) {
  // As another tool (or GNU tar) may have left it: --to/x -> outside.
  fs::create_directory_symlink(outside_, to_ / "x");
  auto report = StageArchive("second.tar.gz", Gzip(Tar({File("x/evil", "bad")})));
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(Joined(report.failures()), HasSubstr("second.tar.gz"));
  EXPECT_THAT(Joined(report.failures()), HasSubstr("'x' already exists"));
  EXPECT_FALSE(fs::exists(outside_ / "evil"));
}

TEST_F(ContainmentTest, TwoArchivesInOneRunStayContained) {
  WriteFile(src_ / "both" / "a.tar", Tar({Dir("sub"), Symlink("x", "sub")}));
  WriteFile(src_ / "both" / "b.tar",
            Tar({File("x/evil", "bad"), File("pad", std::string(4096, 'p'))}));
  staging::StageOptions options;
  options.from = (src_ / "both").string();
  options.to = to_.string();
  options.keep_going = true;
  options.jobs = 1;
  auto report = staging::Stage(options);
  EXPECT_FALSE(report.ok());
  EXPECT_FALSE(fs::exists(to_ / "sub/evil"));
}

TEST_F(ContainmentTest, ArchiveCannotWriteStagingBookkeeping) {
  // A forged manifest record would make `stage clean` remove whatever it lists.
  std::string record = R"({"paths": ["../../../outside/secret"]})";
  auto report = StageTar({File(".stage/manifest/0000.json", record), File(".stage/lock", "")});
  ExpectRefused(report, ".stage/manifest/0000.json", "staging's own bookkeeping");
  ExpectNothingVisible();
  EXPECT_FALSE(fs::exists(to_ / ".stage/manifest/0000.json"));
}

TEST_F(ContainmentTest, CleanNeverRemovesOutsideTheDestination) {
  auto report = StageTar({File("mine", "staged")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  // A manifest record listing paths that leave --to, plain or through a symlink in --to.
  fs::create_directory_symlink(outside_, to_ / "link");
  std::string forged = R"({"source": {"path": "/nowhere", "size": 1, "mtime_ns": 1,
      "head_sha256": "x"}, "kind": "tar", "dest": "", "files": 3, "bytes": 3,
      "paths": ["../../../../outside/secret", ")" +
                       (outside_ / "secret").string() + R"(", "link/secret", "link"]})";
  WriteFile(to_ / ".stage/manifest/forged.json", forged);
  ASSERT_TRUE(staging::Clean(to_.string()).ok());
  EXPECT_FALSE(fs::exists(to_ / "mine"));
  EXPECT_EQ(ReadFile(outside_ / "secret"), "keep");
  fs::remove(to_ / "link");
}

// --- hardlinks ---

TEST_F(ContainmentTest, HardlinkClimbingOutIsRefused) {
  auto report = StageTar({Hardlink("h", "../../../../outside/secret")});
  ExpectRefused(report, "h", "'..' component");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, AbsoluteHardlinkIsRefused) {
  auto report = StageTar({Hardlink("h", (outside_ / "secret").string())});
  ExpectRefused(report, "h", "is not an earlier entry of this archive");
  ExpectNothingVisible();
  EXPECT_EQ(fs::hard_link_count(outside_ / "secret"), 1u);
}

TEST_F(ContainmentTest, HardlinkToSymlinkIsRefused) {
  auto report = StageTar({File("f", "data"), Symlink("s", "f"), Hardlink("h", "s")});
  ExpectRefused(report, "h", "is not a regular file");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, HardlinkThroughSymlinkedDirectoryIsRefused) {
  auto report =
      StageTar({Dir("sub"), File("sub/f", "data"), Symlink("x", "sub"), Hardlink("h", "x/f")});
  ExpectRefused(report, "h", "is not an earlier entry");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, HardlinkCarryingDataIsRefused) {
  // pax declares the size, so libarchive hands the hardlink over with its data.
  TarMember link = Hardlink("h", "f");
  link.data = "overwrite";
  link.pax = {{"size", std::to_string(link.data.size())}};
  auto report = StageTar({File("f", "data"), link});
  ExpectRefused(report, "h", "hardlink carrying data");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, UstarHardlinkCarryingDataIsRefused) {
  // ustar hardlinks have no data: libarchive reads the bytes as the next header, which fails.
  TarMember link = Hardlink("h", "f");
  link.data = "overwrite";
  auto report = StageTar({File("f", "data"), link});
  ExpectRefused(report, "h", "Damaged tar archive");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, HardlinkToEarlierFileIsMade) {
  auto report = StageTar({File("f", "data"), Hardlink("h", "f")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(fs::hard_link_count(to_ / "h"), 2u);
}

// --- special files and modes ---

TEST_F(ContainmentTest, DevicesAndFifosAreSkippedWithAWarning) {
  auto report = StageTar(
      {Special("chr", '3'), Special("blk", '4'), Special("fifo", '6'), File("ok", "data")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  std::string warnings = Joined(report.archives[0].warnings);
  for (const char* name : {"chr", "blk", "fifo"}) {
    EXPECT_THAT(warnings, HasSubstr(std::string("entry '") + name + "': skipped"));
    EXPECT_FALSE(fs::exists(fs::symlink_status(to_ / name)));
  }
  EXPECT_EQ(ReadFile(to_ / "ok"), "data");
}

TEST_F(ContainmentTest, DangerousModeBitsAreCleared) {
  auto report =
      StageTar({File("suid", "x", 04755), File("sgid", "x", 02755), File("writable", "x", 0666),
                File("all", "x", 07777), Dir("sticky", 01777), Dir("shared", 02777)});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ModeOf(to_ / "suid") & 07777, 0755u);
  EXPECT_EQ(ModeOf(to_ / "sgid") & 07777, 0755u);
  EXPECT_EQ(ModeOf(to_ / "writable") & 07777, 0644u);
  EXPECT_EQ(ModeOf(to_ / "all") & 07777, 0755u);
  EXPECT_EQ(ModeOf(to_ / "sticky") & 07777, 0755u);
  EXPECT_EQ(ModeOf(to_ / "shared") & 07777, 0755u);
}

// --- the destination itself ---

TEST_F(ContainmentTest, DotAsFileIsRefused) {
  auto report = StageTar({File(".", "replaces --to")});
  ExpectRefused(report, ".", "names the destination itself");
  ExpectNothingVisible();
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(to_)));
}

TEST_F(ContainmentTest, DotAsSymlinkIsRefused) {
  auto report = StageTar({Symlink("./", "sub")});
  ExpectRefused(report, "./", "names the destination itself");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(to_)));
}

TEST_F(ContainmentTest, DotDirectoryDoesNotChangeTheDestination) {
  mode_t before = ModeOf(to_);
  auto report = StageTar({Dir("./", 07777), File("f", "data")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ModeOf(to_), before);
}

// --- duplicates ---

TEST_F(ContainmentTest, DuplicateFileLastOneWins) {
  auto report = StageTar({File("f", "one"), File("f", "two, longer")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "f"), "two, longer");
}

TEST_F(ContainmentTest, DuplicateNeverWritesThroughASymlink) {
  auto report = StageTar({File("t", "original"), Symlink("f", "t"), File("f", "new")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "t"), "original");
  EXPECT_FALSE(fs::is_symlink(to_ / "f"));
  EXPECT_EQ(ReadFile(to_ / "f"), "new");
}

TEST_F(ContainmentTest, DuplicateNeverWritesThroughAHardlink) {
  auto report = StageTar({File("f", "original"), Hardlink("h", "f"), File("f", "new")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "h"), "original");
  EXPECT_EQ(ReadFile(to_ / "f"), "new");
}

TEST_F(ContainmentTest, DuplicateDirectoryThenSymlinkIsContained) {
  auto report = StageTar({Dir("d"), Symlink("d", outside_.string()), File("d/evil", "bad")});
  ExpectRefused(report, "d", "leaves the destination");
  ExpectNothingVisible();
}

// --- header parsing ---

TEST_F(ContainmentTest, PaxSizeWinsOverAShorterUstarSize) {
  TarMember a = File("a", "hello");
  a.pax = {{"size", "5"}};
  a.ustar_size = 2048;  // a parser trusting this would take "b" for data
  auto report = StageTar({a, File("b", "world")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(ReadFile(to_ / "a"), "hello");
  EXPECT_EQ(ReadFile(to_ / "b"), "world");
}

TEST_F(ContainmentTest, PaxSizeWinsOverALongerUstarSize) {
  TarMember a = File("a", "hello");
  a.pax = {{"size", "2048"}};
  auto report = StageTar({a, File("../../evil", "hidden in a's data")});
  ASSERT_TRUE(report.ok()) << Joined(report.failures());
  EXPECT_EQ(fs::file_size(to_ / "a"), 2048u);  // b's header is a's data, as libarchive reads it
  EXPECT_EQ(Snapshot(to_).size(), 1u);
}

// --- limits ---

TEST_F(ContainmentTest, VeryLongNameIsRefusedClearly) {
  std::string name;
  while (name.size() < 5000) name += "abcdefgh/";
  name += "f";
  auto report = StageTar({File(name, "x")});
  ExpectRefused(report, name, "path length limit");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, DeepNestingIsRefusedClearly) {
  std::string name;
  for (int i = 0; i < 300; ++i) name += "d/";
  name += "f";
  auto report = StageTar({File(name, "x")});
  ExpectRefused(report, name, "path depth limit");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, ComponentLongerThanNameMaxIsRefusedClearly) {
  std::string name(NAME_MAX + 10, 'n');
  auto report = StageTar({File(name, "x")});
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(Joined(report.failures()),
              HasSubstr("hostile.tar: " + name + ": create: File name too long"));
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, SymlinkTargetLongerThanPathMaxIsRefusedClearly) {
  auto report = StageTar({Symlink("l", std::string(PATH_MAX + 100, 'a'))});
  ExpectRefused(report, "l", "symlink");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, HardlinkTargetLongerThanPathMaxIsRefusedClearly) {
  auto report = StageTar({File("f", "x"), Hardlink("h", std::string(PATH_MAX + 100, 'a'))});
  ExpectRefused(report, "h", "path length limit");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, EntryCountCapStopsTheArchive) {
  std::vector<TarMember> members;
  for (int i = 0; i < 50; ++i) members.push_back(File(std::to_string(i) + ".f", "x"));
  staging::StageOptions options;
  options.max_entries = 20;
  auto report = StageTar(members, options);
  ExpectRefused(report, "20.f", "entry count limit");
  ExpectNothingVisible();
}

TEST_F(ContainmentTest, ByteCapStopsADecompressionBomb) {
  staging::StageOptions options;
  options.max_bytes = 1 << 20;
  std::string bomb = Gzip(Tar({File("small", "x"), File("zeros", std::string(8 << 20, '\0'))}));
  auto report = StageArchive("bomb.tar.gz", bomb, options);
  ExpectRefused(report, "zeros", "size limit", "bomb.tar.gz");
  ExpectNothingVisible();
}

// --- the command line, in both walks ---

class ContainmentCliTest : public ContainmentTest,
                           public ::testing::WithParamInterface<const char*> {};

TEST_P(ContainmentCliTest, RefusalNamesArchiveEntryAndRule) {
  WriteFile(src_ / "cli" / "evil.tar",
            Tar({Dir("sub"), Symlink("x", "sub"), File("x/evil", "bad")}));
  WriteFile(src_ / "cli" / "good.tar", Tar({File("good", "data")}));
  RunResult run = RunCommand(std::string(GetParam()) + " " + StageBinary() +
                             " --keep-going --from " + Quote(src_ / "cli") + " --to " + Quote(to_));
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr("evil.tar: entry 'x/evil': "));
  EXPECT_THAT(run.err, HasSubstr("refused: writes never go through links"));
  EXPECT_EQ(ReadFile(to_ / "good"), "data");
  EXPECT_FALSE(fs::exists(to_ / "sub"));
}

INSTANTIATE_TEST_SUITE_P(Walks, ContainmentCliTest,
                         ::testing::Values("env STAGE_NO_OPENAT2=0", "env STAGE_NO_OPENAT2=1",
                                           "env STAGE_NO_OPENAT2=1 STAGE_NO_IO_URING=1"));

}  // namespace
}  // namespace staging_test
