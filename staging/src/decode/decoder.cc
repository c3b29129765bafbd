#include "decode/decoder.h"

#include <isa-l/igzip_lib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <memory>
#include <string>

#include "base/bounded_queue.h"
#include "decode/gzip_index.h"
#include "decode/indexed_gzip.h"
#include "decode/parallel_zstd.h"

namespace staging {
namespace {

std::string At(uint64_t offset) { return " at compressed byte " + std::to_string(offset); }

// Hands out decoded blocks: fills one from the pool, pushes it when full.
class OutputBlocks {
 public:
  OutputBlocks(BlockPool& pool, BoundedQueue<BlockRef>& out) : pool_(pool), out_(out) {}
  // On an error, what was decoded before it still goes out: the tar parser then names the entry
  // the damage cut short.
  ~OutputBlocks() { Flush(); }

  // The writable tail of the current block; acquires a new one when needed.
  Status Space(std::byte** data, size_t* size) {
    if (!current_) {
      current_ = pool_.Acquire();
      if (!current_) return Status::Error("aborted");
      current_->offset = produced_;
    }
    *data = current_->data + current_->size;
    *size = current_->capacity - current_->size;
    return Status::Ok();
  }
  Status Commit(size_t n) {
    current_->size += n;
    produced_ += n;
    if (current_->size == current_->capacity) return Flush();
    return Status::Ok();
  }
  Status Flush() {
    if (!current_ || current_->size == 0) return Status::Ok();
    if (!out_.Push(std::move(current_))) return Status::Error("aborted");
    current_.reset();
    return Status::Ok();
  }
  uint64_t produced() const { return produced_; }

 private:
  BlockPool& pool_;
  BoundedQueue<BlockRef>& out_;
  BlockRef current_;
  uint64_t produced_ = 0;
};

Status PassThrough(BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& out) {
  while (std::optional<BlockRef> block = in.Pop()) {
    if (!out.Push(std::move(*block))) return Status::Error("aborted");
  }
  return Status::Ok();
}

const char* IsalError(int rc) {
  switch (rc) {
    case ISAL_INVALID_BLOCK:
      return "invalid deflate block";
    case ISAL_INVALID_SYMBOL:
      return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK:
      return "invalid deflate distance";
    case ISAL_INVALID_WRAPPER:
      return "invalid gzip header";
    case ISAL_INCORRECT_CHECKSUM:
      return "gzip checksum mismatch (corrupt data)";
    default:
      return "gzip decoding failed";
  }
}

// At the end of a gzip member, with the rest of the input block in `state`: starts the next
// member if one follows (`*started`), or checks that only zero padding is left.
Status StartNextMember(inflate_state* state, uint64_t consumed, bool* started) {
  *started = false;
  if (state->avail_in == 0) return Status::Ok();
  // A new member must start with the gzip magic; trailing zeros (padding) end the stream.
  if (state->next_in[0] != 0x1f) {
    for (uint32_t i = 0; i < state->avail_in; ++i) {
      if (state->next_in[i] != 0) {
        return Status::Error("garbage after gzip stream" + At(consumed + i));
      }
    }
    state->avail_in = 0;
    return Status::Ok();
  }
  isal_inflate_reset(state);
  state->crc_flag = ISAL_GZIP;
  *started = true;
  return Status::Ok();
}

// gzip, possibly several members back to back (as `cat a.gz b.gz` or pigz make).
Status InflateGzip(BoundedQueue<BlockRef>& in, BlockPool& pool, BoundedQueue<BlockRef>& out,
                   RestartPointSink* restart_points) {
  auto state = std::make_unique<inflate_state>();
  isal_inflate_init(state.get());
  state->crc_flag = ISAL_GZIP;
  OutputBlocks output(pool, out);
  uint64_t consumed = 0;  // compressed bytes fully handed to ISA-L
  bool member_started = false;
  int members = 0;
  while (std::optional<BlockRef> block = in.Pop()) {
    state->next_in = reinterpret_cast<uint8_t*>((*block)->bytes());
    state->avail_in = (*block)->size;
    while (state->avail_in > 0 || state->block_state == ISAL_BLOCK_FINISH) {
      if (state->block_state == ISAL_BLOCK_FINISH) {
        ++members;
        member_started = false;
        bool next_member = false;
        STAGING_RETURN_IF_ERROR(StartNextMember(state.get(), consumed, &next_member));
        if (!next_member) break;
        if (restart_points) restart_points->Abandon();  // several gzip members: no index
      }
      std::byte* dst;
      size_t space;
      STAGING_RETURN_IF_ERROR(output.Space(&dst, &space));
      uint32_t before_in = state->avail_in;
      state->next_out = reinterpret_cast<uint8_t*>(dst);
      state->avail_out = static_cast<uint32_t>(space);
      int rc = isal_inflate(state.get());
      member_started = true;
      consumed += before_in - state->avail_in;
      if (rc < 0) {
        output.Commit(space - state->avail_out);  // for the parser, to name the entry it hits
        return Status::Error(std::string(IsalError(rc)) + At(consumed));
      }
      size_t produced = space - state->avail_out;
      // A full output block is a restart point: the state plus the window just written.
      if (restart_points && state->avail_out == 0 && state->block_state != ISAL_BLOCK_FINISH) {
        restart_points->Offer(*state, consumed, output.produced() + produced, dst + produced);
      }
      STAGING_RETURN_IF_ERROR(output.Commit(produced));
      if (produced == 0 && before_in == state->avail_in &&
          state->block_state != ISAL_BLOCK_FINISH) {
        break;  // needs more input
      }
    }
  }
  if (member_started && state->block_state != ISAL_BLOCK_FINISH) {
    return Status::Error("truncated gzip stream: input ends" + At(consumed));
  }
  if (members == 0 && !member_started) return Status::Error("empty gzip stream");
  if (restart_points) restart_points->End(output.produced());
  return output.Flush();
}

Status DecompressZstd(BoundedQueue<BlockRef>& in, BlockPool& pool, BoundedQueue<BlockRef>& out) {
  std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kZstdMaxWindowLog);
  OutputBlocks output(pool, out);
  uint64_t consumed = 0;
  size_t last_hint = 1;  // 0 once a frame is complete
  while (std::optional<BlockRef> block = in.Pop()) {
    ZSTD_inBuffer input{(*block)->bytes(), (*block)->size, 0};
    while (input.pos < input.size) {
      std::byte* dst;
      size_t space;
      STAGING_RETURN_IF_ERROR(output.Space(&dst, &space));
      ZSTD_outBuffer output_buffer{dst, space, 0};
      size_t before = input.pos;
      last_hint = ZSTD_decompressStream(dctx.get(), &output_buffer, &input);
      consumed += input.pos - before;
      if (ZSTD_isError(last_hint)) {
        std::string cause = ZSTD_getErrorName(last_hint);
        if (ZSTD_getErrorCode(last_hint) == ZSTD_error_frameParameter_windowTooLarge) {
          cause +=
              " (window above the " + std::to_string(1 << (kZstdMaxWindowLog - 20)) + " MiB limit)";
        }
        output.Commit(output_buffer.pos);  // for the parser, to name the entry it hits
        return Status::Error("zstd: " + cause + At(consumed));
      }
      STAGING_RETURN_IF_ERROR(output.Commit(output_buffer.pos));
    }
  }
  // Drain what zstd still holds once the input is exhausted.
  while (last_hint != 0) {
    std::byte* dst;
    size_t space;
    STAGING_RETURN_IF_ERROR(output.Space(&dst, &space));
    ZSTD_inBuffer input{nullptr, 0, 0};
    ZSTD_outBuffer output_buffer{dst, space, 0};
    last_hint = ZSTD_decompressStream(dctx.get(), &output_buffer, &input);
    if (ZSTD_isError(last_hint))
      return Status::Error(std::string("zstd: ") + ZSTD_getErrorName(last_hint) + At(consumed));
    STAGING_RETURN_IF_ERROR(output.Commit(output_buffer.pos));
    if (output_buffer.pos == 0 && last_hint != 0) {
      return Status::Error("truncated zstd stream: input ends" + At(consumed));
    }
  }
  return output.Flush();
}

}  // namespace

