// Faults: damaged archives, full disks, unreadable sources, read-only destinations, concurrent
// runs, kill -9 at several points of a real run, re-runs, --force, --verify and `stage clean`.
// Most cases drive the real `stage` program (STAGE_BIN_DIR); the writer is also tested alone
// with injected system call failures.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostile_archives.h"
#include "io/entry_writer.h"
#include "staging/io_backend.h"
#include "staging/stage.h"
#include "test_support.h"

extern char** environ;

namespace staging_test {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& line : lines) out += line + "\n";
  return out;
}

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// A source file name as a test name: letters and digits kept, anything else '_'.
std::string TestNameOf(std::string file) {
  for (char& c : file) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return file;
}

// A dataset shaped like Pets: directories of small files, plus many names at the top level so
// that moving the staged tree into place takes a while.
std::vector<TarMember> ManySmallFiles(int count) {
  std::vector<TarMember> members;
  for (int d = 0; d < 8; ++d) members.push_back(Dir("d" + std::to_string(d)));
  for (int i = 0; i < count; ++i) {
    std::string name = std::to_string(i);
    name = std::string(6 - name.size(), '0') + name;
    std::string dir = i % 2 ? "d" + std::to_string(i % 8) + "/" : "";
    members.push_back(File(dir + "f" + name, RandomBytes(512 + i % 1024, i)));
  }
  return members;
}

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(src_); }

  std::string Stage(const std::string& flags = "") {
    return StageBinary() + " --from " + Quote(src_) + " --to " + Quote(to_) + " " + flags;
  }

  staging::StageReport StageInProcess(const fs::path& to) {
    staging::StageOptions options;
    options.from = src_.string();
    options.to = to.string();
    options.keep_going = true;
    return staging::Stage(options);
  }

  // The tree a clean, uninterrupted staging makes.
  std::map<std::string, std::string> Reference() {
    fs::path ref = tmp_ / "reference";
    auto report = StageInProcess(ref);
    EXPECT_TRUE(report.ok()) << Joined(report.failures());
    return Snapshot(ref);
  }

  void ExpectNothingVisible() {
    EXPECT_TRUE(Snapshot(to_).empty()) << "left behind: " << Snapshot(to_).begin()->first;
    ExpectNoLeftovers();
  }
  void ExpectNoLeftovers() {
    fs::path area = to_ / ".stage" / "tmp";
    EXPECT_TRUE(!fs::exists(area) || fs::is_empty(area)) << "leftovers in .stage/tmp";
  }

  TempDir tmp_;
  fs::path src_ = tmp_ / "src";
  fs::path to_ = tmp_ / "to";
};

