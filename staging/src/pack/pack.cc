// Pack: a tar stream written by libarchive into memory, cut into frames at member boundaries,
// compressed on worker threads and written in order, then the seek table.
//
// Directory input is walked in byte order of names, parents before children; members are named
// relative to the directory without a "./" prefix (the directory itself is not a member), so
// extracting gives the same tree as `tar -C DIR -c .`. Regular files, directories, symlinks and
// hardlinks are packed; sockets, fifos and devices are skipped, as staging would skip them.
// Members are written in GNU tar's format: names are raw bytes that survive any locale, long
// names and big sizes have GNU extensions that GNU tar and libarchive both read.
#include "staging/pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "base/interrupt.h"
#include "base/progress_thread.h"
#include "common/file_io.h"
#include "common/ordered_workers.h"
#include "common/unique_fd.h"
#include "decode/archive_reader.h"
#include "decode/zstd_seek_table.h"
#include "extract/archive_error.h"
#include "pack/frames.h"

namespace staging {
namespace {

constexpr size_t kReadChunk = 1 << 20;
constexpr uint64_t kMinFrameBytes = 64 << 10;
constexpr uint64_t kMaxFrameBytes = 1ull << 30;  // twice this must fit the table's u32
constexpr auto kProgressInterval = std::chrono::milliseconds(200);

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

// Shared by both inputs: the output archive and the counters progress reads.
struct PackState {
  archive* out = nullptr;
  TarFramer* framer = nullptr;
  std::atomic<uint64_t> files{0};
  std::atomic<uint64_t> source_done{0};
  uint64_t source_total = 0;
  dev_t skip_dev = 0;  // the temp file being written, when inside the input directory
  ino_t skip_ino = 0;
  const std::atomic<bool>* interrupt = nullptr;

  // libarchive's message, preferring the framer's own error (the root cause of a failed write).
  Status WriteError(const std::string& entry) const {
    if (!framer->status().ok()) return framer->status().WithContext(entry);
    return Status::Error(entry + ": " + ArchiveError(out));
  }
  Status WriteHeader(archive_entry* entry, const std::string& label) {
    STAGING_RETURN_IF_ERROR(CheckInterrupt(interrupt));
    framer->BeginMember(archive_entry_size(entry));
    if (archive_write_header(out, entry) < ARCHIVE_WARN) return WriteError(label);
    return Status::Ok();
  }
  Status WriteData(const void* data, size_t len, const std::string& label) {
    STAGING_RETURN_IF_ERROR(CheckInterrupt(interrupt));
    if (archive_write_data(out, data, len) < 0) return WriteError(label);
    return Status::Ok();
  }
  Status EndEntry(const std::string& label) {
    if (archive_write_finish_entry(out) < ARCHIVE_WARN) return WriteError(label);
    return framer->EndMember().WithContext(label);
  }
};

// Sums the bytes of regular files under `dirfd`, for the progress total.
uint64_t TreeBytes(int dirfd) {
  std::vector<std::string> names;
  common::ListDirectory(dirfd, &names);  // only a progress total: a failure shows in the walk
  uint64_t total = 0;
  for (const std::string& name : names) {
    struct stat st;
    if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (S_ISREG(st.st_mode)) total += st.st_size;
    if (!S_ISDIR(st.st_mode)) continue;
    common::UniqueFd child(
        openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (child.valid()) total += TreeBytes(child.get());
  }
  return total;
}

class DirectoryPacker {
 public:
  DirectoryPacker(const std::string& root, PackState& state) : root_(root), state_(state) {}

  Status Run(int root_fd) { return Walk(root_fd, ""); }

 private:
  Status Walk(int dirfd, const std::string& prefix) {
    std::vector<std::string> names;
    STAGING_RETURN_IF_ERROR(SortedNames(dirfd, prefix, &names));
    for (const std::string& name : names) {
      std::string rel = prefix + name;
      struct stat st;
      if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        return Status::FromErrno(Label(rel) + ": stat", errno);
      }
      if (st.st_dev == state_.skip_dev && st.st_ino == state_.skip_ino) continue;
      if (S_ISDIR(st.st_mode)) {
        STAGING_RETURN_IF_ERROR(Member(dirfd, name, rel, st));
        common::UniqueFd child(
            openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!child.valid()) return Status::FromErrno(Label(rel) + ": open directory", errno);
        STAGING_RETURN_IF_ERROR(Walk(child.get(), rel + "/"));
      } else if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
        STAGING_RETURN_IF_ERROR(Member(dirfd, name, rel, st));
      }
    }
    return Status::Ok();
  }

