// Members read in place: plain tars written by GNU tar and bsdtar in every header format, packed
// archives, archives that cannot be read at random, and every kind of bad input: a truncated
// or damaged archive, one changed since it was indexed, a damaged or stale index.
#include "staging/archive_members.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <fstream>
#include <functional>
#include <map>
#include <random>

#include "base/source_identity.h"
#include "common/unique_fd.h"
#include "hostile_archives.h"
#include "inplace/archive_file.h"
#include "inplace/header_pass.h"
#include "inplace/member_index.h"
#include "inplace/tar_stream.h"
#include "staging/pack.h"
#include "test_support.h"

namespace staging_test {
namespace {

using staging::ArchiveMembers;
using staging::MemberLayout;
using staging::MemberOpenOptions;
using staging::MemberOpenReport;

// A tree with random (incompressible) files, a long name, a nested folder and a hardlink.
std::map<std::string, std::string> MakeTree(const fs::path& root, int files = 40) {
  std::mt19937 rng(7);
  std::map<std::string, std::string> contents;
  for (int i = 0; i < files; ++i) {
    std::string name = "images/cat_" + std::to_string(i) + ".jpg";
    if (i == 3) name = "images/" + std::string(150, 'l') + "_3.jpg";  // beyond ustar's 100
    std::string bytes(1 + rng() % 70000, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    WriteFile(root / name, bytes);
    contents[name] = bytes;
  }
  WriteFile(root / "images/nested/deep_1.jpg", "deep");
  contents["images/nested/deep_1.jpg"] = "deep";
  WriteFile(root / "notes.txt", "not an image");
  contents["notes.txt"] = "not an image";
  fs::create_hard_link(root / "images/cat_1.jpg", root / "images/linked_1.jpg");
  contents["images/linked_1.jpg"] = contents["images/cat_1.jpg"];
  return contents;
}

std::unique_ptr<ArchiveMembers> OpenOk(const fs::path& archive, MemberOpenReport* report,
                                       MemberOpenOptions options = {}) {
  std::unique_ptr<ArchiveMembers> members;
  staging::Status status = ArchiveMembers::Open(archive, options, &members, report);
  EXPECT_TRUE(status.ok()) << status.message();
  return members;
}

// Member name -> size and hash, so that a mismatch prints short lines.
std::map<std::string, std::string> Digest(const std::map<std::string, std::string>& contents) {
  std::map<std::string, std::string> digest;
  for (const auto& [name, bytes] : contents)
    digest[name] = std::to_string(bytes.size()) + " bytes, hash " +
                   std::to_string(std::hash<std::string>{}(bytes));
  return digest;
}

void ExpectContents(const ArchiveMembers& members,
                    const std::map<std::string, std::string>& expected) {
  std::map<std::string, std::string> got;
  for (size_t i = 0; i < members.members().size(); ++i) {
    std::vector<uint8_t> bytes;
    staging::Status status = members.Read(i, &bytes);
    ASSERT_TRUE(status.ok()) << status.message();
    EXPECT_EQ(bytes.size(), members.members()[i].size);
    got[members.members()[i].name] = std::string(bytes.begin(), bytes.end());
  }
  EXPECT_EQ(Digest(got), Digest(expected));
}

struct Writer {
  const char* name;
  const char* command;  // %s: the archive, run in the tree's root
};

class PlainTarTest : public ::testing::TestWithParam<Writer> {};

TEST_P(PlainTarTest, EveryMemberReadsAsWrittenAndTheIndexIsReused) {
  TempDir dir;
  auto contents = MakeTree(dir / "tree");
  fs::path archive = dir / "data.tar";
  char command[512];
  std::snprintf(command, sizeof command, GetParam().command, archive.c_str());
  ASSERT_EQ(RunCommand("cd " + Quote(dir / "tree") + " && " + command).exit_code, 0);
  MemberOpenReport first;
  auto members = OpenOk(archive, &first);
  ASSERT_TRUE(members);
  EXPECT_EQ(first.layout, MemberLayout::kPlainTar);
  EXPECT_TRUE(first.index_built);
  EXPECT_EQ(first.index_path, archive.string() + ".stagemembers");
  ExpectContents(*members, contents);
  MemberOpenReport second;
  members = OpenOk(archive, &second);
  EXPECT_FALSE(second.index_built);
  EXPECT_TRUE(second.index_note.empty()) << second.index_note;
  ExpectContents(*members, contents);
}

INSTANTIATE_TEST_SUITE_P(Writers, PlainTarTest,
                         ::testing::Values(Writer{"gnu", "tar --format=gnu -cf %s ."},
                                           Writer{"pax", "tar --format=pax -cf %s ."},
                                           Writer{"oldgnu", "tar --format=oldgnu -cf %s ."},
                                           Writer{"bsdtar_pax", "bsdtar --format=pax -cf %s ."},
                                           Writer{"bsdtar_gnutar",
                                                  "bsdtar --format=gnutar -cf %s ."}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ArchiveMembersTest, BsdtarUstarKeepsItsThreeMembers) {
  TempDir dir;
  auto contents = MakeTree(dir / "tree");
  fs::path archive = dir / "data.tar";
  ASSERT_EQ(RunCommand("cd " + Quote(dir / "tree") + " && bsdtar --format=ustar -cf " +
                       Quote(archive) + " images/cat_1.jpg images/cat_2.jpg images/linked_1.jpg")
                .exit_code,
            0);
  MemberOpenReport report;
  auto members = OpenOk(archive, &report);
  ASSERT_TRUE(members);
  ExpectContents(*members, {{"images/cat_1.jpg", contents["images/cat_1.jpg"]},
                            {"images/cat_2.jpg", contents["images/cat_2.jpg"]},
                            {"images/linked_1.jpg", contents["images/linked_1.jpg"]}});
}

TEST(ArchiveMembersTest, PackedArchivesReadInPlaceWithAFramePerMemberOrSeveral) {
  TempDir dir;
  auto contents = MakeTree(dir / "tree");
  for (bool random_access : {true, false}) {
    staging::PackOptions options;
    options.from = (dir / "tree").string();
    options.to = (dir / (random_access ? "ra.tar.zst" : "big.tar.zst")).string();
    options.random_access = random_access;
    options.frame_bytes = 256 << 10;
    ASSERT_TRUE(staging::Pack(options).status.ok());
    MemberOpenReport report;
    auto members = OpenOk(options.to, &report);
    ASSERT_TRUE(members);
    EXPECT_EQ(report.layout, MemberLayout::kPacked);
    EXPECT_EQ(report.advice.empty(), random_access) << report.advice;
    ExpectContents(*members, contents);
    members = OpenOk(options.to, &report);
    EXPECT_FALSE(report.index_built);
    ExpectContents(*members, contents);
  }
}

// `stage pack --random-access` leaves the member index beside the archive (the set-up job pays
// for it, not the first training job); IndexArchiveMembers refuses an archive that could only be
// read into memory, reading nothing of it.
TEST(ArchiveMembersTest, PackForRandomAccessWritesTheMemberIndex) {
  TempDir dir;
  auto contents = MakeTree(dir / "tree");
  const std::string archive = (dir / "ra.tar.zst").string();
  RunResult packed = RunCommand(StageBinary() + " pack --random-access --json --from " +
                                Quote(dir / "tree") + " --to " + Quote(archive));
  ASSERT_EQ(packed.exit_code, 0) << packed.err;
  EXPECT_NE(packed.out.find(R"("member_indexed":true)"), std::string::npos) << packed.out;
  EXPECT_NE(packed.err.find(", member index written"), std::string::npos) << packed.err;
  ASSERT_TRUE(std::filesystem::exists(archive + ".stagemembers"));
  MemberOpenReport report;
  auto members = OpenOk(archive, &report);
  ASSERT_TRUE(members);
  EXPECT_FALSE(report.index_built) << report.index_note;
  ExpectContents(*members, contents);

  const std::string tar = (dir / "t.tar").string();
  ASSERT_EQ(RunCommand("tar -C " + Quote(dir / "tree") + " -czf " + tar + ".gz .").exit_code, 0);
  bool written = true;
  staging::Status status = staging::IndexArchiveMembers(tar + ".gz", "", &written);
  EXPECT_FALSE(status.ok());
  EXPECT_FALSE(written);
  EXPECT_NE(status.message().find("cannot be read in place"), std::string::npos)
      << status.message();
}

TEST(ArchiveMembersTest, KeepSelectsMembersByName) {
  TempDir dir;
  auto contents = MakeTree(dir / "tree");
  fs::path archive = dir / "data.tar";
  ASSERT_EQ(RunCommand("tar -C " + Quote(dir / "tree") + " -cf " + Quote(archive) + " .").exit_code,
            0);
  MemberOpenOptions options;
  options.keep = [](std::string_view name) { return name.ends_with(".txt"); };
  MemberOpenReport report;
  auto members = OpenOk(archive, &report, options);
  ASSERT_TRUE(members);
  ExpectContents(*members, {{"notes.txt", "not an image"}});
}

TEST(ArchiveMembersTest, SparseFilesAndSymlinksAreRefusedByName) {
  TempDir dir;
  WriteFile(dir / "tree/a_1.jpg", "a");
  ASSERT_EQ(RunCommand("truncate -s 1M " + Quote(dir / "tree/hole_1.jpg") + " && printf x >> " +
                       Quote(dir / "tree/hole_1.jpg") + " && ln -s a_1.jpg " +
                       Quote(dir / "tree/link_1.jpg"))
                .exit_code,
            0);
  fs::path archive = dir / "data.tar";
  // --sort=name: the members in a known order, whatever order the filesystem lists them in (tmpfs
  // lists the newest first).
  ASSERT_EQ(RunCommand("tar -C " + Quote(dir / "tree") + " --sparse --sort=name -cf " +
                       Quote(archive) + " .")
                .exit_code,
            0);
  MemberOpenReport report;
  auto members = OpenOk(archive, &report);
  ASSERT_TRUE(members);
  ExpectContents(*members, {{"a_1.jpg", "a"}});
  ASSERT_EQ(report.refused.size(), 2u);
  EXPECT_EQ(report.refused[0], "hole_1.jpg: a sparse file") << report.refused[0];
  EXPECT_EQ(report.refused[1], "link_1.jpg: a symbolic link") << report.refused[1];
}

// A GNU tar of MakeTree's files in `dir`/data.tar.
fs::path MakeTar(const TempDir& dir, std::map<std::string, std::string>* contents) {
  *contents = MakeTree(dir / "tree");
  fs::path archive = dir / "data.tar";
  EXPECT_EQ(RunCommand("tar -C " + Quote(dir / "tree") + " -cf " + Quote(archive) + " .").exit_code,
            0);
  return archive;
}

std::string OpenError(const fs::path& archive, MemberOpenOptions options = {}) {
  std::unique_ptr<ArchiveMembers> members;
  staging::Status status = ArchiveMembers::Open(archive, options, &members);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message().find('\n'), std::string::npos);
  return status.message();
}

void Overwrite(const fs::path& file, uint64_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(ArchiveMembersTest, TruncatedArchiveStopsNamingTheArchiveAndTheMember) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  fs::resize_file(archive, fs::file_size(archive) / 2 + 100);
  std::string error = OpenError(archive);
  EXPECT_NE(error.find(archive.string()), std::string::npos) << error;
  EXPECT_NE(error.find("runcated"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(archive.string() + ".stagemembers"));
}

TEST(ArchiveMembersTest, DamagedHeaderStopsNamingTheArchive) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  // The second member's header sits after the first's data; damage every header's checksum by
  // scribbling over a block in the middle, which is a header or data: find a header instead.
  std::string bytes = ReadFile(archive);
  size_t header = bytes.find("cat_1");
  ASSERT_NE(header, std::string::npos);
  Overwrite(archive, header - header % 512 + 148, "99999999");  // the checksum field
  std::string error = OpenError(archive);
  EXPECT_NE(error.find(archive.string()), std::string::npos) << error;
}

TEST(ArchiveMembersTest, NotATarIsRefused) {
  TempDir dir;
  WriteFile(dir / "x.tar", std::string(4096, 'x'));
  std::string error = OpenError(dir / "x.tar");
  EXPECT_NE(error.find("x.tar"), std::string::npos) << error;
}

TEST(ArchiveMembersTest, MemberChangedSinceIndexingIsAnErrorNamingIt) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  MemberOpenOptions options;
  options.preload = staging::Preload::kOff;  // a preloaded copy would still be consistent
  MemberOpenReport report;
  auto members = OpenOk(archive, &report, options);
  ASSERT_TRUE(members);
  // Rewritten in place while open: every member moves by one block.
  std::string bytes = ReadFile(archive);
  Overwrite(archive, 0, std::string(512, '\0') + bytes.substr(0, bytes.size() - 512));
  size_t failures = 0;
  for (size_t i = 0; i < members->members().size(); ++i) {
    std::vector<uint8_t> out;
    staging::Status status = members->Read(i, &out);
    if (status.ok()) continue;
    ++failures;
    EXPECT_NE(status.message().find(archive.string() + ": " + members->members()[i].name),
              std::string::npos)
        << status.message();
    EXPECT_NE(status.message().find("changed since it was indexed"), std::string::npos)
        << status.message();
  }
  EXPECT_EQ(failures, members->members().size());
}

TEST(ArchiveMembersTest, StaleIndexIsRebuilt) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  MemberOpenReport report;
  ASSERT_TRUE(OpenOk(archive, &report));
  // Another archive under the same name: the old index must not be used.
  WriteFile(dir / "tree/images/cat_0.jpg", "new");
  contents["images/cat_0.jpg"] = "new";
  ASSERT_EQ(RunCommand("tar -C " + Quote(dir / "tree") + " -cf " + Quote(archive) + " .").exit_code,
            0);
  auto members = OpenOk(archive, &report);
  ASSERT_TRUE(members);
  EXPECT_TRUE(report.index_built);
  EXPECT_NE(report.index_note.find("another version of the archive"), std::string::npos)
      << report.index_note;
  ExpectContents(*members, contents);
}

TEST(ArchiveMembersTest, DamagedIndexIsNamedAndRebuilt) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  MemberOpenReport report;
  ASSERT_TRUE(OpenOk(archive, &report));
  fs::path index = archive.string() + ".stagemembers";
  std::string bytes = ReadFile(index);
  bytes[bytes.size() / 2] ^= 0x40;
  WriteFile(index, bytes);
  auto members = OpenOk(archive, &report);
  ASSERT_TRUE(members);
  EXPECT_TRUE(report.index_built);
  EXPECT_NE(report.index_note.find(index.string() + ": damaged"), std::string::npos)
      << report.index_note;
  ExpectContents(*members, contents);
  WriteFile(index, bytes.substr(0, 40));  // cut short
  members = OpenOk(archive, &report);
  EXPECT_TRUE(report.index_built);
  ExpectContents(*members, contents);
}

