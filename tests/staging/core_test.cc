// The core parts on their own, without the end-to-end suites: the block pool and the queue
// between stages, the ordered-parallel helper, member-path rules, every decoder behind the one
// interface, and the file layer (atomic replace, directory listing).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "base/hash_set64.h"
#include "base/member_path.h"
#include "base/member_rules.h"
#include "base/source_identity.h"
#include "collect_decoded.h"
#include "common/file_io.h"
#include "common/human_units.h"
#include "common/ordered_workers.h"
#include "common/unique_fd.h"
#include "decode/decoder.h"
#include "decode/gzip_index.h"
#include "decode/indexed_gzip.h"
#include "decode/parallel_zstd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hostile_archives.h"
#include "io/source_reader.h"
#include "pipeline.h"
#include "staging/io_backend.h"
#include "staging/pack.h"
#include "test_support.h"

namespace staging_test {
namespace {

using staging::BlockPool;
using staging::BlockRef;
using staging::BoundedQueue;
using staging::Status;
using namespace std::chrono_literals;

// --- the block pool and the queue ---

// The flat set agrees with std::unordered_set on every insert, across its growth, with values
// that share their low bits, and counts 0 and 1 as one (0 marks its empty slots).
TEST(HashSet64Test, InsertsLikeAStandardSetAcrossGrowth) {
  staging::HashSet64 set;
  std::unordered_set<uint64_t> reference;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200'000; ++i) {
    // Half random, half multiples of 2^32 (the same low bits) and a narrow range (repeats).
    const uint64_t value = i % 4 == 0   ? rng()
                           : i % 4 == 1 ? (rng() % 5000 + 1) << 32
                                        : rng() % 60'000 + 2;
    ASSERT_EQ(set.Insert(value), reference.insert(value).second) << "value " << value;
  }
  EXPECT_EQ(set.size(), reference.size());
  EXPECT_TRUE(set.Insert(0));
  EXPECT_FALSE(set.Insert(1)) << "0 and 1 are one value";
  EXPECT_FALSE(set.Insert(0));
}

TEST(BlockPoolTest, HandsOutEachBlockOnceAndTakesItBackWithItsLastReference) {
  BlockPool pool(2, 1024);
  BlockRef a = pool.Acquire();
  BlockRef b = pool.Acquire();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a.get(), b.get());
  EXPECT_FALSE(pool.TryAcquire().has_value());
  BlockRef copy = a;  // a second reference keeps the block out
  a.reset();
  EXPECT_FALSE(pool.TryAcquire().has_value());
  copy.reset();
  std::optional<BlockRef> again = pool.TryAcquire();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)->size, 0u) << "a block comes back emptied";
}

// A thread that runs `blocking` (a call expected to block) and records its kernel thread id
// first, so that the test can see it asleep before acting, instead of sleeping and hoping.
class BlockingThread {
 public:
  explicit BlockingThread(std::function<void()> blocking)
      : thread_([this, blocking = std::move(blocking)] {
          tid_ = gettid();
          blocking();
          done_ = true;
        }) {}
  ~BlockingThread() {
    if (thread_.joinable()) thread_.join();
  }

  // True once the thread sleeps in the kernel (blocked on its futex); false after 10 s.
  bool WaitUntilBlocked() const {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t tid = tid_;
      if (tid != 0 && !done_) {
        const std::string stat = ReadFile("/proc/self/task/" + std::to_string(tid) + "/stat");
        const size_t paren = stat.rfind(')');
        if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S') {
          return true;
        }
      }
      std::this_thread::yield();
    }
    return false;
  }

  // Joins the thread when it ends within 10 s; otherwise ends the test binary with a message
  // (a join would hang the suite).
  void JoinOrDie() {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done_ && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    if (!done_) {
      std::fprintf(stderr, "the blocked call never returned\n");
      std::_Exit(1);
    }
    thread_.join();
  }

 private:
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(BlockPoolTest, CloseWakesAWaitingAcquireWithNothing) {
  BlockPool pool(1, 64);
  BlockRef held = pool.Acquire();
  std::atomic<bool> returned_empty{false};
  BlockingThread waiter([&] { returned_empty = !pool.Acquire(); });
  ASSERT_TRUE(waiter.WaitUntilBlocked()) << "Acquire did not block on an empty pool";
  pool.Close();
  waiter.JoinOrDie();
  EXPECT_TRUE(returned_empty);
}

