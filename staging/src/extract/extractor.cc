#include "extract/extractor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "base/bounded_queue.h"
#include "base/hash_set64.h"
#include "base/interrupt.h"
#include "base/member_rules.h"
#include "common/unique_fd.h"
#include "decode/archive_reader.h"
#include "extract/decoded_stream.h"
#include "extract/tar_members.h"
#include "io/dir_tree.h"
#include "io/file_writing.h"
#include "io/free_space.h"

namespace staging {
namespace {

// Bits an archive may set on what it creates: no setuid, setgid or sticky bit, no group or
// other write permission.
constexpr mode_t kAllowedModeBits = 0777 & ~(S_IWGRP | S_IWOTH);
constexpr size_t kCopyBlockSize = 1 << 20;
constexpr size_t kCopyBlocks = 8;
// While writing, free space and inodes are checked again after this much data or this many
// entries, and before any entry this large: the disk may fill from elsewhere, and a compressed
// archive declares its size only as a hint.
constexpr uint64_t kRoomCheckBytes = 16 << 20;
constexpr uint64_t kRoomCheckEntries = 1024;

class Extractor {
 public:
  Extractor(int root_fd, EntryWriter& writer, const ExtractOptions& options, ExtractResult* result,
            std::atomic<uint64_t>* progress)
      : root_fd_(root_fd),
        writer_(writer),
        options_(options),
        result_(result),
        progress_(progress),
        dirs_(root_fd, options.implicit_dir_mode),
        copies_(kCopyBlocks, kCopyBlockSize) {
    dirs_.set_before_forget([this] { writer_.Drain(); });
  }

  Status Run(TarMemberReader& members, DecodedStream& stream) {
    stream_ = &stream;
    members_ = &members;
    while (true) {
      STAGING_RETURN_IF_ERROR(CheckInterrupt(options_.interrupt));
      bool end = false;
      std::string warning;
      Status header = members.Next(&member_, &end, &warning);
      if (!header.ok()) return Status::Error(HeaderPosition() + header.message());
      if (end) break;
      if (!warning.empty()) result_->warnings.push_back(Describe() + ": " + warning);
      Status status = Entry();
      // A writer's error names its own file, which may be an earlier one than this entry.
      if (!status.ok()) return writer_failed_ ? status : status.WithContext(Describe());
      STAGING_RETURN_IF_ERROR(writer_.Poll());
    }
    STAGING_RETURN_IF_ERROR(writer_.Drain());
    return FinishDirectories();
  }

 private:
  struct DirectoryMetadata {
    std::string path;
    mode_t mode;
    timespec mtime;
  };

  static std::string Quoted(const std::string& name) {
    return "'" + (name.empty() ? std::string("?") : name) + "'";
  }
  std::string Describe() { return "entry " + Quoted(member_.path); }

  // Where a header failed: after the last member read, at a decoded byte.
  std::string HeaderPosition() {
    std::string where;
    if (!has_last_entry_) {
      where = "the first header";
    } else if (last_entry_sparse_) {
      // libarchive finds the next header where the sparse member's size says its data ends; a
      // size that disagrees with the member's sparse map (by a single byte, even) lands inside
      // data. GNU tar reports that the same way: damage after this member.
      where = "after entry " + Quoted(last_entry_) +
              " (a sparse member: its size may disagree with its sparse map)";
    } else {
      where = "after entry " + Quoted(last_entry_);
    }
    return where + " (decoded byte " + std::to_string(members_->position()) + "): ";
  }

