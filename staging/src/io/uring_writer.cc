// io_uring writer. A small file is one linked chain: openat2 into a direct descriptor, its
// writes, close — three or more operations for one submission slot, no per-file system call.
// A large file is opened and preallocated directly, then its writes are queued as they come and
// their blocks released as each one lands. Any chain that fails is redone with plain system
// calls, so a refused or short operation never loses data.
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <list>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "io/entry_writer.h"
#include "io/file_writing.h"

namespace staging {
namespace {

constexpr unsigned kRingEntries = 512;
constexpr unsigned kDirectSlots = 256;
constexpr uint64_t kSmallFileMax = 1 << 20;
constexpr unsigned kSubmitBatch = 64;
constexpr unsigned kIoWorkersPerRing = 1;
// A direct descriptor never enters the process's descriptor table, so O_CLOEXEC means nothing
// there, and openat2 into a direct slot refuses it (EINVAL): every chain would fail.
constexpr int kDirectCreateFlags = kCreateFlags & ~O_CLOEXEC;
// A resolve flag no kernel defines: openat2 refuses it with EINVAL (for injected failures).
constexpr uint64_t kUnknownResolveFlag = uint64_t{1} << 62;

// The low bits of an operation's user data (files and pieces are 8-byte aligned): a write of a
// large file, or a step of a small file's chain, its first step (the create) told apart.
enum Tag : uintptr_t { kChainOp = 0, kPieceOp = 1, kCreateOp = 2, kTagBits = 3 };

struct FileRequest;

struct Piece {
  FileRequest* file = nullptr;
  BlockRef owner;
  const std::byte* data = nullptr;
  size_t len = 0;
  uint64_t offset = 0;
};

struct FileRequest {
  std::string name, label;
  open_how how{};
  int dirfd = -1;
  uint64_t size = 0;
  bool small = true;
  unsigned slot = 0;
  common::UniqueFd fd;  // large files
  std::deque<Piece> pieces;
  int ops_pending = 0;
  bool ended = false;
  bool chain_failed = false;
  bool created = false;  // the chain's create succeeded: the name is this file's
  int first_error = 0;
  timespec mtime{};
  std::list<FileRequest>::iterator self;
};

class UringWriter : public EntryWriter {
 public:
  explicit UringWriter(unsigned fail_every_nth_chain) : fail_every_(fail_every_nth_chain) {}
  ~UringWriter() override {
    if (!ready_) return;
    Drain();
    io_uring_queue_exit(&ring_);
  }

  Status Init() {
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE;
    params.cq_entries = kRingEntries * 4;
    int rc = io_uring_queue_init_params(kRingEntries, &ring_, &params);
    if (rc < 0) return Status::FromErrno("io_uring_queue_init", -rc);
    ready_ = true;
    rc = io_uring_register_files_sparse(&ring_, kDirectSlots);
    if (rc < 0) return Status::FromErrno("io_uring_register_files_sparse", -rc);
    for (unsigned i = 0; i < kDirectSlots; ++i) free_slots_.push_back(kDirectSlots - 1 - i);
    // A create cannot complete without blocking, so every chain runs in an io-wq kernel worker.
    // One worker per ring: each writer thread then feeds one kernel worker, and the cores are
    // shared by as many file creators as there are writer threads (unbounded, up to 4 a core
    // contend for the same directory and journal locks: 8% slower on the Linux tree, 7% on the
    // Pets set, bench/RESULTS.md). Kernels before 5.15 lack the call and keep their default.
    unsigned max_workers[2] = {kIoWorkersPerRing, kIoWorkersPerRing};
    io_uring_register_iowq_max_workers(&ring_, max_workers);
    return Status::Ok();
  }

