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

#include "base/checksum_file.h"
#include "base/interrupt.h"
#include "base/progress_thread.h"
#include "base/run_jobs.h"
#include "base/stage_layout.h"
#include "common/unique_fd.h"
#include "io/tree_ops.h"
#include "record/manifest.h"
#include "record/stage_dir.h"
#include "source_stager.h"
#include "source_walk.h"

namespace staging {
namespace {

namespace fs = std::filesystem;

// Serialises stage runs into one destination: flock on DEST/.stage/lock.
Status Lock(int stage_fd, bool wait, common::UniqueFd* lock) {
  lock->reset(
      openat(stage_fd, kLockFile, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644));
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

// What one run holds of its destination.
struct OpenDestinationState {
  common::UniqueFd dest, stage_dir, lock;
  Manifest manifest;
  RecordedPaths recorded{&manifest};
};

// Locks the opened destination, clears what a killed run left, opens the manifest.
Status PrepareDestination(const StageOptions& options, OpenDestinationState* state) {
  STAGING_RETURN_IF_ERROR(OpenStageDir(state->dest.get(), /*create=*/true, &state->stage_dir));
  STAGING_RETURN_IF_ERROR(Lock(state->stage_dir.get(), options.wait_for_lock, &state->lock));
  // Leftovers of a run that was killed: nobody else holds the lock, so they are dead.
  STAGING_RETURN_IF_ERROR(RemoveTree(state->stage_dir.get(), kStagingAreas));
  return Manifest::Open(state->stage_dir.get(), &state->manifest);
}

std::vector<std::string> SourcePaths(const std::vector<SourceJob>& jobs) {
  std::vector<std::string> paths;
  for (const SourceJob& job : jobs) paths.push_back(job.path);
  return paths;
}

// The walk of --from as the options ask, leaving out the destination (`dest`) when it lies inside.
SourceWalkOptions WalkOptions(const StageOptions& options, const struct stat& dest) {
  SourceWalkOptions walk;
  walk.follow_symlinks = options.follow_symlinks;
  walk.max_entries = options.max_entries;
  walk.max_depth = options.max_path_depth;
  walk.interrupt = options.interrupt;
  walk.skip_device = dest.st_dev;
  walk.skip_inode = dest.st_ino;
  return walk;
}

// Stages `jobs` into `destination` on options.jobs threads, each source's report in its slot of
// report->archives; stops starting sources after a failure (unless --keep-going) or a stop.
void StageSources(const std::vector<SourceJob>& jobs, const StageOptions& options,
                  const Destination& destination, const ProgressCallback& on_progress,
                  int progress_interval_ms, StageReport* report) {
  StageCounters counters;
  Progress totals;
  totals.archives_total = static_cast<uint32_t>(jobs.size());
  for (const SourceJob& job : jobs) totals.source_bytes_total += job.size;
  report->archives.resize(jobs.size());
  {
    ProgressThread progress(
        on_progress, [&] { return Sample(totals, counters); },
        std::chrono::milliseconds(progress_interval_ms), /*final_report=*/false);
    RunJobs(
        jobs.size(), options.jobs,
        [&](size_t i) {
          report->archives[i] = StageSource(jobs[i], options, destination, counters);
          counters.archives_done++;
          return report->archives[i].status.ok() || options.keep_going;
        },
        [&] { return InterruptRequested(options.interrupt); });
  }
}

}  // namespace

bool StageReport::ok() const {
  return !interrupted && error.ok() &&
         std::all_of(archives.begin(), archives.end(),
                     [](const ArchiveReport& a) { return a.status.ok(); });
}

std::vector<std::string> StageReport::failures() const {
  std::vector<std::string> lines;
  if (!error.ok()) lines.push_back(error.message());
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
    report.error = status;
    return report;
  };
  if (options.from.empty()) return fail(Status::Error("no source given (--from)"));
  // The destination first: when it lies inside the source, the walk leaves it out.
  OpenDestinationState state;
  Status status = OpenDestination(options.to, &state.dest);  // its messages name `to`
  if (!status.ok()) return fail(status);
  struct stat dest_st, from_st;
  if (fstat(state.dest.get(), &dest_st) < 0) {
    return fail(Status::FromErrno(options.to + ": stat", errno));
  }
  if (stat(options.from.c_str(), &from_st) == 0 && from_st.st_dev == dest_st.st_dev &&
      from_st.st_ino == dest_st.st_ino) {
    return fail(Status::Error("--to " + options.to +
                              " is --from itself; staging a folder into "
                              "itself would stage its own output"));
  }
  std::vector<SourceJob> jobs;
  status = WalkSources(options.from, WalkOptions(options, dest_st), &jobs, &report.warnings);
  if (InterruptRequested(options.interrupt)) {
    report.interrupted = true;
    return report;
  }
  if (!status.ok()) return fail(status);
  if (options.verify) {
    status = CheckChecksumFilesPresent(SourcePaths(jobs));
    if (!status.ok()) return fail(status);
  }
  status = PrepareDestination(options, &state);
  if (!status.ok()) return fail(status.WithContext(options.to));
  Destination destination{state.dest.get(), state.stage_dir.get(), &state.manifest,
                          &state.recorded};

