// The gzip index: restart points recorded while inflating once, then chunks inflated in parallel
// from them give the same bytes; an index for another archive, or a damaged one, never yields
// wrong output.
#include "decode/gzip_index.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <bitset>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "base/stage_layout.h"
#include "collect_decoded.h"
#include "common/unique_fd.h"
#include "decode/decoder.h"
#include "decode/gzip_index_format.h"
#include "decode/indexed_gzip.h"
#include "record/manifest.h"
#include "test_support.h"

namespace staging {
namespace {

using staging_test::Quote;
using staging_test::ReadFile;
using staging_test::RunCommand;
using staging_test::TempDir;
using staging_test::WriteFile;

// Compressible but not trivially: words from a small vocabulary, seeded.
std::string Text(size_t size, uint32_t seed) {
  static const char* kWords[] = {"tensor ",  "batch ",   "epoch ",  "gradient ", "staging ",
                                 "archive ", "deflate ", "window ", "pets\n",    "0123456789 "};
  std::string s;
  s.reserve(size + 16);
  uint32_t x = seed | 1;
  while (s.size() < size) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    s += kWords[x % 10];
    if (x % 7 == 0) s += static_cast<char>('a' + x % 26);
  }
  s.resize(size);
  return s;
}

SourceIdentity Identify(const std::filesystem::path& path) {
  common::UniqueFd fd(open(path.c_str(), O_RDONLY));
  SourceIdentity id;
  EXPECT_TRUE(IdentifySource(fd.get(), path.string(), &id).ok());
  return id;
}

Status InflateSequentially(const std::filesystem::path& path, RestartPointSink* sink,
                           std::string* out) {
  return staging_test::CollectDecoded(
      [&](BlockPool& pool, BoundedQueue<BlockRef>& decoded) {
        BlockPool source_pool(4, 1 << 20);
        BoundedQueue<BlockRef> compressed(4);
        std::thread reader([&] {
          common::UniqueFd fd(open(path.c_str(), O_RDONLY));
          while (true) {
            BlockRef block = source_pool.Acquire();
            ssize_t n = read(fd.get(), block->data, block->capacity);
            if (n <= 0) break;
            block->size = n;
            compressed.Push(std::move(block));
          }
          compressed.Close();
        });
        Status s = DecodeStream(Codec::kGzip, compressed, pool, decoded, sink);
        reader.join();
        return s;
      },
      out);
}

class GzipIndexTest : public testing::Test {
 protected:
  void SetUp() override {
    original_ = Text(70 << 20, 11);
    WriteFile(dir_ / "data", original_);
    ASSERT_EQ(RunCommand("gzip -6 " + Quote(dir_ / "data")).exit_code, 0);
    archive_ = dir_ / "data.gz";
    index_path_ = archive_.string() + kGzipIndexSuffix;
  }

  void BuildIndex() {
    GzipIndexWriter writer(index_path_, Identify(archive_));
    std::string out;
    ASSERT_TRUE(InflateSequentially(archive_, &writer, &out).ok());
    ASSERT_EQ(out, original_);
    ASSERT_TRUE(writer.Commit());
  }

  Status InflateParallel(const GzipIndex& index, int threads, std::string* out,
                         size_t source_block_size = (1 << 20) + 7) {
    common::UniqueFd fd(open(archive_.c_str(), O_RDONLY));
    IndexedGzipDecoder decoder(std::filesystem::file_size(archive_), index, threads);
    return staging_test::CollectDecodedFromFile(
        fd.get(),
        [&](BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& decoded) {
          return decoder.Run(in, decoded);
        },
        out, source_block_size);
  }