  Status BeginFile(int dirfd, const std::string& name, const std::string& label, mode_t mode,
                   uint64_t size, const timespec& mtime) override {
    files_.emplace_back();
    current_ = &files_.back();
    current_->self = std::prev(files_.end());
    current_->name = name;
    current_->label = label;
    current_->dirfd = dirfd;
    current_->size = size;
    current_->mtime = mtime;
    current_->how.flags = kDirectCreateFlags;
    current_->how.mode = mode;
    current_->how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    current_->small = size <= kSmallFileMax;
    if (current_->small) return Status::Ok();
    int fd = openat(dirfd, name.c_str(), kCreateFlags, mode);
    if (fd < 0) {
      Status status = Status::FromErrno(label + ": create", errno);
      files_.erase(current_->self);
      current_ = nullptr;
      return status;
    }
    current_->fd.reset(fd);
    if (fallocate(fd, 0, 0, static_cast<off_t>(size)) < 0 && errno == ENOSPC) {
      return Status::FromErrno(label + ": reserve " + std::to_string(size) + " bytes", ENOSPC);
    }
    return Status::Ok();
  }

  Status Append(const BlockRef& owner, const std::byte* data, size_t len) override {
    FileRequest* file = current_;
    uint64_t offset =
        file->pieces.empty() ? 0 : file->pieces.back().offset + file->pieces.back().len;
    file->pieces.push_back(Piece{file, owner, data, len, offset});
    if (!file->small) QueueWrite(file->pieces.back());
    return first_error_;
  }

  Status EndFile() override {
    FileRequest* file = std::exchange(current_, nullptr);
    file->ended = true;
    if (!file->small) {
      if (file->ops_pending == 0) Finish(file);
      return Poll();
    }
    while (free_slots_.empty()) WaitOne();
    file->slot = free_slots_.back();
    free_slots_.pop_back();
    if (fail_every_ > 0 && ++chains_ % fail_every_ == 0) file->how.resolve |= kUnknownResolveFlag;
    QueueChain(file);
    return Poll();
  }

  // Waits for the operations in flight; the file being appended to stays open.
  Status Drain() override {
    Submit();
    while (in_flight_ > 0) WaitOne();
    return first_error_;
  }

  Status Poll() override {
    if (unsubmitted_ >= kSubmitBatch) Submit();
    io_uring_cqe* cqe;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) Complete(cqe);
    return first_error_;
  }

  bool Busy() const override { return in_flight_ > 0; }
  WriterCounts counts() const override { return counts_; }

 private:
  io_uring_sqe* Sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (!sqe) {
      Submit();
      sqe = io_uring_get_sqe(&ring_);
    }
    ++unsubmitted_;
    ++in_flight_;
    return sqe;
  }

  void Submit() {
    if (unsubmitted_ == 0) return;
    int rc;
    do {
      rc = io_uring_submit(&ring_);
    } while (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY);
    unsubmitted_ = 0;
  }

