// Reading a span of a source already in the page cache, the two ways the reader can: pread into a
// buffer of its own (reused, as the block pool reuses its buffers), or a fresh mapping of the span
// (MappedWindow: mmap, MADV_POPULATE_READ, a touch of every page, and the unmap). Which is cheaper
// depends on the machine (a hypervisor that shadows page tables makes each new mapping's pages
// fault again) and on the file: how it came into the page cache sets the size of its folios, and a
// large folio is mapped in one go. The argument picks the file: 4096 = written 4 KiB at a time
// (small folios, as a file written by `xz -dc >` or `cp` of small reads), 4194304 = written 4 MiB
// at a time (large folios). Hence the reader's trial of both ways on a long source's first
// blocks.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/mapped_window.h"

namespace {

constexpr size_t kSpan = 4 << 20;  // the pipeline's block
constexpr int kSpans = 16;

// A 64 MiB file written `write_size` bytes at a time (so cached), made before any timing,
// removed at exit.
class CachedFile {
 public:
  explicit CachedFile(size_t write_size) {
    char name[] = "/tmp/stage-source-read.XXXXXX";
    fd_ = mkstemp(name);
    unlink(name);
    std::mt19937_64 rng(3);
    std::vector<uint64_t> chunk(write_size / 8);
    for (size_t at = 0; at < kSpan * kSpans; at += write_size) {
      for (uint64_t& v : chunk) v = rng();
      if (pwrite(fd_, chunk.data(), write_size, static_cast<off_t>(at)) !=
          static_cast<ssize_t>(write_size))
        std::abort();
    }
  }
  ~CachedFile() { close(fd_); }
  int fd() const { return fd_; }

 private:
  int fd_;
};

constexpr size_t kSmallWrites = 4096, kLargeWrites = kSpan;
CachedFile& File(size_t write_size) {
  static CachedFile small(kSmallWrites), large(kLargeWrites);
  return write_size == kSmallWrites ? small : large;
}

void BM_PreadIntoReusedBuffer(benchmark::State& state) {
  auto buffer = std::make_unique<std::byte[]>(kSpan);  // zeroed: its pages are in
  int span = 0;
  for (auto _ : state) {
    const off_t offset = static_cast<off_t>(span++ % kSpans) * kSpan;
    if (pread(File(state.range(0)).fd(), buffer.get(), kSpan, offset) !=
        static_cast<ssize_t>(kSpan))
      state.SkipWithError("short read");
    benchmark::DoNotOptimize(buffer.get());
  }
  state.SetBytesProcessed(state.iterations() * kSpan);
}
BENCHMARK(BM_PreadIntoReusedBuffer)
    ->Arg(kSmallWrites)
    ->Arg(kLargeWrites)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_MapSpan(benchmark::State& state) {
  auto lost = std::make_shared<std::atomic<bool>>(false);
  int span = 0;
  for (auto _ : state) {
    std::unique_ptr<staging::MappedWindow> window;
    const uint64_t offset = static_cast<uint64_t>(span++ % kSpans) * kSpan;
    if (!staging::MappedWindow::Map(File(state.range(0)).fd(), offset, kSpan, lost, &window).ok() ||
        !window)
      state.SkipWithError("not mapped");
    benchmark::DoNotOptimize(window.get());
  }  // the window is unmapped here, inside the timing
  state.SetBytesProcessed(state.iterations() * kSpan);
}
BENCHMARK(BM_MapSpan)
    ->Arg(kSmallWrites)
    ->Arg(kLargeWrites)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  File(kSmallWrites);  // both written before any timing
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