  Status Entry() {
    has_last_entry_ = true;
    last_entry_ = member_.path;
    last_entry_sparse_ = member_.sparse;
    if (++result_->entries > options_.max_entries) {
      return Status::Error("more than " + std::to_string(options_.max_entries) +
                           " entries (entry count limit)");
    }
    MemberPath path;
    STAGING_RETURN_IF_ERROR(ParseMemberPath(member_.path, options_.path_limits, &path));
    if (path.stripped_leading_slash) {
      result_->warnings.push_back(Describe() + ": leading '/' removed");
    }
    STAGING_RETURN_IF_ERROR(CheckMemberName(path, member_.type == TarMember::Type::kDirectory));
    if (path.is_root()) return Status::Ok();
    switch (member_.type) {
      case TarMember::Type::kHardlink:
        return HardLink(path);
      case TarMember::Type::kFile:
        return RegularFile(path);
      case TarMember::Type::kDirectory:
        return Directory(path);
      case TarMember::Type::kSymlink:
        return SymLink(path);
      case TarMember::Type::kOther:
        break;
    }
    result_->warnings.push_back(Describe() + ": skipped (device, FIFO or socket)");
    return Status::Ok();
  }

  // The directory of a new entry at `path`, with room made for the entry: an earlier entry of
  // the same name goes (last one wins), after the writes queued for it have landed.
  Status Place(const MemberPath& path, bool keep_directory, int* dirfd) {
    STAGING_RETURN_IF_ERROR(Parent(path, dirfd));
    if (seen_.Insert(std::hash<std::string>{}(path.joined()))) return Status::Ok();
    STAGING_RETURN_IF_ERROR(Replace(*dirfd, path, keep_directory));
    return Parent(path, dirfd);  // a cached directory may have been the one replaced
  }

