// End-to-end: archives made by GNU tar and bsdtar in every format and codec are staged by the
// `stage` program and by the library, on io_uring and on plain system calls, and compared entry
// by entry with GNU tar's own extraction.
#include "staging/stage.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <tuple>
#include <vector>

#include "common/unique_fd.h"
#include "io/source_reader.h"
#include "sample_tree.h"
#include "staging/io_backend.h"
#include "test_support.h"

namespace {

using staging_test::BinDir;
using staging_test::MakeTree;
using staging_test::Pattern;
using staging_test::Quote;
using staging_test::ReadFile;
using staging_test::RunCommand;
using staging_test::RunResult;
using staging_test::Snapshot;
using staging_test::StageBinary;
using staging_test::TempDir;
using staging_test::WriteFile;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

struct Case {
  std::string tool;    // "gnu" or "bsd"
  std::string format;  // gnu, pax, ustar
  std::string codec;   // none, gzip, zstd, xz, bzip2
  bool plain_io;
};

// Readable case names in test output instead of the object's bytes.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.tool << " tar, " << c.format << ", " << c.codec << ", "
      << (c.plain_io ? "plain" : "io_uring");
}

std::string Name(const testing::TestParamInfo<Case>& info) {
  return info.param.tool + "_" + info.param.format + "_" + info.param.codec +
         (info.param.plain_io ? "_plain" : "_uring");
}

std::string CodecFlag(const std::string& codec) {
  if (codec == "gzip") return "--gzip";
  if (codec == "zstd") return "--zstd";
  if (codec == "xz") return "--xz";
  if (codec == "bzip2") return "--bzip2";
  return "";
}

fs::path MakeArchive(const Case& c, const fs::path& tree, const fs::path& dir) {
  fs::path archive = dir / ("dataset.archive");  // no telling extension: content decides
  std::string cmd;
  if (c.tool == "gnu") {
    std::string sparse = c.format == "ustar" ? "" : "--sparse ";
    cmd = "tar " + sparse + "--format=" + c.format + " " + CodecFlag(c.codec) + " -C " +
          Quote(tree) + " -cf " + Quote(archive) + " data";
  } else {
    std::string filter =
        c.codec == "none" ? "" : "--" + (c.codec == "gzip" ? std::string("gzip") : c.codec);
    if (c.codec == "zstd") filter = "--zstd";
    cmd = "bsdtar --format=" + c.format + " " + filter + " -C " + Quote(tree) + " -cf " +
          Quote(archive) + " data";
  }
  auto result = RunCommand(cmd);
  EXPECT_EQ(result.exit_code, 0) << cmd << "\n" << result.err;
  return archive;
}

// Each case: the archive in work/source, and GNU tar's extraction of it in work/gnu.
class StageMatchesGnuTar : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case& c = GetParam();
    MakeTree(work_ / "tree", c.format == "ustar");
    fs::create_directories(work_ / "source");
    fs::path archive = MakeArchive(c, work_ / "tree", work_ / "source");
    fs::create_directories(work_ / "gnu");
    auto tar = RunCommand("tar -xpf " + Quote(archive) + " -C " + Quote(work_ / "gnu"));
    ASSERT_EQ(tar.exit_code, 0) << tar.err;
  }
  TempDir work_;
};

// GNU tar leaves some directories of bsdtar-made archives with the extraction time instead of
// the archived one (stage restores the archived time): for those, directory times are left out.
void ExpectSameTree(const Case& c, const fs::path& gnu, const fs::path& staged) {
  bool dir_times = c.tool == "gnu";
  EXPECT_EQ(Snapshot(gnu, true, dir_times), Snapshot(staged, true, dir_times));
}

TEST_P(StageMatchesGnuTar, CliExtractsTheSameTree) {
  const Case& c = GetParam();
  const TempDir& work = work_;
  std::string env = c.plain_io ? "STAGE_NO_IO_URING=1 " : "";
  auto staged = RunCommand(env + StageBinary() + " -v --json --from " + Quote(work / "source") +
                           " --to " + Quote(work / "out"));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  if (c.plain_io) {
    // Said with -v, and in --json's "io" for tools.
    EXPECT_NE(staged.err.find("io_uring unavailable"), std::string::npos) << staged.err;
    EXPECT_NE(staged.out.find(R"("io":"plain")"), std::string::npos) << staged.out;
  }
  ExpectSameTree(c, work / "gnu", work / "out");
}