  TempDir dir_;
  std::string original_;
  std::filesystem::path archive_;
  std::string index_path_;
};

TEST_F(GzipIndexTest, ParallelInflateFromTheIndexGivesTheSameBytes) {
  BuildIndex();
  GzipIndex index;
  std::string note;
  ASSERT_TRUE(LoadGzipIndex(index_path_, Identify(archive_), &index, &note)) << note;
  // One point per kRestartSpacing of output, no more: 70 MiB at one per 16 MiB.
  EXPECT_LE(index.points, original_.size() / kRestartSpacing);
  EXPECT_GE(index.points, original_.size() / kRestartSpacing - 1);
  EXPECT_EQ(index.decoded_size, original_.size());
  for (int threads : {1, 2, 4}) {
    std::string out;
    Status status = InflateParallel(index, threads, &out);
    ASSERT_TRUE(status.ok()) << status.message();
    EXPECT_TRUE(out == original_) << "threads " << threads;
  }
}

// Consecutive chunks' compressed spans overlap by kInputSlack (64 KiB). Source blocks smaller
// than that put block boundaries inside every overlap, where a block the next span still needs
// must not be let go once this span has copied it.
TEST_F(GzipIndexTest, SourceBlocksEndingInsideTheOverlapOfTwoSpansAreKept) {
  BuildIndex();
  GzipIndex index;
  ASSERT_TRUE(LoadGzipIndex(index_path_, Identify(archive_), &index));
  for (size_t block_size : {size_t{4093}, size_t{20011}, size_t{65521}, size_t{65536 + 3}}) {
    std::string out;
    Status status = InflateParallel(index, 2, &out, block_size);
    ASSERT_TRUE(status.ok()) << "source blocks of " << block_size << ": " << status.message();
    EXPECT_TRUE(out == original_) << "source blocks of " << block_size;
  }
}

TEST_F(GzipIndexTest, IndexOfAnotherVersionOfTheArchiveIsIgnored) {
  BuildIndex();
  // Same size, different content: rewrite the archive from different data of the same length.
  SourceIdentity before = Identify(archive_);
  std::string bytes = ReadFile(archive_);
  bytes[bytes.size() / 2] ^= 0x55;
  WriteFile(archive_, bytes);
  GzipIndex index;
  SourceIdentity after = Identify(archive_);
  EXPECT_FALSE(after == before);
  EXPECT_FALSE(LoadGzipIndex(index_path_, after, &index));
}

TEST_F(GzipIndexTest, DamagedRestartPointIsDetectedNotDecodedWrong) {
  BuildIndex();
  std::string bytes = ReadFile(index_path_);
  // Corrupt the middle of the first record's saved state and window.
  for (size_t i = 0; i < 4096; ++i) bytes[200 + 50'000 + i] ^= 0xA5;
  WriteFile(index_path_, bytes);
  GzipIndex index;
  ASSERT_TRUE(LoadGzipIndex(index_path_, Identify(archive_), &index));
  std::string out;
  Status status = InflateParallel(index, 2, &out);
  EXPECT_FALSE(status.ok()) << "the record's checksum must catch the damage";
  EXPECT_NE(status.message().find("gzip index"), std::string::npos) << status.message();
}

// A forger with write access beside the archive alters the history (the 32 KiB that
// back-references reach) saved at the last restart point, choosing the bits so that the forged
// last chunk still ends at the gzip trailer's CRC and length, and makes the record's own CRC agree.
// Every check that looks at the index alone, or at the stream's end alone, accepts it; the chunk
// before the point, whose real end differs from what the point claims, must refuse it.
TEST_F(GzipIndexTest, ForgedRestartPointWhoseChecksumsAgreeIsRefused) {
  BuildIndex();
  GzipIndex index;
  ASSERT_TRUE(LoadGzipIndex(index_path_, Identify(archive_), &index));
  ASSERT_GE(index.points, 2u);
  std::string bytes = ReadFile(index_path_);
  const size_t at = sizeof(Header) + (index.points - 1) * kRecordSize;
  RecordHead head;
  inflate_state state;
  std::memcpy(&head, bytes.data() + at, sizeof head);
  std::memcpy(&state, bytes.data() + at + sizeof head, sizeof state);
  std::string window = bytes.substr(at + sizeof head + sizeof state, kDeflateWindow);
  const int history = state.tmp_out_processed;
  ASSERT_GE(history, 4096) << "ISA-L keeps the history in its state";

  // The last chunk decoded from `s` (CRC off): its bytes, or "" when ISA-L refuses them.
  const std::string archive = ReadFile(archive_);
  const uint64_t tail = index.decoded_size - head.decoded;
  auto decode_tail = [&](inflate_state s, bool check_trailer) {
    std::string out(kDeflateWindow + tail, '\0');
    std::memcpy(out.data(), window.data(), kDeflateWindow);
    if (!check_trailer) s.crc_flag = ISAL_DEFLATE;
    s.next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(archive.data() + head.compressed));
    s.avail_in = static_cast<uint32_t>(archive.size() - head.compressed);
    s.next_out = reinterpret_cast<uint8_t*>(out.data() + kDeflateWindow);
    s.avail_out = static_cast<uint32_t>(tail + 1);
    int rc = ISAL_DECOMP_OK;
    while (rc == ISAL_DECOMP_OK && s.block_state != ISAL_BLOCK_FINISH && s.avail_in > 0) {
      rc = isal_inflate(&s);
    }
    const bool whole =
        rc == ISAL_DECOMP_OK && s.block_state == ISAL_BLOCK_FINISH && s.avail_out == 1;
    return whole ? out.substr(kDeflateWindow, tail) : std::string();
  };
  auto crc_of = [](const std::string& data) {
    return static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(data.data()), data.size()));
  };
  const std::string genuine = decode_tail(state, false);
  ASSERT_TRUE(genuine == original_.substr(head.decoded));
  const uint32_t genuine_crc = crc_of(genuine);

  // Flipping a history bit that back-references reach changes the tail's CRC by a fixed amount
  // (copies and CRC are linear over GF(2)): 33 such flips in a 32-bit space have a combination
  // that changes the CRC not at all.
  constexpr int kCandidates = 256;
  struct Row {
    uint32_t delta;
    std::bitset<kCandidates> flips;
  };
  auto candidate = [&](int bit) { return history - 1 - bit * 3; };  // the most recent bytes
  std::vector<Row> basis;
  std::bitset<kCandidates> forged_flips;
  for (int bit = 0; bit < kCandidates && forged_flips.none(); ++bit) {
    inflate_state flipped = state;
    flipped.tmp_out_buffer[candidate(bit)] ^= 1;
    const std::string changed = decode_tail(flipped, false);
    if (changed == genuine) continue;  // a byte nothing refers to
    Row row{crc_of(changed) ^ genuine_crc, {}};
    row.flips.set(bit);
    for (const Row& b : basis) {
      if (row.delta & (b.delta & -b.delta)) row.delta ^= b.delta, row.flips ^= b.flips;
    }
    if (row.delta == 0) {
      forged_flips = row.flips;
    } else {
      for (Row& b : basis) {
        if (b.delta & (row.delta & -row.delta)) b.delta ^= row.delta, b.flips ^= row.flips;
      }
      basis.push_back(row);
    }
  }
  ASSERT_TRUE(forged_flips.any()) << "fewer than 33 history bytes are referred to";
  for (int bit = 0; bit < kCandidates; ++bit) {
    if (!forged_flips.test(bit)) continue;
    const int at_history = candidate(bit);
    state.tmp_out_buffer[at_history] ^= 1;
    window[kDeflateWindow - (history - at_history)] ^= 1;  // the window's copy of that byte
  }
  const std::string forged = decode_tail(state, true);
  ASSERT_EQ(forged.size(), tail) << "ISA-L's own trailer check accepts the forgery";
  ASSERT_TRUE(forged != genuine) << "the forgery changes no byte";

  head.crc = RecordCrc(state, reinterpret_cast<const std::byte*>(window.data()));
  std::memcpy(bytes.data() + at, &head, sizeof head);
  std::memcpy(bytes.data() + at + sizeof head, &state, sizeof state);
  std::memcpy(bytes.data() + at + sizeof head + sizeof state, window.data(), kDeflateWindow);
  WriteFile(index_path_, bytes);
  ASSERT_TRUE(LoadGzipIndex(index_path_, Identify(archive_), &index));
  for (int threads : {1, 3}) {
    std::string out;
    Status status = InflateParallel(index, threads, &out);
    EXPECT_FALSE(status.ok()) << "forged bytes accepted";
    EXPECT_NE(status.message().find("gzip index does not match the archive (chunk " +
                                    std::to_string(index.points - 1) + ")"),
              std::string::npos)
        << status.message();
    EXPECT_TRUE(out.size() <= head.decoded) << "bytes of the forged chunk were let out";
  }
}

