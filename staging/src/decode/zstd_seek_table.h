// The seek table of zstd's seekable format: a skippable frame after the data frames that lists
// each frame's compressed and decompressed size, so a reader finds frame boundaries without
// decoding. `zstd -d` skips it like any skippable frame. Layout, all little-endian:
//   u32 0x184D2A5E (skippable magic), u32 payload size,
//   per frame: u32 compressed size, u32 decompressed size [, u32 checksum when bit 7 is set],
//   footer: u32 frame count, u8 descriptor, u32 0x8F92EAB1 (seekable magic).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "staging/status.h"

namespace staging {

struct ZstdFrameInfo {
  uint64_t compressed_offset = 0;    // where the frame starts in the file
  uint64_t decompressed_offset = 0;  // where its output starts in the decoded stream
  uint32_t compressed_size = 0;
  uint32_t decompressed_size = 0;
};

inline constexpr uint32_t kSkippableSeekTableMagic = 0x184D2A5E;
inline constexpr uint32_t kSeekableMagic = 0x8F92EAB1;
inline constexpr size_t kSeekTableFooterSize = 9;
// More frames than this is not a table we trust (4 M frames of 4 MiB is 16 TiB of tar).
inline constexpr uint32_t kMaxSeekTableFrames = 1u << 22;

// The skippable frame for `frames` (sizes only, no checksums).
std::string EncodeSeekTable(const std::vector<ZstdFrameInfo>& frames);

// Parses the table ending a file of `file_size` bytes whose last `tail.size()` bytes are `tail`
// (at least the whole table: call SeekTableSize first). Fails, saying why, unless the table is
// well formed and its frames exactly tile the file before it.
Status ParseSeekTable(const std::byte* tail, size_t tail_size, uint64_t file_size,
                      std::vector<ZstdFrameInfo>* frames);

// From the footer (the file's last kSeekTableFooterSize bytes): the size of the whole skippable
// frame, or an error when the footer is not a seekable footer.
Status SeekTableSize(const std::byte* footer, uint64_t file_size, uint64_t* table_size);

// Reads and parses the table at the end of `fd` (pread only; the offset is untouched).
Status ReadSeekTable(int fd, uint64_t file_size, std::vector<ZstdFrameInfo>* frames);

}  // namespace staging