TEST(ArchiveMembersTest, EveryCutAndFlipOfTheIndexIsRebuiltNeverBelieved) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  MemberOpenReport report;
  ASSERT_TRUE(OpenOk(archive, &report));
  const fs::path index = archive.string() + ".stagemembers";
  const std::string good = ReadFile(index);
  std::vector<std::string> damaged;
  for (size_t cut = 0; cut < good.size(); cut += 1 + good.size() / 40) {
    damaged.push_back(good.substr(0, cut));
  }
  for (size_t at = 0; at < good.size(); at += 1 + good.size() / 60) {
    damaged.push_back(good);
    damaged.back()[at] ^= 0x01;
  }
  for (const std::string& bytes : damaged) {
    WriteFile(index, bytes);
    auto members = OpenOk(archive, &report);
    ASSERT_TRUE(members);
    EXPECT_TRUE(report.index_built);
    EXPECT_FALSE(report.index_note.empty());
    ExpectContents(*members, contents);
  }
}

// An index forged with a valid checksum (it is read from a disk others write) whose records
// point at the wrong bytes: refused when outside the archive, else every read of a moved member
// fails naming it, and no wrong bytes are ever returned.
TEST(ArchiveMembersTest, ForgedIndexGivesErrorsNeverWrongBytes) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  staging::SourceIdentity identity;
  ASSERT_TRUE(staging::IdentifySource(fd.get(), archive.string(), &identity).ok());
  MemberOpenReport report;
  ASSERT_TRUE(OpenOk(archive, &report));
  staging::MemberIndex index, expected;
  expected.stream_size = identity.size;
  ASSERT_TRUE(
      staging::DecodeMemberIndex(ReadFile(report.index_path), identity, expected, &index).ok());
  staging::MemberIndex moved = index;
  for (auto& record : moved.records) record.offset += 512;
  WriteFile(report.index_path, staging::EncodeMemberIndex(moved, identity));
  MemberOpenOptions options;
  options.preload = staging::Preload::kOff;
  auto members = OpenOk(archive, &report, options);
  ASSERT_TRUE(members);
  EXPECT_FALSE(report.index_built);  // well formed: believed until a read checks it
  for (size_t i = 0; i < members->members().size(); ++i) {
    std::vector<uint8_t> bytes;
    staging::Status status = members->Read(i, &bytes);
    ASSERT_FALSE(status.ok()) << members->members()[i].name;
    EXPECT_NE(status.message().find(members->members()[i].name), std::string::npos);
  }
  staging::MemberIndex outside = index;
  outside.records[0].size = identity.size;
  WriteFile(report.index_path, staging::EncodeMemberIndex(outside, identity));
  members = OpenOk(archive, &report);
  EXPECT_TRUE(report.index_built);
  EXPECT_NE(report.index_note.find("outside the archive"), std::string::npos) << report.index_note;
  ExpectContents(*members, contents);
}

