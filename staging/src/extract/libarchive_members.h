// libarchive's reading of tar members, as TarMembers.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>

#include "decode/archive_reader.h"
#include "extract/tar_members.h"

namespace staging {

class LibarchiveMembers {
 public:
  LibarchiveMembers() = default;
  // Reads `stream` from where it is set to resume, through `filter`; `base` is that point's
  // decoded byte, added to positions. Fails when libarchive cannot start.
  Status Open(DecodedStream& stream, Codec filter, uint64_t base);

  // As TarMemberReader's.
  Status Next(TarMember* member, bool* end, std::string* warning);
  Status Data(const std::byte** data, size_t* len, uint64_t* offset);
  uint64_t position();

 private:
  ArchiveReader archive_{nullptr, archive_read_free};
  archive_entry* entry_ = nullptr;  // libarchive's, valid until the next header
  uint64_t base_ = 0;
};

}  // namespace staging
