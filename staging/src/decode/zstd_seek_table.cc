#include "decode/zstd_seek_table.h"

#include <unistd.h>

#include <cerrno>

#include "base/pread_full.h"

namespace staging {
namespace {

constexpr size_t kSkippableHeaderSize = 8;
constexpr uint8_t kChecksumFlag = 0x80;
constexpr uint8_t kReservedBits = 0x7c;

uint32_t LoadLe32(const std::byte* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

void AppendLe32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

Status Invalid(const std::string& why) { return Status::Error("zstd seek table: " + why); }

Status PreadAll(int fd, std::byte* data, size_t len, uint64_t offset) {
  ssize_t n = PreadFull(fd, data, len, offset);
  if (n < 0) return Status::FromErrno("read seek table", errno);
  if (static_cast<size_t>(n) < len) return Invalid("file shorter than its size");
  return Status::Ok();
}

}  // namespace

std::string EncodeSeekTable(const std::vector<ZstdFrameInfo>& frames) {
  std::string out;
  uint32_t payload = static_cast<uint32_t>(frames.size() * 8 + kSeekTableFooterSize);
  AppendLe32(&out, kSkippableSeekTableMagic);
  AppendLe32(&out, payload);
  for (const ZstdFrameInfo& frame : frames) {
    AppendLe32(&out, frame.compressed_size);
    AppendLe32(&out, frame.decompressed_size);
  }
  AppendLe32(&out, static_cast<uint32_t>(frames.size()));
  out.push_back(0);  // descriptor: no checksums
  AppendLe32(&out, kSeekableMagic);
  return out;
}

Status SeekTableSize(const std::byte* footer, uint64_t file_size, uint64_t* table_size) {
  if (file_size < kSkippableHeaderSize + kSeekTableFooterSize) return Invalid("file too small");
  if (LoadLe32(footer + 5) != kSeekableMagic) return Invalid("no seekable magic");
  uint32_t count = LoadLe32(footer);
  auto descriptor = static_cast<uint8_t>(footer[4]);
  if (descriptor & kReservedBits) return Invalid("reserved descriptor bits set");
  if (count == 0 || count > kMaxSeekTableFrames) {
    return Invalid("implausible frame count " + std::to_string(count));
  }
  uint64_t entry = (descriptor & kChecksumFlag) ? 12 : 8;
  *table_size = kSkippableHeaderSize + count * entry + kSeekTableFooterSize;
  if (*table_size >= file_size) return Invalid("table larger than the file");
  return Status::Ok();
}

Status ParseSeekTable(const std::byte* tail, size_t tail_size, uint64_t file_size,
                      std::vector<ZstdFrameInfo>* frames) {
  if (tail_size < kSeekTableFooterSize) return Invalid("file too small");
  uint64_t table_size = 0;
  STAGING_RETURN_IF_ERROR(
      SeekTableSize(tail + tail_size - kSeekTableFooterSize, file_size, &table_size));
  if (tail_size < table_size) return Invalid("tail shorter than the table");
  const std::byte* table = tail + tail_size - table_size;
  if (LoadLe32(table) != kSkippableSeekTableMagic) return Invalid("no skippable frame magic");
  if (LoadLe32(table + 4) != table_size - kSkippableHeaderSize) {
    return Invalid("skippable frame size disagrees with the footer");
  }
  uint32_t count = LoadLe32(tail + tail_size - kSeekTableFooterSize);
  size_t entry = (table_size - kSkippableHeaderSize - kSeekTableFooterSize) / count;
  uint64_t data_size = file_size - table_size;
  frames->clear();
  frames->reserve(count);
  uint64_t compressed = 0, decompressed = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const std::byte* p = table + kSkippableHeaderSize + i * entry;
    ZstdFrameInfo frame;
    frame.compressed_offset = compressed;
    frame.decompressed_offset = decompressed;
    frame.compressed_size = LoadLe32(p);
    frame.decompressed_size = LoadLe32(p + 4);
    // The smallest zstd frame is 9 bytes (header plus an empty last block).
    if (frame.compressed_size < 9) return Invalid("frame " + std::to_string(i) + " too small");
    compressed += frame.compressed_size;
    decompressed += frame.decompressed_size;
    if (compressed > data_size) return Invalid("frames run past the table");
    frames->push_back(frame);
  }
  if (compressed != data_size) {
    return Invalid("frames cover " + std::to_string(compressed) + " bytes, the file has " +
                   std::to_string(data_size) + " before the table");
  }
  return Status::Ok();
}

Status ReadSeekTable(int fd, uint64_t file_size, std::vector<ZstdFrameInfo>* frames) {
  if (file_size < kSeekTableFooterSize) return Invalid("file too small");
  std::byte footer[kSeekTableFooterSize];
  STAGING_RETURN_IF_ERROR(PreadAll(fd, footer, sizeof footer, file_size - kSeekTableFooterSize));
  uint64_t table_size = 0;
  STAGING_RETURN_IF_ERROR(SeekTableSize(footer, file_size, &table_size));
  std::vector<std::byte> table(table_size);
  STAGING_RETURN_IF_ERROR(PreadAll(fd, table.data(), table.size(), file_size - table_size));
  return ParseSeekTable(table.data(), table.size(), file_size, frames);
}

}  // namespace staging
