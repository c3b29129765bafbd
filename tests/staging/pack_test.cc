// stage pack: the archive it writes is an ordinary .tar.zst for zstd and GNU tar, repacking keeps
// the tree, the seek table is sound, and the parallel decoder gives exactly the sequential output.
#include "staging/pack.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>

#include "base/bounded_queue.h"
#include "base/tar_header.h"
#include "common/unique_fd.h"
#include "decode/parallel_zstd.h"
#include "decode/source_format.h"
#include "decode/zstd_seek_table.h"
#include "staging/stage.h"
#include "test_support.h"

extern char** environ;

namespace staging {
namespace {

using staging_test::Quote;
using staging_test::RunCommand;
using staging_test::RunResult;
using staging_test::Snapshot;
using staging_test::TempDir;
using staging_test::WriteFile;
namespace fs = std::filesystem;

constexpr uint64_t kFrameBytes = 256 << 10;  // small frames: several per test archive

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  // Half random, half text: compressible enough to look like real data, not all zeros.
  for (size_t i = 0; i < n; ++i) s[i] = (i / 4096) % 2 ? 'a' + i % 26 : static_cast<char>(rng());
  return s;
}

void SetMtime(const fs::path& path, time_t seconds) {
  timespec times[2] = {{seconds, 0}, {seconds, 0}};
  utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW);
}

// Files of several sizes (empty, small, larger than a frame), a symlink, a hardlink, nested
// directories, UTF-8 names, a few modes, fixed mtimes.
void MakeTree(const fs::path& root) {
  WriteFile(root / "empty", "");
  WriteFile(root / "small.txt", "hello\n");
  WriteFile(root / "a/b/c/deep.bin", RandomBytes(100 << 10, 1));
  WriteFile(root / "a/big.bin", RandomBytes(3 * kFrameBytes + 12345, 2));
  WriteFile(root / "données/ñandú ü.txt", "utf-8\n");
  for (int i = 0; i < 40; ++i) {
    fs::path name = root / "many" / "f";
    name += std::to_string(i);  // (operator+ on a literal trips a GCC 12 -Wrestrict false alarm)
    WriteFile(name, RandomBytes(9000 + i * 1000, 10 + i));
  }
  fs::create_directory_symlink("a/b", root / "link-to-b");
  fs::create_symlink("../small.txt", root / "a/rel-link");
  fs::create_hard_link(root / "a/big.bin", root / "a/b/big-hardlink");
  chmod((root / "small.txt").c_str(), 0600);
  chmod((root / "a/b/c/deep.bin").c_str(), 0755);
  time_t t = 1600000000;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    if (!it->is_directory() || it->is_symlink()) SetMtime(it->path(), t++);
  }
  // Directories last, deepest first: creating their children moved their mtimes.
  std::vector<fs::path> dirs;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    if (it->is_directory() && !it->is_symlink()) dirs.push_back(it->path());
  }
  std::sort(dirs.rbegin(), dirs.rend());
  for (const fs::path& dir : dirs) SetMtime(dir, t++);
}

PackReport PackTo(const fs::path& from, const fs::path& to, int threads = 2) {
  PackOptions options;
  options.from = from;
  options.to = to;
  options.frame_bytes = kFrameBytes;
  options.threads = threads;
  return Pack(options);
}

// Stages the one archive in `source_dir` into `to` on plain system calls.
StageReport StageDir(const fs::path& source_dir, const fs::path& to, bool parallel = true) {
  StageOptions options;
  options.from = source_dir;
  options.to = to;
  options.io = IoKind::kPlain;
  options.parallel_decode = parallel;
  options.wait_for_lock = false;
  return Stage(options);
}

std::string Failures(const StageReport& report) {
  std::string all;
  for (const std::string& line : report.failures()) all += line + "\n";
  return all;
}

std::vector<ZstdFrameInfo> SeekTableOf(const fs::path& archive) {
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  std::vector<ZstdFrameInfo> frames;
  Status status = ReadSeekTable(fd.get(), fs::file_size(archive), &frames);
  EXPECT_TRUE(status.ok()) << status.message();
  return frames;
}

