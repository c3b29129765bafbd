// The parallel writer: files spread over worker threads arrive whole, with their modes and times;
// every block is released; the first error of any worker is reported and no worker begins another
// file after it; an
// abandoned writer neither hangs nor leaks blocks.
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/block.h"
#include "common/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "io/entry_writer.h"
#include "staging/io_backend.h"
#include "test_support.h"

namespace staging_test {
namespace {

using ::testing::HasSubstr;

constexpr size_t kBlockSize = 64 << 10;
constexpr size_t kBlocks = 16;

std::string Contents(size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// Writes each file through `writer` in blocks of the pool, as the tar parser hands them on:
// a block is reused as soon as every write that holds it has landed.
class Feeder {
 public:
  Feeder(staging::EntryWriter& writer, int dirfd) : writer_(writer), dirfd_(dirfd) {}

  staging::Status Write(const std::string& name, const std::string& data, mode_t mode,
                        time_t mtime) {
    STAGING_RETURN_IF_ERROR(
        writer_.BeginFile(dirfd_, name, "entry '" + name + "'", mode, data.size(), {mtime, 0}));
    for (size_t at = 0; at < data.size(); at += kBlockSize) {
      staging::BlockRef block = pool_.Acquire();
      size_t n = std::min(kBlockSize, data.size() - at);
      std::memcpy(block->data, data.data() + at, n);
      block->size = n;
      STAGING_RETURN_IF_ERROR(writer_.Append(block, block->data, n));
    }
    return writer_.EndFile();
  }

  // True when every block is back in the pool.
  bool AllBlocksFree() {
    std::vector<staging::BlockRef> held;
    for (size_t i = 0; i < kBlocks; ++i) {
      std::optional<staging::BlockRef> block = pool_.TryAcquire();
      if (!block) return false;
      held.push_back(std::move(*block));
    }
    return true;
  }

 private:
  staging::EntryWriter& writer_;
  int dirfd_;
  staging::BlockPool pool_{kBlocks, kBlockSize};
};

class ParallelWriterTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam() && !staging::UringAvailable()) {
      GTEST_SKIP() << "io_uring unavailable: " << staging::UringUnavailableReason();
    }
    dir_.reset(open(tmp_.path().c_str(), O_RDONLY | O_DIRECTORY));
  }
  std::unique_ptr<staging::EntryWriter> MakeWriter(unsigned threads) {
    bool ring = GetParam();
    return staging::MakeParallelWriter(threads, [ring]() -> std::unique_ptr<staging::EntryWriter> {
      return ring ? staging::MakeUringWriter() : staging::MakePlainWriter();
    });
  }
  TempDir tmp_;
  common::UniqueFd dir_;
};

TEST_P(ParallelWriterTest, EveryFileArrivesWholeWithItsModeAndTime) {
  std::unique_ptr<staging::EntryWriter> writer = MakeWriter(3);
  Feeder feeder(*writer, dir_.get());
  std::vector<std::string> contents;
  // Empty, small, several blocks, and one above the small-file limit of the ring writer.
  for (int i = 0; i < 200; ++i) {
    size_t size = i == 7 ? (3 << 20) / 2 : (i * 7919) % (300 << 10);
    contents.push_back(Contents(size, i));
    staging::Status status =
        feeder.Write("f" + std::to_string(i), contents.back(), i % 2 ? 0640 : 0755, 1600000000 + i);
    ASSERT_TRUE(status.ok()) << status.message();
  }
  staging::Status status = writer->Drain();
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_TRUE(feeder.AllBlocksFree());
  for (int i = 0; i < 200; ++i) {
    fs::path path = tmp_ / ("f" + std::to_string(i));
    ASSERT_EQ(ReadFile(path), contents[i]) << path;
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, i % 2 ? 0640u : 0755u) << path;
    EXPECT_EQ(st.st_mtim.tv_sec, 1600000000 + i) << path;
  }
  staging::WriterCounts counts = writer->counts();
  EXPECT_EQ(counts.ring_files + counts.redone_files + counts.plain_files, 200u);
  EXPECT_EQ(counts.redone_files, 0u);
  EXPECT_EQ(GetParam() ? counts.ring_files : counts.plain_files, 200u);
}

TEST_P(ParallelWriterTest, TheFirstErrorStopsEveryWorkerAndNamesTheFile) {
  std::unique_ptr<staging::EntryWriter> writer = MakeWriter(2);
  Feeder feeder(*writer, dir_.get());
  WriteFile(tmp_ / "f5", "already there");  // exclusive creation refuses it
  staging::Status status;
  for (int i = 0; i < 50 && status.ok(); ++i) {
    status = feeder.Write("f" + std::to_string(i), Contents(1000, i), 0644, 1600000000);
  }
  staging::Status drained = writer->Drain();
  ASSERT_FALSE(drained.ok());
  EXPECT_THAT(drained.message(), HasSubstr("entry 'f5'"));
  EXPECT_EQ(drained.error_number(), EEXIST);
  EXPECT_EQ(ReadFile(tmp_ / "f5"), "already there");
  EXPECT_TRUE(feeder.AllBlocksFree());
}