  Status SortedNames(int dirfd, const std::string& prefix, std::vector<std::string>* names) {
    if (int error = common::ListDirectory(dirfd, names)) {
      return Status::FromErrno(Label(prefix) + ": read directory", error);
    }
    std::sort(names->begin(), names->end());
    return Status::Ok();
  }

  Status Member(int dirfd, const std::string& name, const std::string& rel, const struct stat& st) {
    EntryPtr entry(archive_entry_new(), archive_entry_free);
    archive_entry_copy_stat(entry.get(), &st);
    archive_entry_copy_pathname(entry.get(), rel.c_str());
    // Only mtime is kept, so packing the same tree twice gives the same bytes.
    archive_entry_unset_atime(entry.get());
    archive_entry_unset_ctime(entry.get());
    archive_entry_unset_birthtime(entry.get());
    if (S_ISDIR(st.st_mode)) archive_entry_set_size(entry.get(), 0);
    if (S_ISLNK(st.st_mode)) {
      archive_entry_set_size(entry.get(), 0);
      std::string target;
      STAGING_RETURN_IF_ERROR(ReadLink(dirfd, name, rel, &target));
      archive_entry_copy_symlink(entry.get(), target.c_str());
    }
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
      auto [it, first] = links_.try_emplace({st.st_dev, st.st_ino}, rel);
      if (!first) {
        archive_entry_set_size(entry.get(), 0);
        archive_entry_copy_hardlink(entry.get(), it->second.c_str());
        STAGING_RETURN_IF_ERROR(state_.WriteHeader(entry.get(), Label(rel)));
        return state_.EndEntry(Label(rel));
      }
    }
    STAGING_RETURN_IF_ERROR(state_.WriteHeader(entry.get(), Label(rel)));
    if (S_ISREG(st.st_mode)) {
      STAGING_RETURN_IF_ERROR(CopyFile(dirfd, name, rel, st.st_size));
      state_.files.fetch_add(1, std::memory_order_relaxed);
    }
    return state_.EndEntry(Label(rel));
  }

  Status ReadLink(int dirfd, const std::string& name, const std::string& rel, std::string* target) {
    std::vector<char> buf(256);
    for (;;) {
      ssize_t n = readlinkat(dirfd, name.c_str(), buf.data(), buf.size());
      if (n < 0) return Status::FromErrno(Label(rel) + ": readlink", errno);
      if (static_cast<size_t>(n) < buf.size()) {
        target->assign(buf.data(), n);
        return Status::Ok();
      }
      buf.resize(buf.size() * 2);
    }
  }

  // Copies exactly `size` bytes (the size in the header already written); a file that changed
  // size meanwhile is an error rather than a silently padded or truncated member.
  Status CopyFile(int dirfd, const std::string& name, const std::string& rel, uint64_t size) {
    common::UniqueFd fd(openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno(Label(rel) + ": open", errno);
    posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    if (buffer_.empty()) buffer_.resize(kReadChunk);
    uint64_t done = 0;
    while (done < size) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), size - done));
      ssize_t n = read(fd.get(), buffer_.data(), want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno(Label(rel) + ": read", errno);
      if (n == 0) {
        return Status::Error(Label(rel) + ": file shrank while packing (" + std::to_string(done) +
                             " of " + std::to_string(size) + " bytes)");
      }
      STAGING_RETURN_IF_ERROR(state_.WriteData(buffer_.data(), n, Label(rel)));
      done += n;
      state_.source_done.fetch_add(n, std::memory_order_relaxed);
    }
    return Status::Ok();
  }

  std::string Label(const std::string& rel) const { return root_ + "/" + rel; }

  const std::string& root_;
  PackState& state_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // first path of each multi-link file
  std::vector<char> buffer_;
};

