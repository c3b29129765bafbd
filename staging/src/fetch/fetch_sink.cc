#include "fetch/fetch_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/pread_full.h"
#include "common/file_io.h"
#include "inplace/header_pass.h"
#include "inplace/tar_stream.h"

namespace staging {
namespace {

constexpr size_t kDetectBytes = 1 << 20;     // as much of the head as staging looks at
constexpr size_t kIdentitySpan = 64 * 1024;  // hashed at each end, as IdentifySource does
constexpr size_t kInputBlock = 1 << 20;
constexpr size_t kInputBlocks = 8;
constexpr size_t kDecodedBlock = 4 << 20;
constexpr size_t kDecodedBlocks = 4;
constexpr size_t kReplayChunk = 4 << 20;
constexpr int kPipeBytes = 1 << 20;

}  // namespace

FetchSink::FetchSink(int fd, SinkOptions options) : fd_(fd), options_(std::move(options)) {
  if (options_.md5) md5_ = std::make_unique<DigestThread>(Digest::Algorithm::kMd5);
  tail_.resize(kIdentitySpan);
}

FetchSink::~FetchSink() {
  if (!finished_) StopSideWork();
  if (!finished_ && !options_.pack_path.empty()) unlink(options_.pack_path.c_str());
}

Status FetchSink::Replay(uint64_t length) {
  std::vector<std::byte> buffer(std::min<uint64_t>(length, kReplayChunk));
  for (uint64_t done = 0; done < length;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), length - done));
    ssize_t n = PreadFull(fd_, buffer.data(), want, done);
    if (n < 0) return Status::FromErrno(options_.label + ": read back", errno);
    if (static_cast<size_t>(n) < want) {
      return Status::Error(options_.label + ": the partial file shrank while read back");
    }
    Feed(buffer.data(), want);
    done += want;
  }
  reread_ += length;
  return Status::Ok();
}

Status FetchSink::Append(const void* data, size_t len) {
  if (int error = common::WriteAll(fd_, data, len)) {
    return Status::FromErrno(options_.label + ": write", error);
  }
  Feed(static_cast<const std::byte*>(data), len);
  return Status::Ok();
}

void FetchSink::Feed(const std::byte* data, size_t len) {
  sha256_.Update(data, len);
  if (md5_) md5_->Update(data, len);
  const uint64_t before = bytes_.load(std::memory_order_relaxed);
  // The tail ring: tail_[i] holds the byte at stream offset k with k % span == i. At most two
  // copies per call (a byte at a time, this loop was a fifth of the whole download's CPU).
  const size_t keep = std::min(len, kIdentitySpan);
  const size_t slot = static_cast<size_t>((before + len - keep) % kIdentitySpan);
  const size_t first = std::min(keep, kIdentitySpan - slot);
  std::memcpy(tail_.data() + slot, data + len - keep, first);
  std::memcpy(tail_.data(), data + len - keep + first, keep - first);
  bytes_.store(before + len, std::memory_order_relaxed);
  if (decided_) return FeedSide(data, len);
  head_.insert(head_.end(), data, data + len);
  if (head_.size() >= kDetectBytes) Decide();
}

void FetchSink::Decide() {
  decided_ = true;
  const Codec codec = DetectCodec(head_.data(), head_.size());
  if (LooksLikeTarArchive(head_.data(), head_.size())) {
    kind_ = ArchiveKindName(codec);
    StartSideWork(codec);
  }
  std::vector<std::byte> head = std::move(head_);
  head_.clear();
  head_.shrink_to_fit();
  FeedSide(head.data(), head.size());
  first_.assign(head.begin(), head.begin() + std::min(head.size(), kIdentitySpan));
}

void FetchSink::StartSideWork(Codec codec) {
  const bool pack = !options_.pack_path.empty();
  if (pack) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) == 0) {
      pipe_read_.reset(fds[0]);
      pipe_write_.reset(fds[1]);
      fcntl(pipe_write_.get(), F_SETPIPE_SZ, kPipeBytes);  // fewer wake-ups; a hint
      PackOptions pack_options;
      pack_options.from = options_.label;
      pack_options.to = options_.pack_path;
      pack_options.from_fd = pipe_read_.get();
      pack_options.hash_output = true;  // for its .sha256, without reading it back
      pack_options.random_access = options_.random_access;
      packer_ = std::thread([this, pack_options] {
        pack_report_ = Pack(pack_options);
        pipe_read_.reset();  // a writer still feeding gets EPIPE and stops
      });
    } else {
      pack_report_.status = Status::FromErrno("pipe", errno);
    }
  }
  if (codec == Codec::kNone && !pack && !options_.member_index_path.empty()) {
    in_pool_ = std::make_unique<BlockPool>(kInputBlocks, kInputBlock);
    in_ = std::make_unique<BoundedQueue<BlockRef>>(kInputBlocks);
    member_index_ = std::make_unique<MemberIndex>();
    member_indexer_ = std::thread([this] { IndexMembersLoop(); });
    return;
  }
  if (codec != Codec::kGzip || (options_.index_path.empty() && !pack)) return;
  // The index is what a later staging needs; with --pack the packed archive replaces it.
  if (!pack && !options_.index_path.empty()) {
    index_ = std::make_unique<GzipIndexWriter>(options_.index_path, SourceIdentity{});
  }
  in_pool_ = std::make_unique<BlockPool>(kInputBlocks, kInputBlock);
  out_pool_ = std::make_unique<BlockPool>(kDecodedBlocks, kDecodedBlock);
  in_ = std::make_unique<BoundedQueue<BlockRef>>(kInputBlocks);
  out_ = std::make_unique<BoundedQueue<BlockRef>>(kDecodedBlocks);
  decoder_ = std::thread([this] { DecodeLoop(); });
  drain_ = std::thread([this] { DrainLoop(); });
}

