#include "source_stager.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <sstream>
#include <thread>

#include "base/bounded_queue.h"
#include "base/checksum_file.h"
#include "base/digest.h"
#include "base/interrupt.h"
#include "base/pread_full.h"
#include "base/stage_layout.h"
#include "common/file_io.h"
#include "common/unique_fd.h"
#include "decode/decoder.h"
#include "decode/gzip_index.h"
#include "decode/source_format.h"
#include "extract/extractor.h"
#include "io/dir_tree.h"
#include "io/entry_writer.h"
#include "io/free_space.h"
#include "io/tree_ops.h"
#include "pipeline.h"
#include "source_walk.h"

namespace staging {
namespace {

class SourceStager {
 public:
  SourceStager(const SourceJob& job, const StageOptions& options, const Destination& destination,
               StageCounters& counters)
      : job_(job),
        options_(options),
        destination_(destination),
        dest_fd_(destination.fd),
        manifest_(*destination.manifest),
        counters_(counters) {}

  ArchiveReport Run() {
    auto start = std::chrono::steady_clock::now();
    report_.path = job_.path;
    Status status = IdentifyTransferAndRecord();
    report_.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!status.ok()) report_.status = status.WithContext(job_.path);
    if (!area_name_.empty()) RemoveTree(tmp_fd_.get(), area_name_);
    return report_;
  }

 private:
  Status IdentifyTransferAndRecord() {
    common::UniqueFd source;
    STAGING_RETURN_IF_ERROR(OpenSource(job_, &source));
    source_fd_ = source.get();
    SourceIdentity identity;
    STAGING_RETURN_IF_ERROR(IdentifySource(source.get(), job_.path, &identity));
    bool record_damaged = false;
    std::optional<ManifestEntry> previous = manifest_.Find(job_.path, &record_damaged);
    if (previous && previous->complete && previous->source == identity && !options_.force &&
        StillThere(*previous)) {
      report_.already_staged = true;
      report_.kind = previous->kind;
      report_.files = previous->files;
      report_.bytes = previous->bytes;
      counters_.source_bytes += identity.size;
      return Status::Ok();
    }
    // The checksum file is read before the source: a missing one fails at once.
    if (options_.verify) STAGING_RETURN_IF_ERROR(ReadExpectedDigest(job_.path, &expected_digest_));
    if (Status detected = Detect(source.get(), identity.size); !detected.ok()) {
      // A source rewritten since it was identified explains whatever its head now holds.
      STAGING_RETURN_IF_ERROR(ConfirmUnchanged(source.get(), identity));
      return detected;
    }
    STAGING_RETURN_IF_ERROR(MakeArea());
    uint64_t declared = is_archive_ ? DeclaredDecodedSize(source.get(), identity.size, codec_) : 0;
    STAGING_RETURN_IF_ERROR(CheckRoom(dest_fd_, std::max(identity.size, declared), 1));
    NoteExistingParents();
    {
      DirTree tree(dest_fd_, 0755);  // the source's directory under --to, made now
      int fd;
      STAGING_RETURN_IF_ERROR(tree.Directory(job_.rel_dir, &fd));
    }
    ExtractResult result;
    Status transferred = TransferWithIndex(source.get(), identity, &result);
    // A source that changed explains any failure reading it (a short file, a broken tar).
    STAGING_RETURN_IF_ERROR(ConfirmUnchanged(source.get(), identity));
    STAGING_RETURN_IF_ERROR(transferred);
    if (options_.verify) STAGING_RETURN_IF_ERROR(Verify());
    return Record(identity, previous, record_damaged, std::move(result));
  }