// Re-writes every entry of an archive (tar, possibly gzip/zstd/xz/bzip2 compressed): same names,
// types, modes, times, owners, link targets and bytes.
Status PackArchive(int fd, const std::string& path, PackState& state) {
  ArchiveReader in = NewArchiveReader(ReadFormat::kTar, AllCodecs());
  if (archive_read_open_fd(in.get(), fd, kReadChunk) != ARCHIVE_OK) {
    return Status::Error(path + ": not an archive stage reads: " + ArchiveError(in.get()));
  }
  std::vector<char> buffer(kReadChunk);
  for (uint64_t index = 0;; ++index) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(in.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      return Status::Error(path + ": entry " + std::to_string(index) + ": " +
                           ArchiveError(in.get()));
    }
    std::string label =
        path + ": " +
        common::TextOr(archive_entry_pathname(entry), "entry " + std::to_string(index));
    // Holes come back from the reader as zeros and are written as data.
    archive_entry_sparse_clear(entry);
    bool hardlink = archive_entry_hardlink(entry) != nullptr;
    bool regular = !hardlink && archive_entry_filetype(entry) == AE_IFREG;
    if (!regular) archive_entry_set_size(entry, 0);
    STAGING_RETURN_IF_ERROR(state.WriteHeader(entry, label));
    while (regular) {
      la_ssize_t n = archive_read_data(in.get(), buffer.data(), buffer.size());
      if (n < 0) return Status::Error(label + ": " + ArchiveError(in.get()));
      if (n == 0) break;
      STAGING_RETURN_IF_ERROR(state.WriteData(buffer.data(), static_cast<size_t>(n), label));
      state.source_done.store(archive_filter_bytes(in.get(), -1), std::memory_order_relaxed);
    }
    if (regular) state.files.fetch_add(1, std::memory_order_relaxed);
    STAGING_RETURN_IF_ERROR(state.EndEntry(label));
  }
  state.source_done.store(state.source_total, std::memory_order_relaxed);
  return Status::Ok();
}

Status CheckOptions(const PackOptions& options) {
  if (options.from.empty() || options.to.empty())
    return Status::Error("pack: --from and --to are required");
  if (options.frame_bytes < kMinFrameBytes || options.frame_bytes > kMaxFrameBytes) {
    return Status::Error("pack: --frame-size must be between " + std::to_string(kMinFrameBytes) +
                         " and " + std::to_string(kMaxFrameBytes) + " bytes");
  }
  if (options.level < ZSTD_minCLevel() || options.level > ZSTD_maxCLevel()) {
    return Status::Error("pack: --level must be between " + std::to_string(ZSTD_minCLevel()) +
                         " and " + std::to_string(ZSTD_maxCLevel()));
  }
  if (options.threads < 0) return Status::Error("pack: --threads must not be negative");
  return Status::Ok();
}

class Packer {
 public:
  Packer(const PackOptions& options, const ProgressCallback& on_progress)
      : options_(options), on_progress_(on_progress) {}