TEST(ArchiveMembersTest, StageDoesNotCopyTheMemberIndexBesideAnArchive) {
  TempDir dir, out;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  MemberOpenReport report;
  ASSERT_TRUE(OpenOk(archive, &report));
  ASSERT_TRUE(fs::exists(archive.string() + ".stagemembers"));
  fs::remove_all(dir / "tree");
  RunResult staged =
      RunCommand(StageBinary() + " --from " + Quote(dir.path()) + " --to " + Quote(out.path()));
  ASSERT_EQ(staged.exit_code, 0) << staged.err;
  EXPECT_TRUE(fs::exists(out / "images/cat_0.jpg"));
  EXPECT_FALSE(fs::exists(out / "data.tar.stagemembers"));
}

// On a network filesystem the header pass follows the preload's sequential read instead of
// seeking: the same index either way.
TEST(ArchiveMembersTest, HeaderPassBehindThePreloadFindsTheSameMembers) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  staging::MemberIndex seeking, following;
  for (bool in_file_order : {false, true}) {
    common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
    staging::ArchiveFile file(archive.string(), std::move(fd), fs::file_size(archive));
    if (in_file_order) {
      ASSERT_TRUE(file.StartPreload());
    }
    auto stream = staging::PlainTarStream(file, in_file_order);
    staging::MemberIndex& index = in_file_order ? following : seeking;
    ASSERT_TRUE(staging::BuildMemberIndex(*stream, archive.string(), nullptr, &index).ok());
  }
  ASSERT_EQ(following.records.size(), contents.size());
  EXPECT_EQ(staging::EncodeMemberIndex(following, {}), staging::EncodeMemberIndex(seeking, {}));
}

