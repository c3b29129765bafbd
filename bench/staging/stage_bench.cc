// Full extraction through staging::Stage: MB/s and files/s by member size, codec, I/O back end
// and thread count. Each case stages one archive (made once, outside the timing) into a fresh
// directory per iteration, as `stage --force` would. --stage_bench_small shrinks every data set
// to a few MiB so the ctest smoke run takes seconds.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "staging/io_backend.h"
#include "staging/pack.h"
#include "staging/stage.h"

namespace {

namespace fs = std::filesystem;

bool g_small = false;

enum class Codec { kNone, kGzip, kZstd, kPacked };
const char* CodecName(Codec codec) {
  switch (codec) {
    case Codec::kNone:
      return "tar";
    case Codec::kGzip:
      return "gzip";
    case Codec::kZstd:
      return "zstd";
    case Codec::kPacked:
      return "packed";
  }
  return "?";
}

// Member sizes and how much data each case holds; small mode caps both.
constexpr uint64_t kMemberSizes[] = {4 << 10, 100 << 10, 4 << 20, 256 << 20};
uint64_t MemberSize(int index) {
  uint64_t size = kMemberSizes[index];
  return g_small ? std::min<uint64_t>(size, 4 << 20) : size;
}
uint64_t CaseBytes(int index) {
  uint64_t total = g_small ? (2 << 20) : (128 << 20);
  return std::max(total, MemberSize(index));
}

// Incompressible bytes with a compressible stretch, like photos with their headers.
std::string Content(uint64_t size, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(size, '\0');
  for (uint64_t i = 0; i + 8 <= size; i += 8) {
    uint64_t v = (i / 4096) % 8 == 0 ? 0x2020206174616420ull : rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

// prefix + n (operator+ on a literal trips a GCC 12 -Wrestrict false alarm).
std::string Numbered(std::string prefix, uint64_t n) { return prefix += std::to_string(n); }

bool Run(const std::string& command) { return std::system(command.c_str()) == 0; }

// A temporary directory for the whole run, removed at exit.
const fs::path& Scratch() {
  static const fs::path dir = [] {
    std::string pattern = (fs::temp_directory_path() / "stage-bench-XXXXXX").string();
    fs::path path = mkdtemp(pattern.data());
    std::atexit([] { fs::remove_all(Scratch()); });
    return path;
  }();
  return dir;
}

struct Dataset {
  fs::path source_dir;  // holds the archive(s) alone
  uint64_t files = 0;
  uint64_t bytes = 0;
  std::string error;
};

// The files of one member size, written once.
fs::path Tree(int size_index, uint64_t* files, uint64_t* bytes) {
  fs::path dir = Scratch() / Numbered("tree-", size_index);
  uint64_t size = MemberSize(size_index);
  uint64_t count = CaseBytes(size_index) / size;
  *files = count;
  *bytes = count * size;
  if (fs::exists(dir)) return dir;
  for (uint64_t i = 0; i < count; ++i) {
    fs::path path = dir / Numbered("d", i / 1000) / (Numbered("f", i) + ".jpg");
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << Content(size, static_cast<uint32_t>(i));
  }
  return dir;
}

// `copies` archives of the tree for `size_index`, compressed with `codec`; built once per key.
const Dataset& GetDataset(int size_index, Codec codec, int copies) {
  static std::map<std::tuple<int, Codec, int>, std::unique_ptr<Dataset>> cache;
  auto& slot = cache[{size_index, codec, copies}];
  if (slot) return *slot;
  slot = std::make_unique<Dataset>();
  Dataset& data = *slot;
  fs::path tree = Tree(size_index, &data.files, &data.bytes);
  data.source_dir =
      Scratch() / (Numbered("src-", size_index) + "-" + CodecName(codec) + Numbered("-", copies));
  fs::create_directories(data.source_dir);
  fs::path first = data.source_dir / "a0.tar";
  std::string tar = "tar -C '" + tree.string() + "' -cf - .";
  bool ok = true;
  switch (codec) {
    case Codec::kNone:
      ok = Run(tar + " > '" + first.string() + "'");
      break;
    case Codec::kGzip:
      first += ".gz";
      ok = Run(tar + " | gzip -6 > '" + first.string() + "'");
      break;
    case Codec::kZstd:
      first += ".zst";
      ok = Run(tar + " | zstd -q -3 > '" + first.string() + "'");
      break;
    case Codec::kPacked: {
      first += ".zst";
      staging::PackOptions options;
      options.from = tree;
      options.to = first;
      staging::PackReport report = staging::Pack(options);
      ok = report.status.ok();
      if (!ok) data.error = report.status.message();
      break;
    }
  }
  if (!ok && data.error.empty())
    data.error = "could not build the " + std::string(CodecName(codec)) + " archive";
  for (int i = 1; ok && i < copies; ++i) {
    fs::path copy = first;
    copy.replace_filename(Numbered("a", i) + first.filename().string().substr(2));
    fs::copy_file(first, copy);
  }
  data.files *= copies;
  data.bytes *= copies;
  return data;
}

// Args: member size index, codec, I/O back end (0 uring, 1 plain), archives, jobs, parallel decode.
void BM_Stage(benchmark::State& state) {
  int size_index = static_cast<int>(state.range(0));
  auto codec = static_cast<Codec>(state.range(1));
  bool plain = state.range(2) != 0;
  int copies = static_cast<int>(state.range(3));
  if (!plain && !staging::UringAvailable()) {
    state.SkipWithError(("io_uring unavailable: " + staging::UringUnavailableReason()).c_str());
    return;
  }
  const Dataset& data = GetDataset(size_index, codec, copies);
  if (!data.error.empty()) {
    state.SkipWithError(data.error.c_str());
    return;
  }
  staging::StageOptions options;
  options.from = data.source_dir;
  options.io = plain ? staging::IoKind::kPlain : staging::IoKind::kUring;
  options.jobs = static_cast<int>(state.range(4));
  options.parallel_decode = state.range(5) != 0;
  options.force = true;
  int run = 0;
  for (auto _ : state) {
    state.PauseTiming();
    fs::path to = Scratch() / Numbered("out-", run++);
    options.to = to;
    state.ResumeTiming();
    staging::StageReport report = staging::Stage(options);
    state.PauseTiming();
    fs::remove_all(to);
    state.ResumeTiming();
    if (!report.ok()) {
      state.SkipWithError(report.failures().empty() ? "staging failed"
                                                    : report.failures().front().c_str());
      return;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * data.files));
  state.SetLabel(std::string(CodecName(codec)) + " " +
                 std::to_string(MemberSize(size_index) >> 10) + "KiB " +
                 (plain ? "plain" : "uring") + " archives=" + std::to_string(copies) +
                 " jobs=" + std::to_string(state.range(4)) + (state.range(5) ? "" : " sequential"));
}

void Cases(benchmark::internal::Benchmark* b) {
  b->ArgNames({"size", "codec", "plain", "archives", "jobs", "par"});
  for (int size = 0; size < 4; ++size) {
    for (int codec = 0; codec < 4; ++codec) {
      for (int plain = 0; plain < 2; ++plain) b->Args({size, codec, plain, 1, 1, 1});
    }
  }
  // Parallel frame decoding against the sequential decoder on the same packed archive.
  b->Args({1, static_cast<int>(Codec::kPacked), 0, 1, 1, 0});
  b->Args({2, static_cast<int>(Codec::kPacked), 0, 1, 1, 0});
  // Several archives at once: one job versus one per core.
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int codec : {static_cast<int>(Codec::kGzip), static_cast<int>(Codec::kZstd)}) {
    b->Args({1, codec, 0, 4, 1, 1});
    b->Args({1, codec, 0, 4, cores, 1});
  }
}

BENCHMARK(BM_Stage)->Apply(Cases)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  // Our own flag first: Google Benchmark rejects flags it does not know.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--stage_bench_small") == 0) {
      g_small = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (const char* env = std::getenv("STAGE_BENCH_SMALL")) g_small = g_small || *env == '1';
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