// Found by fuzzing: a footer claiming an enormous decoded size made the last chunk, and so every
// chunk buffer, tens of terabytes; the allocation's failure ended the process. Now the index is
// refused with a reason, and staging (the CLI tests below) rebuilds it.
TEST_F(GzipIndexTest, IndexClaimingAnEnormousChunkIsRefusedNotAllocated) {
  BuildIndex();
  std::string bytes = ReadFile(index_path_);
  const size_t decoded_size_at = bytes.size() - 16;  // footer: count, decoded size, magic
  const uint64_t forged = uint64_t{1} << 45;
  std::memcpy(bytes.data() + decoded_size_at, &forged, sizeof forged);
  WriteFile(index_path_, bytes);
  GzipIndex index;
  ASSERT_TRUE(LoadGzipIndex(index_path_, Identify(archive_), &index));
  std::string out;
  Status status = InflateParallel(index, 2, &out);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("restart points"), std::string::npos) << status.message();
}

// A footer claiming the stream ends one byte after the last restart point: the last chunk's
// whole compressed tail for one byte of output. Refused before its input is read, and never
// taken as the end of the stream.
TEST_F(GzipIndexTest, LastChunkWithFarTooMuchInputIsRefused) {
  BuildIndex();
  GzipIndex index;
  ASSERT_TRUE(LoadGzipIndex(index_path_, Identify(archive_), &index));
  std::string bytes = ReadFile(index_path_);
  const size_t footer = bytes.size() - sizeof(Footer), records_at = sizeof(Header);
  const size_t record = (footer - records_at) / index.points;
  uint64_t last_point = 0;
  std::memcpy(&last_point, bytes.data() + records_at + (index.points - 1) * record + 8, 8);
  const uint64_t forged = last_point + 1;
  std::memcpy(bytes.data() + footer + 8, &forged, sizeof forged);
  WriteFile(index_path_, bytes);
  ASSERT_TRUE(LoadGzipIndex(index_path_, Identify(archive_), &index));
  ASSERT_EQ(index.decoded_size, forged);
  std::string out;
  Status status = InflateParallel(index, 2, &out);
  EXPECT_FALSE(status.ok()) << "took " << out.size() << " bytes as the whole stream";
  EXPECT_NE(status.message().find("spans more compressed bytes"), std::string::npos)
      << status.message();
}