// Starts `args` with stdout and stderr going to `log`.
pid_t Spawn(const std::vector<std::string>& args, const fs::path& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// --- damaged archives ---

struct Damage {
  const char* name;
  std::string (*compress)(const std::string&);
  bool truncate;  // else: bytes overwritten in the middle
  const char* expected;
};

std::string NoCompression(const std::string& data) { return data; }
std::string GzipIt(const std::string& data) { return Gzip(data); }
std::string ZstdIt(const std::string& data) { return Zstd(data); }

class DamagedArchiveTest : public FaultsTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(DamagedArchiveTest, IsAnErrorNamingArchiveEntryAndOffsetAndLeavesNothing) {
  std::vector<TarMember> members;
  for (int i = 0; i < 12; ++i)
    members.push_back(File("f" + std::to_string(i), RandomBytes(100'000, i)));
  std::string bytes = GetParam().compress(Tar(members));
  if (GetParam().truncate) {
    bytes.resize(bytes.size() * 6 / 10);
  } else if (GetParam().compress == NoCompression) {
    std::memset(bytes.data() + 7 * (512 + 100'352), 0x5a, 64);  // f7's header
  } else {
    std::memset(bytes.data() + bytes.size() / 2, 0x5a, 64);  // caught by the checksums
  }
  WriteFile(src_ / GetParam().name, bytes);
  RunResult run = RunCommand(Stage());
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr(std::string("error: ") + (src_ / GetParam().name).string()));
  EXPECT_THAT(run.err, HasSubstr(GetParam().expected));
  EXPECT_THAT(run.err, HasSubstr(" byte "));
  ExpectNothingVisible();
}

INSTANTIATE_TEST_SUITE_P(
    Codecs, DamagedArchiveTest,
    ::testing::Values(Damage{"cut.tar", NoCompression, true, "entry 'f7': Truncated tar archive"},
                      Damage{"cut.tar.gz", GzipIt, true, "truncated gzip stream"},
                      Damage{"cut.tar.zst", ZstdIt, true, "truncated zstd stream"},
                      Damage{"bad.tar", NoCompression, false, "after entry 'f6' (decoded byte "},
                      // The decoder's own words, not a word of the file name.
                      Damage{"bad.tar.gz", GzipIt, false,
                             "(gzip checksum mismatch (corrupt data) at compressed byte "},
                      Damage{"bad.tar.zst", ZstdIt, false,
                             "(zstd: Restored data doesn't match checksum at compressed byte "}),
    [](const auto& info) { return TestNameOf(info.param.name); });

// Where archive ends and file begins, at the head of a source: a compressed stream that fails
// before its first tar header could be decoded, or a first header that is checksum-valid but
// unreadable, is an error and never a copy.
struct DamagedHead {
  const char* name;
  std::string (*make)();
  const char* expected;
};

std::string TwelveMembers() {
  std::vector<TarMember> members;
  for (int i = 0; i < 12; ++i)
    members.push_back(File("f" + std::to_string(i), RandomBytes(10'000, i)));
  return Tar(members);
}

class DamagedHeadTest : public FaultsTest, public ::testing::WithParamInterface<DamagedHead> {};

TEST_P(DamagedHeadTest, IsAnErrorNotAFileToCopy) {
  WriteFile(src_ / GetParam().name, GetParam().make());
  RunResult run = RunCommand(Stage());
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr("error: " + (src_ / GetParam().name).string() + ": "));
  EXPECT_THAT(run.err, HasSubstr(GetParam().expected));
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 2) << run.err;  // error, summary
  ExpectNothingVisible();
}

INSTANTIATE_TEST_SUITE_P(
    Heads, DamagedHeadTest,
    ::testing::Values(
        DamagedHead{"gzip-cut-in-its-header.tar.gz",
                    [] { return Gzip(TwelveMembers()).substr(0, 30); },
                    "truncated gzip stream: input ends at compressed byte 30"},
        DamagedHead{"zstd-cut-in-its-header.tar.zst",
                    [] { return Zstd(TwelveMembers()).substr(0, 20); },
                    "truncated zstd stream: input ends at compressed byte 20"},
        DamagedHead{"gzip-damaged-first-block.tar.gz",
                    [] {
                      std::string gz = Gzip(TwelveMembers());
                      std::memset(gz.data() + 20, 0xff, 8);
                      return gz;
                    },
                    "invalid deflate block"},
        DamagedHead{"zstd-damaged-first-block.tar.zst",
                    [] {
                      std::string zst = Zstd(TwelveMembers());
                      std::memset(zst.data() + 12, 0xff, 8);
                      return zst;
                    },
                    "not a readable tar stream: Unrecognized archive format (zstd: "},
        // A cut that leaves whole headers decodable: the error names the entry it cut.
        DamagedHead{"gzip-cut-after-the-first-member.tar.gz",
                    [] { return Gzip(TwelveMembers()).substr(0, 11'000); }, "entry 'f"},
        // The first header's checksum matches, but the first member cannot be read (a pax
        // header over libarchive's 1 MiB limit): before, a file to copy; now the reason.
        DamagedHead{"first-header-unreadable.tar",
                    [] {
                      std::string pax = internal::PaxRecord("comment", std::string(1 << 21, 'x'));
                      return internal::Header("PaxHeader/x", 'x', 0644, pax.size(), "") +
                             internal::PadToBlock(pax) + Tar({File("after-the-header", "a")});
                    },
                    "the first header (decoded byte 512): Special header too large"}),
    [](const auto& info) { return TestNameOf(info.param.name); });

// The other side of the line: compressed files that are not tar stay files, damaged or not.
TEST_F(FaultsTest, CompressedFilesThatAreNotTarAreCopiedEvenWhenDamagedLater) {
  const std::string text = "a small file, complete, shorter than one tar block\n";
  const std::string short_gz = Gzip(text);
  std::string cut_gz = Gzip(RandomBytes(2'000'000, 3));
  cut_gz.resize(cut_gz.size() / 2);  // its first block decodes and is no tar header
  WriteFile(src_ / "note.txt.gz", short_gz);
  WriteFile(src_ / "weights.bin.gz", cut_gz);
  WriteFile(src_ / "four-hundred-bytes-of-a-tar", Tar({File("x", "y")}).substr(0, 400));
  RunResult run = RunCommand(Stage());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ReadFile(to_ / "note.txt.gz"), short_gz);
  EXPECT_EQ(ReadFile(to_ / "weights.bin.gz"), cut_gz);
  EXPECT_EQ(ReadFile(to_ / "four-hundred-bytes-of-a-tar"), Tar({File("x", "y")}).substr(0, 400));
}

// Archives found by fuzzing on which libarchive fails without a message (archive_error_string
// returns NULL): once a segmentation fault.
struct FoundByFuzzing {
  const char* file;
  const char* expected;
};

class FoundByFuzzingTest : public FaultsTest,
                           public ::testing::WithParamInterface<FoundByFuzzing> {};

TEST_P(FoundByFuzzingTest, IsAOneLineErrorAndLeavesNothing) {
  fs::copy_file(fs::path(STAGE_TEST_DATA_DIR) / GetParam().file, src_ / GetParam().file);
  for (const char* flags : {"", "--keep-going --json"}) {
    RunResult run = RunCommand(Stage(flags));
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_THAT(run.err, HasSubstr("error: " + (src_ / GetParam().file).string() + ": " +
                                   GetParam().expected));
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 2) << run.err;  // error, summary
    ExpectNothingVisible();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Repro, FoundByFuzzingTest,
    ::testing::Values(
        FoundByFuzzing{"damaged-sparse-warn.tar",
                       "after entry 'sparse-posix-0.1' (a sparse member: its size may "
                       "disagree with its sparse map) (decoded byte 13271): "
                       "Damaged tar archive"},
        FoundByFuzzing{"damaged-sparse-fatal.tar",
                       "after entry 'sparse-gnu' (a sparse member: its size may disagree "
                       "with its sparse map) (decoded byte 4096): damaged tar "
                       "header or unexpected end of archive (the library gave no "
                       "message)"}),
    [](const auto& info) { return TestNameOf(info.param.file); });

TEST_F(FaultsTest, TruncatedGzipNamesTheEntryItCutShort) {
  std::vector<TarMember> members;
  for (int i = 0; i < 12; ++i)
    members.push_back(File("f" + std::to_string(i), RandomBytes(100'000, i)));
  std::string bytes = Gzip(Tar(members));
  bytes.resize(bytes.size() * 6 / 10);
  WriteFile(src_ / "cut.tar.gz", bytes);
  RunResult run = RunCommand(Stage());
  EXPECT_THAT(run.err, HasSubstr("cut.tar.gz: entry 'f7': "));
  EXPECT_THAT(run.err, HasSubstr("(decoded byte "));
  EXPECT_THAT(run.err, HasSubstr("at compressed byte "));
}

TEST_F(FaultsTest, KeepGoingStagesTheOthersAndExitsNonZero) {
  WriteFile(src_ / "a.tar", Tar({File("a", "one")}));
  std::string cut = Gzip(Tar({File("b", RandomBytes(200'000, 1))}));
  WriteFile(src_ / "b.tar.gz", cut.substr(0, cut.size() / 2));
  WriteFile(src_ / "sub" / "c.tar.zst", Zstd(Tar({File("c", "three")})));
  RunResult run = RunCommand(Stage("--keep-going --jobs 1"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("b.tar.gz"));
  EXPECT_THAT(run.err, HasSubstr("FAILED"));
  EXPECT_EQ(ReadFile(to_ / "a"), "one");
  EXPECT_EQ(ReadFile(to_ / "sub" / "c"), "three");
  EXPECT_FALSE(fs::exists(to_ / "b"));
  ExpectNoLeftovers();
}

TEST_F(FaultsTest, WithoutKeepGoingTheFirstFailureStopsTheRun) {
  std::string cut = Gzip(Tar({File("b", RandomBytes(200'000, 1))}));
  WriteFile(src_ / "b.tar.gz", cut.substr(0, cut.size() / 2));  // largest: staged first
  WriteFile(src_ / "a.tar", Tar({File("a", "one")}));
  RunResult run = RunCommand(Stage("--jobs 1"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_FALSE(fs::exists(to_ / "a"));
  EXPECT_FALSE(fs::exists(to_ / "b"));
}

// --- the writer under injected failures ---

struct FakeDisk {
  uint64_t capacity;
  uint64_t written = 0;
  int calls = 0;
  bool interrupt_every_other = false;
  staging::WriterSyscalls calls_table() {
    return {staging::WriterSyscalls::Real().openat,
            [this](int fd, const void* data, size_t len, off_t offset) -> ssize_t {
              if (interrupt_every_other && ++calls % 2) {
                errno = EINTR;
                return -1;
              }
              size_t room = capacity - written;
              if (room == 0) {
                errno = ENOSPC;
                return -1;
              }
              size_t n = std::min<size_t>({len, room, interrupt_every_other ? 7u : len});
              ssize_t done = ::pwrite(fd, data, n, offset);
              if (done > 0) written += done;
              return done;
            },
            [this](int, off_t length) {
              if (static_cast<uint64_t>(length) > capacity) {
                errno = ENOSPC;
                return -1;
              }
              return 0;
            }};
  }
};

class WriterFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_.reset(open(tmp_.path().c_str(), O_RDONLY | O_DIRECTORY)); }
  staging::Status WriteFileWith(staging::EntryWriter& writer, const std::string& data) {
    timespec mtime{1700000000, 0};
    STAGING_RETURN_IF_ERROR(
        writer.BeginFile(dir_.get(), "f", "archive.tar: entry 'f'", 0644, data.size(), mtime));
    STAGING_RETURN_IF_ERROR(writer.Append(
        staging::BlockRef(), reinterpret_cast<const std::byte*>(data.data()), data.size()));
    STAGING_RETURN_IF_ERROR(writer.EndFile());
    return writer.Drain();
  }
  TempDir tmp_;
  common::UniqueFd dir_;
};

TEST_F(WriterFaultsTest, EnospcMidwayIsAnErrorWithTheOffset) {
  FakeDisk disk{3000};
  staging::WriterSyscalls calls = disk.calls_table();
  auto writer = staging::MakePlainWriter(calls);
  staging::Status status = WriteFileWith(*writer, std::string(10'000, 'x'));
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error_number(), ENOSPC);
  EXPECT_THAT(status.message(), HasSubstr("archive.tar: entry 'f': write at byte 3000"));
  EXPECT_THAT(status.message(), HasSubstr(strerror(ENOSPC)));
}

TEST_F(WriterFaultsTest, EnospcWhenReservingIsAnErrorWithTheSize) {
  FakeDisk disk{1 << 20};
  staging::WriterSyscalls calls = disk.calls_table();
  auto writer = staging::MakePlainWriter(calls);
  staging::Status status = WriteFileWith(*writer, std::string(3 << 20, 'x'));
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("reserve 3145728 bytes"));
}

TEST_F(WriterFaultsTest, InterruptedAndShortWritesStillWriteEverything) {
  FakeDisk disk{1 << 20};
  disk.interrupt_every_other = true;
  staging::WriterSyscalls calls = disk.calls_table();
  auto writer = staging::MakePlainWriter(calls);
  std::string data = RandomBytes(1000, 3);
  ASSERT_TRUE(WriteFileWith(*writer, data).ok());
  EXPECT_EQ(ReadFile(tmp_ / "f"), data);
}

// --- a real full disk ---

// The ring path really runs: a chain that fails (every third, injected) is redone with plain
// calls, the files are whole either way, and the counts say which path wrote each.
TEST_F(WriterFaultsTest, FailedRingChainsAreRedoneAndCounted) {
  std::unique_ptr<staging::EntryWriter> writer = staging::MakeUringWriter(/*fail_every=*/3);
  if (!writer) GTEST_SKIP() << "io_uring unavailable: " << staging::UringUnavailableReason();
  // Held until the writes land, as the decoder's blocks are.
  std::vector<std::string> contents;
  for (int i = 0; i < 30; ++i) contents.push_back(RandomBytes(100 + 37 * i, i));
  for (int i = 0; i < 30; ++i) {
    const std::string name = "f" + std::to_string(i);
    ASSERT_TRUE(
        writer->BeginFile(dir_.get(), name, name, 0640, contents[i].size(), timespec{1700000000, 0})
            .ok());
    ASSERT_TRUE(writer
                    ->Append(staging::BlockRef(),
                             reinterpret_cast<const std::byte*>(contents[i].data()),
                             contents[i].size())
                    .ok());
    ASSERT_TRUE(writer->EndFile().ok());
  }
  staging::Status status = writer->Drain();
  ASSERT_TRUE(status.ok()) << status.message();
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(ReadFile(tmp_ / ("f" + std::to_string(i))), contents[i]) << i;
  }
  EXPECT_EQ(writer->counts().redone_files, 10u);
  EXPECT_EQ(writer->counts().ring_files, 20u);
  EXPECT_EQ(writer->counts().plain_files, 0u);
}

class SmallDiskTest : public FaultsTest {
 protected:
  void SetUp() override {
    FaultsTest::SetUp();
    fs::create_directories(to_);
    if (mount("tmpfs", to_.c_str(), "tmpfs", 0, "size=2m") < 0) {
      GTEST_SKIP() << "cannot mount a small tmpfs here: " << strerror(errno);
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(to_.c_str(), MNT_DETACH);
  }
  bool mounted_ = false;
};

TEST_F(SmallDiskTest, ArchiveLargerThanTheDiskIsRefusedEarlyWithTheNumbers) {
  WriteFile(src_ / "big.tar", Tar({File("big", RandomBytes(3 << 20, 1))}));
  RunResult run = RunCommand(Stage());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("big.tar: not enough space in the destination: needs "));
  ExpectNothingVisible();
}

TEST_F(SmallDiskTest, CompressedArchiveLargerThanTheDiskIsRefusedBeforeWriting) {
  // A few KiB of gzip that inflate to 8 MiB: the gzip trailer says so.
  WriteFile(src_ / "zeros.tar.gz", Gzip(Tar({File("zeros", std::string(8 << 20, '\0'))})));
  RunResult run = RunCommand(Stage());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("zeros.tar.gz: not enough space in the destination: needs "));
  ExpectNothingVisible();
}

TEST_F(SmallDiskTest, CompressedArchiveLargerThanTheDiskIsRefusedByZstdFrameSize) {
  WriteFile(src_ / "zeros.tar.zst", Zstd(Tar({File("zeros", std::string(8 << 20, '\0'))})));
  RunResult run = RunCommand(Stage());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("zeros.tar.zst: not enough space in the destination: needs "));
  ExpectNothingVisible();
}

TEST_F(SmallDiskTest, LargeEntryBeyondFreeSpaceIsCaughtWhileWriting) {
  // The trailer read first belongs to the small last gzip member: only the check made while
  // writing sees the 20 MiB entry coming.
  std::string tar = Tar({File("a", "a"), File("b", std::string(20 << 20, 'b'))});
  WriteFile(src_ / "lying.tar.gz",
            Gzip(tar.substr(0, tar.size() - 1024)) + Gzip(tar.substr(tar.size() - 1024)));
  RunResult run = RunCommand(Stage());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("lying.tar.gz: entry 'b': not enough space in the destination: "
                                 "needs 20971520 bytes for this entry, "));
  ExpectNothingVisible();
}

TEST_F(SmallDiskTest, DiskFillingUpMidwayIsAClearErrorAndLeavesNothing) {
  // Two gzip members: the trailer read first belongs to the small last one, so only the space
  // checks while writing (or the disk itself) stop it.
  std::string tar = Tar(
      {File("a", RandomBytes(1 << 20, 1)), File("b", std::string(4 << 20, 'b')), File("c", "c")});
  WriteFile(src_ / "lying.tar.gz",
            Gzip(tar.substr(0, tar.size() - 1024)) + Gzip(tar.substr(tar.size() - 1024)));
  for (const char* io : {"", "--plain-io"}) {
    RunResult run = RunCommand(Stage(io));
    EXPECT_EQ(run.exit_code, 1) << io;
    EXPECT_THAT(run.err, HasSubstr("lying.tar.gz: ")) << io;
    EXPECT_THAT(run.err, testing::AnyOf(HasSubstr("No space left on device"),
                                        HasSubstr("not enough space in the destination")))
        << io;
    ExpectNothingVisible();
  }
}

// --- unreadable sources, unwritable destinations (these hold for root too) ---

TEST_F(FaultsTest, UnreadableSourceIsAClearError) {
  WriteFile(src_ / "a.tar", Tar({File("a", "one")}));
  chmod((src_ / "a.tar").c_str(), 0);
  std::string as_user;
  if (geteuid() == 0) {
    // Root reads anything: run as nobody, on a tree nobody may enter.
    fs::permissions(tmp_.path(), fs::perms::owner_all | fs::perms::group_exec |
                                     fs::perms::others_exec | fs::perms::others_read);
    fs::create_directories(to_);
    fs::permissions(to_, fs::perms::all);
    as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  }
  RunResult run = RunCommand(as_user + Stage());
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr((src_ / "a.tar").string() + ": open: Permission denied"));
  EXPECT_FALSE(fs::exists(to_ / "a"));
}

TEST_F(FaultsTest, MissingSourceIsAClearError) {
  RunResult run =
      RunCommand(StageBinary() + " --from " + Quote(tmp_ / "nowhere") + " --to " + Quote(to_));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_THAT(run.err, HasSubstr((tmp_ / "nowhere").string()));
  EXPECT_THAT(run.err, HasSubstr("No such file or directory"));
}

TEST_F(FaultsTest, DestinationUnderAFileIsAClearError) {
  WriteFile(src_ / "a.tar", Tar({File("a", "one")}));
  WriteFile(tmp_ / "plain-file", "x");
  RunResult run = RunCommand(StageBinary() + " --from " + Quote(src_) + " --to " +
                             Quote(tmp_ / "plain-file" / "to"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr((tmp_ / "plain-file" / "to").string() + ": cannot create: "));
  EXPECT_THAT(run.err, HasSubstr("Not a directory"));
}

TEST_F(FaultsTest, ReadOnlyDestinationIsAClearError) {
  WriteFile(src_ / "a.tar", Tar({File("a", "one")}));
  fs::create_directories(to_);
  if (mount(to_.c_str(), to_.c_str(), nullptr, MS_BIND, nullptr) < 0) {
    GTEST_SKIP() << "cannot bind-mount here: " << strerror(errno);
  }
  ASSERT_EQ(mount(nullptr, to_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr), 0);
  RunResult run = RunCommand(Stage());
  umount2(to_.c_str(), MNT_DETACH);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr(to_.string() + ": destination is not writable: Read-only"));
}

// --- locking ---

class LockTest : public FaultsTest {
 protected:
  void HoldLock() {
    fs::create_directories(to_ / ".stage");
    lock_.reset(open((to_ / ".stage" / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(flock(lock_.get(), LOCK_EX), 0);
  }
  common::UniqueFd lock_;
};

TEST_F(LockTest, NoWaitFailsAtOnceWhileAnotherRunHoldsTheLock) {
  WriteFile(src_ / "a.tar", Tar({File("a", "one")}));
  HoldLock();
  auto start = Clock::now();
  RunResult run = RunCommand(Stage("--no-wait"));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("another stage run holds the destination's lock"));
  EXPECT_FALSE(fs::exists(to_ / "a"));
}

TEST_F(LockTest, SecondRunWaitsForTheLockThenStages) {
  WriteFile(src_ / "a.tar", Tar({File("a", "one")}));
  HoldLock();
  pid_t pid = Spawn({StageBinary(), "--from", src_, "--to", to_}, tmp_ / "log");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  int status;
  EXPECT_EQ(waitpid(pid, &status, WNOHANG), 0) << "did not wait for the lock";
  EXPECT_FALSE(fs::exists(to_ / "a"));
  lock_.reset();
  EXPECT_EQ(WaitExit(pid), 0) << ReadFile(tmp_ / "log");
  EXPECT_EQ(ReadFile(to_ / "a"), "one");
}

TEST_F(LockTest, TwoConcurrentRunsBothSucceedWithTheCorrectTree) {
  WriteFile(src_ / "many.tar", Tar(ManySmallFiles(3000)));
  WriteFile(src_ / "other.tar.gz", Gzip(Tar({File("other", "x")})));
  auto expected = Reference();
  pid_t first = Spawn({StageBinary(), "--from", src_, "--to", to_}, tmp_ / "log1");
  pid_t second = Spawn({StageBinary(), "--from", src_, "--to", to_}, tmp_ / "log2");
  EXPECT_EQ(WaitExit(first), 0) << ReadFile(tmp_ / "log1");
  EXPECT_EQ(WaitExit(second), 0) << ReadFile(tmp_ / "log2");
  EXPECT_EQ(Snapshot(to_), expected);
  ExpectNoLeftovers();
}

// --- kill -9 at several points, then run again ---

// Where the run is killed: early in the extraction (its 10th file written to the private area),
// late in it (the 5,001st), or while the tree is moved into place.
enum class KillPoint { kEarlyInExtraction, kLateInExtraction, kMidMerge };

class KillTest : public FaultsTest, public ::testing::WithParamInterface<KillPoint> {};

// True once `rel` exists in a private staging area under `to`.
bool InStagingArea(const fs::path& to, const std::string& rel) {
  std::error_code ec;
  for (const auto& area : fs::directory_iterator(to / ".stage/tmp", ec)) {
    if (fs::exists(area.path() / rel, ec)) return true;
  }
  return false;
}

// True once anything but .stage shows in `to`: the staged tree is being moved into place.
bool MergeStarted(const fs::path& to) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(to, ec)) {
    if (entry.path().filename() != ".stage") return true;
  }
  return false;
}

TEST_P(KillTest, NextRunCompletesTheTreeAndLeavesNothingBehind) {
  WriteFile(src_ / "many.tar", Tar(ManySmallFiles(6000)));
  WriteFile(src_ / "small.tar.gz", Gzip(Tar({File("small", "x")})));
  auto expected = Reference();
  pid_t pid = Spawn({StageBinary(), "--from", src_, "--to", to_, "--jobs", "1"}, tmp_ / "log");
  const std::function<bool()> reached = [&]() -> std::function<bool()> {
    switch (GetParam()) {
      // A poller descheduled past the point finds the merge begun instead: a later point, still
      // inside the run.
      case KillPoint::kEarlyInExtraction:
        return [&] { return InStagingArea(to_, "f000010") || MergeStarted(to_); };
      case KillPoint::kLateInExtraction:
        return [&] { return InStagingArea(to_, "d1/f005001") || MergeStarted(to_); };
      case KillPoint::kMidMerge:
        break;
    }
    return [&] { return MergeStarted(to_); };
  }();
  bool there = false;
  for (auto start = Clock::now(); !there && Clock::now() - start < std::chrono::seconds(60);) {
    there = reached();
  }
  kill(pid, SIGKILL);
  ASSERT_TRUE(there) << "the run never reached the point to kill it at";
  // Killed, not finished before the kill: else the test would prove nothing of a killed run.
  ASSERT_EQ(WaitExit(pid), 128 + SIGKILL) << ReadFile(tmp_ / "log");
  RunResult rerun = RunCommand(Stage("--jobs 1"));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(Snapshot(to_), expected);
  ExpectNoLeftovers();
  RunResult again = RunCommand(Stage());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("many.tar: already staged"));
}

INSTANTIATE_TEST_SUITE_P(Points, KillTest,
                         ::testing::Values(KillPoint::kEarlyInExtraction,
                                           KillPoint::kLateInExtraction, KillPoint::kMidMerge));

// --- re-runs, --force, clean, --verify ---

// A failure while recording (here: the record's name taken by a directory) stops the run before
// anything becomes visible.
TEST_F(FaultsTest, FailureToRecordLeavesNothingVisible) {
  WriteFile(src_ / "a.tar", Tar(ManySmallFiles(20)));
  ASSERT_EQ(RunCommand(Stage()).exit_code, 0);
  std::vector<fs::path> records;
  for (const auto& entry : fs::directory_iterator(to_ / ".stage/manifest")) {
    records.push_back(entry.path());
  }
  ASSERT_EQ(records.size(), 1u);
  ASSERT_EQ(RunCommand(StageBinary() + " clean --to " + Quote(to_)).exit_code, 0);
  fs::create_directories(records[0] / "occupied");
  RunResult run = RunCommand(Stage());
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr("error: " + (src_ / "a.tar").string() + ": "));
  ExpectNothingVisible();
}

// Moving into place fails midway (a name the destination holds as a directory): what was moved
// before the failure is taken back, and nothing is recorded.
TEST_F(FaultsTest, FailureWhileMovingIntoPlaceTakesBackWhatWasMoved) {
  std::vector<TarMember> members = ManySmallFiles(40);
  members.push_back(File("conflict", "a file"));
  WriteFile(src_ / "a.tar", Tar(members));
  WriteFile(to_ / "conflict" / "mine.txt", "the user's");
  RunResult run = RunCommand(Stage());
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_THAT(run.err, HasSubstr("'conflict' already exists in the destination"));
  std::map<std::string, std::string> left = Snapshot(to_, /*with_mtime=*/false);
  EXPECT_EQ(left.size(), 2u) << left.begin()->first;  // conflict/ and conflict/mine.txt
  EXPECT_EQ(ReadFile(to_ / "conflict" / "mine.txt"), "the user's");
  EXPECT_TRUE(fs::is_empty(to_ / ".stage/manifest"));
  ExpectNoLeftovers();
}

// --- stop signals ---

// True once a private staging area exists and holds `name` ("" for anything).
bool AreaHolds(const fs::path& to, const std::string& name) {
  std::error_code ec;
  for (const auto& area : fs::directory_iterator(to / ".stage/tmp", ec)) {
    if (name.empty() || fs::exists(area.path() / name, ec)) return true;
  }
  return false;
}

struct StopCase {
  int signal;
  bool twice;          // a second signal at once: the process ends without cleaning up
  const char* moment;  // "start" (right away) or "writing" (files are being created)
};

class StopSignalTest : public FaultsTest, public ::testing::WithParamInterface<StopCase> {};

TEST_P(StopSignalTest, LeavesTheDestinationAsItWasAndTheNextRunStagesNormally) {
  const StopCase& c = GetParam();
  // An earlier run staged this one: it must stay, recorded.
  WriteFile(src_ / "old.tar", Tar({Dir("old"), File("old/kept", "from an earlier run")}));
  ASSERT_EQ(RunCommand(Stage()).exit_code, 0);
  WriteFile(src_ / "many.tar", Tar(ManySmallFiles(8000)));
  const auto before = Snapshot(to_);
  const auto expected = Reference();

  pid_t pid = Spawn({StageBinary(), "--from", src_, "--to", to_, "--jobs", "1"}, tmp_ / "log");
  // "start": the staging area exists (the handlers are in place); "writing": files land in it.
  const std::string awaited = std::string(c.moment) == "writing" ? "f000600" : "";
  for (auto start = Clock::now();
       !AreaHolds(to_, awaited) && Clock::now() - start < std::chrono::seconds(60);) {
  }
  kill(pid, c.signal);
  if (c.twice) kill(pid, c.signal);
  EXPECT_EQ(WaitExit(pid), 128 + c.signal) << ReadFile(tmp_ / "log");
  if (!c.twice) {
    EXPECT_THAT(ReadFile(tmp_ / "log"), HasSubstr("stage: interrupted\n"));
    EXPECT_EQ(Snapshot(to_), before);
    ExpectNoLeftovers();
  }
  RunResult rerun = RunCommand(Stage("--jobs 1"));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_THAT(rerun.err, HasSubstr("old.tar: already staged"));
  EXPECT_EQ(Snapshot(to_), expected);
  ExpectNoLeftovers();
}

INSTANTIATE_TEST_SUITE_P(Moments, StopSignalTest,
                         ::testing::Values(StopCase{SIGTERM, false, "start"},
                                           StopCase{SIGTERM, false, "writing"},
                                           StopCase{SIGINT, false, "start"},
                                           StopCase{SIGINT, false, "writing"},
                                           StopCase{SIGTERM, true, "writing"}),
                         [](const auto& info) {
                           return std::string(info.param.signal == SIGTERM ? "Term" : "Int") +
                                  (info.param.twice ? "Twice" : "") + "_" + info.param.moment;
                         });

TEST_F(FaultsTest, RerunIsANoOpThatSaysAlreadyStaged) {
  WriteFile(src_ / "a.tar.gz", Gzip(Tar({File("a", "one")})));
  ASSERT_EQ(RunCommand(Stage()).exit_code, 0);
  RunResult again = RunCommand(Stage());
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("a.tar.gz: already staged"));
}

TEST_F(FaultsTest, ChangedSourceIsStagedAgain) {
  WriteFile(src_ / "a.tar", Tar({File("a", "one"), File("gone", "old")}));
  ASSERT_EQ(RunCommand(Stage()).exit_code, 0);
  WriteFile(src_ / "a.tar", Tar({File("a", "two"), File("new", "new")}));
  RunResult again = RunCommand(Stage());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, testing::Not(HasSubstr("a.tar: already staged")));
  EXPECT_EQ(ReadFile(to_ / "a"), "two");
  EXPECT_EQ(ReadFile(to_ / "new"), "new");
  EXPECT_FALSE(fs::exists(to_ / "gone"));
}

TEST_F(FaultsTest, ForceStagesAgainOverLocalEdits) {
  WriteFile(src_ / "a.tar", Tar({File("a", "one")}));
  ASSERT_EQ(RunCommand(Stage()).exit_code, 0);
  WriteFile(to_ / "a", "edited");
  EXPECT_THAT(RunCommand(Stage()).err, HasSubstr("already staged"));
  EXPECT_EQ(ReadFile(to_ / "a"), "edited");
  RunResult forced = RunCommand(Stage("--force"));
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(ReadFile(to_ / "a"), "one");
}

TEST_F(FaultsTest, CleanRemovesExactlyWhatWasStaged) {
  WriteFile(src_ / "a.tar", Tar({Dir("d"), File("d/a", "one"), File("top", "x")}));
  WriteFile(src_ / "copied.txt", "plain file");
  WriteFile(to_ / "mine", "keep");
  WriteFile(to_ / "d" / "mine", "keep");
  ASSERT_EQ(RunCommand(Stage()).exit_code, 0);
  RunResult clean = RunCommand(StageBinary() + " clean --to " + Quote(to_));
  EXPECT_EQ(clean.exit_code, 0) << clean.err;
  EXPECT_EQ(ReadFile(to_ / "mine"), "keep");
  EXPECT_EQ(ReadFile(to_ / "d" / "mine"), "keep");
  EXPECT_FALSE(fs::exists(to_ / "d" / "a"));
  EXPECT_FALSE(fs::exists(to_ / "top"));
  EXPECT_FALSE(fs::exists(to_ / "copied.txt"));
  EXPECT_FALSE(fs::exists(to_ / ".stage"));
}

// A record that cannot be read says nothing of what its source made: clean removes the rest,
// keeps .stage (and that record) and says so, rather than forgetting those files for good.
TEST_F(FaultsTest, CleanWithAnUnreadableRecordRemovesTheRestAndSaysSo) {
  WriteFile(src_ / "a.tar", Tar({File("from-a", "one")}));
  WriteFile(src_ / "b.txt", "plain file");
  ASSERT_EQ(RunCommand(Stage()).exit_code, 0);
  fs::path damaged;
  for (const auto& record : fs::directory_iterator(to_ / ".stage/manifest")) {
    if (ReadFile(record.path()).find("b.txt") != std::string::npos) damaged = record.path();
  }
  ASSERT_FALSE(damaged.empty());
  WriteFile(damaged, "{ not json");
  RunResult clean = RunCommand(StageBinary() + " clean --to " + Quote(to_));
  EXPECT_EQ(clean.exit_code, 1) << clean.err;
  EXPECT_THAT(clean.err, HasSubstr("1 manifest record(s) unreadable, their files left in place: "
                                   ".stage/manifest/" +
                                   damaged.filename().string()));
  EXPECT_FALSE(fs::exists(to_ / "from-a"));
  EXPECT_EQ(ReadFile(to_ / "b.txt"), "plain file");
  EXPECT_TRUE(fs::exists(damaged));
}

TEST_F(FaultsTest, VerifyAcceptsAMatchingChecksum) {
  WriteFile(src_ / "a.tar.gz", Gzip(Tar({File("a", "one")})));
  ASSERT_EQ(RunCommand("cd " + Quote(src_) + " && sha256sum a.tar.gz > a.tar.gz.sha256").exit_code,
            0);
  RunResult run = RunCommand(Stage("--verify"));
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ReadFile(to_ / "a"), "one");
}

TEST_F(FaultsTest, VerifyMismatchIsAnErrorAndLeavesNothing) {
  WriteFile(src_ / "a.tar.gz", Gzip(Tar({File("a", "one")})));
  WriteFile(src_ / "a.tar.gz.sha256", std::string(64, '0') + "  a.tar.gz\n");
  RunResult run = RunCommand(Stage("--verify"));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("a.tar.gz: --verify: SHA-256 mismatch"));
  EXPECT_FALSE(fs::exists(to_ / "a"));
  ExpectNoLeftovers();
}

}  // namespace
}  // namespace staging_test
