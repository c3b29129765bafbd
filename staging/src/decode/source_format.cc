#include "decode/source_format.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string_view>

#include "base/pread_full.h"
#include "base/tar_header.h"
#include "decode/archive_reader.h"

namespace staging {

Codec DetectCodec(const std::byte* head, size_t size) {
  auto starts_with = [&](std::initializer_list<unsigned char> magic) {
    if (size < magic.size()) return false;
    return std::memcmp(head, std::data(magic), magic.size()) == 0;
  };
  if (starts_with({0x1f, 0x8b, 0x08})) return Codec::kGzip;
  if (starts_with({0x28, 0xb5, 0x2f, 0xfd})) return Codec::kZstd;
  // A zstd skippable frame (magic 0x184D2A50 to 0x184D2A5F, little-endian), as pzstd begins its
  // output with; the frames that follow are zstd's.
  if (size >= 4 && (std::to_integer<unsigned>(head[0]) & 0xf0) == 0x50 &&
      std::to_integer<unsigned>(head[1]) == 0x2a && std::to_integer<unsigned>(head[2]) == 0x4d &&
      std::to_integer<unsigned>(head[3]) == 0x18) {
    return Codec::kZstd;
  }
  if (starts_with({0xfd, '7', 'z', 'X', 'Z', 0x00})) return Codec::kXz;
  if (starts_with({'B', 'Z', 'h'})) return Codec::kBzip2;
  return Codec::kNone;
}

std::string ArchiveKindName(Codec codec) {
  switch (codec) {
    case Codec::kGzip:
      return "tar.gz";
    case Codec::kZstd:
      return "tar.zst";
    case Codec::kXz:
      return "tar.xz";
    case Codec::kBzip2:
      return "tar.bz2";
    case Codec::kNone:
      break;
  }
  return "tar";
}

namespace {

constexpr size_t kTarBlock = 512;

bool FirstHeaderReadable(const std::byte* head, size_t size) {
  ArchiveReader reader = NewArchiveReader(ReadFormat::kTar, AllCodecs());
  archive* a = reader.get();
  bool readable = false;
  if (archive_read_open_memory(a, head, size) == ARCHIVE_OK) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(a, &entry);
    // An archive of nothing but a pax global header (git archive of an empty tree) or a GNU
    // volume label ends before its first member: an empty archive, not a file to copy. Bare
    // zero blocks do not count: libarchive reads those as an empty tar too.
    const bool empty_archive =
        rc == ARCHIVE_EOF && (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_TAR &&
        std::any_of(head, head + std::min<size_t>(size, kTarBlock),
                    [](std::byte b) { return b != std::byte{0}; });
    readable = rc == ARCHIVE_OK || rc == ARCHIVE_WARN || empty_archive;
  }
  return readable;
}

// Decodes up to kTarBlock bytes of the compressed `head` into `out`; returns how many, and sets
// `failed` when decoding failed rather than the stream simply ending. libarchive's filters read
// ahead, so a stream damaged soon after its first block may fail here though the block itself
// would decode: the extraction that follows says exactly where.
size_t DecodeFirstBlock(const std::byte* head, size_t size, std::byte* out, bool* failed) {
  ArchiveReader reader = NewArchiveReader(ReadFormat::kRaw, AllCodecs());
  archive* a = reader.get();
  size_t got = 0;
  archive_entry* entry = nullptr;
  if (archive_read_open_memory(a, head, size) != ARCHIVE_OK ||
      archive_read_next_header(a, &entry) != ARCHIVE_OK) {
    *failed = true;
  } else {
    while (got < kTarBlock) {
      la_ssize_t n = archive_read_data(a, out + got, kTarBlock - got);
      if (n < 0) *failed = true;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
  }
  return got;
}

}  // namespace

bool LooksLikeTarArchive(const std::byte* head, size_t size) {
  if (size == 0) return false;
  if (FirstHeaderReadable(head, size)) return true;
  std::byte first[kTarBlock];
  size_t decoded = 0;
  bool failed = false;
  if (DetectCodec(head, size) == Codec::kNone) {
    decoded = std::min(size, kTarBlock);
    std::memcpy(first, head, decoded);
  } else {
    decoded = DecodeFirstBlock(head, size, first, &failed);
  }
  if (decoded == kTarBlock) return TarChecksumMatches(first);
  return failed;
}

uint64_t DeclaredDecodedSize(int fd, uint64_t size, Codec codec) {
  if (codec == Codec::kGzip && size >= 18) {
    unsigned char trailer[4];
    if (PreadFull(fd, trailer, 4, size - 4) != 4) return 0;
    return uint64_t{trailer[0]} | uint64_t{trailer[1]} << 8 | uint64_t{trailer[2]} << 16 |
           uint64_t{trailer[3]} << 24;
  }
  if (codec == Codec::kZstd) {
    unsigned char header[18];  // the largest frame header
    ssize_t n = PreadFull(fd, header, sizeof header, 0);
    if (n <= 0) return 0;
    unsigned long long declared = ZSTD_getFrameContentSize(header, static_cast<size_t>(n));
    return declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR ? 0
                                                                                      : declared;
  }
  return 0;
}

bool NamedLikeTar(const std::string& file_name) {
  std::string name = file_name.substr(file_name.rfind('/') + 1);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto ends_with = [&](std::string_view suffix) {
    return name.size() > suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (name.find(".tar.") != std::string::npos && name.find(".tar.") > 0) return true;
  for (std::string_view suffix : {".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".tzst"}) {
    if (ends_with(suffix)) return true;
  }
  return false;
}

std::string NotTarDescription(Codec codec, uint64_t size) {
  if (size == 0) return "it is empty";
  if (size < 512 && codec == Codec::kNone) {
    return "it holds " + std::to_string(size) + " bytes, less than one tar header";
  }
  switch (codec) {
    case Codec::kGzip:
      return "it holds gzip-compressed data that is not a tar";
    case Codec::kZstd:
      return "it holds zstd-compressed data that is not a tar";
    case Codec::kXz:
      return "it holds xz-compressed data that is not a tar";
    case Codec::kBzip2:
      return "it holds bzip2-compressed data that is not a tar";
    case Codec::kNone:
      break;
  }
  return "it holds data that is not a tar";
}

}  // namespace staging
