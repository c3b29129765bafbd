// The end of a download: the last checks, then the steps that make it visible, in the order
// that keeps a crash at any point from leaving anything unverified under a final name.
#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "base/checksum_file.h"
#include "base/stage_layout.h"
#include "common/file_io.h"
#include "fetch/download.h"
#include "fetch/fetch_record.h"
#include "staging/archive_members.h"

namespace staging {

Status Download::Complete(FetchedFile* report) {
  SinkResult result = sink_->Finish();
  report->bytes = sink_->bytes();
  report->reread_bytes = sink_->reread_bytes();
  report->resumed_from = sink_->reread_bytes();  // the prefix kept from an earlier run
  report->kind = result.kind;
  report->sha256 = result.sha256;
  report->md5 = result.md5;
  report->warnings.insert(report->warnings.end(), result.warnings.begin(), result.warnings.end());
  if (validators_.total > 0 && report->bytes != validators_.total) {
    return Status::Error(url_.redacted + ": " + std::to_string(report->bytes) + " bytes arrived, " +
                         std::to_string(validators_.total) + " were announced");
  }
  Date();
  if (fsync(partial_.get()) < 0) {  // fatal: the kernel may have dropped the pages
    return Status::FromErrno(Path(kFetchPartialSuffix) + ": fsync", errno);
  }
  STAGING_RETURN_IF_ERROR(CheckDigests(result));
  if (result.packed) return PublishPacked(result, report);
  return MakeVisible(result, report);
}

// Dates the file as the server (Last-Modified) or the source file did, as wget and cp -p do.
void Download::Date() {
  int64_t ns = local_mtime_ns_;
  if (ns < 0 && !mtime_header_.empty()) {
    time_t t = curl_getdate(mtime_header_.c_str(), nullptr);
    if (t > 0) ns = int64_t{t} * 1'000'000'000;
  }
  if (ns < 0) return;
  struct timespec times[2] = {{0, UTIME_OMIT}, {ns / 1'000'000'000, ns % 1'000'000'000}};
  futimens(partial_.get(), times);
}

Status Download::CheckDigests(const SinkResult& result) {
  std::string wrong;
  if (!expected_.sha256.empty() && expected_.sha256 != result.sha256) {
    wrong = "sha256 " + result.sha256 + ", expected " + expected_.sha256;
  } else if (!expected_.md5.empty() && expected_.md5 != result.md5) {
    wrong = "md5 " + result.md5 + ", expected " + expected_.md5;
  }
  if (wrong.empty()) return Status::Ok();
  // A complete download with the wrong content: keeping it would only resume into the same.
  unlink(Path(kFetchPartialSuffix).c_str());
  unlink(Path(kFetchResumeSuffix).c_str());
  return Status::Error(url_.redacted + ": checksum mismatch: " + wrong + " (download discarded)");
}

Status Download::MakeVisible(const SinkResult& result, FetchedFile* report) {
  if (rename(Path(kFetchPartialSuffix).c_str(), final_.c_str()) < 0) {
    return Status::FromErrno(final_ + ": rename", errno);
  }
  STAGING_RETURN_IF_ERROR(SyncDirectory());
  STAGING_RETURN_IF_ERROR(WriteChecksumFile(final_, result.sha256));
  struct stat st;
  if (fstat(partial_.get(), &st) < 0) return Status::FromErrno(final_ + ": stat", errno);
  SourceIdentity identity;
  identity.path = std::filesystem::absolute(final_).lexically_normal().string();
  SetStatFacts(st, &identity);
  identity.head_sha256 = result.identity_sha256;
  report->indexed = sink_->CommitIndex(identity);
  report->member_indexed = sink_->CommitMemberIndex(identity);
  DoneRecord done{url_.redacted,     identity.size, identity.mtime_ns, identity.inode,
                  identity.ctime_ns, result.sha256, result.md5};
  STAGING_RETURN_IF_ERROR(SaveDoneRecord(Path(kFetchRecordSuffix), done));
  unlink(Path(kFetchResumeSuffix).c_str());
  return Status::Ok();
}

// With --pack the packed archive is what jobs stage: it replaces the download.
Status Download::PublishPacked(const SinkResult& result, FetchedFile* report) {
  const std::string packed = common::JoinPath(dir_, PackedName());
  if (rename((packed + kFetchPackSuffix).c_str(), packed.c_str()) < 0) {
    return Status::FromErrno(packed + ": rename", errno);
  }
  STAGING_RETURN_IF_ERROR(SyncDirectory());
  STAGING_RETURN_IF_ERROR(WriteChecksumFile(packed, result.pack.sha256));
  struct stat st;
  if (stat(packed.c_str(), &st) < 0) return Status::FromErrno(packed + ": stat", errno);
  SourceIdentity facts;
  SetStatFacts(st, &facts);
  DoneRecord done{url_.redacted, facts.size, facts.mtime_ns, facts.inode,           facts.ctime_ns,
                  result.sha256, result.md5, PackedName(),   options_.random_access};
  STAGING_RETURN_IF_ERROR(SaveDoneRecord(Path(kFetchRecordSuffix), done));
  unlink(Path(kFetchPartialSuffix).c_str());
  unlink(Path(kFetchResumeSuffix).c_str());
  report->path = packed;
  report->packed = true;
  if (options_.random_access) {  // for reading in place: its member index, from the page cache
    Status indexed = IndexArchiveMembers(packed, "", &report->member_indexed);
    if (!indexed.ok()) report->warnings.push_back("no member index: " + indexed.message());
  }
  return Status::Ok();
}

// NAME.sha256 in sha256sum's format, what `stage --verify` and `sha256sum -c` read.
Status Download::WriteChecksumFile(const std::string& path, const std::string& sha256) {
  const std::string name = std::filesystem::path(path).filename().string();
  std::string error =
      common::WriteFileAtomically(ChecksumFilePath(path), sha256 + "  " + name + "\n");
  return error.empty() ? Status::Ok() : Status::Error(error);
}

Status Download::SyncDirectory() {
  common::UniqueFd dir(open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid() || fsync(dir.get()) < 0) return Status::FromErrno(dir_ + ": fsync", errno);
  return Status::Ok();
}

}  // namespace staging
