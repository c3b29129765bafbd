// Archives that cannot be read at random (.tar.gz, a single-frame .tar.zst, .tar.xz, .tar.bz2):
// one sequential pass through staging's own pipeline (io_uring reads, ISA-L or libzstd, the
// parallel inflate when a gzip index is there, and a new gzip index recorded when not), keeping
// the selected members' bytes in memory under the cap.
#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <unordered_map>

#include "base/member_path.h"
#include "common/c_text.h"
#include "decode/archive_reader.h"
#include "decode/gzip_index.h"
#include "extract/archive_error.h"
#include "extract/decoded_stream.h"
#include "inplace/inplace_members.h"
#include "pipeline.h"

namespace staging {
namespace {

class MemoryMembers : public ArchiveMembers {
 public:
  explicit MemoryMembers(std::string path) : path_(std::move(path)) {}

  const std::vector<MemberInfo>& members() const override { return members_; }
  const std::string& path() const override { return path_; }
  Status Read(size_t member, std::vector<uint8_t>* bytes) const override {
    if (member >= data_.size())
      return Status::Error(path_ + ": no member " + std::to_string(member));
    *bytes = data_[member];
    return Status::Ok();
  }
  void WillRead(std::span<const size_t>) const override {}
  // The bytes kept under `name`, or null.
  const std::vector<uint8_t>* Find(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : &data_[it->second];
  }
  uint64_t bytes() const {
    uint64_t total = 0;
    for (const MemberInfo& m : members_) total += m.size;
    return total;
  }

  // Keeps `bytes` under `name`; a later member of the same name replaces an earlier one.
  void Put(std::string name, std::vector<uint8_t> bytes) {
    auto [it, first] = where_.try_emplace(name, members_.size());
    if (first) {
      members_.push_back({std::move(name), bytes.size()});
      data_.push_back(std::move(bytes));
    } else {
      members_[it->second].size = bytes.size();
      data_[it->second] = std::move(bytes);
    }
  }

 private:
  std::string path_;
  std::vector<MemberInfo> members_;
  std::vector<std::vector<uint8_t>> data_;
  std::unordered_map<std::string, size_t> where_;
};

Status Finish(const Status& status, std::unique_ptr<MemoryMembers> members,
              std::unique_ptr<ArchiveMembers>* out, MemberOpenReport* report) {
  if (!status.ok()) return status;
  report->memory_bytes = members->bytes();
  *out = std::move(members);
  return Status::Ok();
}

std::string TooLarge(const std::string& path, Codec codec, uint64_t max_memory) {
  return path + ": a " + ArchiveKindName(codec) +
         " cannot be read at random, and its images do not fit under --max_memory (" +
         std::to_string(max_memory >> 20) + " MiB): extract it with `stage`, or make it " +
         "readable in place with `stage pack --random-access --from " + path +
         " --to NAME.tar.zst`";
}

// Parses the decoded stream with libarchive and keeps the selected regular members.
Status KeepMembers(BoundedQueue<BlockRef>& decoded, EntryWriter& writer, Codec codec,
                   const MemberOpenOptions& options, uint64_t max_memory, MemoryMembers* out,
                   uint64_t* held) {
  Utf8Locale utf8;
  DecodedStream stream(decoded, writer);
  ArchiveReader a = NewArchiveReader(ReadFormat::kTar, {LeftForLibarchive(codec)});
  if (archive_read_open(a.get(), &stream, nullptr, &DecodedStream::Read, nullptr) != ARCHIVE_OK) {
    return Status::Error(out->path() + ": not a tar archive: " + ArchiveError(a.get()));
  }
  MemberRuleChecker rules;  // staging's rules for names and links hold here too
  for (uint64_t number = 0;; ++number) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) return Status::Ok();
    if (rc < ARCHIVE_WARN) {
      return Status::Error(out->path() + ": entry " + std::to_string(number) + ": " +
                           ArchiveError(a.get()));
    }
    const char* raw = archive_entry_pathname(entry);
    MemberPath path;
    Status allowed = raw ? rules.Check(raw, RuleKindOf(entry),
                                       common::TextOr(archive_entry_symlink(entry), ""), &path)
                         : Status::Error("a member without a name");
    if (!allowed.ok()) {
      return Status::Error(out->path() + ": entry " + std::to_string(number) + " '" +
                           common::TextOr(raw, "") + "': " + allowed.message());
    }
    if (path.is_root() || (options.keep && !options.keep(path.joined()))) {
      continue;  // libarchive skips the data on the next header read
    }
    if (const char* target = archive_entry_hardlink(entry)) {
      MemberPath target_path;
      const std::vector<uint8_t>* bytes = ParseMemberPath(target, PathLimits{}, &target_path).ok()
                                              ? out->Find(target_path.joined())
                                              : nullptr;
      if (!bytes) continue;
      if (*held + bytes->size() > max_memory) {
        return Status::Error(TooLarge(out->path(), codec, max_memory));
      }
      *held += bytes->size();
      out->Put(path.joined(), *bytes);
      continue;
    }
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    uint64_t size = static_cast<uint64_t>(std::max<la_int64_t>(archive_entry_size(entry), 0));
    if (size > options.max_member_bytes) {
      return MemberOverCap(out->path(), path.joined(), size, options.max_member_bytes);
    }
    if (*held + size > max_memory) return Status::Error(TooLarge(out->path(), codec, max_memory));
    std::vector<uint8_t> bytes(size);
    la_ssize_t n = archive_read_data(a.get(), bytes.data(), bytes.size());
    if (n < 0 || static_cast<uint64_t>(n) != size) {
      return Status::Error(out->path() + ": " + path.joined() + ": " +
                           (n < 0 ? ArchiveError(a.get()) : std::string("truncated")));
    }
    *held += size;
    out->Put(path.joined(), std::move(bytes));
  }
}