// What the workers of one writer share in the test below: a gate every file but "bad" waits at
// before it is begun, and how many files got past it.
struct Gate {
  std::mutex mu;
  std::condition_variable opened;
  bool open = false;
  int begun = 0;  // files other than "bad" handed to a worker's own writer
};

// A worker's writer that fails the file named "bad" at once and holds every other file at the
// gate, then hands it to the real writer.
class GatedWriter : public staging::EntryWriter {
 public:
  GatedWriter(std::unique_ptr<staging::EntryWriter> inner, Gate& gate)
      : inner_(std::move(inner)), gate_(gate) {}
  staging::Status BeginFile(int dirfd, const std::string& name, const std::string& label,
                            mode_t mode, uint64_t size, const timespec& mtime) override {
    if (name == "bad") return staging::Status::Error(label + ": refused by the test", EIO);
    {
      std::unique_lock lock(gate_.mu);
      ++gate_.begun;
      gate_.opened.wait(lock, [&] { return gate_.open; });
    }
    return inner_->BeginFile(dirfd, name, label, mode, size, mtime);
  }
  staging::Status Append(const staging::BlockRef& owner, const std::byte* data,
                         size_t len) override {
    return inner_->Append(owner, data, len);
  }
  staging::Status EndFile() override { return inner_->EndFile(); }
  staging::Status Drain() override { return inner_->Drain(); }
  staging::Status Poll() override { return inner_->Poll(); }
  bool Busy() const override { return inner_->Busy(); }
  staging::WriterCounts counts() const override { return inner_->counts(); }

 private:
  std::unique_ptr<staging::EntryWriter> inner_;
  Gate& gate_;
};

TEST_P(ParallelWriterTest, AfterTheFirstErrorNoWorkerBeginsAnotherFile) {
  constexpr unsigned kWorkers = 3;
  constexpr int kFiles = 60;
  Gate gate;
  bool ring = GetParam();
  std::unique_ptr<staging::EntryWriter> writer =
      staging::MakeParallelWriter(kWorkers, [&]() -> std::unique_ptr<staging::EntryWriter> {
        return std::make_unique<GatedWriter>(
            ring ? staging::MakeUringWriter() : staging::MakePlainWriter(), gate);
      });
  Feeder feeder(*writer, dir_.get());
  // Empty files hold no block, so every operation stays in its worker's unsent batch until Flush
  // hands each worker one batch: "bad" first, so that its worker fails at once while every other
  // worker is held at the gate with its first file (or has not reached it yet).
  ASSERT_TRUE(feeder.Write("bad", "", 0644, 0).ok());
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_TRUE(feeder.Write("f" + std::to_string(i), "", 0644, 0).ok());
  }
  writer->Flush();
  // Wait until the failure is recorded; the deadline fails the test rather than hanging it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (writer->Poll().ok()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the failure of 'bad' never showed";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  {
    std::lock_guard lock(gate.mu);
    gate.open = true;
  }
  gate.opened.notify_all();
  staging::Status drained = writer->Drain();
  ASSERT_FALSE(drained.ok());
  EXPECT_THAT(drained.message(), HasSubstr("entry 'bad': refused by the test"));
  // At most the one file each other worker was holding at the gate when "bad" failed; without
  // the stop, all 60 would be begun.
  EXPECT_LE(gate.begun, static_cast<int>(kWorkers) - 1);
  int created = 0;
  for (int i = 0; i < kFiles; ++i) created += fs::exists(tmp_ / ("f" + std::to_string(i)));
  // The io_uring writer creates a small file only at its end, which the stop skips.
  EXPECT_LE(created, gate.begun);
  writer.reset();
  EXPECT_TRUE(feeder.AllBlocksFree());
}

TEST_P(ParallelWriterTest, AnAbandonedWriterReleasesItsBlocks) {
  auto feeder_writer = MakeWriter(2);
  Feeder feeder(*feeder_writer, dir_.get());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(feeder.Write("f" + std::to_string(i), Contents(100 << 10, i), 0644, 0).ok());
  }
  feeder_writer.reset();  // no Drain: as when the parser fails midway
  EXPECT_TRUE(feeder.AllBlocksFree());
}

INSTANTIATE_TEST_SUITE_P(Backends, ParallelWriterTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "io_uring" : "plain"; });

}  // namespace
}  // namespace staging_test