  Status Replace(int dirfd, const MemberPath& path, bool keep_directory) {
    STAGING_RETURN_IF_ERROR(Written(writer_.Drain()));
    struct stat st;
    if (fstatat(dirfd, path.name().c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return Status::Ok();
    if (S_ISDIR(st.st_mode)) {
      if (keep_directory) return Status::Ok();
      if (unlinkat(dirfd, path.name().c_str(), AT_REMOVEDIR) < 0) {
        return Status::FromErrno("cannot replace the directory of the same name", errno);
      }
    } else if (unlinkat(dirfd, path.name().c_str(), 0) < 0) {
      return Status::FromErrno("cannot replace the earlier entry of the same name", errno);
    }
    dirs_.Forget();  // a cached directory may have been the one replaced
    return Status::Ok();
  }

  Status Parent(const MemberPath& path, int* fd) { return dirs_.Directory(path.parent(), fd); }

  // Notes a failure of the writer, whose errors already name their file.
  Status Written(Status status) {
    if (!status.ok()) writer_failed_ = true;
    return status;
  }

  Status RegularFile(const MemberPath& path) {
    int dirfd;
    STAGING_RETURN_IF_ERROR(Place(path, /*keep_directory=*/false, &dirfd));
    const mode_t mode = member_.perm & kAllowedModeBits;
    const uint64_t size = member_.size;
    if (result_->bytes + size > options_.max_bytes) return ByteLimit();
    STAGING_RETURN_IF_ERROR(CheckRoomWhileWriting(size));
    result_->created.push_back(path.joined());
    if (member_.sparse) return SparseFile(dirfd, path, mode, size, member_.mtime);
    STAGING_RETURN_IF_ERROR(Written(
        writer_.BeginFile(dirfd, path.name(), result_->created.back(), mode, size, member_.mtime)));
    const std::byte* data;
    size_t len;
    uint64_t offset;
    while (true) {
      Status read = members_->Data(&data, &len, &offset);
      if (!read.ok()) return DataError(read);
      if (len == 0) break;
      STAGING_RETURN_IF_ERROR(CheckInterrupt(options_.interrupt));
      STAGING_RETURN_IF_ERROR(Append(data, len));
    }
    ++result_->files;
    return Written(writer_.EndFile());
  }

  // Hands bytes to the writer: in place when they lie in the decoded block at hand, else copied
  // (libarchive's own buffers, as with xz and bzip2, are reused at its next call).
  Status Append(const std::byte* data, size_t len) {
    result_->bytes += len;
    if (progress_) progress_->fetch_add(len, std::memory_order_relaxed);
    if (result_->bytes > options_.max_bytes) return ByteLimit();
    const BlockRef& block = stream_->current();
    if (block && data >= block->bytes() && data + len <= block->bytes() + block->size) {
      return Written(writer_.Append(block, data, len));
    }
    while (len > 0) {
      if (!copy_ || copy_->size == copy_->capacity) {
        copy_ = copies_.TryAcquire().value_or(BlockRef());
        if (!copy_) {
          STAGING_RETURN_IF_ERROR(Written(writer_.Drain()));
          copy_ = copies_.Acquire();
        }
      }
      size_t n = std::min(len, copy_->capacity - copy_->size);
      std::byte* dst = copy_->data + copy_->size;
      std::memcpy(dst, data, n);
      copy_->size += n;
      STAGING_RETURN_IF_ERROR(Written(writer_.Append(copy_, dst, n)));
      data += n;
      len -= n;
    }
    return Status::Ok();
  }

  Status SparseFile(int dirfd, const MemberPath& path, mode_t mode, uint64_t size,
                    const timespec& mtime) {
    int fd = openat(dirfd, path.name().c_str(), kCreateFlags, mode);
    if (fd < 0) return Status::FromErrno("create", errno);
    common::UniqueFd owned(fd);
    const std::byte* data;
    size_t len;
    uint64_t offset;
    while (true) {
      Status read = members_->Data(&data, &len, &offset);
      if (!read.ok()) return DataError(read);
      if (len == 0) break;
      result_->bytes += len;
      if (result_->bytes > options_.max_bytes) return ByteLimit();
      STAGING_RETURN_IF_ERROR(
          PwriteAll(::pwrite, fd, data, len, static_cast<off_t>(offset), path.joined()));
    }
    if (ftruncate(fd, static_cast<off_t>(size)) < 0) return Status::FromErrno("truncate", errno);
    STAGING_RETURN_IF_ERROR(ApplyOpenFileMetadata(fd, path.joined(), mode, mtime));
    ++result_->files;
    return Status::Ok();
  }

  Status Directory(const MemberPath& path) {
    int dirfd;
    STAGING_RETURN_IF_ERROR(Place(path, /*keep_directory=*/true, &dirfd));
    // Owner-writable until the end, so that a read-only directory can still be filled.
    if (mkdirat(dirfd, path.name().c_str(), 0700) < 0) {
      if (errno != EEXIST) return Status::FromErrno("create directory", errno);
      int fd;  // already there: it must be a directory, not a symlink or a file
      STAGING_RETURN_IF_ERROR(dirs_.Directory(path.joined(), &fd));
    }
    result_->created.push_back(path.joined());
    directories_.push_back({path.joined(), member_.perm & kAllowedModeBits, member_.mtime});
    return Status::Ok();
  }

  Status SymLink(const MemberPath& path) {
    const std::string& target = member_.link;
    STAGING_RETURN_IF_ERROR(CheckSymlinkTarget(path, target));
    int dirfd;
    STAGING_RETURN_IF_ERROR(Place(path, /*keep_directory=*/false, &dirfd));
    if (symlinkat(target.c_str(), dirfd, path.name().c_str()) < 0) {
      return Status::FromErrno("create symlink", errno);
    }
    result_->created.push_back(path.joined());
    const timespec times[2] = {{0, UTIME_OMIT}, member_.mtime};
    utimensat(dirfd, path.name().c_str(), times, AT_SYMLINK_NOFOLLOW);
    return Status::Ok();
  }

  Status HardLink(const MemberPath& path) {
    if (member_.size > 0) return Status::Error("refused: hardlink carrying data");
    const std::string& raw_target = member_.link;
    MemberPath target;
    Status parsed = ParseMemberPath(raw_target, options_.path_limits, &target);
    if (!parsed.ok())
      return parsed.WithContext(std::string("refused: hardlink target '") + raw_target + "'");
    if (target.is_root()) return Status::Error("refused: hardlink to the destination itself");
    // The target must exist with its bytes written, and be a regular file beneath the root.
    STAGING_RETURN_IF_ERROR(Written(writer_.Drain()));
    int target_dir;
    Status found = dirs_.Directory(target.parent(), &target_dir);
    struct stat st;
    if (!found.ok() || fstatat(target_dir, target.name().c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
      return Status::Error(std::string("refused: hardlink target '") + raw_target +
                           "' is not an earlier entry of this archive");
    }
    if (!S_ISREG(st.st_mode)) {
      return Status::Error(std::string("refused: hardlink target '") + raw_target +
                           "' is not a regular file");
    }
    common::UniqueFd target_fd(
        openat(target_dir, target.name().c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!target_fd.valid()) return Status::FromErrno("open hardlink target", errno);
    int dirfd;
    STAGING_RETURN_IF_ERROR(Place(path, /*keep_directory=*/false, &dirfd));
    if (linkat(target_fd.get(), "", dirfd, path.name().c_str(), AT_EMPTY_PATH) < 0) {
      return Status::FromErrno("create hardlink", errno);
    }
    result_->created.push_back(path.joined());
    return Status::Ok();
  }

  // Directory modes and times last: creating entries inside changed them.
  Status FinishDirectories() {
    dirs_.Forget();
    for (auto it = directories_.rbegin(); it != directories_.rend(); ++it) {
      common::UniqueFd fd(OpenBeneath(root_fd_, it->path, O_RDONLY | O_DIRECTORY));
      if (!fd.valid()) continue;  // replaced by a later entry
      if (fchmod(fd.get(), it->mode) < 0)
        return Status::FromErrno("chmod '" + it->path + "'", errno);
      const timespec times[2] = {{0, UTIME_OMIT}, it->mtime};
      futimens(fd.get(), times);
    }
    return Status::Ok();
  }

  Status CheckRoomWhileWriting(uint64_t size) {
    unchecked_bytes_ += size;
    if (++unchecked_entries_ < kRoomCheckEntries && unchecked_bytes_ < kRoomCheckBytes) {
      return Status::Ok();
    }
    unchecked_bytes_ = unchecked_entries_ = 0;
    return CheckRoom(root_fd_, size, 1, " for this entry");
  }

  Status ByteLimit() {
    return Status::Error("more than " + std::to_string(options_.max_bytes) +
                         " bytes of data (size limit; a decompression bomb?)");
  }

  Status DataError(const Status& cause) {
    return Status::Error(cause.message() + " (decoded byte " +
                         std::to_string(members_->position()) + ")");
  }

  int root_fd_;
  EntryWriter& writer_;
  const ExtractOptions& options_;
  ExtractResult* result_;
  std::atomic<uint64_t>* progress_;
  DirTree dirs_;
  BlockPool copies_;
  BlockRef copy_;
  DecodedStream* stream_ = nullptr;
  TarMemberReader* members_ = nullptr;
  TarMember member_;  // the member at hand
  uint64_t unchecked_bytes_ = 0, unchecked_entries_ = 0;
  HashSet64 seen_;  // hashes of names created: duplicates (and collisions) need a drain
  std::vector<DirectoryMetadata> directories_;
  std::string last_entry_;  // the name of the last member begun, for header errors after it
  bool has_last_entry_ = false;
  bool last_entry_sparse_ = false;
  bool writer_failed_ = false;
};

}  // namespace

Status ExtractTar(BoundedQueue<BlockRef>& decoded, Codec libarchive_filter, int root_fd,
                  EntryWriter& writer, const ExtractOptions& options, ExtractResult* result,
                  std::atomic<uint64_t>* bytes_progress) {
  Utf8Locale utf8;
  DecodedStream stream(decoded, writer);
  // Only the filter the decoder leaves to libarchive.
  std::unique_ptr<TarMemberReader> members = OpenTarMembers(stream, libarchive_filter);
  Extractor extractor(root_fd, writer, options, result, bytes_progress);
  Status status = extractor.Run(*members, stream);
  result->tar_readers = members->counts();
  if (!status.ok()) writer.Drain();
  return status;
}

}  // namespace staging
