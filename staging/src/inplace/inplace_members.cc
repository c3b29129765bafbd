// Members read where they lie: a plain tar with pread, a packed archive by decoding the frames a
// member lies in. The member index comes from beside the archive (or the cache), else from one
// pass over the headers, and is saved for the next run.
#include "inplace/inplace_members.h"

#include <sys/vfs.h>

#include <algorithm>
#include <cstring>
#include <iostream>

#include "base/tar_header.h"
#include "decode/source_format.h"
#include "inplace/archive_file.h"
#include "inplace/header_pass.h"
#include "inplace/member_index.h"
#include "inplace/tar_stream.h"

namespace staging {
namespace {

constexpr size_t kTarBlock = 512;
constexpr size_t kMemberReadChunk = 256 << 10;
// An archive this much in the page cache already is not preloaded by default: a copy would only
// double its memory and take a core from the decoders while the first batches are made.
constexpr double kCachedEnough = 0.9;

// NFS, SMB, 9p, Ceph, Lustre, GlusterFS, AFS and FUSE (gcsfuse, s3fs, blobfuse): where
// persistent disks of rented machines are mounted, and random reads cost a round trip.
bool OnNetworkFilesystem(const ArchiveFile& file) {
  struct statfs fs;
  if (statfs(file.path().c_str(), &fs) != 0) return false;
  switch (static_cast<uint64_t>(fs.f_type)) {
    case 0x6969:      // NFS
    case 0xFF534D42:  // CIFS
    case 0xFE534D42:  // SMB2
    case 0x517B:      // SMB
    case 0x01021997:  // 9p
    case 0x00C36400:  // Ceph
    case 0x0BD00BD0:  // Lustre
    case 0x65735546:  // FUSE
    case 0x5346414F:  // AFS
      return true;
    default:
      return false;
  }
}

// True when `header` (512 bytes) is a checksum-valid tar header whose size field says `size`.
bool HeaderSays(const std::byte* header, uint64_t size) {
  return TarChecksumMatches(header) && TarSizeField(header) == size;
}

class InPlaceMembers : public ArchiveMembers {
 public:
  InPlaceMembers(std::unique_ptr<ArchiveFile> file, std::vector<ZstdFrameInfo> frames,
                 MemberIndex index, const MemberOpenOptions& options)
      : file_(std::move(file)), frames_(std::move(frames)) {
    for (MemberRecord& record : index.records) {
      if (options.keep && !options.keep(record.name)) continue;
      members_.push_back({record.name, record.size});
      records_.push_back(std::move(record));
    }
  }

  const std::vector<MemberInfo>& members() const override { return members_; }
  const std::string& path() const override { return file_->path(); }
  // Reads the member with the header block before it, which must still say what the index says.
  Status Read(size_t member, std::vector<uint8_t>* bytes) const override {
    if (member >= records_.size()) {
      return Status::Error(file_->path() + ": no member " + std::to_string(member));
    }
    const MemberRecord& r = records_[member];
    std::unique_ptr<TarStream> stream = frames_.empty()
                                            ? PlainTarStream(*file_)
                                            : PackedTarStream(*file_, frames_, kMemberReadChunk);
    // The member's headers as indexed (their span was bounded when the index was loaded): the
    // same bytes, name, size and place, or the archive is not the one indexed.
    std::string headers(r.offset - r.headers_offset, '\0');
    size_t got = 0;
    Status status = stream->Read(r.headers_offset, reinterpret_cast<std::byte*>(headers.data()),
                                 headers.size(), &got);
    if (status.ok() && (got != headers.size() ||
                        !HeaderSays(reinterpret_cast<const std::byte*>(headers.data()) +
                                        headers.size() - kTarBlock,
                                    r.size) ||
                        MemberHeadersDigest(r, headers) != r.headers_digest)) {
      status = Status::Error(
          "the archive changed since it was indexed (its headers there are not the ones indexed)");
    }
    if (status.ok()) {
      bytes->resize(r.size);
      status = stream->Read(r.offset, reinterpret_cast<std::byte*>(bytes->data()), r.size, &got);
      if (status.ok() && got != r.size) status = Status::Error("the archive ends inside it");
    }
    return status.ok() ? status : status.WithContext(file_->path() + ": " + r.name);
  }

  // The kernel starts reading the members' byte ranges (compressed frames, when packed) in file
  // order, all at once.
  void WillRead(std::span<const size_t> members) const override {
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (size_t m : members) {
      if (m >= records_.size()) continue;
      const MemberRecord& r = records_[m];
      ranges.push_back(
          FileRange(r.offset - std::min<uint64_t>(r.offset, kTarBlock), r.offset + r.size));
    }
    std::sort(ranges.begin(), ranges.end());
    for (auto [begin, end] : ranges) file_->WillNeed(begin, end - begin);
  }