TEST(BoundedQueueTest, KeepsOrderBlocksWhenFullAndDrainsAfterClose) {
  BoundedQueue<int> queue(2);
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(queue.Push(i));
    queue.Close();
  });
  std::vector<int> got;
  while (std::optional<int> item = queue.Pop()) got.push_back(*item);
  producer.join();
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], i);
  EXPECT_TRUE(queue.finished());
  EXPECT_FALSE(queue.failed());
}

TEST(BoundedQueueTest, FailStopsBothSidesAtOnce) {
  BoundedQueue<int> queue(1);
  ASSERT_TRUE(queue.Push(1));
  std::atomic<bool> push_refused{false};
  BlockingThread blocked_producer([&] { push_refused = !queue.Push(2); });
  ASSERT_TRUE(blocked_producer.WaitUntilBlocked()) << "Push did not block on a full queue";
  queue.Fail();
  blocked_producer.JoinOrDie();
  EXPECT_TRUE(push_refused);
  EXPECT_FALSE(queue.Pop().has_value()) << "a failed queue hands out nothing, even what it held";
  EXPECT_TRUE(queue.failed());
}

// --- work out of order, emit in order ---

TEST(OrderedWorkersTest, EmitsInSubmissionOrderWithinTheWindow) {
  std::atomic<int> submitted{0}, emitted{0}, most_in_flight{0};
  std::vector<int> order;
  common::OrderedWorkers<int> workers(
      4, 6,
      [](int& item) {
        std::this_thread::sleep_for(std::chrono::microseconds((item * 7919) % 900));
      },
      [&](int& item) {
        order.push_back(item);
        ++emitted;
        return true;
      });
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(workers.Submit(i));
    ++submitted;
    most_in_flight = std::max(most_in_flight.load(), submitted - emitted);
  }
  EXPECT_TRUE(workers.Finish());
  ASSERT_EQ(order.size(), 300u);
  for (int i = 0; i < 300; ++i) EXPECT_EQ(order[i], i);
  EXPECT_LE(most_in_flight, 6);
}

TEST(OrderedWorkersTest, AFailedEmitStopsEverythingAfterIt) {
  std::vector<int> order;
  common::OrderedWorkers<int> workers(
      3, 4, [](int&) {},
      [&](int& item) {
        order.push_back(item);
        return item != 50;
      });
  int refused_at = -1;
  for (int i = 0; i < 1000; ++i) {
    if (!workers.Submit(i)) {
      refused_at = i;
      break;
    }
  }
  EXPECT_FALSE(workers.Finish());
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.back(), 50);
  EXPECT_EQ(order.size(), 51u);
  EXPECT_GT(refused_at, 50);
  EXPECT_LE(refused_at, 50 + 4 + 1) << "the window bounds what is submitted past the failure";
}

// --- member-path rules ---

TEST(MemberPathTest, NormalisesHarmlessNamesAndRefusesEscapes) {
  staging::MemberPath path;
  ASSERT_TRUE(staging::ParseMemberPath("./a//b/./c.txt", {}, &path).ok());
  EXPECT_EQ(path.joined(), "a/b/c.txt");
  EXPECT_EQ(path.parent(), "a/b");
  EXPECT_EQ(path.name(), "c.txt");
  ASSERT_TRUE(staging::ParseMemberPath("/etc/passwd", {}, &path).ok());
  EXPECT_TRUE(path.stripped_leading_slash);
  EXPECT_EQ(path.joined(), "etc/passwd");
  ASSERT_TRUE(staging::ParseMemberPath("./", {}, &path).ok());
  EXPECT_TRUE(path.is_root());
  for (const char* bad : {"../x", "a/../../x", "a/..", ".."}) {
    EXPECT_FALSE(staging::ParseMemberPath(bad, {}, &path).ok()) << bad;
  }
  EXPECT_FALSE(staging::ParseMemberPath(std::string("a\0b", 3), {}, &path).ok());
  EXPECT_FALSE(staging::ParseMemberPath(std::string(5000, 'x'), {}, &path).ok());
  EXPECT_FALSE(staging::ParseMemberPath("a/b/c/d", {4096, 3}, &path).ok());
  // The limits are inclusive: exactly the longest and the deepest name allowed pass.
  EXPECT_TRUE(staging::ParseMemberPath("a/b/c", {4096, 3}, &path).ok());
  EXPECT_TRUE(staging::ParseMemberPath("abcdefghij", {10, 3}, &path).ok());
  EXPECT_FALSE(staging::ParseMemberPath("abcdefghijk", {10, 3}, &path).ok());
}

