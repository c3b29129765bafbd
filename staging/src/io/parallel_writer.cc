// The parallel writer: file creation on several cores. GNU tar creates every file on one thread,
// and so did staging; yet creating a file and copying its bytes into the page cache is kernel work
// that runs on whichever core asks for it. Here the caller (the tar parser) only hands each file's
// operations to one of N worker threads, each with an EntryWriter of its own (its own io_uring,
// or plain calls), and goes on parsing.
//
// Order: a file goes whole to one worker, chosen by its directory and name, so two entries of one
// name reach the same worker in archive order. Everything else that must follow earlier files
// (replacing a name, a hard link to an earlier file, closing a directory) already calls Drain(),
// which here waits for every worker.
//
// MakeEntryWriter puts it together: how many workers, and whether each writes through an
// io_uring of its own or with plain calls.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/bounded_queue.h"
#include "io/entry_writer.h"
#include "staging/io_backend.h"

namespace staging {
namespace {

// Operations reach a worker in batches: one hand-over (a lock, and a futex call and two context
// switches whenever the worker was asleep) per batch, not per operation. Handed over one by one,
// the Linux tree's 84,000 small files cost 26,000-44,000 context switches; in batches, 7,400. A
// batch goes when it holds kBatchOperations operations or kBatchBytes bytes, before an Append of a
// block other than the one it already holds bytes of, and whenever the caller is about to wait
// (Flush, Drain). So a batch not yet handed over pins at most one block: a caller waiting for a
// free block of its pool is never waiting on a batch. (Batches of 64 KiB staged the Pets set 8%
// slower than batches of 256 KiB, and 1 MiB a little faster again.)
constexpr size_t kBatchOperations = 128;
constexpr size_t kBatchBytes = 1 << 20;
// Batches queued per worker: each Append holds a decoded block, so this and the decoder's pool
// together bound memory; more only lets a worker run further behind the parser.
constexpr size_t kQueuedBatches = 4;

struct Operation {
  enum Kind { kBegin, kAppend, kEnd, kDrain } kind;
  // kBegin
  int dirfd = -1;
  std::string name, label;
  mode_t mode = 0;
  uint64_t size = 0;
  timespec mtime{};
  // kAppend
  BlockRef owner;
  const std::byte* data = nullptr;
  size_t len = 0;
};

using Batch = std::vector<Operation>;

class ParallelWriter : public EntryWriter {
 public:
  ParallelWriter(unsigned threads, const std::function<std::unique_ptr<EntryWriter>()>& make) {
    workers_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) {
      workers_.push_back(std::make_unique<Worker>(make()));
    }
    for (auto& worker : workers_) {
      worker->thread = std::thread([this, w = worker.get()] { Run(*w); });
    }
  }

  ~ParallelWriter() override {
    // After Drain() nothing is queued; on an abort whatever is still queued is dropped (its
    // blocks released) and each worker's own writer finishes what it has in flight.
    for (auto& worker : workers_) worker->queue.Fail();
    for (auto& worker : workers_) worker->thread.join();
  }

  Status BeginFile(int dirfd, const std::string& name, const std::string& label, mode_t mode,
                   uint64_t size, const timespec& mtime) override {
    size_t key = std::hash<std::string>{}(name) ^ (static_cast<size_t>(dirfd) * 0x9e3779b97f4a7c15);
    current_ = workers_[key % workers_.size()].get();
    Operation op{Operation::kBegin};
    op.dirfd = dirfd;
    op.name = name;
    op.label = label;
    op.mode = mode;
    op.size = size;
    op.mtime = mtime;
    Add(*current_, std::move(op));
    return FirstError();
  }

  Status Append(const BlockRef& owner, const std::byte* data, size_t len) override {
    Operation op{Operation::kAppend};
    op.owner = owner;
    op.data = data;
    op.len = len;
    Add(*current_, std::move(op));
    return FirstError();
  }

  Status EndFile() override {
    Add(*current_, Operation{Operation::kEnd});
    return FirstError();
  }

  void Flush() override {
    for (auto& worker : workers_) Hand(*worker);
  }

  Status Drain() override {
    {
      std::lock_guard lock(mu_);
      drains_pending_ = workers_.size();
    }
    for (auto& worker : workers_) {
      worker->batch.push_back(Operation{Operation::kDrain});
      Hand(*worker);
    }
    std::unique_lock lock(mu_);
    drained_.wait(lock, [&] { return drains_pending_ == 0; });
    return first_error_;
  }

  Status Poll() override { return FirstError(); }
  // Workers finish their files on their own: the caller never has to pump them.
  bool Busy() const override { return false; }