  Status Run(PackReport* report) {
    STAGING_RETURN_IF_ERROR(CheckOptions(options_));
    common::UniqueFd opened;
    if (options_.from_fd < 0) opened.reset(open(options_.from.c_str(), O_RDONLY | O_CLOEXEC));
    const int input = options_.from_fd >= 0 ? options_.from_fd : opened.get();
    if (input < 0) return Status::FromErrno(options_.from + ": open", errno);
    struct stat st;
    if (fstat(input, &st) < 0) return Status::FromErrno(options_.from + ": stat", errno);
    common::AtomicFile out(options_.to);
    if (out.fd() < 0) return Status::Error(out.error());
    tmp_path_ = out.temp_path();
    STAGING_RETURN_IF_ERROR(Write(input, st, out.fd(), report));
    if (std::string error = out.Commit(); !error.empty()) return Status::Error(error);
    return Status::Ok();
  }

 private:
  Status Write(int input, const struct stat& input_st, int out, PackReport* report) {
    struct stat out_st;
    if (fstat(out, &out_st) < 0) return Status::FromErrno(tmp_path_ + ": stat", errno);
    PackState state;
    state.skip_dev = out_st.st_dev;
    state.skip_ino = out_st.st_ino;
    bool is_dir = S_ISDIR(input_st.st_mode);
    state.source_total = is_dir ? TreeBytes(input) : static_cast<uint64_t>(input_st.st_size);
    int threads = options_.threads > 0
                      ? options_.threads
                      : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
    Sha256 output_hash;
    FrameCompressor compressor(out, tmp_path_, options_.level, threads,
                               options_.hash_output ? &output_hash : nullptr);
    TarFramer framer(compressor, options_.frame_bytes, options_.random_access);
    state.framer = &framer;
    state.interrupt = options_.interrupt;
    Status status;
    {
      ProgressThread progress(
          on_progress_,
          [&] {
            Progress p;
            p.source_bytes_done = state.source_done.load(std::memory_order_relaxed);
            p.source_bytes_total = state.source_total;
            p.files = state.files.load(std::memory_order_relaxed);
            p.bytes = framer.bytes();
            p.archives_total = 1;
            return p;
          },
          kProgressInterval, /*final_report=*/true);
      status = WriteTar(input, is_dir, state);
    }
    std::vector<ZstdFrameInfo> frames;
    uint64_t compressed = 0;
    Status finished = compressor.Finish(&frames, &compressed);
    if (!status.ok()) return status;
    STAGING_RETURN_IF_ERROR(finished);
    std::string table = EncodeSeekTable(frames);
    STAGING_RETURN_IF_ERROR(
        WriteFully(out, reinterpret_cast<const std::byte*>(table.data()), table.size(), tmp_path_));
    if (options_.hash_output) {
      output_hash.Update(table.data(), table.size());
      report->sha256 = output_hash.HexDigest();
    }
    report->files = state.files;
    report->bytes = framer.bytes();
    report->frames = frames.size();
    report->compressed_bytes = compressed + table.size();
    return Status::Ok();
  }

  Status WriteTar(int input, bool is_dir, PackState& state) {
    Utf8Locale utf8;
    ArchivePtr out(archive_write_new(), archive_write_free);
    state.out = out.get();
    archive_write_set_format_gnutar(out.get());
    // Unblocked: every byte reaches the framer at once, so member ends are frame boundaries.
    archive_write_set_bytes_per_block(out.get(), 0);
    if (archive_write_open(out.get(), state.framer, nullptr, &TarFramer::Write, nullptr) !=
        ARCHIVE_OK) {
      return Status::Error(options_.to + ": " + ArchiveError(out.get()));
    }
    Status status = is_dir ? DirectoryPacker(options_.from, state).Run(input)
                           : PackArchive(input, options_.from, state);
    if (!status.ok()) return status;
    if (archive_write_close(out.get()) != ARCHIVE_OK) {
      return state.WriteError(options_.to + ": end of archive");
    }
    return state.framer->Finish();
  }

  const PackOptions& options_;
  const ProgressCallback& on_progress_;
  std::string tmp_path_;
};

}  // namespace

PackReport Pack(const PackOptions& options, const ProgressCallback& on_progress) {
  auto start = std::chrono::steady_clock::now();
  PackReport report;
  report.status = Packer(options, on_progress).Run(&report);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace staging