  // Replaces `previous` (the source's last record, if any) by what this staging made, and moves
  // the staged tree into place.
  Status Record(const SourceIdentity& identity, const std::optional<ManifestEntry>& previous,
                bool record_damaged, ExtractResult result) {
    // Forget the old record first: a crash from here on re-stages rather than trusting it.
    if (previous) {
      STAGING_RETURN_IF_ERROR(manifest_.Forget(job_.path));
      RemoveListed(*previous);
      // Directories the earlier staging made are this one's to make again, and to record.
      for (const std::string& path : previous->paths) existing_parents_.erase(path);
      DirTree tree(dest_fd_, 0755);
      int fd;
      STAGING_RETURN_IF_ERROR(tree.Directory(job_.rel_dir, &fd));
    }
    // The last moment to stop: from here the tree is moved into place whole.
    STAGING_RETURN_IF_ERROR(CheckInterrupt(options_.interrupt));
    common::UniqueFd dest(OpenBeneath(dest_fd_, job_.rel_dir, O_RDONLY | O_DIRECTORY));
    if (!dest.valid()) return Status::FromErrno("open destination directory", errno);
    ManifestEntry entry;
    entry.source = identity;
    entry.kind = report_.kind;
    entry.dest = job_.rel_dir;
    entry.files = report_.files;
    entry.bytes = report_.bytes;
    report_.warnings.insert(report_.warnings.end(), result.warnings.begin(), result.warnings.end());
    if (record_damaged) {
      // Staged again over whatever the damaged record listed: files of the earlier staging that
      // this one does not make are no longer known to `stage clean`.
      report_.warnings.push_back(
          "its manifest record was damaged: staged again; files of the earlier staging that "
          "this one does not make are left in place and not recorded");
    }
    STAGING_RETURN_IF_ERROR(MoveIntoPlace(dest.get(), std::move(result.created), &entry));
    if (index_writer_) index_writer_->Commit();  // only a fully staged archive leaves an index
    return Status::Ok();
  }

  // The tree becomes visible recorded: first checked against what the destination holds (a
  // name no staging made is never replaced without --overwrite), then recorded as pending (a
  // crash from here on leaves a record that the next run or `stage clean` removes), then, once
  // moved, as complete. A failure after the first record takes back what was moved and the
  // record with it. The record lists what this staging made: directories it merged into that
  // were there before are not its to remove.
  Status MoveIntoPlace(int dest_fd, std::vector<std::string> created, ManifestEntry* entry) {
    std::lock_guard merging(destination_.recorded->merge_mutex());
    std::unordered_set<std::string> merged_dirs = existing_parents_;
    RecordedPaths& recorded = *destination_.recorded;
    STAGING_RETURN_IF_ERROR(CheckMerge(
        area_fd_.get(), dest_fd, job_.rel_dir,
        [&](const std::string& path) { return options_.overwrite || recorded.Contains(path); },
        &merged_dirs));
    entry->paths = PathsToRecord(job_.rel_dir, std::move(created), merged_dirs);
    entry->complete = false;
    std::string paths_text;  // the bulk of both records, made once
    STAGING_RETURN_IF_ERROR(manifest_.Record(*entry, &paths_text));
    Status moved = MergeTree(area_fd_.get(), dest_fd, job_.rel_dir);
    if (moved.ok()) {
      entry->complete = true;
      moved = manifest_.Record(*entry, &paths_text);
    }
    if (!moved.ok()) {
      RemoveListed(*entry);
      manifest_.Forget(job_.path);
      return moved;
    }
    destination_.recorded->Add(entry->paths);
    return moved;
  }