TEST(ArchiveMembersTest, ReadOnlyDirectoryKeepsTheIndexInTheCache) {
  TempDir dir, cache;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  if (geteuid() == 0) {
    // Root writes anywhere: make the directory unwritable in a way root respects.
    if (RunCommand("chattr +i " + Quote(dir.path())).exit_code != 0) {
      GTEST_SKIP() << "cannot make a read-only directory here (chattr unavailable)";
    }
  } else {
    fs::permissions(dir.path(), fs::perms::owner_write, fs::perm_options::remove);
  }
  MemberOpenOptions options;
  options.index_cache = cache.path().string();
  MemberOpenReport first, second;
  auto members = OpenOk(archive, &first, options);
  if (members) members = OpenOk(archive, &second, options);
  RunCommand("chattr -i " + Quote(dir.path()));
  fs::permissions(dir.path(), fs::perms::owner_write, fs::perm_options::add);
  ASSERT_TRUE(members);
  EXPECT_EQ(first.index_path.rfind(cache.path().string(), 0), 0u) << first.index_path;
  EXPECT_TRUE(first.index_built);
  EXPECT_FALSE(second.index_built);
  EXPECT_FALSE(fs::exists(archive.string() + ".stagemembers"));
  ExpectContents(*members, contents);
}

TEST(ArchiveMembersTest, MemberCutOffAfterIndexingIsAnErrorNamingIt) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  MemberOpenOptions options;
  options.preload = staging::Preload::kOff;
  MemberOpenReport report;
  auto members = OpenOk(archive, &report, options);
  ASSERT_TRUE(members);
  fs::resize_file(archive, 4096);
  std::vector<uint8_t> out;
  staging::Status status = members->Read(members->members().size() - 1, &out);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(archive.string() + ": " + members->members().back().name),
            std::string::npos)
      << status.message();
}

