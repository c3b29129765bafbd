// Stage's own tar reader: every member of archives from GNU tar, bsdtar and Python's tarfile
// reads exactly as libarchive reads it, whatever the block boundaries; what it does not read
// itself goes to libarchive from that member's first header; and its header rules one by one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/tar_header.h"
#include "extract/decoded_stream.h"
#include "extract/libarchive_members.h"
#include "extract/tar_members.h"
#include "sample_tree.h"
#include "test_support.h"

namespace staging {
namespace {

using staging_test::Quote;
using staging_test::RunCommand;
using staging_test::RunResult;
using staging_test::TempDir;
using staging_test::WriteFile;
namespace fs = std::filesystem;

// The extractor's writer is not used by the readers; the stream only asks whether it is busy.
class IdleWriter : public EntryWriter {
 public:
  Status BeginFile(int, const std::string&, const std::string&, mode_t, uint64_t,
                   const timespec&) override {
    return Status::Error("not a writer");
  }
  Status Append(const BlockRef&, const std::byte*, size_t) override {
    return Status::Error("not a writer");
  }
  Status EndFile() override { return Status::Error("not a writer"); }
  Status Drain() override { return Status::Ok(); }
  Status Poll() override { return Status::Ok(); }
  bool Busy() const override { return false; }
  WriterCounts counts() const override { return {}; }
};

// `bytes` as the decoder would hand them over, in blocks of `block_size`.
class DecodedBytes {
 public:
  DecodedBytes(const std::string& bytes, size_t block_size)
      : pool_(bytes.size() / block_size + 1, block_size), queue_(bytes.size() / block_size + 1) {
    for (size_t at = 0; at < bytes.size(); at += block_size) {
      BlockRef block = pool_.Acquire();
      block->size = std::min(block_size, bytes.size() - at);
      block->offset = at;
      std::memcpy(block->data, bytes.data() + at, block->size);
      queue_.Push(std::move(block));
    }
    queue_.Close();
  }
  DecodedStream& stream() { return stream_; }

