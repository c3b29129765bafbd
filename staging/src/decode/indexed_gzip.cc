#include "decode/indexed_gzip.h"

#include <fcntl.h>
#include <isa-l/igzip_lib.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/bounded_queue.h"
#include "common/file_io.h"
#include "common/ordered_workers.h"
#include "common/unique_fd.h"
#include "decode/gzip_index_format.h"
#include "decode/inflate_state_check.h"

namespace staging {

namespace {

// Restart points are taken at the first full output block (at most a few MiB) past every
// kRestartSpacing of output, so real chunks are a little over that; four times as long is damage.
constexpr uint64_t kMaxChunkSpan = 4 * kRestartSpacing;

// A decoded chunk travels on in the block it was inflated into: kDeflateWindow bytes of history,
// then the chunk's bytes, which are the block's valid bytes (begin = kDeflateWindow).
struct Chunk {
  BlockRef block;
  Status status;
};

// What one chunk needs before it can be inflated: its compressed span (including kInputSlack past
// the next restart point), its decoded span, and the state and window to start from.
struct ChunkPlan {
  uint64_t chunk = 0;
  uint64_t compressed_begin = 0, compressed_end = 0;
  uint64_t decoded_begin = 0, decoded_end = 0;
  std::optional<uint32_t> expected_crc;  // the next point's CRC; none for the last chunk
  // The next point as the index has it (none for the last chunk): the chunk's own end must be
  // the same decoder state and window, so that a point is trusted only once the chunk before
  // it, itself checked the same way back to the stream's start, reached it.
  std::unique_ptr<inflate_state> next_state;
  std::vector<std::byte> next_window;
  uint64_t next_compressed = 0;
  std::unique_ptr<inflate_state> state;
  std::vector<std::byte> window;
  Status status;  // a damaged or forged index
};

class IndexedInflater {
 public:
  IndexedInflater(uint64_t file_size, const GzipIndex& index)
      : index_(index), file_size_(file_size) {}

  Status Open() {
    std::string why;
    index_fd_ =
        common::OpenUntrustedFile(AT_FDCWD, index_.path, MaxGzipIndexBytes(file_size_), &why);
    if (!index_fd_.valid()) {
      return Status::Error("gzip index " + index_.path + ": " + (why.empty() ? "gone" : why));
    }
    // The largest chunk sizes every reused buffer: fresh buffers per chunk cost page faults
    // that took more time than the parallel inflate saved.
    uint64_t previous = 0;
    for (uint64_t i = 0; i <= index_.points; ++i) {
      uint64_t decoded = index_.decoded_size;
      if (i < index_.points) {
        RecordHead head;
        uint64_t at = sizeof(Header) + i * kRecordSize;
        if (!ReadExactly(index_fd_.get(), &head, sizeof head, at)) {
          return Status::Error("gzip index: unreadable restart point");
        }
        decoded = head.decoded;
      }
      if (decoded < previous || decoded > index_.decoded_size) {
        return Status::Error("gzip index: restart points out of order");
      }
      // The index is untrusted: a chunk's span sizes every buffer, so a forged one must not
      // reach the allocator.
      if (decoded - previous > kMaxChunkSpan) {
        return Status::Error("gzip index: restart points " + std::to_string(decoded - previous) +
                             " bytes apart, more than a real index has");
      }
      max_chunk_ = std::max(max_chunk_, decoded - previous);
      previous = decoded;
    }
    return Status::Ok();
  }

  uint64_t chunks() const { return index_.points + 1; }
  // Bytes an output buffer needs: the window, then the largest chunk.
  size_t output_capacity() const { return kDeflateWindow + max_chunk_; }