TEST(ArchiveMembersTest, PreloadServesTheSameBytes) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path archive = MakeTar(dir, &contents);
  for (auto preload : {staging::Preload::kOn, staging::Preload::kOff}) {
    MemberOpenOptions options;
    options.preload = preload;
    MemberOpenReport report;
    auto members = OpenOk(archive, &report, options);
    ASSERT_TRUE(members);
    EXPECT_EQ(report.preloading, preload == staging::Preload::kOn);
    ExpectContents(*members, contents);
  }
}

TEST(ArchiveMembersTest, CompressedArchivesAreReadOnceIntoMemoryWithTheirGzipIndex) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path tar = MakeTar(dir, &contents);
  ASSERT_EQ(
      RunCommand("gzip -k " + Quote(tar) + " && xz -k " + Quote(tar) + " && zstd -q " + Quote(tar))
          .exit_code,
      0);
  for (std::string suffix : {".gz", ".xz", ".zst"}) {
    MemberOpenReport report;
    auto members = OpenOk(tar.string() + suffix, &report);
    ASSERT_TRUE(members);
    EXPECT_EQ(report.layout, MemberLayout::kInMemory);
    ExpectContents(*members, contents);
  }
  // A .tar.gz large enough for restart points (one per 16 MiB): the first read writes its gzip
  // index, the second inflates in parallel through that very index.
  WriteFile(dir / "tree/images/big_1.jpg", std::string(40 << 20, 'b'));
  contents["images/big_1.jpg"] = std::string(40 << 20, 'b');
  const fs::path big = dir / "big.tar.gz";
  ASSERT_EQ(RunCommand("tar -C " + Quote(dir / "tree") + " -czf " + Quote(big) + " .").exit_code,
            0);
  MemberOpenReport first, second;
  ASSERT_TRUE(OpenOk(big, &first));
  EXPECT_TRUE(first.index_built);
  EXPECT_EQ(first.index_path, big.string() + ".stageidx");
  ASSERT_TRUE(fs::exists(big.string() + ".stageidx"));
  auto members = OpenOk(big, &second);
  ASSERT_TRUE(members);
  EXPECT_FALSE(second.index_built);
  EXPECT_EQ(second.index_path, big.string() + ".stageidx") << "the gzip index was not used";
  EXPECT_TRUE(second.index_note.empty()) << second.index_note;
  ExpectContents(*members, contents);
}

