#include "gzip_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "pread_full.h"
#include "unique_fd.h"
#include "write_all.h"

#ifndef STAGE_ISAL_VERSION
#define STAGE_ISAL_VERSION "unknown"
#endif

namespace staging {
namespace {

constexpr char kHeaderMagic[8] = {'S', 'T', 'G', 'Z', 'I', 'D', 'X', '1'};
constexpr char kFooterMagic[8] = {'S', 'T', 'G', 'Z', 'E', 'N', 'D', '1'};
constexpr size_t kInputSlack = 64 * 1024;

// The header ties the index to one archive and one decoder-state layout.
struct Header {
  char magic[8];
  uint32_t state_size;
  uint32_t window_size;
  char isal_version[16];
  uint64_t source_size;
  int64_t source_mtime_ns;
  char head_sha256[64];
};

struct RecordHead {
  uint64_t compressed;
  uint64_t decoded;
  uint32_t crc;  // of the saved state and window: a damaged record is refused, not decoded
  uint32_t reserved;
};

struct Footer {
  uint64_t count;
  uint64_t decoded_size;
  char magic[8];
};

constexpr size_t kRecordSize = sizeof(RecordHead) + sizeof(inflate_state) + kDeflateWindow;

Header MakeHeader(const SourceIdentity& source) {
  Header h{};
  std::memcpy(h.magic, kHeaderMagic, sizeof h.magic);
  h.state_size = sizeof(inflate_state);
  h.window_size = kDeflateWindow;
  std::strncpy(h.isal_version, STAGE_ISAL_VERSION, sizeof h.isal_version - 1);
  h.source_size = source.size;
  h.source_mtime_ns = source.mtime_ns;
  std::memcpy(h.head_sha256, source.head_sha256.data(),
              std::min<size_t>(64, source.head_sha256.size()));
  return h;
}

bool ReadExactly(int fd, void* buf, size_t len, uint64_t offset) {
  return PreadFull(fd, buf, len, offset) == static_cast<ssize_t>(len);
}

uint32_t RecordCrc(const inflate_state& state, const std::byte* window) {
  uLong crc = crc32(0, reinterpret_cast<const Bytef*>(&state), sizeof state);
  return static_cast<uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(window), kDeflateWindow));
}

// Fields ISA-L indexes memory with must be in range before it runs on a loaded state.
bool PlausibleState(const inflate_state& s) {
  return s.block_state <= ISAL_BLOCK_FINISH && s.read_in_length >= 0 && s.read_in_length <= 64 &&
         s.tmp_in_size >= 0 && s.tmp_in_size <= ISAL_DEF_MAX_HDR_SIZE && s.tmp_out_valid >= 0 &&
         s.tmp_out_processed >= 0 && s.tmp_out_processed <= s.tmp_out_valid &&
         static_cast<size_t>(s.tmp_out_valid) <= sizeof s.tmp_out_buffer &&
         s.copy_overflow_distance >= 0 &&
         s.copy_overflow_distance <= static_cast<int>(kDeflateWindow) &&
         s.copy_overflow_length >= 0 && s.write_overflow_len >= 0 && s.hist_bits <= 15;
}

bool WritableDirectory(const std::filesystem::path& dir) {
  return access(dir.c_str(), W_OK | X_OK) == 0;
}

}  // namespace

GzipIndexWriter::GzipIndexWriter(std::string path, const SourceIdentity& source)
    : path_(std::move(path)), temp_(path_ + ".tmp." + std::to_string(getpid())) {
  file_ = std::fopen(temp_.c_str(), "wbe");
  if (!file_) return;
  Header header = MakeHeader(source);
  if (std::fwrite(&header, sizeof header, 1, file_) != 1) Abandon("write failed");
}

GzipIndexWriter::~GzipIndexWriter() {
  if (file_) Abandon("not committed");
}

void GzipIndexWriter::Offer(const inflate_state& state, uint64_t compressed_offset,
                            uint64_t decoded_offset, const std::byte* window_end) {
  if (!file_ || decoded_offset - last_decoded_ < kRestartSpacing) return;
  RecordHead head{compressed_offset, decoded_offset, RecordCrc(state, window_end - kDeflateWindow),
                  0};
  bool ok = std::fwrite(&head, sizeof head, 1, file_) == 1 &&
            std::fwrite(&state, sizeof state, 1, file_) == 1 &&
            std::fwrite(window_end - kDeflateWindow, kDeflateWindow, 1, file_) == 1;
  if (!ok) return Abandon("write failed");
  last_decoded_ = decoded_offset;
  ++count_;
}

void GzipIndexWriter::Abandon(const std::string&) {
  if (!file_) return;
  std::fclose(file_);
  file_ = nullptr;
  unlink(temp_.c_str());
}

void GzipIndexWriter::End(uint64_t decoded_size) { decoded_size_ = decoded_size; }

