// Fuzz target: arbitrary bytes as the gzip index beside a fixed archive (an index is read from
// persistent disk, where anyone may have written it). Whatever the bytes, loading and inflating
// from them may not crash, and may never yield wrong output: the index is refused, or the
// parallel inflate fails, or its output is exactly the archive's content.
// Built as a libFuzzer target with clang, and as a replay driver (STAGE_FUZZ_REPLAY) for the
// project's compiler; the replay driver's `--write-seed DIR` writes the archive's true index
// into DIR, the corpus's seed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/block.h"
#include "base/bounded_queue.h"
#include "collect_decoded.h"
#include "common/unique_fd.h"
#include "decode/decoder.h"
#include "decode/gzip_index.h"
#include "decode/indexed_gzip.h"
#include "fuzz_replay.h"
#include "record/manifest.h"

namespace {

namespace fs = std::filesystem;
using staging::BlockPool;
using staging::BlockRef;
using staging::BoundedQueue;
using staging::Status;

// 20 MiB of compressible text: one restart point (every 16 MiB of output), two chunks.
std::string Content() {
  static const char* kWords[] = {"tensor ", "batch ", "epoch ",   "gradient ", "staging ",
                                 "window ", "pets\n", "deflate ", "0123 ",     "archive "};
  std::string text;
  text.reserve((20 << 20) + 16);
  uint32_t x = 12345;
  while (text.size() < (20u << 20)) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    text += kWords[x % 10];
  }
  text.resize(20 << 20);
  return text;
}

std::string Gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// The archive and its identity (what an index must match: path, size, mtime, head and tail),
// the same in every process, so that a seed index written by one process fits the fuzzing
// ones: a fixed path and mtime, the same bytes. The index under test goes to a private folder.
class Archive {
 public:
  Archive() : content_(Content()) {
    const fs::path shared = fs::temp_directory_path() / "stage-fuzz-gzip-index";
    fs::create_directories(shared);
    path_ = shared / "data.gz";
    const std::string gz = Gzip(content_);
    std::error_code ec;
    if (fs::file_size(path_, ec) != gz.size()) {  // written whole, then renamed into place
      const fs::path temp = shared / ("data.gz." + std::to_string(getpid()));
      std::ofstream(temp, std::ios::binary)
          .write(gz.data(), static_cast<std::streamsize>(gz.size()));
      fs::rename(temp, path_);
    }
    const timespec times[2] = {{1700000000, 0}, {1700000000, 0}};
    utimensat(AT_FDCWD, path_.c_str(), times, 0);
    fd_.reset(open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!staging::IdentifySource(fd_.get(), path_.string(), &identity_).ok()) std::abort();
    std::string pattern = (fs::temp_directory_path() / "stage-fuzz-index-XXXXXX").string();
    private_dir_ = mkdtemp(pattern.data());
  }
  ~Archive() {
    std::error_code ec;
    fs::remove_all(private_dir_, ec);
  }
  const std::string& content() const { return content_; }
  const staging::SourceIdentity& identity() const { return identity_; }
  int fd() const { return fd_.get(); }
  std::string index_path() const { return (private_dir_ / "data.gz.stageidx").string(); }

  // Inflates sequentially while `sink` records restart points.
  Status InflateRecording(staging::RestartPointSink* sink, std::string* out) const {
    return staging_test::CollectDecoded(
        [&](BlockPool& pool, BoundedQueue<BlockRef>& decoded) {
          BlockPool source_pool(4, 1 << 20);
          BoundedQueue<BlockRef> compressed(4);
          std::thread reader([&] {
            for (off_t at = 0;;) {
              BlockRef block = source_pool.Acquire();
              ssize_t n = pread(fd_.get(), block->data, block->capacity, at);
              if (n <= 0) break;
              block->size = static_cast<size_t>(n);
              at += n;
              compressed.Push(std::move(block));
            }
            compressed.Close();
          });
          Status status =
              staging::DecodeStream(staging::Codec::kGzip, compressed, pool, decoded, sink);
          reader.join();
          return status;
        },
        out);
  }

 private:
  std::string content_;
  fs::path path_, private_dir_;
  common::UniqueFd fd_;
  staging::SourceIdentity identity_;
};

const Archive& TheArchive() {
  static const Archive archive;
  return archive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Archive& archive = TheArchive();
  const std::string path = archive.index_path();
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  staging::GzipIndex index;
  if (!staging::LoadGzipIndex(path, archive.identity(), &index)) return 0;
  staging::IndexedGzipDecoder decoder(archive.identity().size, index, 2);
  std::string out;
  Status status = staging_test::CollectDecodedFromFile(
      archive.fd(),
      [&](BoundedQueue<BlockRef>& in, BoundedQueue<BlockRef>& decoded) {
        return decoder.Run(in, decoded);
      },
      &out);
  if (status.ok() && out != archive.content()) {
    std::fprintf(stderr, "an index made the inflate succeed with wrong output\n");
    std::abort();
  }
  return 0;
}

#ifdef STAGE_FUZZ_REPLAY
int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-seed") {
    const Archive& archive = TheArchive();
    fs::create_directories(argv[2]);
    const std::string seed = (fs::path(argv[2]) / "true.stageidx").string();
    staging::GzipIndexWriter writer(seed, archive.identity());
    std::string out;
    if (!archive.InflateRecording(&writer, &out).ok() || out != archive.content() ||
        !writer.Commit()) {
      std::fprintf(stderr, "fuzz_gzip_index: could not write the seed index\n");
      return 1;
    }
    // Damaged copies too, as the other corpora have: cut short, and a byte inverted mid-way.
    std::ifstream in(seed, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(seed + ".cut", std::ios::binary).write(bytes.data(), bytes.size() * 6 / 10);
    bytes[bytes.size() / 2] = static_cast<char>(~bytes[bytes.size() / 2]);
    std::ofstream(seed + ".flip", std::ios::binary).write(bytes.data(), bytes.size());
    std::printf("fuzz_gzip_index: seed index written to %s\n", seed.c_str());
    return 0;
  }
  return staging_test::ReplayInputs(argc, argv, "fuzz_gzip_index", "no wrong output");
}
#endif