TEST_P(StageMatchesGnuTar, LibraryExtractsTheSameTree) {
  const Case& c = GetParam();
  const TempDir& work = work_;
  staging::StageOptions options;
  options.from = (work / "source").string();
  options.to = (work / "out").string();
  options.io = c.plain_io ? staging::IoKind::kPlain : staging::IoKind::kUring;
  staging::StageReport report = staging::Stage(options);
  ASSERT_TRUE(report.ok()) << report.failures()[0];
  ASSERT_EQ(report.archives.size(), 1u);
  const std::map<std::string, std::string> kinds = {{"none", "tar"},
                                                    {"gzip", "tar.gz"},
                                                    {"zstd", "tar.zst"},
                                                    {"xz", "tar.xz"},
                                                    {"bzip2", "tar.bz2"}};
  EXPECT_EQ(report.archives[0].kind, kinds.at(c.codec));
  ExpectSameTree(c, work / "gnu", work / "out");
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (bool plain : {false, true}) {
    for (std::string codec : {"none", "gzip", "zstd", "xz", "bzip2"}) {
      for (std::string format : {"gnu", "pax", "ustar"})
        cases.push_back({"gnu", format, codec, plain});
      cases.push_back({"bsd", "pax", codec, plain});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(FormatsCodecsBackends, StageMatchesGnuTar, testing::ValuesIn(AllCases()),
                         Name);

TEST(Stage, NonArchiveFilesAreCopiedByteIdenticalToTheSameRelativePlace) {
  TempDir work;
  std::string checkpoint = Pattern(9'000'000, 7);
  WriteFile(work / "source/checkpoints/model.pt", checkpoint);
  WriteFile(work / "source/labels.csv", "file,label\na.jpg,cat\n");
  // Compressed, but not a tar: still a plain file to copy.
  WriteFile(work / "source/plain.txt", "not an archive\n");
  ASSERT_EQ(RunCommand("gzip -k " + Quote(work / "source/plain.txt")).exit_code, 0);
  auto staged = RunCommand(StageBinary() + " --from " + Quote(work / "source") + " --to " +
                           Quote(work / "out"));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_EQ(staging_test::ReadFile(work / "out/checkpoints/model.pt"), checkpoint);
  EXPECT_EQ(staging_test::ReadFile(work / "out/labels.csv"), "file,label\na.jpg,cat\n");
  EXPECT_EQ(staging_test::ReadFile(work / "out/plain.txt.gz"),
            staging_test::ReadFile(work / "source/plain.txt.gz"));
}

TEST(Stage, JsonSummaryListsEveryArchive) {
  TempDir work;
  MakeTree(work / "tree", true);
  fs::create_directories(work / "source");
  ASSERT_EQ(RunCommand("tar -czf " + Quote(work / "source/a.tar.gz") + " -C " +
                       Quote(work / "tree") + " data")
                .exit_code,
            0);
  auto staged = RunCommand(StageBinary() + " --json --from " + Quote(work / "source") + " --to " +
                           Quote(work / "out"));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_NE(staged.out.find("\"archives\":[{"), std::string::npos) << staged.out;
  EXPECT_NE(staged.out.find("a.tar.gz"), std::string::npos);
  EXPECT_NE(staged.out.find("\"files\":"), std::string::npos);
  EXPECT_NE(staged.out.find("\"seconds\":"), std::string::npos);
  EXPECT_NE(staged.err.find("stage: 1 source, "), std::string::npos) << staged.err;
}

TEST(Stage, SeveralArchivesAreStagedTogether) {
  TempDir work;
  for (int i = 0; i < 4; ++i) {
    std::string dir = "set" + std::to_string(i);
    WriteFile(work / "tree" / dir / "f.bin", Pattern(100'000, i));
    fs::create_directories(work / "source");
    ASSERT_EQ(RunCommand("tar -czf " + Quote(work / "source" / (dir + ".tgz")) + " -C " +
                         Quote(work / "tree") + " " + dir)
                  .exit_code,
              0);
  }
  auto staged = RunCommand(StageBinary() + " --jobs 3 --from " + Quote(work / "source") + " --to " +
                           Quote(work / "out"));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  for (int i = 0; i < 4; ++i) {
    std::string dir = "set" + std::to_string(i);
    EXPECT_EQ(staging_test::ReadFile(work / "out" / dir / "f.bin"), Pattern(100'000, i));
  }
}

TEST(Stage, MissingFromIsAClearError) {
  auto result = RunCommand(StageBinary() + " --to /tmp/nowhere");
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("--from"), std::string::npos) << result.err;
}

TEST(Stage, FromThatIsNotADirectoryIsAClearError) {
  TempDir work;
  auto result = RunCommand(StageBinary() + " --from " + Quote(work / "does-not-exist") + " --to " +
                           Quote(work / "out"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("does-not-exist"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("No such file"), std::string::npos) << result.err;
}

TEST(Stage, TruncatedArchiveFailsNamingArchiveAndEntryAndLeavesNothing) {
  TempDir work;
  MakeTree(work / "tree", true);
  fs::create_directories(work / "source");
  fs::path full = work / "full.tar";
  ASSERT_EQ(
      RunCommand("tar -cf " + Quote(full) + " -C " + Quote(work / "tree") + " data").exit_code, 0);
  std::string bytes = staging_test::ReadFile(full);
  WriteFile(work / "source/cut.tar", bytes.substr(0, bytes.size() / 2));
  auto result = RunCommand(StageBinary() + " --from " + Quote(work / "source") + " --to " +
                           Quote(work / "out"));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("cut.tar"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("entry '"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(work / "out/data")) << "a failed archive must leave nothing visible";
}

// Names that are not UTF-8, as old archives from every corner of the world hold them: one word in
// Latin-1, KOI8-R, EUC-JP and CP866 each.
struct ForeignName {
  const char* encoding;
  const char* bytes;
};
const ForeignName kForeignNames[] = {{"latin1", "caf\xE9"},
                                     {"koi8r", "\xD0\xD2\xC9\xD7\xC5\xD4"},
                                     {"eucjp", "\xC6\xFC\xCB\xDC\xB8\xEC"},
                                     {"cp866", "\xE4\xA0\xA9\xAB"}};

// A tree with the name in a directory, a file, a symlink's target and a hardlink.
void MakeForeignTree(const fs::path& root, const std::string& name) {
  WriteFile(root / ("dir_" + name) / ("file_" + name), "bytes of " + name);
  fs::create_symlink("dir_" + name + "/file_" + name, root / ("link_" + name));
  fs::create_hard_link(root / ("dir_" + name) / ("file_" + name), root / ("hard_" + name));
  RunCommand("find " + Quote(root) + " -exec touch -h -d '2024-03-01 12:00:00' {} +");
}

class ForeignNames : public testing::TestWithParam<std::tuple<ForeignName, std::string>> {};

TEST_P(ForeignNames, AreStagedAsGnuTarExtractsThemAndCleanedAway) {
  const auto& [name, writer] = GetParam();
  TempDir work;
  MakeForeignTree(work / "tree", name.bytes);
  fs::create_directories(work / "source");
  fs::create_directories(work / "gnu");
  const std::string archive = Quote(work / "source/names.tar");
  ASSERT_EQ(RunCommand(writer + " -cf " + archive + " -C " + Quote(work / "tree") + " .").exit_code,
            0);
  ASSERT_EQ(RunCommand("tar -xf " + archive + " -C " + Quote(work / "gnu")).exit_code, 0);
  const std::string stage =
      StageBinary() + " --from " + Quote(work / "source") + " --to " + Quote(work / "out");
  auto staged = RunCommand(stage + " --json");
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  // Directory times left out: GNU tar does not restore them from bsdtar's archives.
  EXPECT_EQ(Snapshot(work / "out", true, false), Snapshot(work / "gnu", true, false));
  EXPECT_EQ(staging_test::ReadFile(work / "out" / ("link_" + std::string(name.bytes))),
            std::string("bytes of ") + name.bytes);
  // The manifest holds the names: a second run finds everything there, clean removes it all.
  auto again = RunCommand(stage);
  EXPECT_NE(again.err.find("already staged"), std::string::npos) << again.err;
  auto cleaned = RunCommand(StageBinary() + " clean --to " + Quote(work / "out"));
  ASSERT_EQ(cleaned.exit_code, 0) << cleaned.err;
  EXPECT_TRUE(fs::is_empty(work / "out"));
}

INSTANTIATE_TEST_SUITE_P(EncodingsAndWriters, ForeignNames,
                         testing::Combine(testing::ValuesIn(kForeignNames),
                                          testing::Values("tar --format=gnu", "tar --format=pax",
                                                          "bsdtar --format=pax",
                                                          "bsdtar --format=ustar")),
                         [](const auto& info) {
                           std::string writer = std::get<1>(info.param);
                           for (char& c : writer)
                             c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return std::string(std::get<0>(info.param).encoding) + "_" + writer;
                         });

TEST(Stage, SourceFileWithAForeignNameIsCopiedAndCleanedAway) {
  TempDir work;
  for (const ForeignName& name : kForeignNames) {
    WriteFile(work / "source" / (std::string(name.bytes) + ".bin"), name.encoding);
  }
  auto staged = RunCommand(StageBinary() + " --json --from " + Quote(work / "source") + " --to " +
                           Quote(work / "out"));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  for (const ForeignName& name : kForeignNames) {
    EXPECT_EQ(staging_test::ReadFile(work / "out" / (std::string(name.bytes) + ".bin")),
              name.encoding);
  }
  // The summary is JSON with the names escaped readably.
  EXPECT_NE(staged.out.find(R"(caf\\xE9.bin)"), std::string::npos) << staged.out;
  auto cleaned = RunCommand(StageBinary() + " clean --to " + Quote(work / "out"));
  ASSERT_EQ(cleaned.exit_code, 0) << cleaned.err;
  EXPECT_TRUE(fs::is_empty(work / "out"));
}

TEST(Stage, RefusedForeignNameIsShownEscapedOnOneLine) {
  TempDir work;
  fs::create_directories(work / "tree");
  fs::create_symlink("../../caf\xE9\nx", work / "tree/escape");
  fs::create_directories(work / "source");
  ASSERT_EQ(RunCommand("tar -cf " + Quote(work / "source/bad.tar") + " -C " + Quote(work / "tree") +
                       " escape")
                .exit_code,
            0);
  auto staged = RunCommand(StageBinary() + " --from " + Quote(work / "source") + " --to " +
                           Quote(work / "out"));
  EXPECT_EQ(staged.exit_code, 1);
  EXPECT_NE(staged.err.find(R"(symlink target '../../caf\xE9\x0Ax' leaves the destination)"),
            std::string::npos)
      << staged.err;
  EXPECT_EQ(std::count(staged.err.begin(), staged.err.end(), '\n'), 2) << staged.err;
}

// pzstd begins with a skippable frame (and writes one before each frame): still zstd.
TEST(Stage, PzstdArchiveWithSkippableFramesIsStagedLikeGnuTarExtractsIt) {
  TempDir work;
  MakeTree(work / "tree", false);
  fs::create_directories(work / "source");
  fs::create_directories(work / "gnu");
  const fs::path tar = work / "plain.tar";
  ASSERT_EQ(RunCommand("tar -cf " + Quote(tar) + " -C " + Quote(work / "tree") + " data").exit_code,
            0);
  ASSERT_EQ(RunCommand("pzstd -q -p 2 -c " + Quote(tar) + " > " + Quote(work / "source/p.tar.zst"))
                .exit_code,
            0);
  ASSERT_EQ(staging_test::ReadFile(work / "source/p.tar.zst").substr(1, 3), "\x2A\x4D\x18");
  ASSERT_EQ(RunCommand("tar -xf " + Quote(tar) + " -C " + Quote(work / "gnu")).exit_code, 0);
  auto staged = RunCommand(StageBinary() + " --json --from " + Quote(work / "source") + " --to " +
                           Quote(work / "out"));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_NE(staged.out.find("\"kind\":\"tar.zst\""), std::string::npos) << staged.out;
  EXPECT_EQ(Snapshot(work / "out"), Snapshot(work / "gnu"));
}

// An archive of a GNU volume label alone, or of a pax global header alone (what `git archive`
// writes for an empty tree), is an empty archive; zero blocks alone stay a file to copy.
TEST(Stage, ArchiveOfOnlyALabelOrAGlobalHeaderIsEmptyNotAFile) {
  TempDir work;
  fs::create_directories(work / "source");
  ASSERT_EQ(RunCommand("tar --format=gnu -V 'a label' -cf " + Quote(work / "source/label.tar") +
                       " -T /dev/null")
                .exit_code,
            0);
  ASSERT_EQ(RunCommand("/usr/bin/python3 -c \"import tarfile; tarfile.open('" +
                       (work / "source/global.tar").string() +
                       "', 'w', format=tarfile.PAX_FORMAT, pax_headers={'comment': 'x'}).close()\"")
                .exit_code,
            0);
  WriteFile(work / "source/zeros.bin", std::string(10240, '\0'));
  auto staged = RunCommand(StageBinary() + " --json --from " + Quote(work / "source") + " --to " +
                           Quote(work / "out"));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_FALSE(fs::exists(work / "out/label.tar"));
  EXPECT_FALSE(fs::exists(work / "out/global.tar"));
  EXPECT_EQ(staging_test::ReadFile(work / "out/zeros.bin"), std::string(10240, '\0'));
  EXPECT_EQ(std::count(staged.out.begin(), staged.out.end(), '{'), 4) << staged.out;
  EXPECT_NE(staged.out.find(R"("files":0,"gzip_index":"","kind":"tar")"), std::string::npos)
      << staged.out;
}

// `tar` with the ustar size field of the first plain-file header whose name holds `name_part`
// moved by `delta`, its checksum made right again.
std::string WithMemberSize(std::string tar, const std::string& name_part, int delta) {
  for (size_t off = 0; off + 512 <= tar.size(); off += 512) {
    char* h = tar.data() + off;
    if (h[156] != '0' || std::string(h, strnlen(h, 100)).find(name_part) == std::string::npos) {
      continue;
    }
    const uint64_t size = std::stoull(std::string(h + 124, 11), nullptr, 8);
    std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(size + delta));
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; ++i) sum += static_cast<unsigned char>(h[i]);
    std::snprintf(h + 148, 8, "%06o", sum);
    return tar;
  }
  ADD_FAILURE() << "no member named like " << name_part;
  return tar;
}

// GNU sparse 1.0 keeps a member's map at the start of its data, so the header's size counts
// map and data. One byte short, GNU tar and stage both read the member whole (the map decides);
// one byte long, the next header is not where the size says: stage refuses, naming the sparse
// member, not the member after it.
TEST(Stage, GnuSparse10MemberWhoseSizeDisagreesWithItsMapByAByte) {
  TempDir work;
  fs::create_directories(work / "tree");
  {
    int fd = open((work / "tree/sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    std::string island = Pattern(5000, 3);
    ASSERT_EQ(pwrite(fd, island.data(), island.size(), 300'000), 5000);
    ASSERT_EQ(pwrite(fd, "tail", 4, 900'000), 4);
    ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
    close(fd);
  }
  WriteFile(work / "tree/zz_next", "next\n");
  ASSERT_EQ(RunCommand("tar --sparse --sparse-version=1.0 --format=pax -cf " +
                       Quote(work / "made.tar") + " -C " + Quote(work / "tree") + " sparse zz_next")
                .exit_code,
            0);
  const std::string made = staging_test::ReadFile(work / "made.tar");

  const fs::path short_by_one = work / "short";
  WriteFile(short_by_one / "source/s.tar", WithMemberSize(made, "GNUSparseFile", -1));
  fs::create_directories(short_by_one / "gnu");
  ASSERT_EQ(RunCommand("tar -xf " + Quote(short_by_one / "source/s.tar") + " -C " +
                       Quote(short_by_one / "gnu"))
                .exit_code,
            0);
  auto staged = RunCommand(StageBinary() + " --from " + Quote(short_by_one / "source") + " --to " +
                           Quote(short_by_one / "out"));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_EQ(Snapshot(short_by_one / "out"), Snapshot(short_by_one / "gnu"));
  EXPECT_EQ(staging_test::ReadFile(short_by_one / "out/sparse"),
            staging_test::ReadFile(work / "tree/sparse"));

  const fs::path long_by_one = work / "long";
  WriteFile(long_by_one / "source/s.tar", WithMemberSize(made, "GNUSparseFile", +1));
  staged = RunCommand(StageBinary() + " --from " + Quote(long_by_one / "source") + " --to " +
                      Quote(long_by_one / "out"));
  EXPECT_EQ(staged.exit_code, 1) << staged.err;
  EXPECT_NE(staged.err.find("s.tar: after entry 'sparse' (a sparse member: its size may disagree "
                            "with its sparse map) (decoded byte "),
            std::string::npos)
      << staged.err;
  EXPECT_EQ(staged.err.find("zz_next"), std::string::npos) << staged.err;
  EXPECT_TRUE(Snapshot(long_by_one / "out").empty());
}

// Where io_uring is available, --uring-writes writes a clean archive through it with nothing
// redone: the ring path cannot stop running unnoticed. By default and with --plain-io every file
// is written with plain calls.
TEST(Stage, CleanArchiveIsWrittenThroughTheRingWithNothingRedone) {
  if (!staging::UringAvailable()) GTEST_SKIP() << staging::UringUnavailableReason();
  TempDir work;
  for (int i = 0; i < 300; ++i) WriteFile(work / "tree/d" / std::to_string(i), Pattern(900, i));
  WriteFile(work / "tree/d/large.bin", Pattern(3'000'000, 7));
  fs::create_directories(work / "source");
  ASSERT_EQ(
      RunCommand("tar -cf " + Quote(work / "source/a.tar") + " -C " + Quote(work / "tree") + " d")
          .exit_code,
      0);
  // Stages the tar into `dir` with `flags`; the run's JSON must count `counts` (its
  // "plain_files","redone_files","ring_files" in that order) and its tree match the first run's.
  auto stage = [&](const std::string& dir, const std::string& flags, const std::string& counts) {
    RunResult run = RunCommand(StageBinary() + " --json " + flags + " --from " +
                               Quote(work / "source") + " --to " + Quote(work / dir));
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find(counts), std::string::npos) << flags << ": " << run.out;
    if (dir != "ring") {
      EXPECT_EQ(Snapshot(work / dir), Snapshot(work / "ring")) << flags;
    }
    return run;
  };
  const std::string through_ring = R"("plain_files":0,"redone_files":0,"ring_files":301)";
  const std::string plain_calls = R"("plain_files":301,"redone_files":0,"ring_files":0)";
  RunResult staged = stage("ring", "-v --uring-writes --writers 3", through_ring);
  EXPECT_NE(staged.out.find(R"("writer_threads":3)"), std::string::npos) << staged.out;
  EXPECT_NE(
      staged.err.find(
          "301 files by 3 threads (301 through io_uring, 0 redone with plain calls, 0 plain)"),
      std::string::npos)
      << staged.err;
  stage("plain", "--plain-io", plain_calls);
  RunResult by_default = stage("default", "", plain_calls);
  EXPECT_NE(by_default.out.find(R"("io":"io_uring reads, plain writes")"), std::string::npos)
      << by_default.out;
  // One writer thread gives the same tree, through the ring as well.
  stage("one", "--uring-writes --writers 1", through_ring);
}

// Stage reads the common tar headers itself and hands the rest of an archive to libarchive at
// the first member it does not read as libarchive would; either way the tree is GNU tar's, and
// the JSON and -v output say who read how many members.
TEST(Stage, CommonHeadersAreReadByStageAndTheRestOfTheArchiveByLibarchive) {
  TempDir work;
  for (int i = 0; i < 20; ++i) WriteFile(work / "tree/d" / std::to_string(i), Pattern(700, i));
  WriteFile(work / "tree/d" / std::string(150, 'l'), "a GNU long name\n");
  fs::create_directories(work / "source");
  fs::create_directories(work / "expected");
  // The last member's name is not ASCII: libarchive reads it, and only it.
  WriteFile(work / "tree/d/z_\xc3\xa9t\xc3\xa9", "utf-8\n");
  const std::string members = "d $(cd " + Quote(work / "tree") + " && ls d/*[0-9l] | sort) d/z_*";
  ASSERT_EQ(RunCommand("cd " + Quote(work / "tree") + " && tar --no-recursion --format=gnu -cf " +
                       Quote(work / "source/gnu.tar") + " " + members)
                .exit_code,
            0);
  ASSERT_EQ(RunCommand("cd " + Quote(work / "tree") + " && tar --format=pax -cJf " +
                       Quote(work / "source/pax.tar.xz") + " d")
                .exit_code,
            0);
  ASSERT_EQ(
      RunCommand("tar -xf " + Quote(work / "source/gnu.tar") + " -C " + Quote(work / "expected"))
          .exit_code,
      0);
  RunResult run = RunCommand(StageBinary() + " --json -v --from " + Quote(work / "source") +
                             " --to " + Quote(work / "out"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // The directory, 20 files and the long name by stage; the xz archive by libarchive alone.
  auto counted = [&](const std::string& archive, int by_libarchive, int by_stage) {
    return R"("members_by_libarchive":)" + std::to_string(by_libarchive) +
           R"(,"members_by_stage":)" + std::to_string(by_stage) + R"(,"ok":true,"path":")" +
           (work / "source" / archive).string() + "\"";
  };
  EXPECT_NE(run.out.find(counted("gnu.tar", 1, 22)), std::string::npos) << run.out;
  EXPECT_NE(run.out.find(counted("pax.tar.xz", 23, 0)), std::string::npos) << run.out;
  EXPECT_NE(run.err.find("tar headers: 22 members read by stage, 1 by libarchive"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(Snapshot(work / "out/d"), Snapshot(work / "expected/d"));
}

// Reads in flight hide a slow disk's latency; a source already whole in the page cache has none
// to hide, and is mapped instead of copied into buffers. The JSON says which reader ran.
TEST(Stage, ASourceInThePageCacheIsMappedAnUncachedOneReadThroughIoUring) {
  if (!staging::UringAvailable()) GTEST_SKIP() << staging::UringUnavailableReason();
  TempDir work;
  // 20 MB: more than the readahead of the identity check's reads of its head and tail brings in.
  for (int i = 0; i < 100; ++i) WriteFile(work / "tree/d" / std::to_string(i), Pattern(200000, i));
  fs::create_directories(work / "source");
  const fs::path tar = work / "source/a.tar";
  ASSERT_EQ(RunCommand("tar -cf " + Quote(tar) + " -C " + Quote(work / "tree") + " d").exit_code,
            0);
  auto reads = [&](const std::string& dir, const std::string& flags) {
    RunResult run = RunCommand(StageBinary() + " --json " + flags + " --from " +
                               Quote(work / "source") + " --to " + Quote(work / dir));
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(Snapshot(work / dir), Snapshot(work / "tree")) << flags;
    for (std::string how : {"io_uring", "mapped", "plain"}) {
      if (run.out.find(R"("source_reads":")" + how + "\"") != std::string::npos) return how;
    }
    return "none of them: " + run.out;
  };
  common::UniqueFd fd(open(tar.c_str(), O_RDONLY | O_CLOEXEC));
  const uint64_t size = fs::file_size(tar);
  // Just written, so cached; where the kernel cannot say (no cachestat), io_uring as for any.
  EXPECT_EQ(reads("warm", ""), staging::SourceInPageCache(fd.get(), size) ? "mapped" : "io_uring");
  EXPECT_EQ(reads("plain", "--plain-io"), "plain");
  ASSERT_EQ(fsync(fd.get()), 0);
  ASSERT_EQ(posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
  if (staging::SourceInPageCache(fd.get(), size)) {
    GTEST_SKIP() << "this filesystem keeps the file in the page cache (tmpfs?)";
  }
  EXPECT_EQ(reads("cold", ""), "io_uring");
}

// Every way of reading a source can be forced, so that each runs (and is tested) on any kernel:
// mapping where the kernel cannot say a file is cached (no cachestat before 6.5), io_uring where
// the page cache would have it mapped, pread. The JSON names the one that ran.
class ForcedReadsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ForcedReadsTest, TheReaderAskedForIsTheOneThatRan) {
  const std::string how = GetParam();
  if (how == "io_uring" && !staging::UringAvailable()) {
    GTEST_SKIP() << "io_uring unavailable: " << staging::UringUnavailableReason();
  }
  TempDir work;
  for (int i = 0; i < 60; ++i) WriteFile(work / "tree/d" / std::to_string(i), Pattern(150000, i));
  fs::create_directories(work / "source");
  ASSERT_EQ(
      RunCommand("tar -cf " + Quote(work / "source/a.tar") + " -C " + Quote(work / "tree") + " d")
          .exit_code,
      0);
  RunResult run = RunCommand(StageBinary() + " --json --reads " + how + " --from " +
                             Quote(work / "source") + " --to " + Quote(work / "out"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find(R"("source_reads":")" + how + "\""), std::string::npos) << run.out;
  EXPECT_EQ(Snapshot(work / "out"), Snapshot(work / "tree"));
}

INSTANTIATE_TEST_SUITE_P(Readers, ForcedReadsTest, ::testing::Values("mapped", "io_uring", "plain"),
                         [](const auto& info) { return std::string(info.param); });

// A damaged manifest record is not trusted: the source is staged again, with a warning that
// says what became of the earlier staging's files, and the new record is readable.
TEST(Stage, ADamagedRecordIsStagedAgainWithAWarning) {
  TempDir work;
  WriteFile(work / "tree/d/a", "first");
  fs::create_directories(work / "source");
  ASSERT_EQ(
      RunCommand("tar -cf " + Quote(work / "source/a.tar") + " -C " + Quote(work / "tree") + " d")
          .exit_code,
      0);
  const std::string stage =
      StageBinary() + " --from " + Quote(work / "source") + " --to " + Quote(work / "out");
  ASSERT_EQ(RunCommand(stage).exit_code, 0);
  std::vector<fs::path> records;
  for (const auto& e : fs::directory_iterator(work / "out/.stage/manifest")) records.push_back(e);
  ASSERT_EQ(records.size(), 1u);
  WriteFile(records[0], "{\"bytes\": 5, \"comp");
  WriteFile(work / "out/d/a", "changed here");
  // Without its record, nothing says staging made d/a: it may be the user's, and is kept.
  auto refused = RunCommand(stage);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("'d/a' already exists in the destination and no staging made it"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(staging_test::ReadFile(work / "out/d/a"), "changed here");
  auto again = RunCommand(stage + " --overwrite");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("its manifest record was damaged: staged again"), std::string::npos)
      << again.err;
  EXPECT_EQ(staging_test::ReadFile(work / "out/d/a"), "first");
  auto third = RunCommand(stage);
  EXPECT_NE(third.err.find("already staged"), std::string::npos) << third.err;
  EXPECT_EQ(third.err.find("damaged"), std::string::npos) << third.err;
}

TEST(Stage, ACountBelowZeroIsRefused) {
  TempDir work;
  fs::create_directories(work / "source");
  for (const char* flag : {"--writers -1", "--jobs -2"}) {
    auto result = RunCommand(StageBinary() + " " + flag + " --from " + Quote(work / "source") +
                             " --to " + Quote(work / "out"));
    EXPECT_EQ(result.exit_code, 2) << flag;
    EXPECT_NE(result.err.find("take 0 (automatic) or a positive count"), std::string::npos)
        << result.err;
    EXPECT_FALSE(fs::exists(work / "out")) << flag;
  }
}

TEST(Stage, HelpShowsExamples) {
  auto result = RunCommand(StageBinary() + " --help");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("Examples:"), std::string::npos);
  EXPECT_NE(result.out.find("--from"), std::string::npos);
}

}  // namespace

// --- mistakes people make every day are told, not passed over ---

TEST(StageCommandLine, UsageMistakesExitTwoNamingTheArgument) {
  TempDir work;
  fs::create_directories(work / "src");
  const std::string src = Quote(work / "src"), to = Quote(work / "to");
  struct Case {
    std::string args, words;
  };
  const std::vector<Case> cases = {
      {"clean dst", "stage clean: unexpected argument 'dst' (did you mean --to dst?)"},
      {"--from " + src + " --to " + to + " extra", "stage: unexpected argument 'extra'"},
      {"data --to " + to, "unexpected argument 'data' (did you mean --from data?)"},
      {"--from " + src + " --max-entries -5", "--max-entries takes a count of at least 1, not -5"},
      {"--from " + src + " --max-bytes -1", "--max-bytes takes a count of at least 1, not -1"},
      {"--from " + src + " --max-bytes 0", "--max-bytes takes a count of at least 1, not 0"},
      {"--from " + src + " --max-bytes 99999999999999999999999", "--max-bytes"},
      {"pack --from " + src + " --to x.tar.zst --level 99", "stage pack: --level takes zstd's"},
      {"pack --from " + src + " --to x.tar.zst --frame-size -1", "--frame-size takes a count"},
      {"pack --from " + src + " --to x.tar.zst extra", "stage pack: unexpected argument 'extra'"},
      {"--from " + src + " --no-such-option", "stage: unrecognised option '--no-such-option'"},
      {"--from " + src + " --jobs many", "the argument ('many') for option '--jobs' is invalid"},
      {"--from " + src + " --verbose --quiet", "--verbose and --quiet contradict each other"},
      {"--from " + src + " --reads sometimes", "--reads takes auto, mapped, io_uring or plain"},
      {"--to " + to, "stage: --from DIR is required"},
      {"pack --to x.tar.zst", "stage pack: the option '--from' is required"},
      {"clean --to", "stage clean: the required argument for option '--to' is missing"},
      {"fetch ftp://host/data.tar --to " + to,
       "stage fetch: ftp://host/data.tar: unsupported scheme"},
      {"fetch https://host/ --to " + to, "the URL names no file to store"},
      {"fetch https://host/a.tar --to " + to + " --retry -1", "--retry must not be negative"},
      {"fetch https://host/a.tar --to " + to + " --retry-max-time -2", "--retry-max-time"},
      {"fetch https://host/a.tar", "stage fetch: the option '--to' is required"},
      {"fetch https://host/a.tar --to " + to + " --sha256 abc", "--sha256"},
  };
  for (const Case& c : cases) {
    RunResult r = RunCommand(StageBinary() + " " + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.words), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
  }
  EXPECT_FALSE(fs::exists(work / "to/.stage")) << "a usage error staged something";
}

// The conventions of GNU tools: --version and -h on every command, the exit statuses stated in
// the help, options shown with what they take, a repeated option's last value, --quiet.
TEST(StageCommandLine, EveryCommandHasVersionHelpAndTheUsualConventions) {
  for (const std::string command : {"", "clean ", "pack ", "fetch "}) {
    RunResult version = RunCommand(StageBinary() + " " + command + "--version");
    EXPECT_EQ(version.exit_code, 0) << command << version.err;
    EXPECT_THAT(version.out, ContainsRegex("^stage " + std::string(command.empty() ? "" : command) +
                                           "[0-9]+\\.[0-9]+\\.[0-9]+ \\(git [^)]+\\)\n"));
    EXPECT_THAT(version.out, HasSubstr("libarchive "));
    EXPECT_THAT(version.out, HasSubstr("io_uring: "));
    RunResult help = RunCommand(StageBinary() + " " + command + "-h");
    EXPECT_EQ(help.exit_code, 0) << command << help.err;
    EXPECT_THAT(help.out, ContainsRegex("^Usage:"));
    EXPECT_THAT(help.out, HasSubstr("Exit status: 0 on success, 1 when the work failed, 2 for a "
                                    "usage error"));
    EXPECT_THAT(help.out, Not(HasSubstr(" arg "))) << "an option without the name of its value";
    EXPECT_EQ(RunCommand(StageBinary() + " " + command + "--help").out, help.out);
  }
  EXPECT_THAT(RunCommand(StageBinary() + " --help").out, HasSubstr("--to DIR (=.)"));

  TempDir work;
  WriteFile(work / "src/a.txt", "a");
  // The last --to wins, as in GNU tools; the first is not even created.
  RunResult last = RunCommand(StageBinary() + " --from " + Quote(work / "src") + " --to " +
                              Quote(work / "first") + " --to " + Quote(work / "second"));
  ASSERT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(ReadFile(work / "second/a.txt"), "a");
  EXPECT_FALSE(fs::exists(work / "first"));
  // --quiet: nothing on stderr when all goes well, the error when it does not.
  RunResult quiet = RunCommand(StageBinary() + " --from " + Quote(work / "src") + " --to " +
                               Quote(work / "third") + " -q");
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err, "");
  EXPECT_EQ(ReadFile(work / "third/a.txt"), "a");
  RunResult quiet_failure = RunCommand(StageBinary() + " --from " + Quote(work / "missing") +
                                       " --to " + Quote(work / "fourth") + " --quiet");
  EXPECT_EQ(quiet_failure.exit_code, 1);
  EXPECT_THAT(quiet_failure.err, HasSubstr("missing"));
  // Summaries in units for people, singular where there is one.
  RunResult summary = RunCommand(StageBinary() + " --from " + Quote(work / "src") + " --to " +
                                 Quote(work / "fifth"));
  EXPECT_THAT(summary.err, ContainsRegex("stage: 1 source, 1 file, 1 B, [0-9.]+ s, [0-9.]+ "
                                         "[kMG]?B/s\n"));
  EXPECT_THAT(RunCommand(StageBinary() + " clean --to " + Quote(work / "fifth")).err,
              HasSubstr("removed 1 path from"));
}

TEST(StageCommandLine, ADestinationInsideTheSourceIsLeftOutOfIt) {
  TempDir work;
  WriteFile(work / "same/data.txt", "data");
  WriteFile(work / "same/sub/more.txt", "more");
  const std::string stage =
      StageBinary() + " --from " + Quote(work / "same") + " --to " + Quote(work / "same/out");
  for (int run = 0; run < 2; ++run) {
    RunResult r = RunCommand(stage + " --force");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  std::map<std::string, std::string> staged = Snapshot(work / "same/out", false);
  EXPECT_EQ(staged.size(), 3u) << "data.txt, sub, sub/more.txt: nothing of out/ staged into out/";
  EXPECT_FALSE(fs::exists(work / "same/out/out"));
  RunResult itself = RunCommand(StageBinary() + " --from " + Quote(work / "same") + " --to " +
                                Quote(work / "same"));
  EXPECT_EQ(itself.exit_code, 2) << "a usage error";
  EXPECT_NE(itself.err.find("is --from itself"), std::string::npos) << itself.err;
  // The same through another spelling of the path, through the library: a run-wide error, no
  // source counted as failed, nothing written.
  staging::StageOptions options;
  options.from = (work / "same").string();
  options.to = (work / "same/sub/..").string();
  staging::StageReport report = staging::Stage(options);
  EXPECT_FALSE(report.ok());
  EXPECT_THAT(report.error.message(), HasSubstr("is --from itself"));
  EXPECT_TRUE(report.archives.empty());
  EXPECT_FALSE(fs::exists(work / "same/.stage"));
}

// A failure before any source is read is one line, with no summary counting sources that were
// never looked at, and the path named once.
TEST(StageCommandLine, AFailureBeforeAnySourceIsOneLineWithoutASummary) {
  TempDir work;
  WriteFile(work / "src/a.txt", "a");
  WriteFile(work / "file", "not a directory");
  for (const std::string& args :
       {" --from " + Quote(work / "missing") + " --to " + Quote(work / "to"),
        " --from " + Quote(work / "src") + " --to " + Quote(work / "file/sub")}) {
    RunResult r = RunCommand(StageBinary() + args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, Not(HasSubstr("source")));
    RunResult json = RunCommand(StageBinary() + args + " --json");
    EXPECT_THAT(json.out, HasSubstr("\"error\":"));
  }
  RunResult r = RunCommand(StageBinary() + " --from " + Quote(work / "src") + " --to " +
                           Quote(work / "file/sub"));
  const std::string path = (work / "file/sub").string();
  EXPECT_EQ(r.err.find(path), r.err.rfind(path)) << "the path twice: " << r.err;
}

TEST(StageCommandLine, ASourceNamedLikeATarThatIsNotOneIsAnError) {
  TempDir work;
  WriteFile(work / "src/random.tar", std::string(4096, '\x5a'));
  ASSERT_EQ(
      RunCommand("printf 'a,b\\n1,2\\n' | gzip > " + Quote(work / "src/text.tar.gz")).exit_code, 0);
  ASSERT_EQ(
      RunCommand("printf 'a,b\\n1,2\\n' | gzip > " + Quote(work / "src/data.csv.gz")).exit_code, 0);
  ASSERT_EQ(RunCommand("cd " + Quote(work.path()) + " && echo x > f && tar -cf whole.tar f && " +
                       "head -c 300 whole.tar > src/cut.tgz")
                .exit_code,
            0);
  RunResult r = RunCommand(StageBinary() + " --keep-going --from " + Quote(work / "src") +
                           " --to " + Quote(work / "to"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("random.tar: named like a tar archive, but it holds data that is not a tar"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("text.tar.gz: named like a tar archive, but it holds gzip-compressed data"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cut.tgz: named like a tar archive, but it holds 300 bytes, less than one "
                       "tar header"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("4 sources (3 failed, nothing staged from them), 1 file, "),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(fs::exists(work / "to/data.csv.gz")) << "an ordinary .gz is copied as it is";
  EXPECT_FALSE(fs::exists(work / "to/random.tar"));
  EXPECT_FALSE(fs::exists(work / "to/text.tar.gz"));
}

TEST(StageCommandLine, VerifyChecksEveryChecksumFileBeforeStagingAny) {
  TempDir work;
  WriteFile(work / "src/a.bin", "a");
  WriteFile(work / "src/b.bin", "b");
  ASSERT_EQ(
      RunCommand("cd " + Quote(work / "src") + " && sha256sum a.bin > a.bin.sha256").exit_code, 0);
  RunResult r = RunCommand(StageBinary() + " --verify --keep-going --from " + Quote(work / "src") +
                           " --to " + Quote(work / "to"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--verify: no checksum file " + (work / "src/b.bin.sha256").string() +
                       "; nothing staged"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(work / "to/a.bin")) << "a source was read before every sum was found";
}