Status DecodeStream(Codec codec, BoundedQueue<BlockRef>& in, BlockPool& pool,
                    BoundedQueue<BlockRef>& out, RestartPointSink* restart_points) {
  switch (codec) {
    case Codec::kGzip:
      return InflateGzip(in, pool, out, restart_points);
    case Codec::kZstd:
      return DecompressZstd(in, pool, out);
    default:
      return PassThrough(in, out);
  }
}

namespace {

constexpr size_t kDecodedBlockSize = 4 << 20;
constexpr size_t kDecodedBlocks = 10;

// One stream, on one thread, into blocks of its own pool.
class SequentialDecoder : public Decoder {
 public:
  SequentialDecoder(Codec codec, RestartPointSink* restart_points)
      : codec_(codec), restart_points_(restart_points), pool_(kDecodedBlocks, kDecodedBlockSize) {}
  Status Run(BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& out) override {
    return DecodeStream(codec_, in, pool_, out, restart_points_);
  }
  void Abort() override { pool_.Close(); }
  int busy_cores() const override { return codec_ == Codec::kNone ? 0 : 1; }

 private:
  Codec codec_;
  RestartPointSink* restart_points_;
  BlockPool pool_;
};

}  // namespace

Codec LeftForLibarchive(Codec codec) {
  return codec == Codec::kGzip || codec == Codec::kZstd ? Codec::kNone : codec;
}

std::unique_ptr<Decoder> MakeDecoder(const DecoderChoice& choice) {
  if (choice.codec == Codec::kGzip && choice.gzip_index) {
    return std::make_unique<IndexedGzipDecoder>(choice.size, *choice.gzip_index, 0);
  }
  if (choice.codec == Codec::kZstd && choice.parallel) {
    if (std::unique_ptr<ParallelZstdDecoder> parallel =
            MakeParallelZstdDecoder(choice.fd, choice.size)) {
      return parallel;
    }
  }
  const Codec decoded_here =
      LeftForLibarchive(choice.codec) == Codec::kNone ? choice.codec : Codec::kNone;
  return std::make_unique<SequentialDecoder>(decoded_here, choice.restart_points);
}

}  // namespace staging