TEST(MemberPathTest, SymlinkTargetsMustResolveBeneathTheRoot) {
  staging::MemberPath link;
  ASSERT_TRUE(staging::ParseMemberPath("a/b/link", {}, &link).ok());
  EXPECT_TRUE(staging::SymlinkTargetStaysBeneath(link, "target"));
  EXPECT_TRUE(staging::SymlinkTargetStaysBeneath(link, "../../x"));
  EXPECT_FALSE(staging::SymlinkTargetStaysBeneath(link, "../../../x"));
  EXPECT_FALSE(staging::SymlinkTargetStaysBeneath(link, "/etc/passwd"));
  EXPECT_FALSE(staging::SymlinkTargetStaysBeneath(link, "c/../../../../x"));
  // '..' only as a leading run: after a named component (which may itself be a link) never,
  // however shallow; '.' names nothing and changes nothing.
  staging::MemberPath shallow;
  ASSERT_TRUE(staging::ParseMemberPath("d/link", {}, &shallow).ok());
  EXPECT_FALSE(staging::SymlinkTargetStaysBeneath(shallow, "a/../b"));
  EXPECT_TRUE(staging::SymlinkTargetStaysBeneath(shallow, "./../x"));
  EXPECT_TRUE(staging::SymlinkTargetStaysBeneath(shallow, "../x/./y"));
  EXPECT_FALSE(staging::SymlinkTargetStaysBeneath(shallow, ""));
}

// The rules every member reader applies, without a filesystem: what extraction refuses on disk
// (through openat2's RESOLVE_BENEATH or the walk), the reading in place refuses by name alone.
TEST(MemberRuleCheckerTest, AMemberBeneathAnEarlierSymlinkIsRefusedUntilTheLinkIsReplaced) {
  using Kind = staging::MemberRuleChecker::Kind;
  staging::MemberRuleChecker rules;
  staging::MemberPath path;
  ASSERT_TRUE(rules.Check("x/y", Kind::kSymlink, "z", &path).ok());
  ASSERT_TRUE(rules.Check("a", Kind::kSymlink, "b", &path).ok());
  staging::Status through = rules.Check("a/file", Kind::kOther, "", &path);
  EXPECT_FALSE(through.ok());
  EXPECT_THAT(through.message(), ::testing::HasSubstr("'a' is not a directory"));
  staging::Status deeper = rules.Check("x/y/z/file", Kind::kOther, "", &path);
  EXPECT_FALSE(deeper.ok());
  EXPECT_THAT(deeper.message(), ::testing::HasSubstr("'x/y' is not a directory"));
  EXPECT_TRUE(rules.Check("x/other", Kind::kOther, "", &path).ok()) << "x itself is a directory";
  // The link's own name again replaces it: a directory of that name may then hold members.
  EXPECT_TRUE(rules.Check("a", Kind::kDirectory, "", &path).ok());
  EXPECT_TRUE(rules.Check("a/file", Kind::kOther, "", &path).ok());
}

TEST(MemberRuleCheckerTest, NamesAndTargetsFollowTheRules) {
  using Kind = staging::MemberRuleChecker::Kind;
  staging::MemberRuleChecker rules;
  staging::MemberPath path;
  EXPECT_TRUE(rules.Check("./", Kind::kDirectory, "", &path).ok()) << "the root, as a directory";
  EXPECT_FALSE(rules.Check("./", Kind::kOther, "", &path).ok()) << "the root cannot be a file";
  EXPECT_FALSE(rules.Check(".stage/manifest", Kind::kOther, "", &path).ok());
  EXPECT_FALSE(rules.Check("l", Kind::kSymlink, "../out", &path).ok());
  EXPECT_FALSE(rules.Check("../x", Kind::kOther, "", &path).ok());
  EXPECT_TRUE(rules.Check("d/l", Kind::kSymlink, "../file", &path).ok());
  EXPECT_EQ(path.joined(), "d/l");
}

