// The members of a decoded tar stream, one after another, as the extractor sees them: read by
// stage's own header reader while the headers are ones it reads exactly as libarchive does, and
// by libarchive from the first header that is not.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>

#include "decode/source_format.h"
#include "extract/decoded_stream.h"
#include "staging/status.h"

namespace staging {

struct TarMember {
  enum class Type { kFile, kDirectory, kSymlink, kHardlink, kOther };
  Type type = Type::kOther;
  std::string path;  // as the archive names it
  std::string link;  // a symlink's or hardlink's target
  mode_t perm = 0;
  uint64_t size = 0;  // bytes of data (a hardlink with any is refused)
  timespec mtime{};
  bool sparse = false;
};

// Who read how many members' headers.
struct TarReaderCounts {
  uint64_t by_stage = 0;
  uint64_t by_libarchive = 0;
  bool handed_over = false;     // libarchive read from some header on
  uint64_t handed_over_at = 0;  // that header's decoded byte
};

class TarMemberReader {
 public:
  virtual ~TarMemberReader() = default;
  // The next member into *member, or *end at the end of the archive. A failure's message is the
  // bare cause, for the caller to place; a warning the member comes with goes to *warning.
  virtual Status Next(TarMember* member, bool* end, std::string* warning) = 0;
  // The current member's data in pieces, each at *offset in the file (a sparse member's leave
  // holes); *len 0 after the last. A failure's message is the bare cause.
  virtual Status Data(const std::byte** data, size_t* len, uint64_t* offset) = 0;
  // Decoded bytes consumed so far, for messages.
  virtual uint64_t position() = 0;
  virtual TarReaderCounts counts() const = 0;
};

// A reader over `stream`. With a codec that libarchive decodes itself (xz, bzip2), libarchive
// reads every header; otherwise stage's reader starts. `stream` must outlive the reader.
std::unique_ptr<TarMemberReader> OpenTarMembers(DecodedStream& stream, Codec libarchive_filter);

}  // namespace staging
