#include "extract/libarchive_members.h"

#include "common/c_text.h"
#include "extract/archive_error.h"

namespace staging {
namespace {

// What a header libarchive refuses without a reason is, as GNU tar words it.
constexpr std::string_view kBadHeader = "damaged tar header or unexpected end of archive";

TarMember::Type TypeOf(archive_entry* entry) {
  if (archive_entry_hardlink(entry)) return TarMember::Type::kHardlink;
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
      return TarMember::Type::kFile;
    case AE_IFDIR:
      return TarMember::Type::kDirectory;
    case AE_IFLNK:
      return TarMember::Type::kSymlink;
    default:
      return TarMember::Type::kOther;
  }
}

}  // namespace

Status LibarchiveMembers::Open(DecodedStream& stream, Codec filter, uint64_t base) {
  base_ = base;
  archive_ = NewArchiveReader(ReadFormat::kTar, {filter});
  if (archive_read_open(archive_.get(), &stream, nullptr, &DecodedStream::Read, nullptr) !=
      ARCHIVE_OK) {
    return Status::Error("not a readable tar stream: " + ArchiveError(archive_.get()));
  }
  return Status::Ok();
}

Status LibarchiveMembers::Next(TarMember* member, bool* end, std::string* warning) {
  archive* a = archive_.get();
  int rc = archive_read_next_header(a, &entry_);
  *end = rc == ARCHIVE_EOF;
  if (*end) return Status::Ok();
  if (rc == ARCHIVE_WARN) {
    *warning = ArchiveError(a, kBadHeader);
  } else if (rc != ARCHIVE_OK) {
    return Status::Error(ArchiveError(a, kBadHeader));
  }
  member->type = TypeOf(entry_);
  member->path = common::TextOr(archive_entry_pathname(entry_), "");
  const char* link = member->type == TarMember::Type::kHardlink ? archive_entry_hardlink(entry_)
                                                                : archive_entry_symlink(entry_);
  member->link = common::TextOr(link, "");
  member->perm = archive_entry_perm(entry_);
  member->size = archive_entry_size_is_set(entry_) ? archive_entry_size(entry_) : 0;
  member->mtime = {archive_entry_mtime(entry_), archive_entry_mtime_nsec(entry_)};
  member->sparse = archive_entry_sparse_count(entry_) > 0;
  return Status::Ok();
}

Status LibarchiveMembers::Data(const std::byte** data, size_t* len, uint64_t* offset) {
  const void* piece;
  la_int64_t at;
  int rc;
  while ((rc = archive_read_data_block(archive_.get(), &piece, len, &at)) == ARCHIVE_OK) {
    if (*len == 0) continue;
    *data = static_cast<const std::byte*>(piece);
    *offset = static_cast<uint64_t>(at);
    return Status::Ok();
  }
  *len = 0;
  if (rc == ARCHIVE_EOF) return Status::Ok();
  return Status::Error(ArchiveError(archive_.get(), "damaged tar data"));
}

uint64_t LibarchiveMembers::position() {
  const la_int64_t read = archive_filter_bytes(archive_.get(), -1);  // -1 before it opened
  return base_ + static_cast<uint64_t>(read > 0 ? read : 0);
}

}  // namespace staging
