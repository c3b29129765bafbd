// Stage(): walks the source tree, takes the destination's lock, stages sources on `jobs` threads
// (largest first, so one big archive does not start last), and samples progress.
#include "staging/stage.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>

#include "base/interrupt.h"
#include "base/progress_thread.h"
#include "base/run_jobs.h"
#include "base/stage_layout.h"
#include "common/unique_fd.h"
#include "io/tree_ops.h"
#include "record/manifest.h"
#include "source_stager.h"

namespace staging {
namespace {

namespace fs = std::filesystem;

bool IsOwnFile(const std::string& name) {
  // Our own bookkeeping beside sources: gzip and member indexes, checksum files and stage
  // fetch's partial downloads and records are not data.
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  auto index_or_temporary = [&](const std::string& suffix) {
    return ends_with(suffix) || name.find(suffix + ".tmp.") != std::string::npos;
  };
  return name == kStageDir || index_or_temporary(kGzipIndexSuffix) ||
         index_or_temporary(kMemberIndexSuffix) || name.find(kFetchMark) != std::string::npos;
}

// NAME.sha256 beside NAME is the checksum --verify reads, not data.
bool IsChecksumOfSibling(const fs::path& path) {
  std::error_code ec;
  return path.extension() == ".sha256" &&
         fs::is_regular_file(fs::path(path).replace_extension(), ec);
}

Status CollectSources(const fs::path& root, std::vector<SourceJob>* jobs) {
  std::error_code ec;
  fs::file_status root_status = fs::status(root, ec);
  if (ec) return Status::Error(root.string() + ": " + ec.message(), ec.value());
  if (fs::is_regular_file(root_status)) {
    jobs->push_back({fs::absolute(root).lexically_normal().string(), "", root.filename().string(),
                     static_cast<uint64_t>(fs::file_size(root, ec))});
    return Status::Ok();
  }
  if (!fs::is_directory(root_status)) return Status::Error(root.string() + ": not a directory");
  fs::path base = fs::absolute(root).lexically_normal();
  fs::recursive_directory_iterator it(base, fs::directory_options::follow_directory_symlink, ec),
      end;
  if (ec) return Status::Error(root.string() + ": " + ec.message(), ec.value());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::Error(it->path().string() + ": " + ec.message(), ec.value());
    std::string name = it->path().filename().string();
    if (IsOwnFile(name)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (IsChecksumOfSibling(it->path())) continue;
    if (!it->is_regular_file(ec)) continue;
    fs::path rel = it->path().lexically_relative(base);
    jobs->push_back({it->path().string(), rel.parent_path().string(), rel.string(),
                     static_cast<uint64_t>(it->file_size(ec))});
  }
  std::sort(jobs->begin(), jobs->end(), [](const SourceJob& a, const SourceJob& b) {
    return a.size != b.size ? a.size > b.size : a.path < b.path;
  });
  return Status::Ok();
}

// Serialises stage runs into one destination: flock on DEST/.stage/lock.
Status Lock(int dest_fd, bool wait, common::UniqueFd* lock) {
  if (mkdirat(dest_fd, kStageDir, 0755) < 0 && errno != EEXIST) {
    return Status::FromErrno("create .stage", errno);
  }
  lock->reset(openat(dest_fd, kLockFile, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!lock->valid()) return Status::FromErrno("open .stage/lock", errno);
  int rc;
  do {
    rc = flock(lock->get(), LOCK_EX | (wait ? 0 : LOCK_NB));
  } while (rc < 0 && errno == EINTR);
  if (rc < 0 && errno == EWOULDBLOCK) {
    return Status::Error("another stage run holds the destination's lock (.stage/lock)",
                         EWOULDBLOCK);
  }
  if (rc < 0) return Status::FromErrno("lock .stage/lock", errno);
  return Status::Ok();
}

Status OpenDestination(const std::string& to, common::UniqueFd* fd) {
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return Status::Error(to + ": cannot create: " + ec.message(), ec.value());
  fd->reset(open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd->valid()) return Status::FromErrno(to, errno);
  if (faccessat(fd->get(), ".", W_OK, AT_EACCESS) < 0) {
    return Status::FromErrno(to + ": destination is not writable", errno);
  }
  return Status::Ok();
}

// The totals so far.
Progress Sample(const Progress& totals, const StageCounters& counters) {
  Progress p = totals;
  p.source_bytes_done = counters.source_bytes;
  p.files = counters.files;
  p.bytes = counters.bytes;
  p.archives_done = counters.archives_done;
  return p;
}

// Opens and locks the destination, clears what a killed run left, opens the manifest.
Status PrepareDestination(const StageOptions& options, common::UniqueFd* dest,
                          common::UniqueFd* lock, Manifest* manifest) {
  STAGING_RETURN_IF_ERROR(OpenDestination(options.to, dest));
  STAGING_RETURN_IF_ERROR(Lock(dest->get(), options.wait_for_lock, lock));
  // Leftovers of a run that was killed: nobody else holds the lock, so they are dead.
  STAGING_RETURN_IF_ERROR(RemoveTree(dest->get(), kStagingAreas));
  return Manifest::Open(dest->get(), manifest);
}

}  // namespace

bool StageReport::ok() const {
  return !interrupted && std::all_of(archives.begin(), archives.end(),
                                     [](const ArchiveReport& a) { return a.status.ok(); });
}

std::vector<std::string> StageReport::failures() const {
  std::vector<std::string> lines;
  for (const ArchiveReport& a : archives) {
    if (!a.status.ok()) lines.push_back(a.status.message());
  }
  return lines;
}

StageReport Stage(const StageOptions& options, const ProgressCallback& on_progress,
                  int progress_interval_ms) {
  auto start = std::chrono::steady_clock::now();
  StageReport report;
  report.io_backend = IoKindName(options.io);
  auto fail = [&](const Status& status) {
    ArchiveReport failed;
    failed.path = options.from;
    failed.status = status;
    report.archives.push_back(failed);
    return report;
  };
  if (options.from.empty()) return fail(Status::Error("no source given (--from)"));
  std::vector<SourceJob> jobs;
  Status status = CollectSources(options.from, &jobs);
  if (!status.ok()) return fail(status);
  common::UniqueFd dest, lock;
  Manifest manifest;
  status = PrepareDestination(options, &dest, &lock, &manifest);
  if (!status.ok()) return fail(status.WithContext(options.to));

  StageCounters counters;
  Progress totals;
  totals.archives_total = static_cast<uint32_t>(jobs.size());
  for (const SourceJob& job : jobs) totals.source_bytes_total += job.size;
  report.archives.resize(jobs.size());
  {
    ProgressThread progress(
        on_progress, [&] { return Sample(totals, counters); },
        std::chrono::milliseconds(progress_interval_ms), /*final_report=*/false);
    RunJobs(
        jobs.size(), options.jobs,
        [&](size_t i) {
          report.archives[i] = StageSource(jobs[i], options, dest.get(), manifest, counters);
          counters.archives_done++;
          return report.archives[i].status.ok() || options.keep_going;
        },
        [&] { return InterruptRequested(options.interrupt); });
  }

  // Sources never started because an earlier one failed are not reported as staged.
  std::erase_if(report.archives, [](const ArchiveReport& a) { return a.path.empty(); });
  report.interrupted = InterruptRequested(options.interrupt);
  if (options.sync && syncfs(dest.get()) < 0) {
    ArchiveReport failed;
    failed.path = options.to;
    failed.status = Status::FromErrno(options.to + ": syncfs", errno);
    report.archives.push_back(failed);
  }
  RemoveTree(dest.get(), kStagingAreas);
  for (const ArchiveReport& a : report.archives) {
    report.files += a.files;
    report.bytes += a.bytes;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

Status Clean(const std::string& to, uint64_t* removed) {
  uint64_t count = 0;
  common::UniqueFd dest(open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dest.valid()) return Status::FromErrno(to, errno);
  struct stat st;
  if (fstatat(dest.get(), kStageDir, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (removed) *removed = 0;
    return Status::Ok();  // nothing was ever staged here
  }
  common::UniqueFd lock;
  STAGING_RETURN_IF_ERROR(Lock(dest.get(), /*wait=*/true, &lock).WithContext(to));
  Manifest manifest;
  STAGING_RETURN_IF_ERROR(Manifest::Open(dest.get(), &manifest).WithContext(to));
  std::vector<ManifestEntry> entries;
  std::vector<std::string> unreadable;
  STAGING_RETURN_IF_ERROR(manifest.All(&entries, &unreadable).WithContext(to));
  for (const ManifestEntry& entry : entries) {
    // Deepest first: files, then the directories they emptied.
    std::vector<std::string> paths = entry.paths;
    std::sort(paths.begin(), paths.end(), std::greater<>());
    for (const std::string& path : paths) {
      // Beneath --to only, never through a symlink: the records are files anyone may edit.
      if (RemoveBeneath(dest.get(), path)) ++count;
      // Directories staging made implicitly go too, once empty.
      for (fs::path parent = fs::path(path).parent_path(); !parent.empty();
           parent = parent.parent_path()) {
        if (!RemoveBeneath(dest.get(), parent.string(), /*directory_only=*/true)) break;
      }
    }
    STAGING_RETURN_IF_ERROR(manifest.Forget(entry.source.path).WithContext(to));
  }
  if (removed) *removed = count;
  if (!unreadable.empty()) {
    // Without its record nobody knows what such a source made: keep .stage and say so.
    return Status::Error(to + ": " + std::to_string(unreadable.size()) +
                         " manifest record(s) unreadable, their files left in place: " +
                         kManifestDir + "/" + unreadable.front());
  }
  lock.reset();
  STAGING_RETURN_IF_ERROR(RemoveTree(dest.get(), kStageDir).WithContext(to));
  return Status::Ok();
}

}  // namespace staging