  void QueueChain(FileRequest* file) {
    // A chain must sit in the submission queue whole.
    if (io_uring_sq_space_left(&ring_) < file->pieces.size() + 2) Submit();
    io_uring_sqe* sqe = Sqe();
    io_uring_prep_openat2_direct(sqe, file->dirfd, file->name.c_str(), &file->how, file->slot);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(file) | kCreateOp);
    sqe->flags |= IOSQE_IO_LINK;
    for (Piece& piece : file->pieces) {
      sqe = Sqe();
      io_uring_prep_write(sqe, file->slot, piece.data, piece.len, piece.offset);
      io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(file) | kChainOp);
      sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_LINK;
    }
    sqe = Sqe();
    io_uring_prep_close_direct(sqe, file->slot);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(file) | kChainOp);
    file->ops_pending = static_cast<int>(file->pieces.size()) + 2;
  }

  // A write of a large file, through its ordinary descriptor.
  void QueueWrite(Piece& piece) {
    io_uring_sqe* sqe = Sqe();
    io_uring_prep_write(sqe, piece.file->fd.get(), piece.data, piece.len, piece.offset);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(&piece) | kPieceOp);
    ++piece.file->ops_pending;
    if (unsubmitted_ >= kSubmitBatch / 4) Submit();
  }

  void WaitOne() {
    Submit();
    io_uring_cqe* cqe;
    int rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == 0) Complete(cqe);
  }

  void Complete(io_uring_cqe* cqe) {
    uint64_t data = io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_flight_;
    if ((data & kTagBits) == kPieceOp) {
      CompletePiece(reinterpret_cast<Piece*>(data & ~uintptr_t{kTagBits}), res);
    } else {
      auto* file = reinterpret_cast<FileRequest*>(data & ~uintptr_t{kTagBits});
      if ((data & kTagBits) == kCreateOp && res >= 0) file->created = true;
      CompleteChainOp(file, res);
    }
  }

  void CompletePiece(Piece* piece, int res) {
    FileRequest* file = piece->file;
    --file->ops_pending;
    if (res == -EINTR || res == -EAGAIN) {
      QueueWrite(*piece);
      return;
    }
    if (res < 0) {
      if (!file->first_error) file->first_error = -res;
    } else if (static_cast<size_t>(res) < piece->len) {
      piece->data += res;
      piece->len -= res;
      piece->offset += res;
      QueueWrite(*piece);
      return;
    }
    piece->owner.reset();  // the block may go back to the pool now
    if (file->ended && file->ops_pending == 0) Finish(file);
  }

  void CompleteChainOp(FileRequest* file, int res) {
    // Any failed or short step cancels the rest of the chain (-ECANCELED); redo it afterwards.
    if (res < 0) file->chain_failed = true;
    if (--file->ops_pending == 0) Finish(file);
  }

  // Ends a file whose operations have all completed.
  void Finish(FileRequest* file) {
    if (file->small) {
      if (file->chain_failed) {
        int none = -1;
        io_uring_register_files_update(&ring_, file->slot, &none, 1);  // close if left open
        Redo(file);
        ++counts_.redone_files;
      } else {
        ++counts_.ring_files;
      }
      free_slots_.push_back(file->slot);
    } else if (file->first_error) {
      Fail(Status::FromErrno(file->label + ": write", file->first_error));
    } else if (close(file->fd.release()) < 0 && errno != EINTR) {
      Fail(Status::FromErrno(file->label + ": close", errno));
    } else {
      ++counts_.ring_files;  // opened directly, every write through the ring
    }
    if (first_error_.ok()) {
      Fail(ApplyFileMetadata(file->dirfd, file->name, file->label, file->how.mode, file->mtime));
    }
    files_.erase(file->self);
  }

  // The plain path for a chain that failed: start the file afresh and write it in full.
  // Only a file the chain itself created is removed first: a name that was taken before (the
  // create failed) meets the same exclusive create again, and its error.
  void Redo(FileRequest* file) {
    if (file->created) unlinkat(file->dirfd, file->name.c_str(), 0);
    int fd = openat(file->dirfd, file->name.c_str(), kCreateFlags, file->how.mode);
    if (fd < 0) {
      Fail(Status::FromErrno(file->label + ": create", errno));
      return;
    }
    common::UniqueFd owned(fd);
    for (const Piece& piece : file->pieces) {
      Status status = PwriteAll(::pwrite, fd, piece.data, piece.len, piece.offset, file->label);
      if (!status.ok()) {
        Fail(status);
        return;
      }
    }
    if (close(owned.release()) < 0 && errno != EINTR)
      Fail(Status::FromErrno(file->label + ": close", errno));
  }

  void Fail(const Status& status) {
    if (first_error_.ok() && !status.ok()) first_error_ = status;
  }

  io_uring ring_{};
  bool ready_ = false;
  std::vector<unsigned> free_slots_;
  std::list<FileRequest> files_;
  FileRequest* current_ = nullptr;
  unsigned unsubmitted_ = 0;
  size_t in_flight_ = 0;  // operations queued or submitted, not yet completed
  Status first_error_;
  WriterCounts counts_;
  unsigned fail_every_ = 0;  // tests: fail every n-th chain
  uint64_t chains_ = 0;
};

}  // namespace

std::unique_ptr<EntryWriter> MakeUringWriter(unsigned fail_every_nth_chain) {
  auto writer = std::make_unique<UringWriter>(fail_every_nth_chain);
  if (!writer->Init().ok()) return nullptr;
  return writer;
}

}  // namespace staging
