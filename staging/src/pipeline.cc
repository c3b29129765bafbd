#include "pipeline.h"

#include <algorithm>
#include <thread>

#include "base/bounded_queue.h"
#include "io/source_reader.h"

namespace staging {
namespace {

constexpr size_t kSourceBlockSize = 4 << 20;
// Larger source blocks, up to this, when the decoder's units (a packed archive's frames: 4 MiB
// of tar and the rest of the member that crosses it, at most twice that) would not fit in one.
constexpr size_t kMaxSourceBlockSize = 8 << 20;
constexpr size_t kSourceBlocks = 6;
constexpr int kReadsInFlight = 4;
constexpr size_t kDecodedQueue = 10;
// How far the decoder may run on after the consumer failed, to report damage of its own there.
constexpr uint64_t kGraceBytes = 8 << 20;

// The size of the source's blocks: enough for the largest span between two cuts, within limits.
size_t SourceBlockSize(const std::vector<uint64_t>& cuts) {
  uint64_t largest = 0;
  for (size_t i = 1; i < cuts.size(); ++i) largest = std::max(largest, cuts[i] - cuts[i - 1]);
  return static_cast<size_t>(std::clamp<uint64_t>(largest, kSourceBlockSize, kMaxSourceBlockSize));
}

}  // namespace

Pipeline::Pipeline(IoKind io, int writers, int fd, uint64_t size, std::unique_ptr<Decoder> decoder)
    : io_(io),
      writers_(writers),
      fd_(fd),
      size_(size),
      decoder_(std::move(decoder)),
      read_cuts_(decoder_->read_cuts()),
      source_pool_(std::make_unique<BlockPool>(kSourceBlocks, SourceBlockSize(read_cuts_))),
      compressed_(std::make_unique<BoundedQueue<BlockRef>>(kSourceBlocks)),
      decoded_(std::make_unique<BoundedQueue<BlockRef>>(kDecodedQueue)) {}

Pipeline::~Pipeline() {
  // Blocks point into the pools: first whatever holds blocks (the writer's queued writes, the
  // queues' contents), then the pools' owners.
  writer_.reset();
  decoded_.reset();
  compressed_.reset();
  decoder_.reset();
  source_pool_.reset();
}

void Pipeline::ReadAll() {
  std::unique_ptr<SourceReader> source = MakeSourceReader(
      io_, fd_, size_, *source_pool_, kReadsInFlight, std::move(read_cuts_), reads_);
  source_lost_ = source->lost();
  BlockRef block;
  while ((read_status_ = source->Next(block)).ok() && block) {
    if (on_read_) on_read_(*block.get());
    if (!compressed_->Push(std::move(block))) break;
  }
  // The pool closed under a read because a later stage failed and Abort() stopped everything:
  // that stage has the reason, and ranking this "aborted" first would hide it (a damaged gzip
  // index then read as a read error, not retried sequentially).
  if (!read_status_.ok() && aborting_) read_status_ = Status::Ok();
  source_reads_ = source->how();  // after the reads: a mapping that failed fell back to pread
  read_status_.ok() ? compressed_->Close() : compressed_->Fail();
}

void Pipeline::DecodeAll() {
  decode_status_ = decoder_->Run(*compressed_, *decoded_);
  decoder_returned_ = true;
  if (decode_status_.ok() && read_status_.ok()) {
    decoded_->Close();
  } else if (read_status_.ok()) {
    // Corrupt or truncated: the parser reads up to the damage and names the entry there.
    decoded_->Close();
    compressed_->Fail();
  } else {
    decoded_->Fail();
    compressed_->Fail();
  }
}

void Pipeline::Abort() {
  aborting_ = true;
  decoded_->Fail();
  compressed_->Fail();
  source_pool_->Close();
  decoder_->Abort();
}

Status Pipeline::Run(const Consumer& consume) {
  writer_threads_ = ResolveWriterThreads(writers_, decoder_->busy_cores());
  writer_ = MakeEntryWriter(io_, writer_threads_);
  std::thread reader([this] { ReadAll(); });
  std::thread decoder([this] { DecodeAll(); });
  Status status = consume(*decoded_, *writer_);
  bool decoder_finished_first;
  if (!status.ok()) {
    // A corrupt compressed stream can decode to garbage that reaches the parser before the
    // decoder meets an invalid code: let it run a little further (kGraceBytes) to name the
    // damage, then stop every stage. The writer goes first: its queued writes hold blocks the
    // decoder may be waiting for.
    writer_.reset();
    uint64_t grace = 0;
    while (grace < kGraceBytes) {
      std::optional<BlockRef> block = decoded_->Pop();
      if (!block) break;
      grace += (*block)->size;
    }
    decoder_finished_first = decoder_returned_.load();
    Abort();
  } else {
    // libarchive stops at the end-of-archive marker: read on so the source is read whole.
    while (decoded_->Pop()) {
    }
    decoder_finished_first = true;
  }
  writer_.reset();
  reader.join();
  decoder.join();
  // Nothing touches the source's blocks any more: a mapped source that lost pages on the way had
  // zeros read in their place.
  if (read_status_.ok() && source_lost_ && source_lost_->load()) {
    read_status_ = Status::Error("file shrank while staging: part of it was lost from its mapping");
  }
  // The reader's and decoder's errors are the root cause of any parse error they led to; a
  // decoder error that followed the consumer's own failure adds nothing.
  if (!read_status_.ok()) return read_status_;
  decoder_failed_ = !decode_status_.ok() && decoder_finished_first;
  if (decoder_failed_) {
    return status.ok() ? decode_status_
                       : Status::Error(status.message() + " (" + decode_status_.message() + ")");
  }
  return status;
}

}  // namespace staging
