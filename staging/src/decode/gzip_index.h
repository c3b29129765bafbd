// Restart points inside a gzip stream, so that a later staging of the same archive can inflate
// chunks in parallel (the idea of zlib's zran and rapidgzip's index). A restart point is ISA-L's
// whole decoder state where an output block filled, at known compressed and decoded offsets,
// plus the 32 KiB of output before it that back-references may reach.
//
// The index file is written while the first staging inflates the archive sequentially (records
// stream to disk: memory stays bounded), and is kept beside the archive or in a cache directory.
// It records the archive's identity (size, mtime, checksum of its head and tail) and ISA-L's
// version and state layout; any mismatch makes it ignored. Nothing in it is trusted: while
// decoding in parallel, every chunk must end in exactly the decoder state and 32 KiB window the
// index holds for the next point (so each point is vouched for by the real decode before it, back
// to the stream's start), and the last one at the gzip trailer's CRC and length; else the staging
// fails and is redone sequentially. A stale, damaged or forged index never yields wrong output.
#pragma once

#include <isa-l/igzip_lib.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "base/source_identity.h"
#include "common/file_io.h"
#include "decode/decoder.h"
#include "staging/status.h"

namespace staging {

inline constexpr size_t kDeflateWindow = 32 * 1024;
inline constexpr uint64_t kRestartSpacing = 16 << 20;  // decoded bytes between restart points

// Receives restart points while a gzip stream is decoded sequentially.
class RestartPointSink {
 public:
  virtual ~RestartPointSink() = default;
  // `window_end` points just past the last decoded byte; the kDeflateWindow bytes before it are
  // valid for the duration of the call.
  virtual void Offer(const inflate_state& state, uint64_t compressed_offset,
                     uint64_t decoded_offset, const std::byte* window_end) = 0;
  // The stream cannot be indexed (e.g. several gzip members); drop what was recorded.
  virtual void Abandon() = 0;
  // The stream decoded completely to `decoded_size` bytes.
  virtual void End(uint64_t decoded_size) = 0;
};

// Writes an index file while the first staging decodes. Not thread-safe: the decoder's thread.
class GzipIndexWriter : public RestartPointSink {
 public:
  // Starts `path` (through a temporary file beside it). Without a writable place, records nothing.
  GzipIndexWriter(std::string path, const SourceIdentity& source);
  ~GzipIndexWriter() override;
  void Offer(const inflate_state& state, uint64_t compressed_offset, uint64_t decoded_offset,
             const std::byte* window_end) override;
  void Abandon() override;
  void End(uint64_t decoded_size) override;
  // Seals the index once the stream decoded completely and staging succeeded; false if it
  // could not (nothing is left behind then).
  bool Commit();
  // The same, for an index built while the archive itself was still being written (stage fetch):
  // its identity, known only now, replaces the one given to the constructor.
  bool Commit(const SourceIdentity& source);

 private:
  bool Append(const void* data, size_t len);

  std::unique_ptr<common::AtomicFile> file_;  // null once abandoned
  uint64_t count_ = 0;
  uint64_t last_decoded_ = 0;
  std::optional<uint64_t> decoded_size_;
};

struct GzipIndex {
  uint64_t decoded_size = 0;
  uint64_t points = 0;
  std::string path;  // the file holding the points, read per chunk
};

// Reads the index at `path` if it matches `source` and this build of ISA-L; false otherwise, with
// `*note` (optional) saying why a file that is there was not used ("" when there is none). The
// file is untrusted: a symlink, FIFO or device is refused without blocking, its length is capped
// by what an index of `source` can need, and its counts are checked against that length.
bool LoadGzipIndex(const std::string& path, const SourceIdentity& source, GzipIndex* index,
                   std::string* note = nullptr);

// The longest index an archive of `source_size` bytes can have.
uint64_t MaxGzipIndexBytes(uint64_t source_size);

// Where the index of `source` lives: beside it when that directory is writable, else in
// `cache_dir` (empty: $XDG_CACHE_HOME/stage or ~/.cache/stage).
std::string GzipIndexPath(const std::string& source, const std::string& cache_dir);

}  // namespace staging