  WriterCounts counts() const override {
    std::lock_guard lock(mu_);
    WriterCounts sum;
    for (const auto& worker : workers_) {
      sum.ring_files += worker->counts.ring_files;
      sum.redone_files += worker->counts.redone_files;
      sum.plain_files += worker->counts.plain_files;
    }
    return sum;
  }

 private:
  struct Worker {
    explicit Worker(std::unique_ptr<EntryWriter> w) : writer(std::move(w)) {}
    std::unique_ptr<EntryWriter> writer;
    Batch batch;  // the parser's, not yet handed over
    size_t batch_bytes = 0;
    const Block* batch_block = nullptr;  // the block its Appends hold, if any
    BoundedQueue<Batch> queue{kQueuedBatches};
    std::thread thread;
    WriterCounts counts;    // as of its last drain, under mu_
    bool skipping = false;  // the current file failed: its remaining operations are dropped
  };

  void Add(Worker& worker, Operation op) {
    if (op.owner && op.owner.get() != worker.batch_block) {
      if (worker.batch_block) Hand(worker);
      worker.batch_block = op.owner.get();
    }
    worker.batch_bytes += op.len;
    worker.batch.push_back(std::move(op));
    if (worker.batch.size() >= kBatchOperations || worker.batch_bytes >= kBatchBytes) {
      Hand(worker);
    }
  }

  void Hand(Worker& worker) {
    if (worker.batch.empty()) return;
    worker.queue.Push(std::move(worker.batch));
    worker.batch = Batch();
    worker.batch.reserve(kBatchOperations);
    worker.batch_bytes = 0;
    worker.batch_block = nullptr;
  }

  void Run(Worker& worker) {
    EntryWriter& writer = *worker.writer;
    while (true) {
      std::optional<Batch> batch = worker.queue.TryPop();
      if (!batch && writer.Busy()) {
        // Nothing queued: finish what is in flight, which also releases its blocks.
        Record(writer.Drain());
        continue;
      }
      if (!batch) batch = worker.queue.Pop();
      if (!batch) break;
      for (Operation& op : *batch) {
        Apply(worker, op);
        op.owner.reset();  // the bytes are written or the writer holds its own reference
      }
    }
    Record(writer.Drain());
  }

  void Apply(Worker& worker, Operation& op) {
    EntryWriter& writer = *worker.writer;
    bool failed = failed_.load(std::memory_order_relaxed);
    switch (op.kind) {
      case Operation::kBegin:
        worker.skipping = failed || !Record(writer.BeginFile(op.dirfd, op.name, op.label, op.mode,
                                                             op.size, op.mtime));
        break;
      case Operation::kAppend:
        if (!worker.skipping && !failed)
          worker.skipping = !Record(writer.Append(op.owner, op.data, op.len));
        break;
      case Operation::kEnd:
        if (!worker.skipping && !failed) Record(writer.EndFile()) && Record(writer.Poll());
        worker.skipping = false;
        break;
      case Operation::kDrain: {
        Record(writer.Drain());
        std::lock_guard lock(mu_);
        worker.counts = writer.counts();
        if (--drains_pending_ == 0) drained_.notify_all();
        break;
      }
    }
  }

  // Keeps the first error of any worker; true when `status` is ok.
  bool Record(const Status& status) {
    if (status.ok()) return true;
    std::lock_guard lock(mu_);
    if (first_error_.ok()) first_error_ = status;
    failed_.store(true, std::memory_order_relaxed);
    return false;
  }

  Status FirstError() {
    if (!failed_.load(std::memory_order_relaxed)) return Status::Ok();
    std::lock_guard lock(mu_);
    return first_error_;
  }

  std::vector<std::unique_ptr<Worker>> workers_;
  Worker* current_ = nullptr;
  mutable std::mutex mu_;
  std::condition_variable drained_;
  size_t drains_pending_ = 0;
  Status first_error_;
  std::atomic<bool> failed_{false};
};

}  // namespace

std::unique_ptr<EntryWriter> MakeParallelWriter(
    unsigned threads, const std::function<std::unique_ptr<EntryWriter>()>& make) {
  return std::make_unique<ParallelWriter>(threads, make);
}

int ResolveWriterThreads(int requested, int decoder_cores) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()) - decoder_cores);
}

std::unique_ptr<EntryWriter> MakeEntryWriter(IoKind kind, int threads) {
  auto make = [kind]() -> std::unique_ptr<EntryWriter> {
    if (ResolveWriteIoKind(kind) == IoKind::kUring) {
      if (std::unique_ptr<EntryWriter> writer = MakeUringWriter()) return writer;
    }
    return MakePlainWriter();
  };
  return MakeParallelWriter(static_cast<unsigned>(std::max(1, threads)), make);
}

}  // namespace staging