// One pass; `*inflate_failed` says whether an indexed inflate failed on its own.
Status ReadOnce(const SourceIdentity& identity, int fd, const DecoderChoice& choice,
                const MemberOpenOptions& options, uint64_t max_memory,
                std::unique_ptr<MemoryMembers>* members, bool* inflate_failed) {
  *members = std::make_unique<MemoryMembers>(identity.path);
  uint64_t held = 0;
  // Nothing is written to disk: one writer thread, idle.
  Pipeline pipeline(ResolveIoKind(IoKind::kAuto), /*writers=*/1, fd, identity.size,
                    MakeDecoder(choice));
  Status status = pipeline.Run([&](BoundedQueue<BlockRef>& decoded, EntryWriter& writer) {
    return KeepMembers(decoded, writer, choice.codec, options, max_memory, members->get(), &held);
  });
  *inflate_failed = pipeline.decoder_failed();
  return status;
}

}  // namespace

Status OpenInMemory(const SourceIdentity& identity, common::UniqueFd fd, Codec codec,
                    const MemberOpenOptions& options, uint64_t max_memory,
                    std::unique_ptr<ArchiveMembers>* out, MemberOpenReport* report) {
  report->layout = MemberLayout::kInMemory;
  DecoderChoice choice{codec, fd.get(), identity.size};
  std::unique_ptr<MemoryMembers> members;
  bool inflate_failed = false;
  std::string index_path;
  if (codec == Codec::kGzip) {
    index_path = GzipIndexPath(identity.path, options.index_cache);
    GzipIndex index;
    std::string note;
    if (LoadGzipIndex(index_path, identity, &index, &note)) {
      if (index.decoded_size > max_memory) {
        return Status::Error(TooLarge(identity.path, codec, max_memory));
      }
      choice.gzip_index = &index;
      Status status =
          ReadOnce(identity, fd.get(), choice, options, max_memory, &members, &inflate_failed);
      if (status.ok() || !inflate_failed) {
        report->index_path = index_path;  // read in parallel through it
        return Finish(status, std::move(members), out, report);
      }
      report->index_note = index_path + ": did not match the archive; read sequentially";
      unlink(index_path.c_str());
      choice.gzip_index = nullptr;
    } else if (!note.empty()) {
      report->index_note = index_path + ": " + note + "; read sequentially, index made again";
    }
  }
  std::unique_ptr<GzipIndexWriter> index_writer;
  if (codec == Codec::kGzip) {
    index_writer = std::make_unique<GzipIndexWriter>(index_path, identity);
    choice.restart_points = index_writer.get();
  }
  Status status =
      ReadOnce(identity, fd.get(), choice, options, max_memory, &members, &inflate_failed);
  if (status.ok() && index_writer && index_writer->Commit()) {
    report->index_path = index_path;
    report->index_built = true;
  }
  return Finish(status, std::move(members), out, report);
}

}  // namespace staging
