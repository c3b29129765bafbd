#include "base/tar_header.h"

#include <algorithm>
#include <cstring>

namespace staging {
namespace {

// Field offsets and lengths of a ustar header, and the GNU fields that overlay its prefix.
struct Field {
  size_t at;
  size_t length;
};
constexpr Field kName{0, 100}, kMode{100, 8}, kSize{124, 12}, kMtime{136, 12}, kChecksum{148, 8},
    kLinkName{157, 100}, kUname{265, 32}, kGname{297, 32}, kPrefix{345, 155};
constexpr size_t kTypeFlag = 156, kMagic = 257;
constexpr size_t kGnuFirstSparseOffset = 386, kGnuRealSize = 483;
// Extension bodies above this go to libarchive, which has its own limit (1 MiB) and message.
constexpr uint64_t kMaxExtensionBody = 64 << 10;

std::string_view Text(const unsigned char* h, Field f) {
  const char* p = reinterpret_cast<const char*>(h + f.at);
  return {p, strnlen(p, f.length)};
}

// An octal field as libarchive reads it, but strictly: spaces, octal digits, then only spaces
// and NULs. Base-256 and anything looser are not understood.
bool ReadOctal(const unsigned char* h, Field f, uint64_t* value) {
  const unsigned char* p = h + f.at;
  const unsigned char* end = p + f.length;
  while (p < end && *p == ' ') ++p;
  uint64_t v = 0;
  for (; p < end && *p >= '0' && *p <= '7'; ++p) v = v * 8 + (*p - '0');
  while (p < end && (*p == ' ' || *p == 0)) ++p;
  *value = v;
  return p == end;
}

// libarchive's test: the checksum field holds only octal digits, spaces and NULs, and its value
// (leading spaces, then digits up to the first other byte) is the sum of the header's bytes with
// the field counted as spaces, unsigned or, for old writers, signed.
bool ChecksumMatches(const unsigned char* h) {
  const unsigned char* field = h + kChecksum.at;
  for (size_t i = 0; i < kChecksum.length; ++i) {
    unsigned char c = field[i];
    if (c != ' ' && c != 0 && (c < '0' || c > '7')) return false;
  }
  size_t i = 0;
  while (i < kChecksum.length && field[i] == ' ') ++i;
  int64_t sum = 0;
  for (; i < kChecksum.length && field[i] >= '0' && field[i] <= '7'; ++i)
    sum = sum * 8 + (field[i] - '0');
  int64_t unsigned_sum = 8 * ' ', signed_sum = 8 * ' ';
  for (size_t j = 0; j < kTarBlockSize; ++j) {
    if (j == kChecksum.at) j += kChecksum.length;
    unsigned_sum += h[j];
    signed_sum += static_cast<signed char>(h[j]);
  }
  return sum == unsigned_sum || sum == signed_sum;
}

bool IsZeroBlock(const unsigned char* h) {
  return h[0] == 0 && std::memcmp(h, h + 1, kTarBlockSize - 1) == 0;
}

TarHeaderKind Extension(TarHeaderKind kind, const unsigned char* h, TarHeader* header) {
  if (!ReadOctal(h, kSize, &header->size) || header->size > kMaxExtensionBody) {
    return TarHeaderKind::kNotUnderstood;
  }
  return header->kind = kind;
}

// The member's own fields; the caller has checked the checksum and the magic.
TarHeaderKind Member(const unsigned char* h, TarHeader* header) {
  switch (h[kTypeFlag]) {
    case '1':
      header->type = TarHeaderType::kHardlink;
      break;
    case '2':
      header->type = TarHeaderType::kSymlink;
      break;
    case '5':
      header->type = TarHeaderType::kDirectory;
      break;
    case '3':  // devices and FIFOs: skipped with a warning, by libarchive's reading
    case '4':
    case '6':
    case 'D':  // GNU dump directories, multi-volume continuations, renames, sparse files
    case 'M':
    case 'N':
    case 'S':
      return TarHeaderKind::kNotUnderstood;
    default:  // '0', NUL, '7' and, as libarchive and POSIX have it, any other flag
      header->type = TarHeaderType::kFile;
  }
  // GNU headers carry a sparse map and a real size in what is the prefix in ustar.
  if (header->gnu && (h[kGnuFirstSparseOffset] != 0 || h[kGnuRealSize] != 0)) {
    return TarHeaderKind::kNotUnderstood;
  }
  uint64_t mode = 0, mtime = 0;
  if (!ReadOctal(h, kMode, &mode) || !ReadOctal(h, kSize, &header->size) ||
      !ReadOctal(h, kMtime, &mtime)) {
    return TarHeaderKind::kNotUnderstood;
  }
  header->perm = static_cast<mode_t>(mode & 07777);
  header->mtime = static_cast<int64_t>(mtime);
  std::string_view name = Text(h, kName), prefix = header->gnu ? "" : Text(h, kPrefix);
  header->path.assign(prefix);
  if (!prefix.empty() && prefix.back() != '/') header->path += '/';
  header->path += name;
  header->link.assign(Text(h, kLinkName));
  if (!IsAsciiName(header->path) || !IsAsciiName(header->link) || !IsAsciiName(Text(h, kUname)) ||
      !IsAsciiName(Text(h, kGname))) {
    return TarHeaderKind::kNotUnderstood;
  }
  return header->kind = TarHeaderKind::kMember;
}

bool AllDigits(std::string_view text, size_t max_digits) {
  return !text.empty() && text.size() <= max_digits &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

uint64_t Decimal(std::string_view digits) {
  uint64_t v = 0;
  for (char c : digits) v = v * 10 + static_cast<uint64_t>(c - '0');
  return v;
}

// A pax time, "seconds[.fraction]", non-negative; libarchive takes nine digits of the fraction.
bool ReadPaxTime(std::string_view value, timespec* time) {
  size_t dot = value.find('.');
  std::string_view seconds = value.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? "" : value.substr(dot + 1);
  if (!AllDigits(seconds, 18) || (!fraction.empty() && !AllDigits(fraction, 64))) return false;
  long nanoseconds = 0;
  for (size_t i = 0; i < 9; ++i)
    nanoseconds = nanoseconds * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  *time = {static_cast<time_t>(Decimal(seconds)), nanoseconds};
  return true;
}

bool ReadName(std::string_view value, std::optional<std::string>* name) {
  if (value.empty() || !IsAsciiName(value)) return false;
  *name = std::string(value);
  return true;
}

bool ReadRecord(std::string_view key, std::string_view value, bool global,
                PaxAttributes* attributes) {
  if (key == "comment") return true;
  if (global) return false;
  if (key == "path") return ReadName(value, &attributes->path);
  if (key == "linkpath") return ReadName(value, &attributes->linkpath);
  if (key == "size") {
    if (!AllDigits(value, 18)) return false;
    attributes->size = Decimal(value);
    return true;
  }
  timespec time;
  if (key == "mtime") {
    if (!ReadPaxTime(value, &time)) return false;
    attributes->mtime = time;
    return true;
  }
  if (key == "atime" || key == "ctime" || key == "LIBARCHIVE.creationtime") {
    return ReadPaxTime(value, &time);
  }
  if (key == "uid" || key == "gid" || key == "SCHILY.dev" || key == "SCHILY.ino" ||
      key == "SCHILY.nlink") {
    return AllDigits(value, 18);
  }
  if (key == "uname" || key == "gname") return IsAsciiName(value);
  return false;  // sparse maps, charsets, extended attributes, ACLs, file flags: libarchive's
}

}  // namespace

bool TarChecksumMatches(const std::byte* block) {
  return ChecksumMatches(reinterpret_cast<const unsigned char*>(block));
}

std::optional<uint64_t> TarSizeField(const std::byte* block) {
  const auto* field = reinterpret_cast<const unsigned char*>(block) + kSize.at;
  uint64_t value = 0;
  if (field[0] & 0x80) {
    // Base-256: the other 11 bytes, big-endian (88 bits, of which a size uses 64).
    for (size_t i = 1; i < kSize.length; ++i) {
      if (value >> 56) return std::nullopt;
      value = (value << 8) | field[i];
    }
    return value;
  }
  size_t i = 0;
  while (i < kSize.length && field[i] == ' ') ++i;
  for (; i < kSize.length && field[i] != 0 && field[i] != ' '; ++i) {
    if (field[i] < '0' || field[i] > '7') return std::nullopt;
    value = value * 8 + (field[i] - '0');
  }
  return value;
}

bool IsAsciiName(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

TarHeaderKind ReadTarHeader(const std::byte* block, TarHeader* header) {
  const auto* h = reinterpret_cast<const unsigned char*>(block);
  header->kind = TarHeaderKind::kNotUnderstood;
  if (IsZeroBlock(h)) return header->kind = TarHeaderKind::kEnd;
  if (!ChecksumMatches(h)) return header->kind = TarHeaderKind::kBadChecksum;
  // libarchive dispatches extension headers on the flag alone, before it looks at the magic.
  switch (h[kTypeFlag]) {
    case 'x':
      return Extension(TarHeaderKind::kPaxAttributes, h, header);
    case 'g':
      return Extension(TarHeaderKind::kPaxGlobal, h, header);
    case 'L':
      return Extension(TarHeaderKind::kLongName, h, header);
    case 'K':
      return Extension(TarHeaderKind::kLongLink, h, header);
    case 'A':  // Solaris ACLs, GNU volume labels, Sun's pax headers
    case 'V':
    case 'X':
      return TarHeaderKind::kNotUnderstood;
  }
  header->gnu = std::memcmp(h + kMagic, "ustar  \0", 8) == 0;
  if (!header->gnu && std::memcmp(h + kMagic, "ustar", 5) != 0) {
    return TarHeaderKind::kNotUnderstood;  // pre-POSIX tar
  }
  return Member(h, header);
}

bool ReadPaxAttributes(std::string_view body, bool global, PaxAttributes* attributes) {
  // libarchive reads the body as a C string: a NUL would end it early.
  if (body.find('\0') != std::string_view::npos) return false;
  while (!body.empty()) {
    // "<length> <key>=<value>\n", the length counting the whole record.
    size_t digits = 0;
    while (digits < body.size() && digits < 7 && body[digits] >= '0' && body[digits] <= '9') {
      ++digits;
    }
    if (digits == 0 || digits >= body.size() || body[digits] != ' ') return false;
    const uint64_t length = Decimal(body.substr(0, digits));
    if (length > body.size() || length < digits + 3 || body[length - 1] != '\n') return false;
    std::string_view record = body.substr(digits + 1, length - digits - 2);
    size_t equals = record.find('=');
    if (equals == 0 || equals == std::string_view::npos) return false;
    if (!ReadRecord(record.substr(0, equals), record.substr(equals + 1), global, attributes)) {
      return false;
    }
    body.remove_prefix(length);
  }
  return true;
}

}  // namespace staging
