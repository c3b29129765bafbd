// One pass over a download as its bytes arrive: they are written to the partial file, hashed
// (SHA-256, MD5 when asked, and the head and tail that identify an archive to its gzip index),
// and, once the first MiB shows what the file is, fed to the work that would otherwise read the
// file again: the gzip restart-point index of a .tar.gz (ISA-L inflating on a thread of its own),
// the member index of a plain tar (libarchive's pass over the headers, skipping the data, on a
// thread of its own; what training straight from the archive reads) and, with --pack, `stage pack`
// reading the tar through a pipe (the inflated stream of a .tar.gz, the raw bytes of any other
// archive). Memory stays bounded: the feeds block when the side work falls behind, which slows the
// download rather than buffering it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "base/digest.h"
#include "base/source_identity.h"
#include "common/unique_fd.h"
#include "decode/gzip_index.h"
#include "decode/source_format.h"
#include "fetch/digest_thread.h"
#include "inplace/member_index.h"
#include "staging/pack.h"
#include "staging/status.h"

namespace staging {

struct SinkOptions {
  std::string label;              // the file as messages name it
  bool md5 = false;               // also compute MD5
  std::string index_path;         // where a .tar.gz's gzip index goes ("" = build none)
  std::string member_index_path;  // where a plain tar's member index goes ("" = build none)
  std::string pack_path;       // where `stage pack`'s output goes ("" = do not pack); a temp name
  bool random_access = false;  // pack a frame per member (stage pack --random-access)
};

struct SinkResult {
  std::string sha256, md5;
  std::string identity_sha256;  // of the first and last 64 KiB, as IdentifySource hashes them
  std::string kind;             // "tar", "tar.gz", ... or "file"
  bool packed = false;          // pack_path holds the complete packed archive
  PackReport pack;
  std::vector<std::string> warnings;  // side work that failed: the download itself is fine
};

class FetchSink {
 public:
  // `fd` is the partial file, positioned at its end; not owned.
  FetchSink(int fd, SinkOptions options);
  ~FetchSink();  // abandons unfinished side work and its outputs
  FetchSink(const FetchSink&) = delete;
  FetchSink& operator=(const FetchSink&) = delete;

  // The first `length` bytes already in the file (kept from an earlier run): read back once and
  // fed through everything but the write. Call before any Append.
  Status Replay(uint64_t length);
  // New bytes: written at the file's position, then fed through. Not thread-safe.
  Status Append(const void* data, size_t len);
  // Bytes seen so far (for progress; any thread).
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t reread_bytes() const { return reread_; }
  // Ends the stream and waits for the side work. Call once.
  SinkResult Finish();
  // Seals the gzip index for the archive now identified by `source`; false when there is none.
  bool CommitIndex(const SourceIdentity& source);
  // Saves the member index for the plain tar now identified by `source`; false when there is
  // none (not a plain tar, or its headers were damaged: a warning of Finish says so).
  bool CommitMemberIndex(const SourceIdentity& source);

 private:
  void Feed(const std::byte* data, size_t len);
  void Decide();
  void StartSideWork(Codec codec);
  void FeedSide(const std::byte* data, size_t len);
  void PushInputBlock();
  void WriteToPack(const std::byte* data, size_t len);
  void DecodeLoop();
  void DrainLoop();
  void IndexMembersLoop();
  void JoinSideThreads();
  void StopSideWork();
  std::string IdentityDigest() const;

  int fd_;
  SinkOptions options_;
  Sha256 sha256_;
  std::unique_ptr<DigestThread> md5_;  // beside SHA-256, on a core of its own
  std::atomic<uint64_t> bytes_{0};
  uint64_t reread_ = 0;
  std::vector<std::byte> head_;   // the first MiB, until the kind is decided
  std::vector<std::byte> first_;  // the first 64 KiB
  std::vector<std::byte> tail_;   // a ring of the last 64 KiB (all of it allocated at once)
  bool decided_ = false;
  std::string kind_ = "file";
  // Side work: inflate for the index (and pack), raw bytes to pack, or a plain tar's headers for
  // its member index (then in_ carries the raw bytes).
  std::unique_ptr<GzipIndexWriter> index_;
  std::unique_ptr<MemberIndex> member_index_;
  Status member_index_status_;
  std::unique_ptr<BlockPool> in_pool_, out_pool_;
  std::unique_ptr<BoundedQueue<BlockRef>> in_, out_;
  BlockRef current_;
  uint64_t fed_ = 0;
  common::UniqueFd pipe_write_, pipe_read_;
  std::thread decoder_, drain_, packer_, member_indexer_;
  Status decode_status_;
  PackReport pack_report_;
  bool finished_ = false;
};

}  // namespace staging