bool GzipIndexWriter::Commit() {
  if (!file_ || !decoded_size_) return false;
  uint64_t decoded_size = *decoded_size_;
  if (count_ == 0) {  // too small to be worth parallel decoding
    Abandon("no restart points");
    return false;
  }
  Footer footer{count_, decoded_size, {}};
  std::memcpy(footer.magic, kFooterMagic, sizeof footer.magic);
  bool ok = std::fwrite(&footer, sizeof footer, 1, file_) == 1 && std::fflush(file_) == 0 &&
            fsync(fileno(file_)) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok || rename(temp_.c_str(), path_.c_str()) != 0) {
    unlink(temp_.c_str());
    return false;
  }
  return true;
}

bool LoadGzipIndex(const std::string& path, const SourceIdentity& source, GzipIndex* index) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || fstat(fd.get(), &st) < 0) return false;
  Header header, expected = MakeHeader(source);
  Footer footer;
  if (static_cast<size_t>(st.st_size) < sizeof header + sizeof footer ||
      !ReadExactly(fd.get(), &header, sizeof header, 0) ||
      !ReadExactly(fd.get(), &footer, sizeof footer, st.st_size - sizeof footer)) {
    return false;
  }
  if (std::memcmp(&header, &expected, sizeof header) != 0) return false;  // another archive
  if (std::memcmp(footer.magic, kFooterMagic, sizeof footer.magic) != 0) return false;
  if (sizeof header + footer.count * kRecordSize + sizeof footer !=
      static_cast<uint64_t>(st.st_size)) {
    return false;
  }
  index->decoded_size = footer.decoded_size;
  index->points = footer.count;
  index->path = path;
  return true;
}

std::string GzipIndexPath(const std::string& source, const std::string& cache_dir) {
  namespace fs = std::filesystem;
  fs::path beside = fs::path(source).parent_path();
  if (WritableDirectory(beside)) return source + kGzipIndexSuffix;
  fs::path cache = cache_dir;
  if (cache.empty()) {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    cache = xdg && *xdg ? fs::path(xdg) / "stage" : fs::path(home ? home : "/tmp") / ".cache/stage";
  }
  std::error_code ec;
  fs::create_directories(cache, ec);
  std::string flat = source;
  std::replace(flat.begin(), flat.end(), '/', '%');
  return (cache / (flat + kGzipIndexSuffix)).string();
}

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

class IndexedInflater {
 public:
  IndexedInflater(int fd, const GzipIndex& index, std::atomic<uint64_t>* source_bytes)
      : fd_(fd), index_(index), source_bytes_(source_bytes) {}