// --- every decoder behind the one interface ---

class DecoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Text-like and random runs, 40 MiB: several gzip restart points, several packed frames.
    std::mt19937 rng(7);
    for (int run = 0; run < 40; ++run) {
      std::string chunk(1 << 20, '\0');
      for (size_t i = 0; i < chunk.size(); ++i) {
        chunk[i] =
            run % 2 ? static_cast<char>(rng()) : static_cast<char>('a' + (i * 31 + run) % 26);
      }
      original_ += chunk;
    }
  }

  // Runs `choice`'s decoder over `file` through the pipeline's queues.
  std::string Decode(const fs::path& file, staging::DecoderChoice choice,
                     std::unique_ptr<staging::Decoder>* kept = nullptr) {
    common::UniqueFd fd(open(file.c_str(), O_RDONLY | O_CLOEXEC));
    choice.fd = fd.get();
    choice.size = fs::file_size(file);
    std::unique_ptr<staging::Decoder> decoder = staging::MakeDecoder(choice);
    std::string out;
    Status status = CollectDecodedFromFile(
        fd.get(),
        [&](BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& decoded) {
          return decoder->Run(in, decoded);
        },
        &out);
    EXPECT_TRUE(status.ok()) << status.message();
    if (kept) *kept = std::move(decoder);
    return out;
  }

  // `stage pack` of a tree holding original_ as one file, into packed.tar.zst.
  bool PackOriginal(uint64_t frame_bytes) {
    WriteFile(dir_ / "tree/data.bin", original_);
    staging::PackOptions options;
    options.from = (dir_ / "tree").string();
    options.to = (dir_ / "packed.tar.zst").string();
    options.frame_bytes = frame_bytes;
    return staging::Pack(options).status.ok();
  }

  TempDir dir_;
  std::string original_;
};

TEST_F(DecoderTest, SequentialGzipAndZstdAndPassThrough) {
  WriteFile(dir_ / "data.gz", Gzip(original_));
  WriteFile(dir_ / "data.zst", Zstd(original_));
  WriteFile(dir_ / "data.xz",
            "\xfd"
            "7zXZ" +
                std::string(1, '\0') + "not really xz, passed on as is");
  for (auto [file, codec] : {std::pair{"data.gz", staging::Codec::kGzip},
                             std::pair{"data.zst", staging::Codec::kZstd}}) {
    staging::DecoderChoice choice;
    choice.codec = codec;
    EXPECT_TRUE(Decode(dir_ / file, choice) == original_) << file;
    EXPECT_EQ(staging::LeftForLibarchive(codec), staging::Codec::kNone);
  }
  staging::DecoderChoice xz;
  xz.codec = staging::Codec::kXz;
  EXPECT_EQ(Decode(dir_ / "data.xz", xz), ReadFile(dir_ / "data.xz"));
  EXPECT_EQ(staging::LeftForLibarchive(staging::Codec::kXz), staging::Codec::kXz);
}

TEST_F(DecoderTest, PackedZstdDecodesFrameParallel) {
  ASSERT_TRUE(PackOriginal(4 << 20));
  staging::DecoderChoice choice;
  choice.codec = staging::Codec::kZstd;
  std::unique_ptr<staging::Decoder> decoder;
  const std::string tar = Decode(dir_ / "packed.tar.zst", choice, &decoder);
  EXPECT_NE(dynamic_cast<staging::ParallelZstdDecoder*>(decoder.get()), nullptr);
  EXPECT_NE(tar.find(original_.substr(0, 4096)), std::string::npos);
  choice.parallel = false;
  EXPECT_TRUE(Decode(dir_ / "packed.tar.zst", choice) == tar) << "sequentially, the same bytes";
}