  // Chunk c runs from restart point c-1 (the stream's start for c = 0) to point c (its end):
  // the compressed bytes it needs and the inflate state it starts from, from the index.
  ChunkPlan Plan(uint64_t c) {
    ChunkPlan plan;
    plan.chunk = c;
    plan.state = std::make_unique<inflate_state>();
    plan.window.resize(kDeflateWindow);
    if (c == 0) {
      isal_inflate_init(plan.state.get());
      plan.state->crc_flag = ISAL_GZIP;
    } else {
      RecordHead head;
      if (!ReadRecord(c - 1, &head, plan.state.get(), plan.window.data())) {
        plan.status = Status::Error("gzip index: damaged restart point");
        return plan;
      }
      plan.compressed_begin = head.compressed;
      plan.decoded_begin = head.decoded;
    }
    plan.compressed_end = file_size_;
    plan.decoded_end = index_.decoded_size;
    if (c < index_.points) {
      RecordHead head;
      plan.next_state = std::make_unique<inflate_state>();
      plan.next_window.resize(kDeflateWindow);
      if (!ReadRecord(c, &head, plan.next_state.get(), plan.next_window.data())) {
        plan.status = Status::Error("gzip index: damaged restart point");
        return plan;
      }
      plan.compressed_end = std::min<uint64_t>(file_size_, head.compressed + kInputSlack);
      plan.decoded_end = head.decoded;
      plan.next_compressed = head.compressed;
      plan.expected_crc = plan.next_state->crc;
    }
    if (plan.compressed_end < plan.compressed_begin || plan.decoded_end < plan.decoded_begin) {
      plan.status = Status::Error("gzip index: restart points out of order");
      return plan;
    }
    // Deflate never takes much more room than its output (stored blocks add 5 bytes in 64 KiB):
    // a longer compressed span is a forged point, and would size the input buffer.
    const uint64_t decoded_span = plan.decoded_end - plan.decoded_begin;
    if (plan.compressed_end - plan.compressed_begin >
        decoded_span + decoded_span / 64 + 2 * kInputSlack) {
      plan.status = Status::Error("gzip index: restart point " + std::to_string(c) +
                                  " spans more compressed bytes than it could decode to");
    }
    return plan;
  }

  // Inflates `plan`'s chunk from `input` (its compressed bytes) into `block`, which holds
  // output_capacity() bytes.
  Chunk Inflate(ChunkPlan& plan, const std::vector<std::byte>& input, BlockRef block) {
    Chunk chunk;
    chunk.block = std::move(block);
    inflate_state* state = plan.state.get();
    const uint64_t compressed_end = plan.compressed_end, decoded_begin = plan.decoded_begin,
                   decoded_end = plan.decoded_end;
    const std::optional<uint32_t> expected_crc = plan.expected_crc;
    const std::vector<std::byte>& window = plan.window;
    Block& out = *chunk.block.get();
    out.begin = kDeflateWindow;
    out.size = decoded_end - decoded_begin;
    out.offset = decoded_begin;
    std::memcpy(out.data, window.data(), kDeflateWindow);
    // ISA-L reaches back into the output buffer itself: the window sits right before it.
    state->next_in = reinterpret_cast<uint8_t*>(const_cast<std::byte*>(input.data()));
    state->avail_in = static_cast<uint32_t>(input.size());
    state->next_out = reinterpret_cast<uint8_t*>(out.bytes());
    state->avail_out = static_cast<uint32_t>(out.size);
    while (state->avail_out > 0 && state->block_state != ISAL_BLOCK_FINISH) {
      uint32_t before_in = state->avail_in, before_out = state->avail_out;
      int rc = isal_inflate(state);
      if (rc < 0) {
        chunk.status = Status::Error("gzip: corrupt data near compressed byte " +
                                     std::to_string(compressed_end - state->avail_in));
        return chunk;
      }
      if (before_in == state->avail_in && before_out == state->avail_out) break;
    }
    bool complete =
        state->avail_out == 0 &&
        (expected_crc ? state->crc == *expected_crc : state->block_state == ISAL_BLOCK_FINISH);
    if (complete && plan.next_state) {
      // The decoded end: its last 32 KiB (the window before it sits in the same buffer) and the
      // decoder's state must be the next point's.
      const std::byte* end = out.bytes() + out.size;
      const uint64_t consumed_to = plan.compressed_begin + (input.size() - state->avail_in);
      complete = std::memcmp(end - kDeflateWindow, plan.next_window.data(), kDeflateWindow) == 0 &&
                 SameDecoderState(*state, consumed_to, *plan.next_state, plan.next_compressed,
                                  input, plan.compressed_begin);
    }
    if (!complete) {
      chunk.status = Status::Error("gzip index does not match the archive (chunk " +
                                   std::to_string(plan.chunk) + ")");
    }
    return chunk;
  }

