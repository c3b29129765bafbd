// Fuzz target: arbitrary bytes as a packed archive's tail, where the zstd seek table lives (read
// from persistent disk, so untrusted). The reader may refuse anything, but may not crash, and a
// table it accepts must tile the file before it exactly, frame after frame.
// Built as a libFuzzer target with clang, and as a replay driver (STAGE_FUZZ_REPLAY).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "decode/zstd_seek_table.h"
#include "fuzz_replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  if (size < staging::kSeekTableFooterSize) return 0;
  uint64_t table_size = 0;
  if (!staging::SeekTableSize(bytes + size - staging::kSeekTableFooterSize, size, &table_size)
           .ok()) {
    return 0;
  }
  if (table_size > size) {
    std::fprintf(stderr, "a table larger than its file was accepted\n");
    std::abort();
  }
  std::vector<staging::ZstdFrameInfo> frames;
  if (!staging::ParseSeekTable(bytes + size - table_size, table_size, size, &frames).ok()) return 0;
  uint64_t compressed = 0, decompressed = 0;
  for (const staging::ZstdFrameInfo& frame : frames) {
    if (frame.compressed_offset != compressed || frame.decompressed_offset != decompressed) {
      std::fprintf(stderr, "accepted frames do not follow each other\n");
      std::abort();
    }
    compressed += frame.compressed_size;
    decompressed += frame.decompressed_size;
  }
  if (compressed + table_size != size) {
    std::fprintf(stderr, "accepted frames do not tile the file\n");
    std::abort();
  }
  return 0;
}

#ifdef STAGE_FUZZ_REPLAY
int main(int argc, char** argv) {
  return staging_test::ReplayInputs(argc, argv, "fuzz_seek_table", "every accepted table tiles");
}
#endif
