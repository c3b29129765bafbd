// Stage's own reading of the tar headers that archives are made of in practice (ustar, GNU,
// pax), exactly as libarchive reads them. Anything outside that subset is reported as
// kNotUnderstood, and libarchive reads the archive from that header on: these functions decide
// what the fast path may take, so they must never accept a header libarchive would read
// differently.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace staging {

constexpr size_t kTarBlockSize = 512;

enum class TarHeaderKind {
  kMember,         // a regular file, directory, symlink or hardlink
  kLongName,       // GNU 'L': the body is the next member's path
  kLongLink,       // GNU 'K': the body is the next member's link target
  kPaxAttributes,  // 'x': the body holds the next member's pax records
  kPaxGlobal,      // 'g': the body holds pax records for the rest of the archive
  kEnd,            // an all-zero block: the end-of-archive mark
  kBadChecksum,    // neither the unsigned nor the signed sum matches
  kNotUnderstood,  // valid perhaps, but for libarchive to read
};

enum class TarHeaderType { kFile, kDirectory, kSymlink, kHardlink };

// One 512-byte header as libarchive would read it, before any extension header applies.
struct TarHeader {
  TarHeaderKind kind = TarHeaderKind::kNotUnderstood;
  TarHeaderType type = TarHeaderType::kFile;  // for kMember
  bool gnu = false;                           // GNU magic ("ustar  "), else POSIX ustar
  std::string path;                           // the name field, after the ustar prefix; ASCII
  std::string link;                           // the link name field; ASCII; may be empty
  mode_t perm = 0;                            // the mode field's permission bits
  uint64_t size = 0;  // the size field: bytes of body (data or extension) that follow
  int64_t mtime = 0;  // seconds
};

// libarchive's test of a header block (512 bytes): the checksum field holds only octal digits,
// spaces and NULs, and its value is the sum of the block's bytes with the field counted as
// spaces, unsigned or, for old writers, signed. The one checksum test of the project: format
// detection and the member index use it too.
bool TarChecksumMatches(const std::byte* block);

// The size field of a header block as libarchive reads it: octal (leading spaces, digits up to a
// space or NUL), or base-256 (GNU, for members of 8 GiB and more) when its first byte has the
// high bit; none when it is neither.
std::optional<uint64_t> TarSizeField(const std::byte* block);

// True when every byte of `text` is ASCII (1-127, or NUL): names no conversion can change.
bool IsAsciiName(std::string_view text);

// Reads the header in `block` (512 bytes). Fields are filled for kMember and the extension
// kinds; a kMember's path and link are ASCII (bytes 1-127), where no conversion of names can
// differ between readers.
TarHeaderKind ReadTarHeader(const std::byte* block, TarHeader* header);

// What a pax body sets that the extractor uses. Other allowed keys (times, owners, inode
// numbers) do not change what is extracted and are checked only for well-formedness.
struct PaxAttributes {
  std::optional<std::string> path;      // ASCII, not empty
  std::optional<std::string> linkpath;  // ASCII, not empty
  std::optional<uint64_t> size;
  std::optional<timespec> mtime;
};

// Reads the records of a pax body (an 'x' header's, or with `global` a 'g' header's, where only
// comments are taken). False when any record is malformed, has a key outside the allowed set,
// or a value outside what the fast path reads identically to libarchive: the caller then hands
// the archive to libarchive from this member's first header.
bool ReadPaxAttributes(std::string_view body, bool global, PaxAttributes* attributes);

}  // namespace staging