 private:
  bool ReadRecord(uint64_t i, RecordHead* head, inflate_state* state, std::byte* window) {
    uint64_t at = sizeof(Header) + i * kRecordSize;
    std::vector<std::byte> own_window;
    if (!window) {
      own_window.resize(kDeflateWindow);
      window = own_window.data();
    }
    return ReadExactly(index_fd_.get(), head, sizeof *head, at) &&
           ReadExactly(index_fd_.get(), state, sizeof *state, at + sizeof *head) &&
           ReadExactly(index_fd_.get(), window, kDeflateWindow,
                       at + sizeof *head + sizeof *state) &&
           head->crc == RecordCrc(*state, window) && PlausibleState(*state);
  }

  const GzipIndex& index_;
  common::UniqueFd index_fd_;
  uint64_t file_size_;
  uint64_t max_chunk_ = 0;
};

// The chunk buffers in use at once stay under this whatever the thread count (a buffer is the
// largest chunk, about 16 MiB, plus the window).
constexpr uint64_t kMaxChunkBytes = 160 << 20;

}  // namespace

IndexedGzipDecoder::IndexedGzipDecoder(uint64_t file_size, const GzipIndex& index, int threads)
    : file_size_(file_size),
      index_(index),
      threads_(threads > 0 ? threads
                           : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {}

void IndexedGzipDecoder::Abort() {
  std::lock_guard lock(mu_);
  aborted_ = true;
  if (buffers_) buffers_->Close();
}

IndexedGzipDecoder::~IndexedGzipDecoder() = default;

namespace {

// A chunk on its way: its plan, its compressed bytes gathered from the source's blocks, then
// its inflated block (or why it has none).
struct ChunkInput {
  ChunkPlan plan;
  std::vector<std::byte> bytes;
  Chunk result;
};

// Copies `input`'s compressed span out of the source's blocks, popping more from `in` as
// needed. `held` keeps the blocks that may still hold bytes of later spans: spans overlap by
// kInputSlack, so a block reaching into the last kInputSlack bytes of this span stays for the
// next one, and only blocks wholly before that are let go (the reader's pool is small). An error
// when the source ends first: the reader failed (in.failed()), or the span lies past the file's
// end (the index is not this file's).
Status Gather(BoundedQueue<BlockRef>& in, ChunkInput& input, std::deque<BlockRef>& held) {
  const uint64_t begin = input.plan.compressed_begin, end = input.plan.compressed_end;
  const uint64_t next_span_begin = end - std::min<uint64_t>(end - begin, kInputSlack);
  input.bytes.resize(end - begin);
  uint64_t filled = 0;
  size_t next = 0;  // the held block to copy from next
  while (filled < input.bytes.size()) {
    const uint64_t from = begin + filled;
    const uint64_t needed_from = std::min(from, next_span_begin);
    while (!held.empty() && held.front()->offset + held.front()->size <= needed_from) {
      held.pop_front();
      if (next > 0) --next;
    }
    if (next == held.size()) {
      std::optional<BlockRef> block = in.Pop();
      if (!block) break;
      held.push_back(std::move(*block));
      continue;
    }
    const Block& b = *held[next].get();
    if (b.offset + b.size <= from) {  // wholly behind this span's next byte
      ++next;
      continue;
    }
    if (b.offset > from) break;  // blocks are contiguous: only a forged span points behind them
    const uint64_t n = std::min<uint64_t>(b.offset + b.size, end) - from;
    std::memcpy(input.bytes.data() + filled, b.bytes() + (from - b.offset), n);
    filled += n;
    ++next;
  }
  if (filled == input.bytes.size()) return Status::Ok();
  return Status::Error("gzip index does not match the archive (chunk " +
                       std::to_string(input.plan.chunk) + " lies past its end)");
}

// Chunks decode straight into pooled buffers that then travel down the pipeline, so no byte is
// copied on the way. Buffers: those being decoded or waiting their turn, one the parser holds
// and one spare, under kMaxChunkBytes in all; threads beyond what that allows would only wait.
// Each chunk in flight also holds its compressed span until it is inflated.
struct ChunkBuffers {
  uint64_t buffers;
  int workers;
};

ChunkBuffers SizeChunkBuffers(uint64_t capacity, int threads) {
  const uint64_t by_memory = std::max<uint64_t>(3, kMaxChunkBytes / capacity);
  const uint64_t buffers = std::min<uint64_t>(2 * static_cast<uint64_t>(threads) + 2, by_memory);
  return {buffers, static_cast<int>(std::min<uint64_t>(threads, buffers - 2))};
}

// Gathers each chunk's compressed span from `in`, in order, and submits it; a chunk that cannot
// be planned or gathered is submitted failed (the emitter reports it in order) and ends the
// loop. `*submitted` counts the chunks handed on. False when the reader failed, which reports
// why itself.
bool SubmitChunks(IndexedInflater& inflater, BoundedQueue<BlockRef>& in,
                  common::OrderedWorkers<ChunkInput>& chunks, uint64_t* submitted) {
  std::deque<BlockRef> held;  // blocks that may hold bytes of the next spans too
  for (uint64_t c = 0; c < inflater.chunks(); ++c) {
    ChunkInput input{inflater.Plan(c), {}, {}};
    input.result.status = input.plan.status;
    if (input.plan.status.ok()) {
      const Status gathered = Gather(in, input, held);
      if (!gathered.ok() && in.failed()) return false;
      input.result.status = gathered;
    }
    const bool failed = !input.result.status.ok();
    if (!chunks.Submit(std::move(input)) || failed) return true;
    *submitted = c + 1;
  }
  return true;
}

}  // namespace

// The source arrives in order from the reader (many reads in flight, so a slow disk keeps
// streaming); this thread gathers each chunk's compressed span, the workers inflate chunks, and
// an emitter pushes them out in order. Spans overlap by kInputSlack, so a block may feed two
// chunks.
Status IndexedGzipDecoder::Run(BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& out) {
  IndexedInflater inflater(file_size_, index_);
  STAGING_RETURN_IF_ERROR(inflater.Open());
  const uint64_t total = inflater.chunks();
  const ChunkBuffers sizing = SizeChunkBuffers(inflater.output_capacity(), threads_);
  BlockPool* pool;
  {
    std::lock_guard lock(mu_);
    if (aborted_) return Status::Error("aborted");
    buffers_ = std::make_unique<BlockPool>(sizing.buffers, inflater.output_capacity());
    pool = buffers_.get();
  }
  BlockPool& chunk_pool = *pool;
  const uint64_t ahead = sizing.buffers - 2;

  Status status;  // the first failure in stream order (set by the emitting thread)
  common::OrderedWorkers<ChunkInput> chunks(
      sizing.workers, ahead,
      [&](ChunkInput& input) {
        if (!input.result.status.ok()) return;  // failed before it could be inflated
        // Waits only while the parser and the writer still hold buffers; Close() ends the wait.
        BlockRef block = chunk_pool.Acquire();
        input.result = block ? inflater.Inflate(input.plan, input.bytes, std::move(block))
                             : Chunk{BlockRef(), Status::Error("aborted")};
        input.bytes = {};
      },
      [&](ChunkInput& input) {
        Status failed = input.result.status;
        if (failed.ok() && !out.Push(std::move(input.result.block))) {
          failed = Status::Error("aborted");
        }
        if (failed.ok()) return true;
        status = failed;
        chunk_pool.Close();  // wakes the workers waiting for a buffer
        return false;
      });

  uint64_t c = 0;
  const bool reader_failed = !SubmitChunks(inflater, in, chunks, &c);
  if (c == total) {
    while (in.Pop()) {  // every chunk gathered: the reader has only its end to report
    }
  }
  if (reader_failed) {
    // The reader (or the pipeline's abort) says why; stop here.
    chunks.Cancel();
    chunk_pool.Close();
  }
  const bool all_emitted = chunks.Finish();
  if (!all_emitted && status.ok()) status = Status::Error("aborted");
  return status;
}

}  // namespace staging