// The packed archive's frame starts are where its source blocks end: read through a reader that
// honours them, every frame arrives whole and the output is the same.
TEST_F(DecoderTest, PackedZstdFramesArriveWholeInBlocksCutAtTheirStarts) {
  ASSERT_TRUE(PackOriginal(1 << 20));
  const fs::path packed = dir_ / "packed.tar.zst";
  common::UniqueFd fd(open(packed.c_str(), O_RDONLY | O_CLOEXEC));
  staging::DecoderChoice choice;
  choice.codec = staging::Codec::kZstd;
  choice.fd = fd.get();
  choice.size = fs::file_size(packed);
  std::unique_ptr<staging::Decoder> decoder = staging::MakeDecoder(choice);
  auto* parallel = dynamic_cast<staging::ParallelZstdDecoder*>(decoder.get());
  ASSERT_NE(parallel, nullptr);
  const std::vector<uint64_t> cuts = decoder->read_cuts();
  ASSERT_EQ(cuts.size(), parallel->frame_count() + 1);
  EXPECT_EQ(cuts.front(), 0u);
  EXPECT_TRUE(std::is_sorted(cuts.begin(), cuts.end()));
  EXPECT_LT(cuts.back(), choice.size);  // the seek table follows the last frame

  BlockPool pool(6, 4 << 20);
  std::unique_ptr<staging::SourceReader> reader =
      staging::MakeSourceReader(staging::IoKind::kPlain, fd.get(), choice.size, pool, 1, cuts);
  std::vector<uint64_t> starts;
  std::string out;
  Status status = CollectDecoded(
      [&](BlockPool&, BoundedQueue<BlockRef>& decoded) {
        BoundedQueue<BlockRef> in(6);
        std::thread feed([&] {
          BlockRef block;
          while (reader->Next(block).ok() && block) {
            starts.push_back(block->offset);
            if (!in.Push(std::move(block))) return;
          }
          in.Close();
        });
        Status decoded_status = decoder->Run(in, decoded);
        in.Fail();
        feed.join();
        return decoded_status;
      },
      &out);
  ASSERT_TRUE(status.ok()) << status.message();
  choice.parallel = false;
  EXPECT_TRUE(out == Decode(packed, choice)) << "the same bytes as a sequential decode";
  for (uint64_t start : starts) {
    EXPECT_TRUE(std::binary_search(cuts.begin(), cuts.end(), start))
        << "a block began at " << start;
  }
}

TEST(SourceReaderTest, BlockEndStopsAtTheLastCutItReaches) {
  const std::vector<uint64_t> cuts = {0, 100, 70000, 70001, 300000};
  EXPECT_EQ(staging::BlockEnd(0, 131072, 1 << 20, {}), 131072u);
  EXPECT_EQ(staging::BlockEnd(0, 131072, 1000, {}), 1000u);
  EXPECT_EQ(staging::BlockEnd(0, 131072, 1 << 20, cuts), 70001u);
  EXPECT_EQ(staging::BlockEnd(70001, 131072, 1 << 20, cuts), 70001u + 131072);  // none reached
  EXPECT_EQ(staging::BlockEnd(200000, 100000, 1 << 20, cuts), 300000u);         // a cut at the end
  EXPECT_EQ(staging::BlockEnd(300000, 131072, 350000, cuts), 350000u);
}

class SourceReaderKinds : public ::testing::TestWithParam<staging::IoKind> {};

TEST_P(SourceReaderKinds, ReadsTheWholeFileInBlocksEndingAtTheCuts) {
  if (GetParam() == staging::IoKind::kUring && !staging::UringAvailable()) {
    GTEST_SKIP() << "io_uring unavailable: " << staging::UringUnavailableReason();
  }
  TempDir dir;
  std::string content(1'000'003, '\0');
  std::mt19937 rng(5);
  for (char& c : content) c = static_cast<char>(rng());
  WriteFile(dir / "source", content);
  common::UniqueFd fd(open((dir / "source").c_str(), O_RDONLY | O_CLOEXEC));
  const std::vector<uint64_t> cuts = {0, 100, 70000, 70001, 300000, 999999};
  BlockPool pool(8, 131072);
  std::unique_ptr<staging::SourceReader> reader =
      staging::MakeSourceReader(GetParam(), fd.get(), content.size(), pool, 4, cuts);
  if (GetParam() == staging::IoKind::kAuto &&
      staging::SourceInPageCache(fd.get(), content.size())) {
    EXPECT_STREQ(reader->how(), "mapped") << "just written, so in the page cache";
  }
  std::string read;
  std::vector<uint64_t> ends;
  BlockRef block;
  while (true) {
    ASSERT_TRUE(reader->Next(block).ok());
    if (!block) break;
    ASSERT_EQ(block->offset, read.size());
    read.append(reinterpret_cast<const char*>(block->bytes()), block->size);
    ends.push_back(read.size());
  }
  EXPECT_TRUE(read == content);
  const std::vector<uint64_t> expected = {70001,  201073, 300000, 431072, 562144,
                                          693216, 824288, 955360, 999999, 1000003};
  EXPECT_EQ(ends, expected);
}

