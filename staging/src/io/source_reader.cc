#include "io/source_reader.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <iterator>

#include "io/mapped_window.h"

namespace staging {
namespace {

Status ShortFile(uint64_t offset) {
  return Status::Error("file ended at byte " + std::to_string(offset) +
                       ", before its size when opened (changed while staging?)");
}

// Mapping spares a copy of every byte, but the first touch of each page of a new mapping is a
// fault, which a hypervisor that shadows page tables makes dear unless the page cache holds the
// file in large folios (mapped in one go). Measured on such a machine (source_read_bench), 4 MiB
// of a file written in 4 KiB writes took 1.8 ms to map against 0.42 ms to pread; of one written in
// 4 MiB writes, 0.06 ms against 0.16 ms. Which holds for a given source cannot be told beforehand,
// so a long source is read both ways for its first blocks, alternately, and the cheaper way reads
// the rest.
constexpr int kTrialBlocks = 4;  // read, mapped, read, mapped; the faster of each kind counts
constexpr uint64_t kTrialMinBlocks = 16;  // a shorter source is mapped whole: too short to matter

// Reads with pread, or, with `map`, maps each block's span of the file instead (no copy; the
// choice for a source already in the page cache), reading where a span cannot be mapped, or
// where the trial above finds mapping slower (with `trial`; without, mapping is kept).
class PlainSourceReader : public SourceReader {
 public:
  PlainSourceReader(int fd, uint64_t size, BlockPool& pool, std::vector<uint64_t> cuts, bool map,
                    bool trial = true)
      : fd_(fd),
        size_(size),
        pool_(pool),
        cuts_(std::move(cuts)),
        map_(map),
        trials_left_(map && trial && size / kTrialMinBlocks >= pool.block_size() ? kTrialBlocks
                                                                                 : 0) {
    posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }

  Status Next(BlockRef& out) override {
    out.reset();
    if (offset_ >= size_) return Status::Ok();
    BlockRef block = pool_.Acquire();
    if (!block) return Status::Error("aborted");
    size_t want = BlockEnd(offset_, block->capacity, size_, cuts_) - offset_;
    block->offset = offset_;
    if (map_ && trials_left_ > 0) {
      STAGING_RETURN_IF_ERROR(Trial(*block.get(), want));
    } else if (map_) {
      STAGING_RETURN_IF_ERROR(MapInto(*block.get(), want));
    }
    STAGING_RETURN_IF_ERROR(ReadRest(*block.get(), want));
    (block->view ? mapped_blocks_ : read_blocks_)++;
    offset_ += block->size;
    out = std::move(block);
    return Status::Ok();
  }

  // "mapped" or "plain": how most blocks were read, or before any, how the first will be.
  const char* how() const override {
    if (mapped_blocks_ + read_blocks_ == 0) return map_ ? "mapped" : "plain";
    return mapped_blocks_ > read_blocks_ ? "mapped" : "plain";
  }
  std::shared_ptr<const std::atomic<bool>> lost() const override { return lost_; }

 private:
  using Clock = std::chrono::steady_clock;

  // Reads or maps `block` as the trial's turn says, timing it; after the last turn, keeps mapping
  // only if its best time beat reading's.
  Status Trial(Block& block, size_t want) {
    const bool read_turn = trials_left_ % 2 == 0;
    if (read_turn) {
      // A buffer's first fill also pays for faulting its pages in, once in the pool's life (10 ms
      // for 4 MiB under a shadowing hypervisor, against 0.26 ms for a later fill): the block is
      // read once untimed, and the time is that of reading it again, the copy alone.
      STAGING_RETURN_IF_ERROR(ReadRest(block, want));
      block.size = 0;
    }
    const Clock::time_point start = Clock::now();
    STAGING_RETURN_IF_ERROR(read_turn ? ReadRest(block, want) : MapInto(block, want));
    const Clock::duration took = Clock::now() - start;
    Clock::duration& best = read_turn ? best_read_ : best_map_;
    best = std::min(best, took);
    if (--trials_left_ == 0) map_ = map_ && best_map_ < best_read_;
    return Status::Ok();
  }

