#include "fetch/download.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <thread>
#include <vector>

#include "base/digest.h"
#include "base/stage_layout.h"
#include "common/file_io.h"
#include "common/human_units.h"
#include "decode/gzip_index.h"
#include "fetch/fetch_record.h"

namespace staging {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxRetryDelay = 60;

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
}

int64_t CtimeNs(const struct stat& st) {
  return int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
}

// The SHA-256 of the whole file `fd`, read in 1 MiB pieces.
bool HashFile(int fd, std::string* hex) {
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  for (off_t offset = 0;;) {
    const ssize_t n = pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) break;
    hash.Update(buffer.data(), static_cast<size_t>(n));
    offset += n;
  }
  *hex = hash.HexDigest();
  return true;
}

// Sleeps `seconds`, waking early when `interrupt` rises.
void SleepUnlessInterrupted(double seconds, const std::atomic<bool>* interrupt) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until && !(interrupt && interrupt->load())) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// A temporary file "…tmp.PID.N" of a writer that no longer runs.
bool Abandoned(const std::string& name) {
  size_t at = name.rfind(".tmp.");
  if (at == std::string::npos) return false;
  pid_t pid = static_cast<pid_t>(std::strtol(name.c_str() + at + 5, nullptr, 10));
  return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

}  // namespace

Download::Download(const FetchUrl& url, const Expected& expected, const FetchOptions& options,
                   FetchCounters& counters, std::function<void(const std::string&)> notice)
    : url_(url),
      expected_(expected),
      options_(options),
      counters_(counters),
      notice_(std::move(notice)),
      dir_(options.to),
      final_(common::JoinPath(options.to, url.name)) {}

Download::~Download() = default;

Status Download::Run(FetchedFile* report) {
  report->url = url_.redacted;
  report->path = final_;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Status::Error(dir_ + ": cannot create: " + ec.message(), ec.value());
  if (AlreadyThere(report)) return Status::Ok();
  STAGING_RETURN_IF_ERROR(OpenPartial());
  SweepStaleTemps();
  Status status = Transfer(report);
  struct stat st;
  if (!status.ok() && fstat(partial_.get(), &st) == 0 && st.st_size == 0) {
    unlink(Path(kFetchPartialSuffix).c_str());  // nothing arrived: nothing to resume
    unlink(Path(kFetchResumeSuffix).c_str());
  }
  STAGING_RETURN_IF_ERROR(status);
  return Complete(report);
}

std::string Download::PackedName() const {
  static const char* kSuffixes[] = {".tar.gz", ".tgz",     ".tar.zst", ".tzst", ".tar.xz",
                                    ".txz",    ".tar.bz2", ".tbz2",    ".tar"};
  std::string stem = url_.name;
  for (const char* suffix : kSuffixes) {
    const std::string s(suffix);
    if (stem.size() > s.size() && stem.compare(stem.size() - s.size(), s.size(), s) == 0) {
      stem.resize(stem.size() - s.size());
      break;
    }
  }
  std::string packed = stem + ".tar.zst";
  return packed == url_.name ? stem + ".packed.tar.zst" : packed;
}