INSTANTIATE_TEST_SUITE_P(Kinds, SourceReaderKinds,
                         ::testing::Values(staging::IoKind::kPlain, staging::IoKind::kUring,
                                           staging::IoKind::kAuto),
                         [](const auto& info) {
                           if (info.param == staging::IoKind::kAuto) return "auto";
                           return info.param == staging::IoKind::kPlain ? "plain" : "io_uring";
                         });

// Mapping a cached source spares a copy, but where page faults are dear (a hypervisor that
// shadows page tables) it costs more than the copy. A source of 16 blocks or more is read both
// ways in turn for its first four blocks; the cheaper way, whichever it is here, reads the rest.
TEST(SourceReaderTrial, ALongCachedSourceIsReadBothWaysFirstThenTheCheaperWay) {
  TempDir dir;
  std::string content((2 << 20) + 3, '\0');
  std::mt19937 rng(11);
  for (char& c : content) c = static_cast<char>(rng());
  WriteFile(dir / "source", content);
  common::UniqueFd fd(open((dir / "source").c_str(), O_RDONLY | O_CLOEXEC));
  if (!staging::SourceInPageCache(fd.get(), content.size())) {
    GTEST_SKIP() << "the kernel cannot say the file is cached (no cachestat): it is not mapped";
  }
  BlockPool pool(4, 64 << 10);
  std::unique_ptr<staging::SourceReader> reader =
      staging::MakeSourceReader(staging::IoKind::kAuto, fd.get(), content.size(), pool, 4);
  std::string read, kinds;  // 'm' for a mapped block, 'r' for a read one
  BlockRef block;
  while (true) {
    ASSERT_TRUE(reader->Next(block).ok());
    if (!block) break;
    read.append(reinterpret_cast<const char*>(block->bytes()), block->size);
    kinds.push_back(block->view ? 'm' : 'r');
  }
  EXPECT_TRUE(read == content);
  ASSERT_EQ(kinds.size(), 33u);
  EXPECT_EQ(kinds.substr(0, 4), "rmrm") << "the trial: read, mapped, read, mapped";
  const char chosen = kinds[4];
  EXPECT_EQ(kinds.substr(4), std::string(29, chosen)) << "one way after the trial: " << kinds;
  EXPECT_STREQ(reader->how(), chosen == 'm' ? "mapped" : "plain");
}

// A mapped source that another process cuts short: its lost pages read as zeros instead of
// killing the process with SIGBUS, the reader says so, and the next block is an error.
class MappedSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    content_.resize(3 << 20);
    std::mt19937 rng(9);
    for (char& c : content_) c = static_cast<char>(rng() | 1);  // no zero byte
    WriteFile(dir_ / "source", content_);
    fd_.reset(open((dir_ / "source").c_str(), O_RDONLY | O_CLOEXEC));
  }
  // A reader that maps, on any kernel (forced: without cachestat the default would not).
  std::unique_ptr<staging::SourceReader> MappedReader(BlockPool& pool) {
    return staging::MakeSourceReader(staging::IoKind::kAuto, fd_.get(), content_.size(), pool, 4,
                                     {}, staging::SourceReads::kMapped);
  }
  // Cuts the file to `size` bytes, as another process's truncate would.
  void Shrink(off_t size) { ASSERT_EQ(truncate((dir_ / "source").c_str(), size), 0); }

  TempDir dir_;
  std::string content_;
  common::UniqueFd fd_;
};