  // Reads what `block` lacks of its `want` bytes with pread.
  Status ReadRest(Block& block, size_t want) {
    while (block.size < want) {
      ssize_t n = pread(fd_, block.data + block.size, want - block.size, offset_ + block.size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno("read at byte " + std::to_string(offset_), errno);
      if (n == 0) return ShortFile(offset_ + block.size);
      block.size += n;
    }
    return Status::Ok();
  }

  // Lends `block` a mapping of its span; where there can be none, stops mapping (reads follow).
  Status MapInto(Block& block, size_t want) {
    std::unique_ptr<MappedWindow> window;
    Status status = MappedWindow::Map(fd_, offset_, want, lost_, &window);
    if (!status.ok()) {
      struct stat st;
      if (fstat(fd_, &st) == 0 && static_cast<uint64_t>(st.st_size) < offset_ + want)
        return ShortFile(static_cast<uint64_t>(st.st_size));
      return status;
    }
    if (!window) {
      map_ = false;
      return Status::Ok();
    }
    block.data = window->bytes();
    block.view = std::move(window);
    block.size = want;
    return Status::Ok();
  }

  int fd_;
  uint64_t size_, offset_ = 0;
  BlockPool& pool_;
  std::vector<uint64_t> cuts_;
  bool map_;
  int trials_left_;
  Clock::duration best_read_ = Clock::duration::max(), best_map_ = Clock::duration::max();
  uint64_t mapped_blocks_ = 0, read_blocks_ = 0;
  std::shared_ptr<std::atomic<bool>> lost_ = std::make_shared<std::atomic<bool>>(false);
};

// Reads ahead: up to `depth` blocks in flight, handed out in file order. A short read is
// resubmitted for the rest of its block.
class UringSourceReader : public SourceReader {
 public:
  UringSourceReader(int fd, uint64_t size, BlockPool& pool, int depth, std::vector<uint64_t> cuts)
      : fd_(fd), size_(size), pool_(pool), depth_(depth), cuts_(std::move(cuts)) {}
  ~UringSourceReader() override {
    // Every read must land before its block can go back to the pool.
    while (in_flight_ > 0) Reap();
    if (ring_ready_) io_uring_queue_exit(&ring_);
  }

  Status Init() {
    int rc = io_uring_queue_init(depth_ * 2, &ring_, 0);
    if (rc < 0) return Status::FromErrno("io_uring_queue_init", -rc);
    ring_ready_ = true;
    posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    return Status::Ok();
  }

  Status Next(BlockRef& out) override {
    out.reset();
    if (!error_.ok()) return error_;
    Fill();
    if (pending_.empty()) return Status::Ok();
    Pending& head = pending_.front();
    while (head.done < head.want && error_.ok()) Reap();
    if (!error_.ok()) return error_;
    out = std::move(head.block);
    pending_.pop_front();
    Fill();
    return Status::Ok();
  }

  const char* how() const override { return "io_uring"; }

 private:
  struct Pending {
    BlockRef block;
    size_t want = 0;
    size_t done = 0;
  };

  void Fill() {
    while (static_cast<int>(pending_.size()) < depth_ && next_offset_ < size_) {
      std::optional<BlockRef> block =
          pending_.empty() ? std::optional<BlockRef>(pool_.Acquire()) : pool_.TryAcquire();
      if (!block || !*block) break;
      Pending& p = pending_.emplace_back();
      p.block = std::move(*block);
      p.want = BlockEnd(next_offset_, p.block->capacity, size_, cuts_) - next_offset_;
      p.block->offset = next_offset_;
      p.block->size = p.want;
      next_offset_ += p.want;
      Submit(p);
    }
    io_uring_submit(&ring_);
  }