  Status Open() {
    index_fd_.reset(open(index_.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!index_fd_.valid()) return Status::FromErrno(index_.path, errno);
    struct stat st;
    if (fstat(fd_, &st) < 0) return Status::FromErrno("stat", errno);
    file_size_ = st.st_size;
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

  // Chunk c runs from restart point c-1 (the stream's start for c = 0) to point c (its end).
  // `input` is the caller's scratch (reused); `block` holds output_capacity() bytes.
  Chunk Decode(uint64_t c, std::vector<std::byte>& input, BlockRef block) {
    Chunk chunk;
    chunk.block = std::move(block);
    auto state = std::make_unique<inflate_state>();
    uint64_t compressed_begin = 0, decoded_begin = 0;
    std::vector<std::byte> window(kDeflateWindow);
    if (c == 0) {
      isal_inflate_init(state.get());
      state->crc_flag = ISAL_GZIP;
    } else {
      RecordHead head;
      if (!ReadRecord(c - 1, &head, state.get(), window.data())) {
        chunk.status = Status::Error("gzip index: damaged restart point; it will be rebuilt");
        return chunk;
      }
      compressed_begin = head.compressed;
      decoded_begin = head.decoded;
    }
    uint64_t compressed_end = file_size_, decoded_end = index_.decoded_size;
    std::optional<uint32_t> expected_crc;
    if (c < index_.points) {
      RecordHead head;
      auto next_state = std::make_unique<inflate_state>();
      if (!ReadRecord(c, &head, next_state.get(), nullptr)) {
        chunk.status = Status::Error("gzip index: unreadable restart point");
        return chunk;
      }
      compressed_end = std::min<uint64_t>(file_size_, head.compressed + kInputSlack);
      decoded_end = head.decoded;
      expected_crc = next_state->crc;
    }
    if (compressed_end < compressed_begin || decoded_end < decoded_begin) {
      chunk.status = Status::Error("gzip index: restart points out of order");
      return chunk;
    }
    // Deflate never takes much more room than its output (stored blocks add 5 bytes in 64 KiB):
    // a longer compressed span is a forged point, and would size the input buffer.
    const uint64_t decoded_span = decoded_end - decoded_begin;
    if (compressed_end - compressed_begin > decoded_span + decoded_span / 64 + 2 * kInputSlack) {
      chunk.status = Status::Error("gzip index: restart point " + std::to_string(c) +
                                   " spans more compressed bytes than it could decode to");
      return chunk;
    }
    input.resize(compressed_end - compressed_begin);
    if (!ReadExactly(fd_, input.data(), input.size(), compressed_begin)) {
      chunk.status = Status::FromErrno("read at byte " + std::to_string(compressed_begin),
                                       errno ? errno : EIO);
      return chunk;
    }
    if (source_bytes_) *source_bytes_ += input.size();
    Block& out = *chunk.block.get();
    out.begin = kDeflateWindow;
    out.size = decoded_end - decoded_begin;
    out.offset = decoded_begin;
    std::memcpy(out.data.get(), window.data(), kDeflateWindow);
    // ISA-L reaches back into the output buffer itself: the window sits right before it.
    state->next_in = reinterpret_cast<uint8_t*>(input.data());
    state->avail_in = static_cast<uint32_t>(input.size());
    state->next_out = reinterpret_cast<uint8_t*>(out.bytes());
    state->avail_out = static_cast<uint32_t>(out.size);
    while (state->avail_out > 0 && state->block_state != ISAL_BLOCK_FINISH) {
      uint32_t before_in = state->avail_in, before_out = state->avail_out;
      int rc = isal_inflate(state.get());
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
    if (!complete) {
      chunk.status = Status::Error("gzip index does not match the archive (chunk " +
                                   std::to_string(c) + "); it will be rebuilt");
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

  int fd_;
  const GzipIndex& index_;
  std::atomic<uint64_t>* source_bytes_;
  UniqueFd index_fd_;
  uint64_t file_size_ = 0;
  uint64_t max_chunk_ = 0;
};

// The chunk buffers in use at once stay under this whatever the thread count (a buffer is the
// largest chunk, about 16 MiB, plus the window).
constexpr uint64_t kMaxChunkBytes = 160 << 20;

}  // namespace

IndexedGzipDecoder::IndexedGzipDecoder(int fd, const GzipIndex& index, int threads,
                                       std::atomic<uint64_t>* source_bytes)
    : fd_(fd), index_(index), threads_(std::max(1, threads)), source_bytes_(source_bytes) {}

IndexedGzipDecoder::~IndexedGzipDecoder() = default;

Status IndexedGzipDecoder::Decode(BoundedQueue<BlockRef>& out) {
  IndexedInflater inflater(fd_, index_, source_bytes_);
  STAGING_RETURN_IF_ERROR(inflater.Open());
  const int threads = threads_;
  const uint64_t total = inflater.chunks();
  // Chunks decode straight into pooled buffers that then travel down the pipeline, so no byte is
  // copied on the way. Buffers: those being decoded or waiting their turn (`ahead`), one the
  // parser holds and one spare; threads beyond what the memory cap allows would only wait.
  const uint64_t capacity = inflater.output_capacity();
  const uint64_t by_memory = std::max<uint64_t>(3, kMaxChunkBytes / capacity);
  const uint64_t buffers = std::min<uint64_t>(2 * static_cast<uint64_t>(threads) + 2, by_memory);
  const uint64_t ahead = buffers - 2;
  const int workers = static_cast<int>(std::min<uint64_t>(threads, ahead));
  buffers_ = std::make_unique<BlockPool>(buffers, capacity);
  BlockPool& chunk_pool = *buffers_;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Chunk>> ready(total);
  uint64_t next = 0, emitted = 0;
  bool stop = false;
  auto worker = [&] {
    std::vector<std::byte> input;
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stop || next >= total || next < emitted + ahead; });
      if (stop || next >= total) return;
      uint64_t c = next++;
      lock.unlock();
      // Waits only while the parser and the writer still hold buffers; Close() ends the wait.
      BlockRef block = chunk_pool.Acquire();
      if (!block) return;
      Chunk chunk = inflater.Decode(c, input, std::move(block));
      lock.lock();
      ready[c] = std::move(chunk);
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool_threads;
  for (int i = 0; i < workers; ++i) pool_threads.emplace_back(worker);
  Status status;
  for (uint64_t c = 0; c < total && status.ok(); ++c) {
    Chunk chunk;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return ready[c].has_value(); });
      chunk = std::move(*ready[c]);
      ready[c].reset();
      emitted = c + 1;
      cv.notify_all();
    }
    if (!chunk.status.ok()) {
      status = chunk.status;
    } else if (!out.Push(std::move(chunk.block))) {
      status = Status::Error("aborted");
    }
  }
  {
    std::lock_guard lock(mu);
    stop = true;
    cv.notify_all();
  }
  chunk_pool.Close();
  for (std::thread& t : pool_threads) t.join();
  return status;
}

}  // namespace staging