TEST_F(GzipIndexTest, NoIndexFileIsNoIndex) {
  GzipIndex index;
  std::string note;
  EXPECT_FALSE(LoadGzipIndex(index_path_ + ".missing", Identify(archive_), &index, &note));
  EXPECT_EQ(index.points, 0u);
}

// A stream shorter than one restart spacing gets no index: it would only cost a file.
TEST_F(GzipIndexTest, AStreamTooShortForARestartPointGetsNoIndex) {
  WriteFile(dir_ / "small", Text(1 << 20, 5));
  ASSERT_EQ(RunCommand("gzip -6 " + Quote(dir_ / "small")).exit_code, 0);
  const std::string small = (dir_ / "small.gz").string();
  GzipIndexWriter writer(small + kGzipIndexSuffix, Identify(small));
  std::string out;
  ASSERT_TRUE(InflateSequentially(small, &writer, &out).ok());
  EXPECT_FALSE(writer.Commit());
  EXPECT_FALSE(std::filesystem::exists(small + kGzipIndexSuffix));
}

TEST_F(GzipIndexTest, TruncatedIndexFileIsIgnored) {
  BuildIndex();
  std::string bytes = ReadFile(index_path_);
  WriteFile(index_path_, bytes.substr(0, bytes.size() - 1000));
  GzipIndex index;
  EXPECT_FALSE(LoadGzipIndex(index_path_, Identify(archive_), &index));
}