 private:
  BlockPool pool_;
  BoundedQueue<BlockRef> queue_;
  IdleWriter writer_;
  DecodedStream stream_{queue_, writer_};
};

struct ReadMember {
  TarMember member;
  std::string data;  // holes of sparse members as zeros
};

std::string Describe(const ReadMember& m) {
  return std::to_string(static_cast<int>(m.member.type)) + " '" + m.member.path + "' -> '" +
         m.member.link + "' perm " + std::to_string(m.member.perm) + " size " +
         std::to_string(m.member.size) + " mtime " + std::to_string(m.member.mtime.tv_sec) + "." +
         std::to_string(m.member.mtime.tv_nsec) + (m.member.sparse ? " sparse" : "") + " data " +
         std::to_string(std::hash<std::string>{}(m.data));
}

// Every member with its data, read through `next` and `data`, or the first error.
template <typename Reader>
Status ReadAll(Reader& reader, std::vector<std::string>* members) {
  while (true) {
    ReadMember m;
    bool end = false;
    std::string warning;
    STAGING_RETURN_IF_ERROR(reader.Next(&m.member, &end, &warning));
    if (end) return Status::Ok();
    const std::byte* data;
    size_t len;
    uint64_t offset;
    while (true) {
      STAGING_RETURN_IF_ERROR(reader.Data(&data, &len, &offset));
      if (len == 0) break;
      if (m.data.size() < offset + len) m.data.resize(offset + len);
      std::memcpy(m.data.data() + offset, data, len);
    }
    members->push_back(Describe(m) + (warning.empty() ? "" : " warning " + warning));
  }
}

struct Reading {
  std::vector<std::string> members;
  TarReaderCounts counts;
};

Reading ReadWithStage(const std::string& tar, size_t block_size) {
  DecodedBytes bytes(tar, block_size);
  std::unique_ptr<TarMemberReader> reader = OpenTarMembers(bytes.stream(), Codec::kNone);
  Reading reading;
  Status status = ReadAll(*reader, &reading.members);
  EXPECT_TRUE(status.ok()) << status.message();
  reading.counts = reader->counts();
  return reading;
}

std::vector<std::string> ReadWithLibarchive(const std::string& tar) {
  DecodedBytes bytes(tar, 1 << 20);
  LibarchiveMembers reader;
  std::vector<std::string> members;
  Status status = reader.Open(bytes.stream(), Codec::kNone, 0);
  if (status.ok()) status = ReadAll(reader, &members);
  EXPECT_TRUE(status.ok()) << status.message();
  return members;
}

// ASCII names only, no sparse files or devices: what stage's reader takes on its own. Long
// names and link targets, the ustar prefix, sizes around the 512-byte record, hardlinks,
// symlinks, modes and sub-second times.
void MakeCommonTree(const fs::path& root, bool ustar) {
  WriteFile(root / "t/empty", "");
  for (size_t size : {1, 511, 512, 513, 70'000}) {
    WriteFile(root / ("t/size_" + std::to_string(size)), staging_test::Pattern(size, size));
  }
  // 95 + 1 + 30 bytes: over the name field, within ustar's prefix split.
  WriteFile(root / ("t/" + std::string(92, 'p')) / std::string(30, 'n'), "prefixed\n");
  fs::create_directories(root / "t/dir/sub");
  fs::create_symlink("../size_1", root / "t/dir/link");
  fs::create_hard_link(root / "t/size_513", root / "t/dir/hard");
  if (!ustar) {
    WriteFile(root / ("t/" + std::string(150, 'd')) / std::string(120, 'f'), "long\n");
    fs::create_symlink(std::string(130, 'x'), root / "t/long_target");
  }
  chmod((root / "t/size_1").c_str(), 0600);
  chmod((root / "t/dir/sub").c_str(), 0700);
  RunCommand("find " + Quote(root / "t") +
             " -exec touch -h -d '2024-03-01 12:00:00.123456789' {} +");
}

struct Writer {
  const char* name;
  const char* command;  // run in the tree's root; %s: the archive
  bool ustar;           // the tree must fit ustar's limits
};

std::string MakeArchive(const TempDir& dir, const Writer& writer, bool common_tree) {
  fs::path root = dir / "root";
  if (common_tree) {
    MakeCommonTree(root, writer.ustar);
  } else {
    staging_test::MakeTree(root / "t", /*portable=*/writer.ustar);
  }
  fs::path archive = dir / "out.tar";
  char command[512];
  std::snprintf(command, sizeof command, writer.command, archive.c_str());
  RunResult made = RunCommand("cd " + Quote(root) + " && " + command);
  EXPECT_EQ(made.exit_code, 0) << made.err;
  return staging_test::ReadFile(archive);
}

class TarReaderTest : public ::testing::TestWithParam<Writer> {};

TEST_P(TarReaderTest, ReadsEveryCommonMemberItselfExactlyAsLibarchive) {
  TempDir dir;
  std::string tar = MakeArchive(dir, GetParam(), /*common_tree=*/true);
  std::vector<std::string> expected = ReadWithLibarchive(tar);
  ASSERT_GT(expected.size(), 12u);
  // Blocks of odd sizes put headers, pax bodies and data across block boundaries.
  for (size_t block_size : {size_t{97}, size_t{4096 + 7}, size_t{4} << 20}) {
    Reading stage = ReadWithStage(tar, block_size);
    EXPECT_EQ(stage.members, expected) << "blocks of " << block_size;
    EXPECT_EQ(stage.counts.by_stage, expected.size());
    EXPECT_EQ(stage.counts.by_libarchive, 0u);
    EXPECT_FALSE(stage.counts.handed_over);
  }
}

TEST_P(TarReaderTest, HandsWhatItDoesNotReadToLibarchiveWithTheSameResult) {
  TempDir dir;
  // Non-ASCII names, and a sparse file where the format holds one.
  std::string tar = MakeArchive(dir, GetParam(), /*common_tree=*/false);
  std::vector<std::string> expected = ReadWithLibarchive(tar);
  for (size_t block_size : {size_t{97}, size_t{1} << 20}) {
    Reading stage = ReadWithStage(tar, block_size);
    EXPECT_EQ(stage.members, expected) << "blocks of " << block_size;
    EXPECT_TRUE(stage.counts.handed_over);
    EXPECT_EQ(stage.counts.by_stage + stage.counts.by_libarchive, expected.size());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Writers, TarReaderTest,
    ::testing::Values(Writer{"gnu", "tar --format=gnu -cf %s t", false},
                      Writer{"oldgnu", "tar --format=oldgnu -cf %s t", false},
                      Writer{"gnu_pax", "tar --format=pax -cf %s t", false},
                      Writer{"gnu_ustar", "tar --format=ustar -cf %s t", true},
                      Writer{"bsdtar_pax", "bsdtar --format=pax -cf %s t", false},
                      Writer{"bsdtar_ustar", "bsdtar --format=ustar -cf %s t", true},
                      Writer{"bsdtar_gnutar", "bsdtar --format=gnutar -cf %s t", false},
                      Writer{"python_pax",
                             "python3 -c \"import tarfile,sys; t=tarfile.open(sys.argv[1],'w',"
                             "format=tarfile.PAX_FORMAT); t.add('t'); t.close()\" %s",
                             false},
                      Writer{"python_gnu",
                             "python3 -c \"import tarfile,sys; t=tarfile.open(sys.argv[1],'w',"
                             "format=tarfile.GNU_FORMAT); t.add('t'); t.close()\" %s",
                             false}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(TarReader, APreposixArchiveIsLibarchivesFromTheStart) {
  TempDir dir;
  std::string tar =
      MakeArchive(dir, {"v7", "tar --format=v7 -cf %s t/size_1 t/size_513 t/dir", true}, true);
  Reading stage = ReadWithStage(tar, 4096);
  EXPECT_EQ(stage.members, ReadWithLibarchive(tar));
  EXPECT_TRUE(stage.counts.handed_over);
  EXPECT_EQ(stage.counts.handed_over_at, 0u);
  EXPECT_EQ(stage.counts.by_stage, 0u);
}

TEST(TarReader, AFifoMidwayIsHandedOverAtItsHeaderAndTheRestReadsTheSame) {
  TempDir dir;
  fs::create_directories(dir / "root");
  WriteFile(dir / "root/a", std::string(600, 'a'));  // header and two records: 1536 bytes
  ASSERT_EQ(mkfifo((dir / "root/fifo").c_str(), 0644), 0);
  WriteFile(dir / "root/b", "b\n");
  ASSERT_EQ(RunCommand("cd " + Quote(dir / "root") + " && tar --format=gnu -cf ../out.tar a fifo b")
                .exit_code,
            0);
  std::string tar = staging_test::ReadFile(dir / "out.tar");
  Reading stage = ReadWithStage(tar, 1000);
  EXPECT_EQ(stage.members, ReadWithLibarchive(tar));
  EXPECT_EQ(stage.counts.by_stage, 1u);
  EXPECT_EQ(stage.counts.handed_over_at, 1536u);
  EXPECT_EQ(stage.counts.by_libarchive, 2u);
}

// A ustar header for `prefix` and `name`, its checksum computed (signed when asked, as old
// writers did).
std::string UstarHeader(const std::string& name, char type, const std::string& size_field,
                        bool signed_sum = false, const std::string& prefix = "") {
  std::string h(kTarBlockSize, '\0');
  std::memcpy(&h[0], name.data(), std::min<size_t>(name.size(), 100));
  std::memcpy(&h[100], "0000644", 7);
  std::memcpy(&h[124], size_field.data(), std::min<size_t>(size_field.size(), 12));
  std::memcpy(&h[136], "14571234567", 11);
  h[156] = type;
  std::memcpy(&h[257],
              "ustar\0"
              "00",
              8);
  std::memcpy(&h[345], prefix.data(), std::min<size_t>(prefix.size(), 155));
  std::memset(&h[148], ' ', 8);
  long sum = 0;
  for (char c : h) sum += signed_sum ? static_cast<signed char>(c) : static_cast<unsigned char>(c);
  char field[8];
  std::snprintf(field, sizeof field, "%06lo", sum);
  std::memcpy(&h[148], field, 7);
  return h;
}

TarHeaderKind Read(const std::string& block, TarHeader* header) {
  return ReadTarHeader(reinterpret_cast<const std::byte*>(block.data()), header);
}

TEST(TarHeader, OldWritersSignedChecksumIsAcceptedAndADamagedOneIsNot) {
  TarHeader header;
  EXPECT_EQ(Read(UstarHeader("caf\xc3\xa9", '0', "00000000001", true), &header),
            TarHeaderKind::kNotUnderstood);  // the sum is right; the name is not ASCII
  EXPECT_EQ(Read(UstarHeader("plain", '0', "00000000001", true), &header), TarHeaderKind::kMember);
  std::string damaged = UstarHeader("plain", '0', "00000000001");
  damaged[10] = 'x';
  EXPECT_EQ(Read(damaged, &header), TarHeaderKind::kBadChecksum);
  EXPECT_EQ(Read(std::string(kTarBlockSize, '\0'), &header), TarHeaderKind::kEnd);
}

TEST(TarHeader, FieldsAreReadAsLibarchiveReadsThem) {
  TarHeader header;
  ASSERT_EQ(Read(UstarHeader("dir/file", '\0', std::string(" 1750 \0", 7)), &header),
            TarHeaderKind::kMember);
  EXPECT_EQ(header.type, TarHeaderType::kFile);
  EXPECT_EQ(header.path, "dir/file");
  EXPECT_EQ(header.size, 01750u);
  EXPECT_EQ(header.perm, 0644u);
  EXPECT_EQ(header.mtime, 014571234567);
  // Any flag without a meaning of its own is a regular file, as POSIX and libarchive have it.
  ASSERT_EQ(Read(UstarHeader("odd", 'Q', "0"), &header), TarHeaderKind::kMember);
  EXPECT_EQ(header.type, TarHeaderType::kFile);
  // The ustar prefix, joined with one '/'.
  ASSERT_EQ(Read(UstarHeader("name", '5', "0", false, "some/prefix"), &header),
            TarHeaderKind::kMember);
  EXPECT_EQ(header.type, TarHeaderType::kDirectory);
  EXPECT_EQ(header.path, "some/prefix/name");
  ASSERT_EQ(Read(UstarHeader("name", '2', "0", false, "ends/"), &header), TarHeaderKind::kMember);
  EXPECT_EQ(header.path, "ends/name");
}

// Puts a valid unsigned checksum into `h` (GNU tar's form: six octal digits, NUL, space).
void SetChecksum(std::string* h) {
  std::memset(&(*h)[148], ' ', 8);
  unsigned long sum = 0;
  for (char c : *h) sum += static_cast<unsigned char>(c);
  char field[8];
  std::snprintf(field, sizeof field, "%06lo", sum);
  std::memcpy(&(*h)[148], field, 7);
}

// A ustar header whose every field is used to its last byte, with no terminating NUL: names of
// 100 and 155 bytes, 32-byte owner names, 8 mode digits, 12 size and mtime digits.
std::string FullWidthHeader(char type) {
  std::string h(kTarBlockSize, '\0');
  const std::string name = "n" + std::string(98, 'a') + "Z";     // 100
  const std::string prefix = "p" + std::string(153, 'b') + "Y";  // 155
  const std::string link = "l" + std::string(98, 'c') + "X";     // 100
  std::memcpy(&h[0], name.data(), 100);
  std::memcpy(&h[100], "00000644", 8);
  std::memcpy(&h[108], "0001750\0", 8);  // uid
  std::memcpy(&h[116], "0001750\0", 8);  // gid
  std::memcpy(&h[124], type == '0' ? "000000001750" : "000000000000", 12);
  std::memcpy(&h[136], "014571234567", 12);
  h[156] = type;
  if (type == '2') std::memcpy(&h[157], link.data(), 100);
  std::memcpy(&h[257],
              "ustar\0"
              "00",
              8);
  std::memcpy(&h[265], std::string(32, 'u').data(), 32);
  std::memcpy(&h[297], std::string(32, 'g').data(), 32);
  std::memcpy(&h[345], prefix.data(), 155);
  SetChecksum(&h);
  return h;
}

// The first header of `archive` (headers and data) as libarchive reads it.
struct LibarchiveView {
  std::string path, link;
  int64_t size = -1, mtime = -1;
  mode_t perm = 0;
};
LibarchiveView FirstHeaderByLibarchive(const std::string& tar) {
  LibarchiveView view;
  std::unique_ptr<struct archive, decltype(&archive_read_free)> a(archive_read_new(),
                                                                  archive_read_free);
  archive_read_support_format_tar(a.get());
  archive_entry* entry = nullptr;
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK ||
      archive_read_next_header(a.get(), &entry) != ARCHIVE_OK) {
    return view;
  }
  view.path = archive_entry_pathname(entry);
  view.link = archive_entry_symlink(entry) ? archive_entry_symlink(entry) : "";
  view.size = archive_entry_size(entry);
  view.mtime = archive_entry_mtime(entry);
  view.perm = archive_entry_perm(entry);
  return view;
}

TEST(TarHeader, FullWidthFieldsAreReadToTheirLastByteAsLibarchiveReadsThem) {
  for (char type : {'0', '2'}) {
    const std::string h = FullWidthHeader(type);
    TarHeader header;
    ASSERT_EQ(Read(h, &header), TarHeaderKind::kMember) << type;
    const LibarchiveView expected =
        FirstHeaderByLibarchive(h + std::string(3 * kTarBlockSize, '\0'));
    ASSERT_FALSE(expected.path.empty()) << "libarchive did not read it";
    EXPECT_EQ(header.path, expected.path);
    EXPECT_EQ(header.path.size(), 256u);  // prefix, '/', name
    EXPECT_EQ(header.link, expected.link);
    EXPECT_EQ(static_cast<int64_t>(header.size), expected.size);
    EXPECT_EQ(header.mtime, expected.mtime);
    EXPECT_EQ(header.perm, expected.perm);
    if (type == '2') {
      EXPECT_EQ(header.link.size(), 100u);
    }
  }
}

TEST(TarHeader, ANonAsciiLastByteOfAnyNameFieldIsNotUnderstood) {
  // name, prefix, link name, user and group names: each field's last byte.
  for (size_t at : {99u, 499u, 256u, 296u, 328u}) {
    std::string h = FullWidthHeader('2');
    h[at] = '\xe9';
    SetChecksum(&h);
    TarHeader header;
    EXPECT_EQ(Read(h, &header), TarHeaderKind::kNotUnderstood) << "byte " << at;
  }
}

TEST(TarHeader, AGnuSparseMapOrRealSizeIsLeftToLibarchive) {
  for (size_t at : {386u, 483u, 0u}) {
    std::string h = UstarHeader("f", '0', "0");
    std::memcpy(&h[257], "ustar  \0", 8);  // GNU's magic: the prefix holds GNU's fields
    if (at) h[at] = '1';
    SetChecksum(&h);
    TarHeader header;
    EXPECT_EQ(Read(h, &header), at ? TarHeaderKind::kNotUnderstood : TarHeaderKind::kMember)
        << "byte " << at;
  }
}

// libarchive's checksum rule: octal digits, spaces and NULs only, all eight bytes read.
TEST(TarHeader, TheChecksumFieldIsReadAsLibarchiveReadsIt) {
  TarHeader header;
  std::string stray = UstarHeader("f", '0', "0");
  ASSERT_EQ(stray[155], ' ');  // "%06o\0 ": the sum counts the field as spaces either way
  stray[155] = 'x';
  EXPECT_EQ(Read(stray, &header), TarHeaderKind::kBadChecksum);
  // Eight digits, no terminator, before a digit type flag: the ninth byte is not the field's.
  std::string eight = UstarHeader("f", '0', "0");
  std::memset(&eight[148], ' ', 8);
  unsigned long sum = 0;
  for (char c : eight) sum += static_cast<unsigned char>(c);
  char field[9];
  std::snprintf(field, sizeof field, "%08lo", sum);
  std::memcpy(&eight[148], field, 8);
  EXPECT_EQ(Read(eight, &header), TarHeaderKind::kMember);
  EXPECT_EQ(FirstHeaderByLibarchive(eight + std::string(2 * kTarBlockSize, '\0')).path, "f");
}

// The two field readers format detection and the member index share with the header reader.
TEST(TarHeader, TheSharedChecksumAndSizeReadersAgreeWithTheHeaderReader) {
  const auto block = [](const std::string& h) {
    return reinterpret_cast<const std::byte*>(h.data());
  };
  EXPECT_TRUE(TarChecksumMatches(block(UstarHeader("plain", '0', "00000001750"))));
  EXPECT_TRUE(TarChecksumMatches(block(UstarHeader("caf\xc3\xa9", '0', "1", true))));
  std::string damaged = UstarHeader("plain", '0', "00000001750");
  damaged[10] = 'x';
  EXPECT_FALSE(TarChecksumMatches(block(damaged)));
  std::string stray = UstarHeader("f", '0', "0");
  stray[155] = 'x';  // a byte the checksum field may not hold, though the sum still matches
  EXPECT_FALSE(TarChecksumMatches(block(stray)));
  EXPECT_FALSE(TarChecksumMatches(block(std::string(kTarBlockSize, '\0'))));

  EXPECT_EQ(TarSizeField(block(UstarHeader("f", '0', "00000001750"))), 1000u);
  EXPECT_EQ(TarSizeField(block(UstarHeader("f", '0', "  1750 "))), 1000u);
  EXPECT_EQ(TarSizeField(block(UstarHeader("f", '0', "0000000175x"))), std::nullopt);
  // GNU tar's base-256 for 8 GiB and more: the high bit, then the value big-endian.
  std::string big = UstarHeader("f", '0', "");
  const uint64_t ten_gib = uint64_t{10} << 30;
  big[124] = static_cast<char>(0x80);
  for (int i = 0; i < 8; ++i) big[124 + 4 + i] = static_cast<char>(ten_gib >> (8 * (7 - i)));
  EXPECT_EQ(TarSizeField(block(big)), ten_gib);
  big[125] = 1;  // more than 64 bits
  EXPECT_EQ(TarSizeField(block(big)), std::nullopt);
}

TEST(TarHeader, NamesAreAsciiUpToAndIncludingDel) {
  TarHeader header;
  EXPECT_EQ(Read(UstarHeader("del\x7f", '0', "0"), &header), TarHeaderKind::kMember);
  EXPECT_EQ(Read(UstarHeader("high\x80", '0', "0"), &header), TarHeaderKind::kNotUnderstood);
}

TEST(TarHeader, OnlyABlockOfZerosToItsLastByteEndsTheArchive) {
  TarHeader header;
  std::string block(kTarBlockSize, '\0');
  block[kTarBlockSize - 1] = 1;
  EXPECT_NE(Read(block, &header), TarHeaderKind::kEnd);
  block[kTarBlockSize - 1] = 0;
  block[1] = 1;
  EXPECT_NE(Read(block, &header), TarHeaderKind::kEnd);
}

TEST(TarHeader, WhatLibarchiveReadsDifferentlyIsNotUnderstood) {
  TarHeader header;
  // A size field libarchive would read leniently (digits, then garbage), and base-256.
  EXPECT_EQ(Read(UstarHeader("f", '0', "12x"), &header), TarHeaderKind::kNotUnderstood);
  EXPECT_EQ(Read(UstarHeader("f", '0', std::string("\x80\0\0\0\0\0\0\0\0\0\0\x01", 12)), &header),
            TarHeaderKind::kNotUnderstood);
  // Devices, FIFOs, sparse members, dump directories, Solaris ACLs, GNU volume labels.
  for (char type : {'3', '4', '6', 'S', 'D', 'A', 'V', 'X'}) {
    EXPECT_EQ(Read(UstarHeader("f", type, "0"), &header), TarHeaderKind::kNotUnderstood) << type;
  }
  // An extension body above 64 KiB: libarchive's own limit and message apply.
  EXPECT_EQ(Read(UstarHeader("././@PaxHeader", 'x', "00000200001"), &header),
            TarHeaderKind::kNotUnderstood);
  EXPECT_EQ(Read(UstarHeader("././@PaxHeader", 'x', "00000000100"), &header),
            TarHeaderKind::kPaxAttributes);
  EXPECT_EQ(header.size, 0100u);
}

// One pax record, its length counted.
std::string Record(const std::string& key, const std::string& value) {
  const std::string rest = " " + key + "=" + value + "\n";
  size_t length = rest.size() + 1;
  while (std::to_string(length).size() + rest.size() != length) ++length;
  return std::to_string(length) + rest;
}

TEST(PaxAttributes, UsualRecordsAreReadAndAnythingElseIsLeftToLibarchive) {
  PaxAttributes pax;
  ASSERT_TRUE(ReadPaxAttributes(Record("mtime", "1700000000.123456789") +
                                    Record("path", "some/path/x") + Record("size", "123") +
                                    Record("atime", "1700000000.5") + Record("SCHILY.nlink", "2") +
                                    Record("uname", "root"),
                                false, &pax));
  EXPECT_EQ(*pax.path, "some/path/x");
  EXPECT_EQ(*pax.size, 123u);
  EXPECT_EQ(pax.mtime->tv_sec, 1700000000);
  EXPECT_EQ(pax.mtime->tv_nsec, 123456789);
  EXPECT_FALSE(pax.linkpath);
  // Boundaries: 18 digits of seconds, 64 of a fraction, 18 of an id; past them, libarchive's.
  EXPECT_TRUE(ReadPaxAttributes(Record("mtime", std::string(18, '1')), false, &pax));
  EXPECT_FALSE(ReadPaxAttributes(Record("mtime", std::string(19, '1')), false, &pax));
  EXPECT_TRUE(ReadPaxAttributes(Record("mtime", "1." + std::string(64, '2')), false, &pax));
  EXPECT_FALSE(ReadPaxAttributes(Record("mtime", "1." + std::string(65, '2')), false, &pax));
  EXPECT_FALSE(ReadPaxAttributes(Record("mtime", "."), false, &pax));
  for (const char* key : {"uid", "gid", "SCHILY.dev", "SCHILY.ino", "SCHILY.nlink", "size"}) {
    EXPECT_TRUE(ReadPaxAttributes(Record(key, std::string(18, '7')), false, &pax)) << key;
    EXPECT_FALSE(ReadPaxAttributes(Record(key, std::string(19, '7')), false, &pax)) << key;
  }
  // Malformed records: an empty key, a length with nothing after it, a length too short.
  EXPECT_FALSE(ReadPaxAttributes("8 =path\n", false, &pax));
  EXPECT_FALSE(ReadPaxAttributes("7 path\n", false, &pax));
  EXPECT_FALSE(ReadPaxAttributes("99 path=x\n", false, &pax));
  EXPECT_FALSE(ReadPaxAttributes("30", false, &pax));
  EXPECT_FALSE(ReadPaxAttributes("3 =\n", false, &pax));
  EXPECT_TRUE(ReadPaxAttributes(Record("uname", "u"), false, &pax));
  EXPECT_FALSE(ReadPaxAttributes(Record("uname", "\xe9"), false, &pax));
  // Only nine digits of a fraction count.
  ASSERT_TRUE(ReadPaxAttributes(Record("mtime", "5.12345678912"), false, &pax));
  EXPECT_EQ(pax.mtime->tv_nsec, 123456789);

  PaxAttributes other;
  EXPECT_FALSE(ReadPaxAttributes(Record("hdrcharset", "BINARY"), false, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("GNU.sparse.name", "some/file"), false, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("SCHILY.xattr.user.a", "b"), false, &other));
  std::string off_by_one = Record("path", "abc");
  off_by_one[1] += 1;
  EXPECT_FALSE(ReadPaxAttributes(off_by_one, false, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("path", "ab") + "\n", false, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("path", std::string("a\0c", 3)), false, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("path", "caf\xc3\xa9"), false, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("path", ""), false, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("mtime", "-12"), false, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("size", "12k"), false, &other));
  // Global headers: comments only, as git writes its commit.
  EXPECT_TRUE(ReadPaxAttributes(Record("comment", std::string(40, 'f')), true, &other));
  EXPECT_FALSE(ReadPaxAttributes(Record("path", "some/path/x"), true, &other));
}

}  // namespace
}  // namespace staging