void FetchSink::FeedSide(const std::byte* data, size_t len) {
  if (in_) {
    while (len > 0 && in_) {
      if (!current_) {
        current_ = in_pool_->Acquire();
        if (!current_) return;
        current_->offset = fed_;
      }
      size_t n = std::min(len, current_->capacity - current_->size);
      std::memcpy(current_->data + current_->size, data, n);
      current_->size += n;
      fed_ += n;
      data += n;
      len -= n;
      if (current_->size == current_->capacity) PushInputBlock();
    }
  } else if (pipe_write_.valid()) {
    WriteToPack(data, len);
  }
}

void FetchSink::PushInputBlock() {
  if (current_ && current_->size > 0 && !in_->Push(std::move(current_))) {
    // The decoder stopped on an error it reports at the end; the download goes on without it.
    in_pool_->Close();
  }
  current_.reset();
}

void FetchSink::WriteToPack(const std::byte* data, size_t len) {
  if (pipe_write_.valid() && common::WriteAll(pipe_write_.get(), data, len) != 0) {
    pipe_write_.reset();  // pack stopped; it says why
  }
}

void FetchSink::DecodeLoop() {
  decode_status_ = DecodeStream(Codec::kGzip, *in_, *out_pool_, *out_, index_.get());
  if (!decode_status_.ok()) {
    in_->Fail();
    if (index_) index_->Abandon();
  }
  out_->Close();
}

void FetchSink::DrainLoop() {
  while (std::optional<BlockRef> block = out_->Pop())
    WriteToPack((*block)->bytes(), (*block)->size);
  pipe_write_.reset();  // the end of the tar stream for pack
}

// The headers are read as the bytes pass; the data is skipped. Once the pass ends (at the tar's
// end, or on damage) the feed is refused, so the download goes on without it.
void FetchSink::IndexMembersLoop() {
  std::unique_ptr<TarStream> stream = ArrivingTarStream(*in_);
  member_index_status_ = BuildMemberIndex(*stream, options_.label, nullptr, member_index_.get());
  in_->Fail();
}

void FetchSink::JoinSideThreads() {
  for (std::thread* t : {&decoder_, &drain_, &member_indexer_}) {
    if (t->joinable()) t->join();
  }
}

void FetchSink::StopSideWork() {
  if (in_) {
    in_->Fail();
    in_pool_->Close();
  }
  if (out_) {
    out_pool_->Close();
    out_->Fail();
  }
  JoinSideThreads();
  pipe_write_.reset();
  if (packer_.joinable()) packer_.join();
  index_.reset();
}

SinkResult FetchSink::Finish() {
  SinkResult result;
  if (!decided_) Decide();
  if (in_) {
    PushInputBlock();
    in_->Close();
    JoinSideThreads();
  }
  pipe_write_.reset();  // the end of the tar stream for pack (the drain thread's, if any, is done)
  if (packer_.joinable()) packer_.join();
  finished_ = true;
  result.sha256 = sha256_.HexDigest();
  if (md5_) result.md5 = md5_->HexDigest();
  result.identity_sha256 = IdentityDigest();
  result.kind = kind_;
  if (!decode_status_.ok()) {
    result.warnings.push_back("not indexed: " + decode_status_.message());
    index_.reset();
  }
  if (member_index_ && member_index_status_.ok()) {
    // The pass could not know the file's size while it arrived, so it could not see a tar cut
    // short within a member's data: the record that runs past the end says so now.
    for (const MemberRecord& record : member_index_->records) {
      if (record.offset + record.size > bytes()) {
        member_index_status_ = Status::Error(options_.label + ": " + record.name +
                                             ": truncated tar archive (the member runs past "
                                             "the end of the file)");
        break;
      }
    }
  }
  if (member_index_ && !member_index_status_.ok()) {
    result.warnings.push_back("no member index: " + member_index_status_.message());
    member_index_.reset();
  }
  if (!options_.pack_path.empty() && kind_ != "file") {
    result.pack = pack_report_;
    result.packed = pack_report_.status.ok() && decode_status_.ok();
    if (!result.packed) {
      const Status& why = decode_status_.ok() ? pack_report_.status : decode_status_;
      result.warnings.push_back("not packed: " + why.message());
      unlink(options_.pack_path.c_str());
    }
  }
  return result;
}

bool FetchSink::CommitIndex(const SourceIdentity& source) {
  if (!index_) return false;
  bool ok = index_->Commit(source);
  index_.reset();
  return ok;
}

bool FetchSink::CommitMemberIndex(const SourceIdentity& source) {
  if (!member_index_) return false;
  member_index_->layout = MemberLayout::kPlainTar;
  member_index_->stream_size = source.size;
  const bool saved = SaveMemberIndex(options_.member_index_path, *member_index_, source).empty();
  member_index_.reset();
  return saved;
}

std::string FetchSink::IdentityDigest() const {
  // IdentifySource hashes min(size, 64 KiB) bytes from the start, then as many from the end.
  const uint64_t size = bytes();
  const size_t span = static_cast<size_t>(std::min<uint64_t>(size, kIdentitySpan));
  std::vector<std::byte> last(span);
  for (uint64_t k = size - span; k < size; ++k) last[k - (size - span)] = tail_[k % kIdentitySpan];
  Sha256 hash;
  hash.Update(first_.data(), first_.size());
  hash.Update(last.data(), last.size());
  return hash.HexDigest();
}

}  // namespace staging