  void Submit(Pending& p) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    io_uring_prep_read(sqe, fd_, p.block->data + p.done, p.want - p.done, p.block->offset + p.done);
    io_uring_sqe_set_data(sqe, &p);
    ++in_flight_;
  }

  // Waits for one read to complete and accounts for it.
  void Reap() {
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == -EINTR || rc == -EAGAIN) return;
    if (rc < 0) {
      error_ = Status::FromErrno("io_uring_wait_cqe", -rc);
      return;
    }
    auto* p = static_cast<Pending*>(io_uring_cqe_get_data(cqe));
    int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_flight_;
    if (res == -EINTR || res == -EAGAIN) {
      Submit(*p);
    } else if (res < 0) {
      if (error_.ok())
        error_ = Status::FromErrno("read at byte " + std::to_string(p->block->offset), -res);
    } else if (res == 0) {
      if (error_.ok()) error_ = ShortFile(p->block->offset + p->done);
    } else {
      p->done += res;
      if (p->done < p->want) Submit(*p);
    }
    io_uring_submit(&ring_);
  }

  int fd_;
  uint64_t size_, next_offset_ = 0;
  BlockPool& pool_;
  int depth_;
  std::vector<uint64_t> cuts_;
  io_uring ring_{};
  bool ring_ready_ = false;
  int in_flight_ = 0;
  std::deque<Pending> pending_;  // deque: element addresses stay put while reads are in flight
  Status error_;
};

}  // namespace

uint64_t BlockEnd(uint64_t offset, size_t capacity, uint64_t size,
                  const std::vector<uint64_t>& cuts) {
  const uint64_t end = std::min<uint64_t>(offset + capacity, size);
  auto after_end = std::upper_bound(cuts.begin(), cuts.end(), end);
  if (after_end != cuts.begin() && *std::prev(after_end) > offset) return *std::prev(after_end);
  return end;
}

bool SourceInPageCache(int fd, uint64_t size) {
  // cachestat(2): Linux 6.5; Debian 12's headers predate it, so its structures are declared here
  // as the kernel defines them (include/uapi/linux/mman.h).
  constexpr long kCachestat = 451;
  struct {
    uint64_t off, len;
  } range{0, size};
  struct {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
  } stat{};
  if (size == 0 || syscall(kCachestat, fd, &range, &stat, 0) != 0) return false;
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  // All but a 64th: pages of a file read once can leave the cache while memory is plentiful (seen
  // here: 878 of 332,508), and mapping reads the few missing ones in as it faults them.
  const uint64_t pages = (size + page - 1) / page;
  return stat.nr_cache >= pages - pages / 64;
}

std::unique_ptr<SourceReader> MakeSourceReader(IoKind kind, int fd, uint64_t size, BlockPool& pool,
                                               int in_flight, std::vector<uint64_t> cuts,
                                               SourceReads reads) {
  switch (reads) {
    case SourceReads::kMapped:
      return std::make_unique<PlainSourceReader>(fd, size, pool, std::move(cuts), /*map=*/true,
                                                 /*trial=*/false);
    case SourceReads::kPlain:
      kind = IoKind::kPlain;
      break;
    case SourceReads::kUring:
      kind = IoKind::kUring;
      break;
    case SourceReads::kAuto:
      if (kind == IoKind::kAuto && SourceInPageCache(fd, size)) {
        return std::make_unique<PlainSourceReader>(fd, size, pool, std::move(cuts), /*map=*/true);
      }
      break;
  }
  if (ResolveIoKind(kind) == IoKind::kUring) {
    auto reader = std::make_unique<UringSourceReader>(fd, size, pool, in_flight, cuts);
    if (reader->Init().ok()) return reader;
  }
  return std::make_unique<PlainSourceReader>(fd, size, pool, std::move(cuts), /*map=*/false);
}

}  // namespace staging