TEST(ArchiveMembersTest, CompressedArchiveOverTheMemoryCapSaysToStageOrPack) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  fs::path tar = MakeTar(dir, &contents);
  ASSERT_EQ(RunCommand("gzip " + Quote(tar)).exit_code, 0);
  MemberOpenOptions options;
  options.max_memory = 100000;
  std::string error = OpenError(tar.string() + ".gz", options);
  EXPECT_NE(error.find(tar.string() + ".gz: a tar.gz cannot be read at random"), std::string::npos)
      << error;
  EXPECT_NE(error.find("`stage`"), std::string::npos) << error;
  EXPECT_NE(error.find("`stage pack --random-access"), std::string::npos) << error;
}

}  // namespace
}  // namespace staging_test

namespace staging_test {
namespace {

// --- what surrounds an archive read in place is untrusted too ---

// Two same-sized members between a head and a tail of 100 KiB each, written in the order given:
// the archive's size, head and tail stay the same whichever names the middle members carry.
fs::path TarInOrder(const TempDir& dir, const std::string& name,
                    const std::vector<std::pair<std::string, std::string>>& members) {
  const fs::path tree = dir / (name + ".tree");
  std::string list;
  for (const auto& [member, bytes] : members) {
    WriteFile(tree / member, bytes);
    list += " " + Quote(member);
  }
  const fs::path archive = dir / name;
  EXPECT_EQ(RunCommand("tar --format=gnu --mtime=@1700000000 --owner=0 --group=0 --numeric-owner "
                       "-C " +
                       Quote(tree) + " -cf " + Quote(archive) + list)
                .exit_code,
            0);
  return archive;
}

TEST(InPlaceSecurityTest, AnArchiveSwappedForOneOfTheSameSizeTimeHeadAndTailIsNotBelieved) {
  TempDir dir;
  const std::string head(100 << 10, 'h'), tail(100 << 10, 't');
  const std::string cat(10000, 'c'), dog(10000, 'd');
  const fs::path archive = TarInOrder(
      dir, "pets.tar",
      {{"a_head.bin", head}, {"cat_1.jpg", cat}, {"dog_1.jpg", dog}, {"z_tail.bin", tail}});
  const fs::path swapped = TarInOrder(
      dir, "swapped.tar",
      {{"a_head.bin", head}, {"dog_1.jpg", cat}, {"cat_1.jpg", dog}, {"z_tail.bin", tail}});
  ASSERT_EQ(fs::file_size(archive), fs::file_size(swapped));
  MemberOpenReport report;
  ASSERT_TRUE(OpenOk(archive, &report));
  ASSERT_TRUE(report.index_built);
  const std::string first_index = ReadFile(report.index_path);
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  staging::SourceIdentity original;
  ASSERT_TRUE(staging::IdentifySource(fd.get(), archive.string(), &original).ok());
  fd.reset();

  // Rewritten in place with the mtime set back: size, mtime, head and tail all as indexed.
  struct stat st;
  ASSERT_EQ(stat(archive.c_str(), &st), 0);
  {
    std::ofstream out(archive, std::ios::binary | std::ios::in | std::ios::out);
    out << ReadFile(swapped);
  }
  const timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, archive.c_str(), times, 0), 0);
  fd.reset(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  staging::SourceIdentity now;
  ASSERT_TRUE(staging::IdentifySource(fd.get(), archive.string(), &now).ok());
  ASSERT_EQ(now.size, original.size);
  ASSERT_EQ(now.mtime_ns, original.mtime_ns);
  ASSERT_EQ(now.head_sha256, original.head_sha256);
  ASSERT_NE(now.ctime_ns, original.ctime_ns);

  // The ctime says the index is another file's: it is made again, and labels are right.
  auto members = OpenOk(archive, &report);
  ASSERT_TRUE(members);
  EXPECT_TRUE(report.index_built) << "the swapped archive's index was believed";
  EXPECT_NE(report.index_note.find("another version of the archive"), std::string::npos)
      << report.index_note;
  ExpectContents(
      *members,
      {{"a_head.bin", head}, {"dog_1.jpg", cat}, {"cat_1.jpg", dog}, {"z_tail.bin", tail}});

  // An index forged to carry the new identity (its records the old archive's): each read checks
  // the member's headers where the record points, and refuses rather than mislabel.
  staging::MemberIndex index, expected;
  expected.stream_size = original.size;
  ASSERT_TRUE(staging::DecodeMemberIndex(first_index, original, expected, &index).ok());
  WriteFile(report.index_path, staging::EncodeMemberIndex(index, now));
  members = OpenOk(archive, &report);
  ASSERT_TRUE(members);
  EXPECT_FALSE(report.index_built) << "the forged index should have been taken, then checked";
  for (size_t i = 0; i < members->members().size(); ++i) {
    const std::string& name = members->members()[i].name;
    if (name != "cat_1.jpg" && name != "dog_1.jpg") continue;
    std::vector<uint8_t> bytes;
    staging::Status status = members->Read(i, &bytes);
    EXPECT_FALSE(status.ok()) << name << " read under the other's label";
    EXPECT_NE(status.message().find("the archive changed since it was indexed"), std::string::npos)
        << status.message();
  }
}

TEST(InPlaceSecurityTest, LinksAndNamesStageRefusesAreRefusedInPlaceToo) {
  TempDir dir;
  struct Case {
    std::vector<TarMember> members;
    std::string entry, rule;
  };
  const std::vector<Case> cases = {
      {{Symlink("images", "/etc"), File("images/passwd", "root:x:0:0")},
       "images",
       "leaves the destination"},
      {{Dir("sub"), Symlink("images", "sub"), File("images/cat_1.jpg", "x")},
       "images",
       "not a directory (a symlink or a file; refused"},
      {{File("../escape.jpg", "x")}, "../escape.jpg", "'..'"},
      {{File(".stage/manifest/x.json", "{}")},
       ".stage/manifest/x.json",
       "staging's own bookkeeping"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const fs::path archive = dir / ("hostile" + std::to_string(i) + ".tar");
    WriteFile(archive, Tar(cases[i].members));
    for (const fs::path& variant : {archive, fs::path(archive.string() + ".gz")}) {
      if (variant != archive) WriteFile(variant, Gzip(ReadFile(archive)));
      std::unique_ptr<ArchiveMembers> members;
      staging::Status status = ArchiveMembers::Open(variant, {}, &members);
      EXPECT_FALSE(status.ok()) << variant << " opened";
      EXPECT_NE(status.message().find(cases[i].entry), std::string::npos) << status.message();
      EXPECT_NE(status.message().find(cases[i].rule), std::string::npos) << status.message();
    }
    // stage refuses the same archive for the same reason.
    fs::create_directories(dir / ("src" + std::to_string(i)));
    fs::copy_file(archive, dir / ("src" + std::to_string(i)) / "a.tar");
    RunResult staged =
        RunCommand(StageBinary() + " --from " + Quote(dir / ("src" + std::to_string(i))) +
                   " --to " + Quote(dir / ("out" + std::to_string(i))));
    EXPECT_EQ(staged.exit_code, 1);
    EXPECT_NE(staged.err.find(cases[i].rule), std::string::npos) << staged.err;
  }
}

TEST(InPlaceSecurityTest, AMemberOverTheCapIsAnErrorBeforeAnythingIsAllocated) {
  TempDir dir;
  const fs::path archive = dir / "big.tar";
  WriteFile(archive, Tar({File("images/small.jpg", "s"),
                          File("images/big.jpg", std::string(2 << 20, 'b'))}));
  WriteFile(dir / "big.tar.gz", Gzip(ReadFile(archive)));
  MemberOpenOptions options;
  options.max_member_bytes = 1 << 20;
  for (const fs::path& path : {archive, dir / "big.tar.gz"}) {
    std::unique_ptr<ArchiveMembers> members;
    staging::Status status = ArchiveMembers::Open(path, options, &members);
    EXPECT_FALSE(status.ok()) << path;
    EXPECT_NE(status.message().find("images/big.jpg: 2097152 bytes, more than one member may have"),
              std::string::npos)
        << status.message();
  }
  // A GNU sparse member declaring 4 GiB, gzipped to a few KiB: refused under the default cap.
  ASSERT_EQ(RunCommand("cd " + Quote(dir.path()) +
                       " && mkdir -p s && truncate -s 4G s/huge.bin && "
                       "tar -S -czf sparse.tar.gz s && rm s/huge.bin")
                .exit_code,
            0);
  std::unique_ptr<ArchiveMembers> members;
  staging::Status status = ArchiveMembers::Open(dir / "sparse.tar.gz", {}, &members);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("s/huge.bin: 4294967296 bytes, more than one member may have"),
            std::string::npos)
      << status.message();
}

TEST(InPlaceSecurityTest, PlantedIndexesAreIgnoredInOneLineWithoutBlockingOrAllocating) {
  TempDir dir;
  std::map<std::string, std::string> contents;
  const fs::path archive = MakeTar(dir, &contents);
  const std::string index_path = archive.string() + ".stagemembers";
  MemberOpenReport report;
  ASSERT_TRUE(OpenOk(archive, &report));
  const std::string valid = ReadFile(index_path);
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  staging::SourceIdentity identity;
  ASSERT_TRUE(staging::IdentifySource(fd.get(), archive.string(), &identity).ok());

  // A short index claiming 50 million records, its CRC made to agree.
  staging::MemberIndex empty;
  empty.stream_size = identity.size;
  std::string forged = staging::EncodeMemberIndex(empty, identity);
  forged.resize(forged.size() - 4 - 16);  // the CRC and the two counts
  const uint64_t counts[2] = {50'000'000, 0};
  forged.append(reinterpret_cast<const char*>(counts), sizeof counts);
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(forged.data()), static_cast<uInt>(forged.size())));
  forged.append(reinterpret_cast<const char*>(&crc), 4);
  ASSERT_LT(forged.size(), 256u);

  struct Planted {
    std::function<void()> plant;
    std::string note;
  };
  const std::vector<Planted> planted = {
      {[&] { WriteFile(index_path, forged); }, "damaged counts"},
      {[&] {
         WriteFile(index_path, "");
         fs::resize_file(index_path, uint64_t{2} << 30);  // sparse: costs nothing to make
       },
       "bytes, more than the"},
      {[&] { ASSERT_EQ(mkfifo(index_path.c_str(), 0644), 0); }, "not a regular file"},
      {[&] { fs::create_symlink("/dev/zero", index_path); }, "a symbolic link, not a file"},
  };
  for (const Planted& p : planted) {
    fs::remove(index_path);
    p.plant();
    auto members = OpenOk(archive, &report);
    ASSERT_TRUE(members);
    EXPECT_TRUE(report.index_built);
    EXPECT_NE(report.index_note.find(p.note), std::string::npos) << report.index_note;
    ExpectContents(*members, contents);
    EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(index_path)));
    EXPECT_EQ(fs::file_size(index_path), valid.size()) << "made again";
  }
}

}  // namespace
}  // namespace staging_test