TEST_F(GzipIndexTest, MultiMemberGzipIsNotIndexed) {
  std::string second = Text(20 << 20, 3);
  WriteFile(dir_ / "more", second);
  ASSERT_EQ(RunCommand("gzip -c " + Quote(dir_ / "more") + " >> " + Quote(archive_)).exit_code, 0);
  GzipIndexWriter writer(index_path_, Identify(archive_));
  std::string out;
  ASSERT_TRUE(InflateSequentially(archive_, &writer, &out).ok());
  EXPECT_TRUE(out == original_ + second);
  EXPECT_FALSE(writer.Commit());
  EXPECT_FALSE(std::filesystem::exists(index_path_));
}

}  // namespace
}  // namespace staging

namespace staging {
namespace {

using staging_test::Snapshot;
using staging_test::StageBinary;

// Through the program: the first staging leaves an index beside the archive, a re-stage uses it
// and gives the same tree; a read-only source directory keeps the index in the cache instead.
class GzipIndexCliTest : public testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 6; ++i) {
      WriteFile(dir_ / "tree/set" / ("part" + std::to_string(i)), Text(4 << 20, 100 + i));
    }
    std::filesystem::create_directories(dir_ / "source");
    ASSERT_EQ(RunCommand("tar -czf " + Quote(dir_ / "source/set.tar.gz") + " -C " +
                         Quote(dir_ / "tree") + " set")
                  .exit_code,
              0);
  }
  staging_test::RunResult Stage(const std::string& to, const std::string& env = "") {
    return RunCommand(env + StageBinary() + " --force --from " + Quote(dir_ / "source") + " --to " +
                      Quote(dir_ / to));
  }
  TempDir dir_;
};

TEST_F(GzipIndexCliTest, RestageUsesTheIndexAndGivesTheSameTree) {
  auto first = Stage("first");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_TRUE(std::filesystem::exists(dir_ / "source/set.tar.gz.stageidx"));
  auto index_time = std::filesystem::last_write_time(dir_ / "source/set.tar.gz.stageidx");
  auto second = Stage("second");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(std::filesystem::last_write_time(dir_ / "source/set.tar.gz.stageidx"), index_time)
      << "a matching index is used, not rebuilt";
  EXPECT_EQ(Snapshot(dir_ / "tree"), Snapshot(dir_ / "second"));
  EXPECT_EQ(Snapshot(dir_ / "first"), Snapshot(dir_ / "second"));
}

TEST_F(GzipIndexCliTest, DamagedIndexIsRebuiltAndTheTreeIsStillRight) {
  ASSERT_EQ(Stage("first").exit_code, 0);
  std::string index = ReadFile(dir_ / "source/set.tar.gz.stageidx");
  for (size_t i = 300; i < index.size() - 100; i += 997) index[i] ^= 0x5a;
  WriteFile(dir_ / "source/set.tar.gz.stageidx", index);
  auto second = Stage("second");
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(Snapshot(dir_ / "tree"), Snapshot(dir_ / "second"));
  EXPECT_NE(ReadFile(dir_ / "source/set.tar.gz.stageidx"), index) << "rebuilt after the mismatch";
  EXPECT_NE(second.err.find("set.tar.gz.stageidx not used ("), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("); inflated sequentially, and the index made again"),
            std::string::npos)
      << second.err;
}