  StageSources(jobs, options, destination, on_progress, progress_interval_ms, &report);
  // Sources never started because an earlier one failed are not reported as staged.
  std::erase_if(report.archives, [](const ArchiveReport& a) { return a.path.empty(); });
  report.interrupted = InterruptRequested(options.interrupt);
  if (options.sync && syncfs(state.dest.get()) < 0) {
    ArchiveReport failed;
    failed.path = options.to;
    failed.status = Status::FromErrno(options.to + ": syncfs", errno);
    report.archives.push_back(failed);
  }
  RemoveTree(state.stage_dir.get(), kStagingAreas);
  for (const ArchiveReport& a : report.archives) {
    if (!a.status.ok()) continue;  // nothing of a failed source is there
    report.files += a.files;
    report.bytes += a.bytes;
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

Status Clean(const std::string& to, uint64_t* removed) {
  if (removed) *removed = 0;
  common::UniqueFd dest(open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dest.valid()) return Status::FromErrno(to, errno);
  common::UniqueFd stage_dir;
  STAGING_RETURN_IF_ERROR(OpenStageDir(dest.get(), /*create=*/false, &stage_dir).WithContext(to));
  if (!stage_dir.valid()) return Status::Ok();  // nothing was ever staged here
  common::UniqueFd lock;
  STAGING_RETURN_IF_ERROR(Lock(stage_dir.get(), /*wait=*/true, &lock).WithContext(to));
  Manifest manifest;
  STAGING_RETURN_IF_ERROR(Manifest::Open(stage_dir.get(), &manifest).WithContext(to));
  std::vector<ManifestEntry> entries;
  std::vector<std::string> unreadable;
  STAGING_RETURN_IF_ERROR(manifest.All(&entries, &unreadable).WithContext(to));
  uint64_t count = 0;
  for (const ManifestEntry& entry : entries) {
    // Deepest first: files, then the directories they emptied. A directory is removed only when
    // empty: what the user added inside stays, and so does the directory.
    std::vector<std::string> paths = entry.paths;
    std::sort(paths.begin(), paths.end(), std::greater<>());
    for (const std::string& path : paths) {
      // Beneath --to only, never through a symlink: the records are files anyone may edit.
      if (RemoveBeneath(dest.get(), path)) ++count;
    }
    STAGING_RETURN_IF_ERROR(manifest.Forget(entry.source.path).WithContext(to));
  }
  if (removed) *removed = count;
  if (!unreadable.empty()) {
    // Without its record nobody knows what such a source made: keep .stage and say so.
    return Status::Error(to + ": " + std::to_string(unreadable.size()) +
                         " manifest record(s) unreadable, their files left in place: " + kStageDir +
                         "/" + kManifestDir + "/" + unreadable.front());
  }
  lock.reset();
  stage_dir.reset();
  STAGING_RETURN_IF_ERROR(RemoveTree(dest.get(), kStageDir).WithContext(to));
  return Status::Ok();
}

}  // namespace staging