 private:
  // The file bytes holding the stream's [begin, end).
  std::pair<uint64_t, uint64_t> FileRange(uint64_t begin, uint64_t end) const {
    if (frames_.empty()) return {begin, end};
    size_t first = FrameAt(frames_, begin);
    size_t last = FrameAt(frames_, end > 0 ? end - 1 : 0);
    if (first >= frames_.size() || last >= frames_.size()) return {0, 0};
    return {frames_[first].compressed_offset,
            frames_[last].compressed_offset + frames_[last].compressed_size};
  }

  std::unique_ptr<ArchiveFile> file_;
  std::vector<ZstdFrameInfo> frames_;
  std::vector<MemberRecord> records_;
  std::vector<MemberInfo> members_;
};

// The index from beside the archive or the cache, else built and saved (an index that cannot be
// saved only costs the next run the header pass again).
Status LoadOrBuildIndex(const SourceIdentity& identity, const ArchiveFile& file,
                        const std::vector<ZstdFrameInfo>& frames, const std::string& cache_dir,
                        MemberIndex* index, MemberOpenReport* report) {
  MemberIndex expected;
  expected.layout = frames.empty() ? MemberLayout::kPlainTar : MemberLayout::kPacked;
  expected.frames = static_cast<uint32_t>(frames.size());
  // While the file is preloaded from a network filesystem the header pass follows the preload
  // instead of seeking: there one sequential read beats a read per member; a local disk seeks
  // faster than it streams the whole file (0.58 s against 1.1 s for Pets, cold).
  const bool in_file_order = file.preloading() && OnNetworkFilesystem(file);
  std::unique_ptr<TarStream> stream = frames.empty()
                                          ? PlainTarStream(file, in_file_order)
                                          : PackedTarStream(file, frames, 16 << 10, in_file_order);
  expected.stream_size = stream->size();
  std::string write_path;
  if (LoadMemberIndex(identity, cache_dir, expected, index, &report->index_path,
                      &report->index_note, &write_path)) {
    return Status::Ok();
  }
  *index = expected;
  STAGING_RETURN_IF_ERROR(
      BuildMemberIndex(*stream, identity.path, frames.empty() ? nullptr : &frames, index));
  report->index_built = true;
  report->index_path = write_path;
  if (!report->index_note.empty()) report->index_note += "; rebuilt";
  if (std::string error = SaveMemberIndex(write_path, *index, identity); !error.empty()) {
    report->index_note += (report->index_note.empty() ? "" : "; ") +
                          ("member index not saved (the next run makes it again): " + error);
    report->index_path.clear();
  }
  return Status::Ok();
}

}  // namespace

Status MemberOverCap(const std::string& archive, const std::string& member, uint64_t size,
                     uint64_t cap) {
  return Status::Error(archive + ": " + member + ": " + std::to_string(size) +
                       " bytes, more than one member may have (--max_member_mb " +
                       std::to_string(cap >> 20) + ")");
}

Status OpenInPlace(const SourceIdentity& identity, common::UniqueFd fd,
                   std::vector<ZstdFrameInfo> frames, const MemberOpenOptions& options,
                   uint64_t max_memory, std::unique_ptr<ArchiveMembers>* out,
                   MemberOpenReport* report) {
  auto file = std::make_unique<ArchiveFile>(identity.path, std::move(fd), identity.size);
  report->layout = frames.empty() ? MemberLayout::kPlainTar : MemberLayout::kPacked;
  report->preloading = options.preload == Preload::kOn ||
                       (options.preload == Preload::kAuto && identity.size <= max_memory &&
                        file->CachedFraction() < kCachedEnough);
  if (report->preloading) report->preloading = file->StartPreload();
  if (report->preloading) report->memory_bytes = identity.size;
  MemberIndex index;
  STAGING_RETURN_IF_ERROR(
      LoadOrBuildIndex(identity, *file, frames, options.index_cache, &index, report));
  for (const MemberRecord& record : index.records) {
    if (record.size > options.max_member_bytes && (!options.keep || options.keep(record.name))) {
      return MemberOverCap(identity.path, record.name, record.size, options.max_member_bytes);
    }
  }
  for (const RefusedMember& refusal : index.refused) {
    if (!options.keep || options.keep(refusal.name))
      report->refused.push_back(refusal.name + ": " + refusal.reason);
  }
  if (!frames.empty() && index.records.size() > 4 * frames.size()) {
    report->advice = identity.path + ": its frames hold " +
                     std::to_string(index.records.size() / frames.size()) +
                     " members each, and reading one decodes up to a whole frame; `stage pack "
                     "--random-access` makes a frame per member";
  }
  *out = std::make_unique<InPlaceMembers>(std::move(file), std::move(frames), std::move(index),
                                          options);
  return Status::Ok();
}

}  // namespace staging