bool Download::AlreadyThere(FetchedFile* report) {
  DoneRecord record;
  std::string note;
  if (!LoadDoneRecord(Path(kFetchRecordSuffix), &record, &note)) {
    if (!note.empty()) report->warnings.push_back("record not used (" + note + "); fetching again");
    return false;
  }
  if (record.url != url_.redacted) return false;
  if (options_.pack != !record.packed.empty()) return false;
  if (options_.pack && options_.random_access != record.random_access) return false;  // repack
  if ((!expected_.sha256.empty() && expected_.sha256 != record.sha256) ||
      (!expected_.md5.empty() && expected_.md5 != record.md5)) {
    return false;  // another file is wanted under this name
  }
  const std::string stored = record.packed.empty() ? final_ : common::JoinPath(dir_, record.packed);
  common::UniqueFd fd(open(stored.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  if (!fd.valid() || fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode)) return false;
  const bool unchanged =
      static_cast<uint64_t>(st.st_size) == record.size && MtimeNs(st) == record.mtime_ns &&
      static_cast<uint64_t>(st.st_ino) == record.inode && CtimeNs(st) == record.ctime_ns;
  if (!unchanged) {
    // Replaced or rewritten since it was verified (a new inode or ctime, which no writer can set
    // back): the record says nothing of it. With a checksum to hold it to, the file itself is
    // hashed again, as the download would be; without one, it is fetched again.
    if (!record.packed.empty() || expected_.sha256.empty()) return false;
    std::string actual;
    if (!HashFile(fd.get(), &actual) || actual != expected_.sha256) return false;
    if (fstat(fd.get(), &st) < 0) return false;
    record.size = static_cast<uint64_t>(st.st_size);
    record.mtime_ns = MtimeNs(st);
    record.inode = static_cast<uint64_t>(st.st_ino);
    record.ctime_ns = CtimeNs(st);
    record.sha256 = actual;
    record.md5.clear();  // not computed here
    if (!SaveDoneRecord(Path(kFetchRecordSuffix), record).ok()) return false;
    report->warnings.push_back(
        "changed since its record was written; hashed again: it matches "
        "--sha256");
  }
  report->already = true;
  report->path = stored;
  report->packed = !record.packed.empty();
  report->bytes = record.size;
  report->sha256 = record.sha256;
  report->md5 = record.md5;
  return true;
}

Status Download::OpenPartial() {
  const std::string path = Path(kFetchPartialSuffix);
  // The lock is on the partial file itself; a run that removed it meanwhile (it had received
  // nothing) leaves us a lock on a file no longer there: open it again.
  for (int tries = 0; tries < 3; ++tries) {
    partial_.reset(
        open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644));
    if (!partial_.valid() && errno == ELOOP) {
      return Status::Error(path + ": a symbolic link, not a partial download; remove it");
    }
    if (!partial_.valid()) return Status::FromErrno(path + ": open", errno);
    struct stat opened;
    if (fstat(partial_.get(), &opened) < 0 || !S_ISREG(opened.st_mode)) {
      return Status::Error(path + ": not a regular file, not a partial download; remove it");
    }
    if (int error = common::ClearNonBlocking(partial_.get())) {
      return Status::FromErrno(path + ": fcntl", error);
    }
    if (flock(partial_.get(), LOCK_EX | LOCK_NB) < 0) {
      return Status::Error(final_ + ": another stage fetch is downloading it now");
    }
    struct stat locked, named;
    if (fstat(partial_.get(), &locked) == 0 && stat(path.c_str(), &named) == 0 &&
        locked.st_ino == named.st_ino && locked.st_dev == named.st_dev) {
      return Status::Ok();
    }
  }
  return Status::Error(path + ": keeps being replaced by another process");
}

// Temporary files a killed run left for this name (its gzip index, its packed archive).
void Download::SweepStaleTemps() {
  const std::string index_temp = "." + url_.name + kGzipIndexSuffix + ".tmp.";
  const std::string pack_temp = "." + PackedName() + kFetchPackSuffix + ".tmp.";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if ((name.rfind(index_temp, 0) == 0 || name.rfind(pack_temp, 0) == 0) && Abandoned(name)) {
      unlink(entry.path().c_str());
    }
  }
}

Status Download::Transfer(FetchedFile* report) {
  ResumeRecord resume;
  struct stat st;
  if (fstat(partial_.get(), &st) < 0) return Status::FromErrno(final_ + ": stat", errno);
  uint64_t offset = static_cast<uint64_t>(st.st_size);
  if (offset == 0 || !LoadResumeRecord(Path(kFetchResumeSuffix), &resume) ||
      resume.url != url_.redacted || !resume.validators.usable()) {
    offset = 0;  // nothing to resume from, or nothing to check it against
  }
  Validators known = resume.validators;
  const auto started = std::chrono::steady_clock::now();
  for (int failures = 0, tries = 0;;) {
    const uint64_t before = sink_ ? sink_->bytes() : offset;
    ++report->attempts;
    ++tries;
    Attempt attempt = TryOnce(offset, known);
    if (attempt.result == AttemptResult::kDone) return Status::Ok();
    if (attempt.result == AttemptResult::kInterrupted) interrupted_ = true;
    if (attempt.result != AttemptResult::kTransient) {
      if (attempt.refused && tries == 1) {
        return Status::Error(attempt.status.message() +
                             "; not retried (--retry-connrefused retries it)");
      }
      return attempt.status;
    }
    const uint64_t now = sink_ ? sink_->bytes() : offset;
    if (now > before) failures = 0;  // progress: a flaky link is not a dead one
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const bool out_of_time = options_.retry_max_time > 0 && elapsed >= options_.retry_max_time;
    if (++failures > options_.retries || out_of_time) {
      return Status::Error(url_.redacted + ": gave up after " +
                           common::Counted(tries, "try", "tries") + " over " +
                           common::HumanSeconds(elapsed) + ": " +
                           (attempt.cause.empty() ? attempt.status.message() : attempt.cause));
    }
    known = validators_.usable() ? validators_ : known;
    offset = attempt.drop_range || !known.usable() ? 0 : now;
    double delay = std::min(kMaxRetryDelay, options_.retry_delay * std::pow(2.0, failures - 1));
    delay = std::max(delay, std::min(kMaxRetryDelay, attempt.retry_after));
    // As curl's --retry-max-time: the last wait ends when the time does, for one more try.
    if (options_.retry_max_time > 0) delay = std::min(delay, options_.retry_max_time - elapsed);
    if (notice_) {
      notice_(attempt.status.message() + "; retrying in " + std::to_string(delay).substr(0, 4) +
              " s from byte " + std::to_string(offset));
    }
    SleepUnlessInterrupted(delay, options_.interrupt);
    if (options_.interrupt && options_.interrupt->load()) {
      interrupted_ = true;
      return Status::Error(url_.redacted + ": interrupted");
    }
  }
}

