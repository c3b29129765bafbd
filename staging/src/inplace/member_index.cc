#include "inplace/member_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "base/digest.h"
#include "common/file_io.h"
#include "common/unique_fd.h"

namespace staging {
namespace {

constexpr char kMagic[8] = {'S', 'T', 'G', 'M', 'I', 'D', 'X', '3'};
constexpr uint32_t kMaxNameBytes = 1 << 16;
// offset, size, frame, headers offset, digest, name length: a record with a one-byte name.
constexpr uint64_t kMinRecordBytes = 8 + 8 + 4 + 8 + 32 + 4 + 1;

void PutU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }
void PutU32(std::string* out, uint32_t v) { out->append(reinterpret_cast<const char*>(&v), 4); }

// Reads little-endian fields from untrusted bytes; any read past the end makes ok() false.
class FieldReader {
 public:
  explicit FieldReader(std::string_view bytes) : bytes_(bytes) {}
  uint64_t U64() { return Take<uint64_t>(); }
  uint32_t U32() { return Take<uint32_t>(); }
  std::string Text(size_t n) {
    if (!ok_ || bytes_.size() - pos_ < n) return Fail(), std::string();
    std::string s(bytes_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == bytes_.size(); }
  size_t left() const { return bytes_.size() - pos_; }

 private:
  template <typename T>
  T Take() {
    T v{};
    if (!ok_ || bytes_.size() - pos_ < sizeof v) return Fail(), v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof v);
    pos_ += sizeof v;
    return v;
  }
  void Fail() { ok_ = false; }
  std::string_view bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

uint32_t Crc(std::string_view bytes) {
  uLong crc = crc32(0, nullptr, 0);
  // zlib takes uInt lengths: feed it in pieces.
  for (size_t done = 0; done < bytes.size();) {
    uInt n = static_cast<uInt>(std::min<size_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), n);
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

std::string MemberHeadersDigest(const MemberRecord& record, std::string_view headers) {
  Sha256 hash;
  std::string fields;
  PutU64(&fields, record.offset);
  PutU64(&fields, record.size);
  hash.Update(fields.data(), fields.size());
  hash.Update(headers.data(), headers.size());
  return hash.HexDigest().substr(0, 32);
}

namespace {

void PutIdentity(std::string* out, const MemberIndex& index, const SourceIdentity& source) {
  out->append(kMagic, sizeof kMagic);
  PutU32(out, static_cast<uint32_t>(index.layout));
  PutU32(out, index.frames);
  PutU64(out, source.size);
  PutU64(out, static_cast<uint64_t>(source.mtime_ns));
  PutU64(out, source.inode);
  PutU64(out, static_cast<uint64_t>(source.ctime_ns));
  PutU64(out, index.stream_size);
  PutU32(out, static_cast<uint32_t>(source.head_sha256.size()));
  out->append(source.head_sha256);
}

Status CheckRecord(const MemberRecord& r, const MemberIndex& expected) {
  if (r.name.empty()) return Status::Error("a record without a name");
  if (r.offset > expected.stream_size || r.size > expected.stream_size - r.offset) {
    return Status::Error(r.name + ": record outside the archive");
  }
  if (r.headers_offset > r.offset || r.offset - r.headers_offset < 512 ||
      r.offset - r.headers_offset > kMaxHeaderSpan || r.headers_digest.size() != 32) {
    return Status::Error(r.name + ": record with impossible headers");
  }
  if (expected.layout == MemberLayout::kPacked ? r.frame >= expected.frames : r.frame != 0) {
    return Status::Error(r.name + ": record names a frame the archive lacks");
  }
  return Status::Ok();
}

Status ReadRecords(FieldReader& in, const MemberIndex& expected, MemberIndex* index) {
  uint64_t count = in.U64();
  uint64_t refused = in.U64();
  // Every count is checked against the bytes there are before anything is allocated: a record
  // takes at least kMinRecordBytes, a refusal 8.
  if (!in.ok() || count > in.left() / kMinRecordBytes ||
      refused > (in.left() - count * kMinRecordBytes) / 8) {
    return Status::Error("damaged counts (more records than the file has bytes for)");
  }
  index->records.resize(count);
  for (MemberRecord& r : index->records) {
    r.offset = in.U64();
    r.size = in.U64();
    r.frame = in.U32();
    r.headers_offset = in.U64();
    r.headers_digest = in.Text(32);
    uint32_t name_bytes = in.U32();
    if (!in.ok() || name_bytes > kMaxNameBytes) return Status::Error("damaged record");
    r.name = in.Text(name_bytes);
    if (!in.ok()) return Status::Error("damaged record");
    STAGING_RETURN_IF_ERROR(CheckRecord(r, expected));
  }
  index->refused.resize(refused);
  for (RefusedMember& refusal : index->refused) {
    for (std::string* text : {&refusal.name, &refusal.reason}) {
      uint32_t bytes = in.U32();
      if (!in.ok() || bytes > kMaxNameBytes) return Status::Error("damaged record");
      *text = in.Text(bytes);
    }
  }
  return in.ok() ? Status::Ok() : Status::Error("damaged record");
}

// No index of ours is larger than the archive's own headers would make it: a member's record
// is at most its name and 64 bytes, and its headers in the archive take at least 512 bytes.
uint64_t MaxIndexBytes(uint64_t archive_size) { return archive_size + (1 << 20); }

}  // namespace

std::string EncodeMemberIndex(const MemberIndex& index, const SourceIdentity& source) {
  std::string out;
  PutIdentity(&out, index, source);
  PutU64(&out, index.records.size());
  PutU64(&out, index.refused.size());
  for (const MemberRecord& r : index.records) {
    PutU64(&out, r.offset);
    PutU64(&out, r.size);
    PutU32(&out, r.frame);
    PutU64(&out, r.headers_offset);
    out += r.headers_digest;
    PutU32(&out, static_cast<uint32_t>(r.name.size()));
    out += r.name;
  }
  for (const RefusedMember& refusal : index.refused) {
    for (const std::string* text : {&refusal.name, &refusal.reason}) {
      PutU32(&out, static_cast<uint32_t>(text->size()));
      out += *text;
    }
  }
  PutU32(&out, Crc(out));
  return out;
}

Status DecodeMemberIndex(const std::string& bytes, const SourceIdentity& source,
                         const MemberIndex& expected, MemberIndex* index) {
  std::string identity;
  PutIdentity(&identity, expected, source);
  if (bytes.size() < identity.size() + 4 || bytes.compare(0, 8, kMagic, 8) != 0) {
    return Status::Error("not a member index");
  }
  if (bytes.compare(0, identity.size(), identity) != 0) {
    return Status::Error("made for another version of the archive");
  }
  std::string_view body(bytes.data(), bytes.size() - 4);
  uint32_t crc;
  std::memcpy(&crc, bytes.data() + body.size(), 4);
  if (crc != Crc(body)) return Status::Error("damaged (checksum mismatch)");
  FieldReader in(body.substr(identity.size()));
  *index = expected;
  index->records.clear();
  STAGING_RETURN_IF_ERROR(ReadRecords(in, expected, index));
  if (!in.at_end()) return Status::Error("damaged (trailing bytes)");
  return Status::Ok();
}

bool LoadMemberIndex(const SourceIdentity& source, const std::string& cache_dir,
                     const MemberIndex& expected, MemberIndex* index, std::string* found_path,
                     std::string* note, std::string* write_path) {
  note->clear();
  for (const std::string& path : {source.path + kMemberIndexSuffix,
                                  CachedSidecarPath(source.path, kMemberIndexSuffix, cache_dir)}) {
    std::string bytes;
    bool exists = false;
    const std::string error =
        common::ReadUntrustedFile(AT_FDCWD, path, MaxIndexBytes(source.size), &bytes, &exists);
    if (!exists) continue;
    const Status read =
        error.empty() ? DecodeMemberIndex(bytes, source, expected, index) : Status::Error(error);
    if (read.ok()) {
      *found_path = path;
      return true;
    }
    if (note->empty()) *note = error.empty() ? path + ": " + read.message() : error;
  }
  *write_path = SidecarPath(source.path, kMemberIndexSuffix, cache_dir);
  return false;
}

std::string SaveMemberIndex(const std::string& path, const MemberIndex& index,
                            const SourceIdentity& source) {
  return common::WriteFileAtomically(path, EncodeMemberIndex(index, source));
}

}  // namespace staging