  // The components of the source's directory under DEST that are there before it is made: not
  // this staging's to record.
  void NoteExistingParents() {
    std::string path;
    for (size_t from = 0; from <= job_.rel_dir.size() && !job_.rel_dir.empty();) {
      size_t slash = job_.rel_dir.find('/', from);
      if (slash == std::string::npos) slash = job_.rel_dir.size();
      path = job_.rel_dir.substr(0, slash);
      struct stat st;
      if (fstatat(dest_fd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        existing_parents_.insert(path);
      }
      from = slash + 1;
    }
  }

  void RecordWriterCounts(const EntryWriter& writer) {
    const WriterCounts counts = writer.counts();
    report_.ring_files = counts.ring_files;
    report_.redone_files = counts.redone_files;
    report_.plain_files = counts.plain_files;
  }

  // A source rewritten in place while it was read gives a mix of two versions: refused. (One
  // replaced by rename is safe: the open descriptor reads the old file to its end.)
  static Status ConfirmUnchanged(int fd, const SourceIdentity& identity) {
    struct stat st;
    if (fstat(fd, &st) < 0) return Status::FromErrno("stat after reading", errno);
    const int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (static_cast<uint64_t>(st.st_size) != identity.size || mtime_ns != identity.mtime_ns) {
      return Status::Error(
          "changed while it was read (its size or modification time is no longer what it was "
          "when opened)");
    }
    return Status::Ok();
  }

  bool StillThere(const ManifestEntry& entry) {
    for (const std::string& path : entry.paths) {
      struct stat st;
      if (fstatat(dest_fd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return false;
    }
    return true;
  }

  void RemoveListed(const ManifestEntry& entry) {
    for (auto it = entry.paths.rbegin(); it != entry.paths.rend(); ++it) {
      RemoveBeneath(dest_fd_, *it);
    }
  }

  Status Detect(int fd, uint64_t size) {
    std::vector<std::byte> head(std::min<uint64_t>(size, 1 << 20));
    ssize_t n = PreadFull(fd, head.data(), head.size(), 0);
    if (n < 0) return Status::FromErrno("read", errno);
    codec_ = DetectCodec(head.data(), n);
    is_archive_ = LooksLikeTarArchive(head.data(), n);
    report_.kind = is_archive_ ? ArchiveKindName(codec_) : "file";
    if (!is_archive_ && NamedLikeTar(job_.path)) {
      return Status::Error("named like a tar archive, but " + NotTarDescription(codec_, size) +
                           "; nothing staged from it");
    }
    return Status::Ok();
  }

  Status MakeArea() {
    if (mkdirat(destination_.stage_fd, kStagingAreas, 0700) < 0 && errno != EEXIST) {
      return Status::FromErrno("create .stage/tmp", errno);
    }
    tmp_fd_.reset(openat(destination_.stage_fd, kStagingAreas,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!tmp_fd_.valid()) return Status::FromErrno("open .stage/tmp", errno);
    static std::atomic<int> counter{0};
    std::string name = std::to_string(getpid()) + "." + std::to_string(counter++);
    if (mkdirat(tmp_fd_.get(), name.c_str(), 0700) < 0) {
      return Status::FromErrno("create staging area", errno);
    }
    area_name_ = name;
    area_fd_.reset(
        openat(tmp_fd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!area_fd_.valid()) return Status::FromErrno("open staging area", errno);
    return Status::Ok();
  }

  // A .tar.gz with a matching index inflates in parallel; one without records an index as it
  // inflates. An index that turns out not to match is removed and the archive staged again
  // sequentially, from a fresh staging area.
  Status TransferWithIndex(int fd, const SourceIdentity& identity, ExtractResult* result) {
    bool gzip = is_archive_ && codec_ == Codec::kGzip && options_.parallel_decode;
    if (!gzip) return Transfer(fd, identity.size, nullptr, nullptr, result);
    std::string index_path = GzipIndexPath(job_.path, options_.index_cache);
    GzipIndex index;
    std::string note;
    if (LoadGzipIndex(index_path, identity, &index, &note)) {
      bool inflate_failed = false;
      report_.gzip_index = "used";
      Status status = Transfer(fd, identity.size, &index, &inflate_failed, result);
      // Only a failure of the indexed inflate itself says the index may be wrong; any other (a
      // size limit, a full disk, a bad member) would fail the same way sequentially, and an
      // interrupted run says nothing of the index.
      if (status.ok() || !inflate_failed || InterruptRequested(options_.interrupt)) {
        return status;
      }
      note = status.message();
      unlink(index_path.c_str());
      STAGING_RETURN_IF_ERROR(RemoveTree(tmp_fd_.get(), area_name_));
      area_name_.clear();
      STAGING_RETURN_IF_ERROR(MakeArea());
      *result = ExtractResult();
    }
    if (!note.empty()) {
      report_.warnings.push_back("gzip index " + index_path + " not used (" + note +
                                 "); inflated sequentially, and the index made again");
    }
    report_.gzip_index = "written";
    index_writer_ = std::make_unique<GzipIndexWriter>(index_path, identity);
    return Transfer(fd, identity.size, nullptr, nullptr, result);
  }

  // The pipeline: reader -> decoder -> this thread (parse and write, or copy). With `gzip_index`,
  // `*inflate_failed` says whether the indexed inflate itself failed first. Each attempt hashes
  // the source afresh for --verify.
  Status Transfer(int fd, uint64_t size, const GzipIndex* gzip_index, bool* inflate_failed,
                  ExtractResult* result) {
    DecoderChoice choice;
    choice.codec = is_archive_ ? codec_ : Codec::kNone;
    choice.fd = fd;
    choice.size = size;
    choice.parallel = options_.parallel_decode;
    choice.gzip_index = gzip_index;
    choice.restart_points = index_writer_.get();
    Pipeline pipeline(options_.io, options_.writers, fd, size, MakeDecoder(choice));
    pipeline.set_source_reads(options_.reads);
    sha_ = options_.verify ? std::make_unique<Sha256>() : nullptr;
    report_.source_bytes = 0;
    pipeline.set_on_read([&](const Block& block) {
      counters_.source_bytes += block.size;
      report_.source_bytes += block.size;
      if (sha_) sha_->Update(block.bytes(), block.size);
    });
    Status status = pipeline.Run([&](BoundedQueue<BlockRef>& decoded, EntryWriter& writer) {
      Status consumed =
          is_archive_ ? Extract(decoded, writer, result) : Copy(decoded, writer, size, result);
      RecordWriterCounts(writer);
      return consumed;
    });
    if (inflate_failed) *inflate_failed = pipeline.decoder_failed();
    report_.writer_threads = pipeline.writer_threads();
    report_.source_reads = pipeline.source_reads();
    return status;
  }

  Status Extract(BoundedQueue<BlockRef>& decoded, EntryWriter& writer, ExtractResult* result) {
    ExtractOptions extract;
    extract.path_limits = {options_.max_path_length, options_.max_path_depth};
    extract.max_bytes = options_.max_bytes;
    extract.max_entries = options_.max_entries;
    extract.interrupt = options_.interrupt;
    Status status = ExtractTar(decoded, LeftForLibarchive(codec_), area_fd_.get(), writer, extract,
                               result, &counters_.bytes);
    report_.files = result->files;
    report_.bytes = result->bytes;
    report_.members_by_stage = result->tar_readers.by_stage;
    report_.members_by_libarchive = result->tar_readers.by_libarchive;
    counters_.files += result->files;
    return status;
  }

  Status Copy(BoundedQueue<BlockRef>& blocks, EntryWriter& writer, uint64_t size,
              ExtractResult* result) {
    std::string name = job_.path.substr(job_.path.rfind('/') + 1);
    struct stat st;
    if (fstat(source_fd_, &st) < 0) return Status::FromErrno("stat", errno);
    STAGING_RETURN_IF_ERROR(
        writer.BeginFile(area_fd_.get(), name, job_.rel_name, st.st_mode & 0755, size, st.st_mtim));
    while (std::optional<BlockRef> block = blocks.Pop()) {
      STAGING_RETURN_IF_ERROR(CheckInterrupt(options_.interrupt));
      STAGING_RETURN_IF_ERROR(writer.Append(*block, (*block)->bytes(), (*block)->size));
      counters_.bytes += (*block)->size;
      report_.bytes += (*block)->size;
    }
    if (!blocks.finished()) return Status::Error("copy aborted");
    STAGING_RETURN_IF_ERROR(writer.EndFile());
    STAGING_RETURN_IF_ERROR(writer.Drain());
    report_.files = 1;
    counters_.files += 1;
    result->files = 1;
    result->created.push_back(name);
    return Status::Ok();
  }

  Status Verify() {
    const std::string& expected = expected_digest_;
    std::string actual = sha_->HexDigest();
    if (actual != expected) {
      return Status::Error("--verify: SHA-256 mismatch: file has " + actual + ", " +
                           ChecksumFilePath(job_.path) + " says " + expected);
    }
    return Status::Ok();
  }

  const SourceJob& job_;
  const StageOptions& options_;
  const Destination& destination_;
  int dest_fd_;
  const Manifest& manifest_;
  StageCounters& counters_;
  ArchiveReport report_;
  Codec codec_ = Codec::kNone;
  bool is_archive_ = false;
  common::UniqueFd tmp_fd_, area_fd_;
  std::string area_name_;
  std::unique_ptr<Sha256> sha_;  // of the last transfer's source bytes, with --verify
  std::unique_ptr<GzipIndexWriter> index_writer_;
  std::unordered_set<std::string> existing_parents_;  // of job_.rel_dir, before it was made
  int source_fd_ = -1;
  std::string expected_digest_;  // from NAME.sha256, with --verify
};

}  // namespace

ArchiveReport StageSource(const SourceJob& job, const StageOptions& options,
                          const Destination& destination, StageCounters& counters) {
  return SourceStager(job, options, destination, counters).Run();
}

}  // namespace staging
