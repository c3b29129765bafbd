#include "inplace/header_pass.h"

#include <archive.h>
#include <archive_entry.h>

#include <unordered_map>
#include <vector>

#include "base/member_path.h"
#include "base/member_rules.h"
#include "common/c_text.h"
#include "decode/archive_reader.h"
#include "extract/archive_error.h"

namespace staging {
namespace {

// libarchive's client: reads the stream forward in small pieces and skips by moving the offset.
class HeaderReader {
 public:
  HeaderReader(TarStream& stream, size_t chunk) : stream_(stream), buffer_(chunk) {}

  static la_ssize_t Read(archive* a, void* self, const void** buffer) {
    auto* r = static_cast<HeaderReader*>(self);
    size_t got = 0;
    r->status_ = r->stream_.Read(r->offset_, r->buffer_.data(), r->buffer_.size(), &got);
    if (!r->status_.ok()) {
      archive_set_error(a, EIO, "%s", r->status_.message().c_str());
      return -1;
    }
    r->buffer_begin_ = r->offset_;
    r->buffer_size_ = got;
    r->offset_ += got;
    if (r->capturing_ && r->capture_.size() < kMaxHeaderSpan) {
      r->capture_.insert(r->capture_.end(), r->buffer_.begin(), r->buffer_.begin() + got);
    }
    *buffer = r->buffer_.data();
    return static_cast<la_ssize_t>(got);
  }

  // Keeps the stream's bytes from `offset` (where the next member's headers start) on, as they
  // are read, until TakeCaptured.
  void CaptureFrom(uint64_t offset) {
    capture_.clear();
    capture_from_ = offset;
    capturing_ = true;
    if (offset >= buffer_begin_ && offset < buffer_begin_ + buffer_size_) {
      const auto from = buffer_.begin() + (offset - buffer_begin_);
      capture_.assign(from, buffer_.begin() + buffer_size_);
    } else if (offset != offset_) {
      capturing_ = false;  // not where reading stands: nothing to capture
    }
  }

  // The bytes [capture start, end), if they were all read; false otherwise.
  bool TakeCaptured(uint64_t end, std::string* bytes) {
    const bool whole = capturing_ && end >= capture_from_ && end - capture_from_ <= capture_.size();
    if (whole) bytes->assign(reinterpret_cast<const char*>(capture_.data()), end - capture_from_);
    capturing_ = false;
    capture_.clear();
    return whole;
  }

  static la_int64_t Skip(archive*, void* self, la_int64_t request) {
    auto* r = static_cast<HeaderReader*>(self);
    uint64_t left = r->stream_.size() - std::min(r->offset_, r->stream_.size());
    uint64_t n = std::min<uint64_t>(static_cast<uint64_t>(std::max<la_int64_t>(request, 0)), left);
    r->offset_ += n;
    return static_cast<la_int64_t>(n);
  }

  const Status& status() const { return status_; }

 private:
  TarStream& stream_;
  std::vector<std::byte> buffer_;
  uint64_t offset_ = 0;
  uint64_t buffer_begin_ = 0;  // the stream offset of the bytes in buffer_
  size_t buffer_size_ = 0;
  bool capturing_ = false;
  uint64_t capture_from_ = 0;
  std::vector<std::byte> capture_;
  Status status_;
};

class IndexBuilder {
 public:
  IndexBuilder(const std::vector<ZstdFrameInfo>* frames, MemberIndex* index)
      : frames_(frames), index_(index) {}