// --verify hashes what the reader reads: when a damaged index sends the archive round a second
// time, the checksum is of that second read alone, and still matches.
TEST_F(GzipIndexCliTest, VerifyHoldsWhenADamagedIndexMakesTheArchiveReadTwice) {
  ASSERT_EQ(Stage("first").exit_code, 0);
  ASSERT_EQ(
      RunCommand("cd " + Quote(dir_ / "source") + " && sha256sum set.tar.gz > set.tar.gz.sha256")
          .exit_code,
      0);
  std::string index = ReadFile(dir_ / "source/set.tar.gz.stageidx");
  for (size_t i = 300; i < index.size() - 100; i += 997) index[i] ^= 0x5a;
  WriteFile(dir_ / "source/set.tar.gz.stageidx", index);
  auto verified = RunCommand(StageBinary() + " --verify --from " + Quote(dir_ / "source") +
                             " --to " + Quote(dir_ / "verified"));
  ASSERT_EQ(verified.exit_code, 0) << verified.err;
  EXPECT_EQ(Snapshot(dir_ / "tree"), Snapshot(dir_ / "verified"));
}

// A re-stage that fails for a reason of its own (here the byte limit) says only that, fails once,
// and leaves the index as it was: the index was not at fault.
TEST_F(GzipIndexCliTest, FailureUnrelatedToTheIndexKeepsIt) {
  ASSERT_EQ(Stage("first").exit_code, 0);
  const auto index = dir_ / "source/set.tar.gz.stageidx";
  ASSERT_TRUE(std::filesystem::exists(index));
  std::string before = ReadFile(index);
  auto index_time = std::filesystem::last_write_time(index);
  auto limited = RunCommand(StageBinary() + " --force --max-bytes 5000000 --from " +
                            Quote(dir_ / "source") + " --to " + Quote(dir_ / "limited"));
  EXPECT_NE(limited.exit_code, 0);
  EXPECT_NE(limited.err.find("more than 5000000 bytes"), std::string::npos) << limited.err;
  EXPECT_EQ(limited.err.find("aborted"), std::string::npos) << limited.err;
  EXPECT_EQ(limited.err.find("truncated"), std::string::npos) << limited.err;
  ASSERT_TRUE(std::filesystem::exists(index)) << "a valid index was deleted";
  EXPECT_EQ(ReadFile(index), before);
  EXPECT_EQ(std::filesystem::last_write_time(index), index_time);
}

TEST_F(GzipIndexCliTest, ReadOnlySourceKeepsTheIndexInTheCache) {
  if (geteuid() == 0) {
    // Root writes anywhere: make the directory unwritable in a way root respects.
    if (RunCommand("chattr +i " + Quote(dir_ / "source")).exit_code != 0) {
      GTEST_SKIP() << "cannot make a read-only directory here (chattr unavailable)";
    }
  } else {
    std::filesystem::permissions(dir_ / "source", std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::remove);
  }
  std::string env = "XDG_CACHE_HOME=" + Quote(dir_ / "cache") + " ";
  auto first = Stage("first", env);
  auto second = Stage("second", env);
  RunCommand("chattr -i " + Quote(dir_ / "source"));
  std::filesystem::permissions(dir_ / "source", std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::add);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "source/set.tar.gz.stageidx"));
  bool cached = false;
  for (auto& entry : std::filesystem::directory_iterator(dir_ / "cache/stage")) {
    cached |= entry.path().string().ends_with(kGzipIndexSuffix);
  }
  EXPECT_TRUE(cached);
  EXPECT_EQ(Snapshot(dir_ / "tree"), Snapshot(dir_ / "second"));
}

}  // namespace
}  // namespace staging