Attempt Download::TryOnce(uint64_t offset, const Validators& known) {
  TransferSettings settings{options_.ca_file, options_.retry_connrefused, options_.stall_seconds,
                            options_.interrupt};
  if (url_.local) return LocalAttempt(url_, settings, offset, known, *this, &local_mtime_ns_);
  Attempt attempt = HttpAttempt(url_, settings, offset, known, *this);
  if (attempt.result == AttemptResult::kDone) mtime_header_ = attempt.mtime_header;
  return attempt;
}

Status Download::Begin(uint64_t offset, const Validators& validators) {
  counters_.total.store(validators.total, std::memory_order_relaxed);
  if (sink_ && sink_->bytes() == offset && offset > 0) return Status::Ok();  // resumed in-run
  sink_.reset();
  if (offset == 0 && ftruncate(partial_.get(), 0) < 0) {
    return Status::FromErrno(Path(kFetchPartialSuffix) + ": truncate", errno);
  }
  if (lseek(partial_.get(), static_cast<off_t>(offset), SEEK_SET) < 0) {
    return Status::FromErrno(Path(kFetchPartialSuffix) + ": seek", errno);
  }
  validators_ = validators;
  if (offset == 0) {
    STAGING_RETURN_IF_ERROR(
        SaveResumeRecord(Path(kFetchResumeSuffix), ResumeRecord{url_.redacted, validators}));
  }
  STAGING_RETURN_IF_ERROR(Reserve(validators.total));
  SinkOptions sink;
  sink.label = final_;
  sink.md5 = !expected_.md5.empty();
  if (options_.pack) {
    sink.pack_path = common::JoinPath(dir_, PackedName()) + kFetchPackSuffix;
    sink.random_access = options_.random_access;
  } else {
    sink.index_path = GzipIndexPath(final_, "");
    sink.member_index_path = final_ + kMemberIndexSuffix;
  }
  sink_ = std::make_unique<FetchSink>(partial_.get(), sink);
  return sink_->Replay(offset);
}

Status Download::Write(const void* data, size_t len) {
  Status status = sink_->Append(data, len);
  counters_.now.store(sink_->bytes(), std::memory_order_relaxed);
  return status;
}

// Refuses a download the disk cannot hold before fetching it, and reserves its blocks (without
// changing the size, which is what resuming reads) so that a full disk shows at once.
Status Download::Reserve(uint64_t total) {
  if (total == 0) return Status::Ok();
  struct stat st;
  struct statvfs vfs;
  if (fstat(partial_.get(), &st) < 0 || fstatvfs(partial_.get(), &vfs) < 0) return Status::Ok();
  const uint64_t allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  const uint64_t free_bytes = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (total > allocated && total - allocated > free_bytes) {
    return Status::Error(final_ + ": not enough space: " + std::to_string(total) +
                             " bytes announced, " + std::to_string(free_bytes + allocated) +
                             " available in " + dir_,
                         ENOSPC);
  }
  if (fallocate(partial_.get(), FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(total)) < 0 &&
      errno == ENOSPC) {
    return Status::FromErrno(final_ + ": reserve " + std::to_string(total) + " bytes", ENOSPC);
  }
  return Status::Ok();
}

}  // namespace staging