  // One header (its bytes, from the end of the member before: `headers` at `headers_offset`): a
  // regular member recorded, anything else noted or passed over. Staging's rules for names and
  // links hold here too: what `stage` refuses to extract is refused here, whole archive and all.
  Status Add(archive* a, archive_entry* entry, uint64_t headers_offset,
             const std::string* headers) {
    const char* raw = archive_entry_pathname(entry);
    if (raw == nullptr) return Status::Error("a member without a name");
    MemberPath path;
    STAGING_RETURN_IF_ERROR(rules_.Check(raw, RuleKindOf(entry),
                                         common::TextOr(archive_entry_symlink(entry), ""), &path));
    if (path.is_root()) return Status::Ok();
    std::string name = path.joined();
    if (const char* target = archive_entry_hardlink(entry)) return AddHardlink(name, target);
    if (archive_entry_filetype(entry) == AE_IFLNK) return Refuse(name, "a symbolic link");
    if (archive_entry_filetype(entry) != AE_IFREG) return Status::Ok();
    if (archive_entry_sparse_count(entry) > 0) return Refuse(name, "a sparse file");
    if (!archive_entry_size_is_set(entry)) return Refuse(name, "no size in its header");
    MemberRecord record{name, static_cast<uint64_t>(archive_filter_bytes(a, 0)),
                        static_cast<uint64_t>(archive_entry_size(entry)), 0};
    if (!headers || record.offset < headers_offset + 512 ||
        record.offset - headers_offset != headers->size()) {
      return Refuse(name, "its headers could not be kept to check reads against");
    }
    record.headers_offset = headers_offset;
    record.headers_digest = MemberHeadersDigest(record, *headers);
    if (frames_) record.frame = static_cast<uint32_t>(FrameAt(*frames_, record.offset - 512));
    Put(std::move(record));
    return Status::Ok();
  }

 private:
  Status AddHardlink(const std::string& name, const char* target) {
    MemberPath path;
    auto it = ParseMemberPath(target, PathLimits{}, &path).ok() ? where_.find(path.joined())
                                                                : where_.end();
    if (it == where_.end()) return Refuse(name, "a hard link to no earlier member");
    MemberRecord record = index_->records[it->second];
    record.name = name;
    Put(std::move(record));
    return Status::Ok();
  }

  Status Refuse(const std::string& name, const std::string& why) {
    index_->refused.push_back({name, why});
    auto it = where_.find(name);  // a later member of that name replaces an earlier file
    if (it != where_.end()) index_->records[it->second].size = UINT64_MAX;
    return Status::Ok();
  }

  void Put(MemberRecord record) {
    auto [it, first] = where_.try_emplace(record.name, index_->records.size());
    if (first) {
      index_->records.push_back(std::move(record));
    } else {
      index_->records[it->second] = std::move(record);
    }
  }

 public:
  // Drops files that a later refused member of the same name replaced.
  void Finish() {
    std::erase_if(index_->records, [](const MemberRecord& r) { return r.size == UINT64_MAX; });
  }

 private:
  const std::vector<ZstdFrameInfo>* frames_;
  MemberIndex* index_;
  std::unordered_map<std::string, size_t> where_;
  MemberRuleChecker rules_;
};

}  // namespace

Status BuildMemberIndex(TarStream& stream, const std::string& label,
                        const std::vector<ZstdFrameInfo>* frames, MemberIndex* index) {
  Utf8Locale utf8;
  ArchiveReader a = NewArchiveReader(ReadFormat::kTar, {});
  HeaderReader reader(stream, frames ? 16 << 10 : 4 << 10);
  archive_read_set_callback_data(a.get(), &reader);
  archive_read_set_read_callback(a.get(), &HeaderReader::Read);
  archive_read_set_skip_callback(a.get(), &HeaderReader::Skip);
  if (archive_read_open1(a.get()) != ARCHIVE_OK) {
    return Status::Error(label + ": not a tar archive: " + ArchiveError(a.get()));
  }
  IndexBuilder builder(frames, index);
  index->records.clear();
  index->refused.clear();
  for (uint64_t number = 0;; ++number) {
    archive_entry* entry = nullptr;
    const auto headers_offset = static_cast<uint64_t>(archive_filter_bytes(a.get(), 0));
    reader.CaptureFrom(headers_offset);
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      std::string after = index->records.empty() ? "" : ", after " + index->records.back().name;
      return Status::Error(label + ": entry " + std::to_string(number) + after + ": " +
                           ArchiveError(a.get()));
    }
    std::string headers;
    const bool captured =
        reader.TakeCaptured(static_cast<uint64_t>(archive_filter_bytes(a.get(), 0)), &headers);
    Status added = builder.Add(a.get(), entry, headers_offset, captured ? &headers : nullptr);
    if (!added.ok()) {
      return Status::Error(label + ": entry " + std::to_string(number) + " '" +
                           common::TextOr(archive_entry_pathname(entry), "") +
                           "': " + added.message());
    }
    if (archive_read_data_skip(a.get()) < ARCHIVE_WARN) {
      return Status::Error(label + ": " + common::TextOr(archive_entry_pathname(entry), "entry") +
                           ": " + ArchiveError(a.get()));
    }
  }
  builder.Finish();
  return Status::Ok();
}

}  // namespace staging
