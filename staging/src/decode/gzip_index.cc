#include "decode/gzip_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "base/pread_full.h"
#include "base/stage_layout.h"
#include "common/file_io.h"
#include "common/unique_fd.h"
#include "decode/gzip_index_format.h"

#ifndef STAGE_ISAL_VERSION
#define STAGE_ISAL_VERSION "unknown"
#endif

namespace staging {
namespace {

Header MakeHeader(const SourceIdentity& source) {
  Header h{};
  std::memcpy(h.magic, kHeaderMagic, sizeof h.magic);
  h.state_size = sizeof(inflate_state);
  h.window_size = kDeflateWindow;
  std::strncpy(h.isal_version, STAGE_ISAL_VERSION, sizeof h.isal_version - 1);
  h.source_size = source.size;
  h.source_mtime_ns = source.mtime_ns;
  h.source_inode = source.inode;
  h.source_ctime_ns = source.ctime_ns;
  std::memcpy(h.head_sha256, source.head_sha256.data(),
              std::min<size_t>(64, source.head_sha256.size()));
  return h;
}

}  // namespace

GzipIndexWriter::GzipIndexWriter(std::string path, const SourceIdentity& source)
    : file_(std::make_unique<common::AtomicFile>(std::move(path))) {
  Header header = MakeHeader(source);
  if (!Append(&header, sizeof header)) Abandon();
}

GzipIndexWriter::~GzipIndexWriter() = default;  // uncommitted, the temporary file goes

bool GzipIndexWriter::Append(const void* data, size_t len) {
  return file_ && file_->Write({static_cast<const char*>(data), len}).empty();
}

void GzipIndexWriter::Offer(const inflate_state& state, uint64_t compressed_offset,
                            uint64_t decoded_offset, const std::byte* window_end) {
  if (!file_ || decoded_offset - last_decoded_ < kRestartSpacing) return;
  RecordHead head{compressed_offset, decoded_offset, RecordCrc(state, window_end - kDeflateWindow),
                  0};
  if (!Append(&head, sizeof head) || !Append(&state, sizeof state) ||
      !Append(window_end - kDeflateWindow, kDeflateWindow)) {
    return Abandon();
  }
  last_decoded_ = decoded_offset;
  ++count_;
}

void GzipIndexWriter::Abandon() { file_.reset(); }

void GzipIndexWriter::End(uint64_t decoded_size) { decoded_size_ = decoded_size; }

bool GzipIndexWriter::Commit() {
  if (!file_ || !decoded_size_ || count_ == 0) {  // no restart points: too small to be worth it
    Abandon();
    return false;
  }
  Footer footer{count_, *decoded_size_, {}};
  std::memcpy(footer.magic, kFooterMagic, sizeof footer.magic);
  const bool ok = Append(&footer, sizeof footer) && file_->Commit().empty();
  file_.reset();
  return ok;
}

bool GzipIndexWriter::Commit(const SourceIdentity& source) {
  Header header = MakeHeader(source);
  if (file_ &&
      pwrite(file_->fd(), &header, sizeof header, 0) != static_cast<ssize_t>(sizeof header))
    Abandon();
  return Commit();
}

uint64_t MaxGzipIndexBytes(uint64_t source_size) {
  // Deflate inflates at most 1032:1, and points lie kRestartSpacing decoded bytes apart.
  const uint64_t max_points = source_size / 1024 * 1032 / (kRestartSpacing / 1024) + 2;
  return sizeof(Header) + sizeof(Footer) + max_points * kRecordSize;
}

bool LoadGzipIndex(const std::string& path, const SourceIdentity& source, GzipIndex* index,
                   std::string* note) {
  std::string ignored;
  if (!note) note = &ignored;
  note->clear();
  uint64_t size = 0;
  common::UniqueFd fd =
      common::OpenUntrustedFile(AT_FDCWD, path, MaxGzipIndexBytes(source.size), note, &size);
  if (!fd.valid()) return false;
  auto refuse = [&](const char* why) {
    *note = why;
    return false;
  };
  Header header, expected = MakeHeader(source);
  Footer footer;
  if (size < sizeof header + sizeof footer || !ReadExactly(fd.get(), &header, sizeof header, 0) ||
      !ReadExactly(fd.get(), &footer, sizeof footer, size - sizeof footer)) {
    return refuse("too short to be an index");
  }
  if (std::memcmp(&header, &expected, sizeof header) != 0) {
    return refuse("made for another version of the archive (or another ISA-L)");
  }
  if (std::memcmp(footer.magic, kFooterMagic, sizeof footer.magic) != 0) {
    return refuse("incomplete (no footer)");
  }
  if (footer.count > (size - sizeof header - sizeof footer) / kRecordSize ||
      sizeof header + footer.count * kRecordSize + sizeof footer != size) {
    return refuse("damaged (its length does not match its count of restart points)");
  }
  index->decoded_size = footer.decoded_size;
  index->points = footer.count;
  index->path = path;
  return true;
}

std::string GzipIndexPath(const std::string& source, const std::string& cache_dir) {
  return SidecarPath(source, kGzipIndexSuffix, cache_dir);
}

}  // namespace staging