TEST(PackTest, PackedDirectoryDecodesWithZstdAndExtractsWithGnuTar) {
  TempDir dir;
  MakeTree(dir / "src");
  PackReport report = PackTo(dir / "src", dir / "out.tar.zst");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_EQ(report.files, 45u);  // the hardlink's second name is not a file of its own
  EXPECT_GT(report.frames, 1u);
  EXPECT_EQ(report.compressed_bytes, fs::file_size(dir / "out.tar.zst"));
  fs::create_directory(dir / "gnu");
  RunResult run = RunCommand("zstd -q -t " + Quote(dir / "out.tar.zst") + " && zstd -dc " +
                             Quote(dir / "out.tar.zst") + " | tar -x -C " + Quote(dir / "gnu"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Snapshot(dir / "gnu"), Snapshot(dir / "src"));
}

TEST(PackTest, MembersAreNamedWithoutDotSlashAndParentsFirst) {
  TempDir dir;
  MakeTree(dir / "src");
  ASSERT_TRUE(PackTo(dir / "src", dir / "out.tar.zst").status.ok());
  RunResult run = RunCommand("zstd -dc " + Quote(dir / "out.tar.zst") + " | tar -t");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out.substr(0, run.out.find('\n')), "a/");
  EXPECT_EQ(run.out.find("./"), std::string::npos);
  EXPECT_LT(run.out.find("a/b/\n"), run.out.find("a/b/c/deep.bin\n"));
}

