// The gzip index's file format, shared by its writer and loader and the indexed decoder: a
// header tying it to one archive and one ISA-L state layout, then one record per restart point
// (its offsets, ISA-L's decoder state and the 32 KiB window, with a CRC), then a footer.
#pragma once

#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>

#include "base/pread_full.h"
#include "decode/gzip_index.h"

namespace staging {
inline constexpr char kHeaderMagic[8] = {'S', 'T', 'G', 'Z', 'I', 'D', 'X', '2'};
inline constexpr char kFooterMagic[8] = {'S', 'T', 'G', 'Z', 'E', 'N', 'D', '1'};
inline constexpr size_t kInputSlack = 64 * 1024;

// The header ties the index to one archive and one decoder-state layout.
struct Header {
  char magic[8];
  uint32_t state_size;
  uint32_t window_size;
  char isal_version[16];
  uint64_t source_size;
  int64_t source_mtime_ns;
  uint64_t source_inode;
  int64_t source_ctime_ns;
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

inline constexpr size_t kRecordSize = sizeof(RecordHead) + sizeof(inflate_state) + kDeflateWindow;

inline bool ReadExactly(int fd, void* buf, size_t len, uint64_t offset) {
  return PreadFull(fd, buf, len, offset) == static_cast<ssize_t>(len);
}

inline uint32_t RecordCrc(const inflate_state& state, const std::byte* window) {
  uLong crc = crc32(0, reinterpret_cast<const Bytef*>(&state), sizeof state);
  return static_cast<uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(window), kDeflateWindow));
}

// Fields ISA-L indexes memory with must be in range before it runs on a loaded state.
inline bool PlausibleState(const inflate_state& s) {
  return s.block_state <= ISAL_BLOCK_FINISH && s.read_in_length >= 0 && s.read_in_length <= 64 &&
         s.tmp_in_size >= 0 && s.tmp_in_size <= ISAL_DEF_MAX_HDR_SIZE && s.tmp_out_valid >= 0 &&
         s.tmp_out_processed >= 0 && s.tmp_out_processed <= s.tmp_out_valid &&
         static_cast<size_t>(s.tmp_out_valid) <= sizeof s.tmp_out_buffer &&
         s.copy_overflow_distance >= 0 &&
         s.copy_overflow_distance <= static_cast<int>(kDeflateWindow) &&
         s.copy_overflow_length >= 0 && s.write_overflow_len >= 0 && s.hist_bits <= 15;
}

}  // namespace staging