TEST_F(MappedSourceTest, LostPagesReadAsZerosAndTheNextBlockFails) {
  BlockPool pool(4, 1 << 20);
  std::unique_ptr<staging::SourceReader> reader = MappedReader(pool);
  ASSERT_STREQ(reader->how(), "mapped");
  ASSERT_NE(reader->lost(), nullptr);
  BlockRef first;
  ASSERT_TRUE(reader->Next(first).ok());
  ASSERT_EQ(first->size, 1u << 20);
  EXPECT_FALSE(reader->lost()->load());
  Shrink(8192);
  const char* bytes = reinterpret_cast<const char*>(first->bytes());
  EXPECT_EQ(std::string(bytes, 8192), content_.substr(0, 8192)) << "what is left is still there";
  EXPECT_EQ(std::count(bytes + 8192, bytes + first->size, '\0'), first->size - 8192)
      << "the lost pages read as zeros";
  EXPECT_TRUE(reader->lost()->load());
  BlockRef second;
  Status status = reader->Next(second);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("file ended at byte 8192"), std::string::npos)
      << status.message();
}

// The pipeline fails a staging whose source lost pages after they were read, where the process
// would otherwise have died, or written zeros into files and called them done.
TEST_F(MappedSourceTest, APipelineWhoseSourceShrankAfterItsLastReadFails) {
  staging::DecoderChoice choice;
  choice.fd = fd_.get();
  choice.size = content_.size();
  staging::Pipeline pipeline(staging::IoKind::kAuto, 1, fd_.get(), content_.size(),
                             staging::MakeDecoder(choice));
  pipeline.set_source_reads(staging::SourceReads::kMapped);
  pipeline.set_on_read([&](const staging::Block& block) {
    if (block.offset + block.size == content_.size()) Shrink(0);
  });
  uint64_t zeros = 0, seen = 0;
  Status status = pipeline.Run([&](BoundedQueue<BlockRef>& decoded, staging::EntryWriter&) {
    while (std::optional<BlockRef> block = decoded.Pop()) {
      const char* bytes = reinterpret_cast<const char*>((*block)->bytes());
      zeros += std::count(bytes, bytes + (*block)->size, '\0');
      seen += (*block)->size;
    }
    return Status::Ok();
  });
  EXPECT_STREQ(pipeline.source_reads(), "mapped");
  EXPECT_EQ(seen, content_.size());
  EXPECT_GT(zeros, 0u) << "the last block was touched after the file shrank";
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("file shrank while staging"), std::string::npos)
      << status.message();
}

// A SIGBUS that is not a window's still ends the process, as if no handler were installed: a
// fault in another mapping, and a signal sent to the process.
TEST_F(MappedSourceTest, OtherBusErrorsStillEndTheProcess) {
  BlockPool pool(1, 1 << 20);
  std::unique_ptr<staging::SourceReader> reader =
      staging::MakeSourceReader(staging::IoKind::kAuto, fd_.get(), content_.size(), pool, 1);
  BlockRef block;
  ASSERT_TRUE(reader->Next(block).ok());  // the handler is installed with the first window
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        void* other = mmap(nullptr, 1 << 20, PROT_READ, MAP_SHARED, fd_.get(), 1 << 20);
        if (other == MAP_FAILED) _exit(3);
        if (truncate((dir_ / "source").c_str(), 0) != 0) _exit(4);
        volatile char touched = static_cast<const char*>(other)[100];
        (void)touched;
        _exit(5);
      },
      ::testing::KilledBySignal(SIGBUS), "");
  EXPECT_EXIT(raise(SIGBUS), ::testing::KilledBySignal(SIGBUS), "");
}

TEST_F(DecoderTest, GzipRecordsItsIndexThenInflatesFromItInParallel) {
  const fs::path archive = dir_ / "data.gz";
  WriteFile(archive, Gzip(original_));
  common::UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
  staging::SourceIdentity identity;
  ASSERT_TRUE(staging::IdentifySource(fd.get(), archive.string(), &identity).ok());
  const std::string index_path = archive.string() + ".idx";
  staging::GzipIndexWriter writer(index_path, identity);
  staging::DecoderChoice choice;
  choice.codec = staging::Codec::kGzip;
  choice.restart_points = &writer;
  ASSERT_TRUE(Decode(archive, choice) == original_);
  ASSERT_TRUE(writer.Commit());
  staging::GzipIndex index;
  ASSERT_TRUE(staging::LoadGzipIndex(index_path, identity, &index));
  EXPECT_GE(index.points, 2u);
  choice.restart_points = nullptr;
  choice.gzip_index = &index;
  std::unique_ptr<staging::Decoder> decoder;
  EXPECT_TRUE(Decode(archive, choice, &decoder) == original_);
  EXPECT_NE(dynamic_cast<staging::IndexedGzipDecoder*>(decoder.get()), nullptr);
}