TEST(PackTest, RepackedTarGzStagesLikeGnuTarExtractsIt) {
  TempDir dir;
  MakeTree(dir / "src");
  fs::create_directories(dir / "gz");
  RunResult run = RunCommand("tar -C " + Quote(dir / "src") + " -czf " +
                             Quote(dir / "gz/images.tar.gz") + " .");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  fs::create_directories(dir / "packed");
  PackReport report = PackTo(dir / "gz/images.tar.gz", dir / "packed/images.tar.zst");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  EXPECT_GT(report.frames, 1u);
  fs::create_directory(dir / "gnu");
  run = RunCommand("tar -xzf " + Quote(dir / "gz/images.tar.gz") + " -C " + Quote(dir / "gnu"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  StageReport staged = StageDir(dir / "packed", dir / "staged");
  ASSERT_TRUE(staged.ok()) << Failures(staged);
  EXPECT_EQ(Snapshot(dir / "staged", true, false), Snapshot(dir / "gnu", true, false));
}

TEST(PackTest, SeekTableTilesTheFileWithSeveralFrames) {
  TempDir dir;
  MakeTree(dir / "src");
  PackReport report = PackTo(dir / "src", dir / "out.tar.zst");
  ASSERT_TRUE(report.status.ok()) << report.status.message();
  std::vector<ZstdFrameInfo> frames = SeekTableOf(dir / "out.tar.zst");
  ASSERT_EQ(frames.size(), report.frames);
  ASSERT_GT(frames.size(), 1u);
  uint64_t decoded = 0;
  for (const ZstdFrameInfo& frame : frames) {
    EXPECT_EQ(frame.decompressed_offset, decoded);
    EXPECT_LE(frame.decompressed_size, 2 * kFrameBytes);
    decoded += frame.decompressed_size;
  }
  EXPECT_EQ(decoded, report.bytes);
  EXPECT_EQ(EncodeSeekTable(frames).size(), 8 + frames.size() * 8 + kSeekTableFooterSize);
  common::UniqueFd fd(open((dir / "out.tar.zst").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_NE(MakeParallelZstdDecoder(fd.get(), fs::file_size(dir / "out.tar.zst")), nullptr);
}

// Runs the parallel decoder over `archive` read in `block_size` pieces; returns what it decoded.
Status DecodeInParallel(const fs::path& archive, size_t block_size, int threads,
                        std::string* decoded) {
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  std::vector<ZstdFrameInfo> frames;
  STAGING_RETURN_IF_ERROR(ReadSeekTable(fd.get(), fs::file_size(archive), &frames));
  ParallelZstdDecoder decoder(frames, threads);
  std::string bytes = staging_test::ReadFile(archive);
  size_t blocks = (bytes.size() + block_size - 1) / block_size;
  BlockPool source_pool(blocks, block_size);
  BoundedQueue<BlockRef> in(blocks), out(4);
  for (size_t at = 0; at < bytes.size(); at += block_size) {
    BlockRef block = source_pool.Acquire();
    block->size = std::min(block_size, bytes.size() - at);
    std::memcpy(block->data, bytes.data() + at, block->size);
    in.Push(std::move(block));
  }
  in.Close();
  Status status;
  std::thread worker([&] {
    status = decoder.Run(in, out);
    if (status.ok()) {
      out.Close();
    } else {
      out.Fail();
    }
  });
  while (std::optional<BlockRef> block = out.Pop()) {
    decoded->append(reinterpret_cast<const char*>((*block)->bytes()), (*block)->size);
  }
  worker.join();
  return status;
}

TEST(PackTest, ParallelDecoderOutputEqualsZstdOutput) {
  TempDir dir;
  MakeTree(dir / "src");
  ASSERT_TRUE(PackTo(dir / "src", dir / "out.tar.zst").status.ok());
  RunResult run = RunCommand("zstd -dc " + Quote(dir / "out.tar.zst"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  for (size_t block_size : {size_t{4096}, size_t{100000}, size_t{4} << 20}) {
    for (int threads : {1, 3}) {
      std::string decoded;
      Status status = DecodeInParallel(dir / "out.tar.zst", block_size, threads, &decoded);
      ASSERT_TRUE(status.ok()) << status.message();
      EXPECT_TRUE(decoded == run.out) << "block size " << block_size << ", threads " << threads;
    }
  }
}

TEST(PackTest, SeekTableThatMisplacesFramesIsAnErrorNotWrongOutput) {
  TempDir dir;
  MakeTree(dir / "src");
  fs::path archive = dir / "out.tar.zst";
  ASSERT_TRUE(PackTo(dir / "src", archive).status.ok());
  std::vector<ZstdFrameInfo> frames = SeekTableOf(archive);
  ASSERT_GT(frames.size(), 2u);
  // Move 16 bytes from the first frame to the second: the table still tiles the file.
  frames[0].compressed_size -= 16;
  frames[1].compressed_size += 16;
  std::string bytes = staging_test::ReadFile(archive);
  std::string table = EncodeSeekTable(frames);
  bytes.replace(bytes.size() - table.size(), table.size(), table);
  WriteFile(archive, bytes);
  std::string decoded;
  Status status = DecodeInParallel(archive, 1 << 20, 2, &decoded);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("seek table disagrees"), std::string::npos) << status.message();
}

// The ustar size field of the header `block` (octal; what GNU tar writes for these members).
uint64_t UstarSize(const char* block) {
  uint64_t size = 0;
  for (int i = 124; i < 136 && block[i] >= '0' && block[i] <= '7'; ++i)
    size = size * 8 + (block[i] - '0');
  return size;
}

TEST(PackTest, FramesEndOnMemberBoundariesUnlessAMemberIsLarger) {
  TempDir dir;
  MakeTree(dir / "src");
  ASSERT_TRUE(PackTo(dir / "src", dir / "out.tar.zst").status.ok());
  ASSERT_EQ(
      RunCommand("zstd -q -d -c " + Quote(dir / "out.tar.zst") + " > " + Quote(dir / "out.tar"))
          .exit_code,
      0);
  const std::string tar = staging_test::ReadFile(dir / "out.tar");
  // Where each header block lies, and how far its member's data reaches.
  std::vector<std::pair<uint64_t, uint64_t>> members;  // header offset, end of its data
  for (uint64_t at = 0; at + 512 <= tar.size();) {
    const auto* block = reinterpret_cast<const std::byte*>(tar.data() + at);
    if (!staging::TarChecksumMatches(block)) break;  // the end-of-archive zeros
    const uint64_t data_end = at + 512 + (UstarSize(tar.data() + at) + 511) / 512 * 512;
    members.emplace_back(at, data_end);
    at = data_end;
  }
  ASSERT_GT(members.size(), 40u);
  size_t boundaries = 0, inside_large = 0;
  for (const ZstdFrameInfo& frame : SeekTableOf(dir / "out.tar.zst")) {
    if (frame.decompressed_offset == 0 || frame.decompressed_offset >= members.back().second)
      continue;
    ++boundaries;
    auto header = std::find_if(members.begin(), members.end(),
                               [&](const auto& m) { return m.first == frame.decompressed_offset; });
    if (header != members.end()) continue;  // a frame starts at a member's (first) header
    // Else only inside a member larger than a frame, at a block boundary of its data.
    auto holder = std::find_if(members.begin(), members.end(), [&](const auto& m) {
      return m.first < frame.decompressed_offset && frame.decompressed_offset < m.second;
    });
    ASSERT_NE(holder, members.end()) << "frame at " << frame.decompressed_offset;
    EXPECT_GT(holder->second - holder->first, kFrameBytes)
        << "a frame starts inside a member smaller than a frame, at " << frame.decompressed_offset;
    EXPECT_EQ(frame.decompressed_offset % 512, 0u);
    ++inside_large;
  }
  EXPECT_GT(boundaries, 2u);
  EXPECT_LT(inside_large, boundaries) << "no frame started at a member";
}

TEST(PackTest, PlainZstdFileHasNoSeekTable) {
  TempDir dir;
  WriteFile(dir / "data", RandomBytes(1 << 20, 3));
  ASSERT_EQ(RunCommand("zstd -q " + Quote(dir / "data")).exit_code, 0);
  common::UniqueFd fd(open((dir / "data.zst").c_str(), O_RDONLY | O_CLOEXEC));
  std::vector<ZstdFrameInfo> frames;
  EXPECT_FALSE(ReadSeekTable(fd.get(), fs::file_size(dir / "data.zst"), &frames).ok());
  EXPECT_EQ(MakeParallelZstdDecoder(fd.get(), fs::file_size(dir / "data.zst")), nullptr);
}

TEST(PackTest, CorruptSeekTableFallsBackToSequentialAndStagesCorrectly) {
  TempDir dir;
  MakeTree(dir / "src");
  fs::create_directories(dir / "packed");
  fs::path archive = dir / "packed/out.tar.zst";
  ASSERT_TRUE(PackTo(dir / "src", archive).status.ok());
  size_t frames = SeekTableOf(archive).size();
  // The first entry's compressed size: the table no longer tiles the file.
  {
    std::fstream f(archive, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(
        static_cast<std::streamoff>(fs::file_size(archive) - kSeekTableFooterSize - frames * 8));
    f.put('\x7f');
  }
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(MakeParallelZstdDecoder(fd.get(), fs::file_size(archive)), nullptr);
  StageReport staged = StageDir(dir / "packed", dir / "staged");
  ASSERT_TRUE(staged.ok()) << Failures(staged);
  EXPECT_EQ(Snapshot(dir / "staged", true, false), Snapshot(dir / "src", true, false));
}

TEST(PackTest, DamagedSeekableMagicFallsBackToSequential) {
  TempDir dir;
  MakeTree(dir / "src");
  fs::create_directories(dir / "packed");
  fs::path archive = dir / "packed/out.tar.zst";
  ASSERT_TRUE(PackTo(dir / "src", archive).status.ok());
  // The footer lies inside the skippable frame: zstd still reads the file, the table is gone.
  std::string bytes = staging_test::ReadFile(archive);
  bytes[bytes.size() - 1] ^= 0x55;
  WriteFile(archive, bytes);
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  std::vector<ZstdFrameInfo> frames;
  EXPECT_FALSE(ReadSeekTable(fd.get(), bytes.size(), &frames).ok());
  StageReport staged = StageDir(dir / "packed", dir / "staged");
  ASSERT_TRUE(staged.ok()) << Failures(staged);
  EXPECT_EQ(Snapshot(dir / "staged", true, false), Snapshot(dir / "src", true, false));
}

TEST(PackTest, ParallelAndSequentialDecodeGiveIdenticalTrees) {
  TempDir dir;
  MakeTree(dir / "src");
  fs::create_directories(dir / "packed");
  ASSERT_TRUE(PackTo(dir / "src", dir / "packed/out.tar.zst").status.ok());
  StageReport parallel = StageDir(dir / "packed", dir / "parallel", true);
  ASSERT_TRUE(parallel.ok()) << Failures(parallel);
  StageReport sequential = StageDir(dir / "packed", dir / "sequential", false);
  ASSERT_TRUE(sequential.ok()) << Failures(sequential);
  EXPECT_EQ(Snapshot(dir / "parallel"), Snapshot(dir / "sequential"));
  EXPECT_EQ(Snapshot(dir / "parallel", true, false), Snapshot(dir / "src", true, false));
}

TEST(PackTest, SingleThreadAndManyThreadsWriteTheSameBytes) {
  TempDir dir;
  MakeTree(dir / "src");
  ASSERT_TRUE(PackTo(dir / "src", dir / "one.tar.zst", 1).status.ok());
  ASSERT_TRUE(PackTo(dir / "src", dir / "four.tar.zst", 4).status.ok());
  EXPECT_EQ(staging_test::ReadFile(dir / "one.tar.zst"),
            staging_test::ReadFile(dir / "four.tar.zst"));
}

TEST(PackTest, MissingInputFailsNamingItAndLeavesNoFile) {
  TempDir dir;
  PackReport report = PackTo(dir / "nope", dir / "out.tar.zst");
  EXPECT_FALSE(report.status.ok());
  EXPECT_NE(report.status.message().find("nope"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

TEST(PackTest, NonArchiveInputFails) {
  TempDir dir;
  WriteFile(dir / "notes.txt", "not an archive\n");
  PackReport report = PackTo(dir / "notes.txt", dir / "out.tar.zst");
  EXPECT_FALSE(report.status.ok());
  EXPECT_FALSE(fs::exists(dir / "out.tar.zst"));
}

// SIGTERM (a time limit) or Ctrl-C stops `stage pack` mid-way: it says so, exits 128 + the signal,
// and leaves nothing under the output's name and no temporary file beside it.
TEST(PackTest, StopSignalLeavesNoOutputAndNoTemporaryFile) {
  TempDir dir;
  std::string text;
  for (int i = 0; text.size() < (48u << 20); ++i)
    text += "line " + std::to_string(i) + " of text\n";
  WriteFile(dir / "src/a.txt", text);
  fs::create_directories(dir / "out");
  const std::string out = (dir / "out/a.tar.zst").string();
  std::vector<std::string> args = {staging_test::StageBinary(),
                                   "pack",
                                   "--from",
                                   (dir / "src").string(),
                                   "--to",
                                   out,
                                   "--level",
                                   "19",
                                   "--threads",
                                   "1"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 2, (dir / "err").c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  // Wait until it is writing (its temporary file exists), then stop it.
  bool writing = false;
  for (int i = 0; i < 500 && !writing; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    for (const auto& entry : fs::directory_iterator(dir / "out")) {
      writing |= entry.path().filename().string().find(".tmp.") != std::string::npos;
    }
  }
  EXPECT_TRUE(writing);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << staging_test::ReadFile(dir / "err");
  EXPECT_NE(staging_test::ReadFile(dir / "err").find("stage pack: interrupted"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir / "out")) << "left: " << fs::directory_iterator(dir / "out")->path();
}

}  // namespace
}  // namespace staging