// --- the file layer ---

TEST(FileLayerTest, AtomicFileReplacesOnlyOnCommitAndLeavesNoTemporary) {
  TempDir dir;
  WriteFile(dir / "f", "old");
  {
    common::AtomicFile file((dir / "f").string());
    ASSERT_GE(file.fd(), 0) << file.error();
    ASSERT_EQ(file.Write("half-written"), "");
  }  // dropped uncommitted
  EXPECT_EQ(ReadFile(dir / "f"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  {
    common::AtomicFile file((dir / "f").string());
    ASSERT_EQ(file.Write("new"), "");
    ASSERT_EQ(file.Commit(), "");
  }
  EXPECT_EQ(ReadFile(dir / "f"), "new");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  common::AtomicFile nowhere((dir / "missing/f").string());
  EXPECT_LT(nowhere.fd(), 0);
  EXPECT_NE(nowhere.error().find("cannot create"), std::string::npos);
  EXPECT_FALSE(nowhere.Commit().empty());
}

TEST(FileLayerTest, ListDirectoryListsEveryNameOrFails) {
  TempDir dir;
  for (int i = 0; i < 500; ++i) WriteFile(dir / ("n" + std::to_string(i)), "");
  common::UniqueFd fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  std::vector<std::string> names;
  ASSERT_EQ(common::ListDirectory(fd.get(), &names), 0);
  EXPECT_EQ(names.size(), 500u);
  common::UniqueFd file(open((dir / "n0").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(common::ListDirectory(file.get(), &names), ENOTDIR);
  EXPECT_EQ(common::JoinPath("", "b"), "b");
  EXPECT_EQ(common::JoinPath("a", ""), "a");
  EXPECT_EQ(common::JoinPath("a", "b"), "a/b");
}

}  // namespace
}  // namespace staging_test

namespace staging_test {
namespace {

TEST(HumanUnits, SizesHaveThreeSignificantDigitsInDecimalUnits) {
  EXPECT_EQ(common::HumanBytes(0), "0 B");
  EXPECT_EQ(common::HumanBytes(999), "999 B");
  EXPECT_EQ(common::HumanBytes(1000), "1.00 kB");
  EXPECT_EQ(common::HumanBytes(1234567), "1.23 MB");
  EXPECT_EQ(common::HumanBytes(12'345'678), "12.3 MB");
  EXPECT_EQ(common::HumanBytes(999'499), "999 kB");
  EXPECT_EQ(common::HumanBytes(999'500), "1.00 MB");  // never "1000 kB"
  EXPECT_EQ(common::HumanBytes(1'200'000'000'000), "1.20 TB");
  EXPECT_EQ(common::HumanBytes(UINT64_MAX), "18.4 EB");
  EXPECT_EQ(common::HumanRate(0), "0 B/s");
  EXPECT_EQ(common::HumanRate(512e6), "512 MB/s");
}

TEST(HumanUnits, DurationsAndCounts) {
  EXPECT_EQ(common::HumanSeconds(0), "0 s");
  EXPECT_EQ(common::HumanSeconds(-3), "0 s");
  EXPECT_EQ(common::HumanSeconds(0.0123), "0.012 s");
  EXPECT_EQ(common::HumanSeconds(0.123), "0.12 s");
  EXPECT_EQ(common::HumanSeconds(1.25), "1.2 s");
  EXPECT_EQ(common::HumanSeconds(59.9), "59.9 s");
  EXPECT_EQ(common::HumanSeconds(125), "2 min 05 s");
  EXPECT_EQ(common::HumanSeconds(3720), "1 h 02 min");
  EXPECT_EQ(common::Counted(1, "file", "files"), "1 file");
  EXPECT_EQ(common::Counted(0, "file", "files"), "0 files");
  EXPECT_EQ(common::Counted(2, "try", "tries"), "2 tries");
}

}  // namespace
}  // namespace staging_test
