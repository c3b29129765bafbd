#include "source_walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include "base/interrupt.h"
#include "base/stage_layout.h"
#include "common/file_io.h"
#include "common/unique_fd.h"

namespace staging {
namespace {

bool EndsWith(const std::string& name, std::string_view suffix) {
  return name.size() >= suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsOwnFile(const std::string& name) {
  // Our own bookkeeping beside sources: gzip and member indexes, checksum files and stage
  // fetch's partial downloads and records are not data.
  auto index_or_temporary = [&](const std::string& suffix) {
    return EndsWith(name, suffix) || name.find(suffix + ".tmp.") != std::string::npos;
  };
  return name == kStageDir || index_or_temporary(kGzipIndexSuffix) ||
         index_or_temporary(kMemberIndexSuffix) || name.find(kFetchMark) != std::string::npos;
}

// NAME.sha256 beside NAME is the checksum --verify reads, not data.
bool IsChecksumOfSibling(int dirfd, const std::string& name) {
  if (!EndsWith(name, ".sha256")) return false;
  const std::string stem = name.substr(0, name.size() - 7);
  struct stat st;
  return !stem.empty() && fstatat(dirfd, stem.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode);
}

const char* SpecialKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

// A directory as the walk sees it: the path under --from (what jobs are named by) and the path
// that opens its files (different below a followed symlink).
struct WalkDir {
  std::string path;
  std::string real;
  std::string rel;
};

class Walker {
 public:
  Walker(const SourceWalkOptions& options, std::vector<SourceJob>* jobs,
         std::vector<std::string>* warnings)
      : options_(options), jobs_(jobs), warnings_(warnings) {}

  Status Run(const std::string& from) {
    const std::string base = std::filesystem::absolute(from).lexically_normal().string();
    common::UniqueFd root(open(base.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    struct stat st;
    if (!root.valid() || fstat(root.get(), &st) < 0) return Status::FromErrno(from, errno);
    if (S_ISREG(st.st_mode)) {
      // --from names the file itself: a link there is the user's own choice, followed.
      char* real = realpath(base.c_str(), nullptr);
      std::string open_path = real ? real : base;
      free(real);
      jobs_->push_back({base, open_path, "", std::filesystem::path(base).filename().string(),
                        static_cast<uint64_t>(st.st_size), st.st_dev, st.st_ino});
      return Status::Ok();
    }
    if (!S_ISDIR(st.st_mode)) return Status::Error(from + ": not a directory");
    char* real = realpath(base.c_str(), nullptr);
    if (!real) return Status::FromErrno(from, errno);
    root_real_ = real;
    free(real);
    ancestors_.insert({st.st_dev, st.st_ino});
    const std::string trimmed =
        base.size() > 1 && base.back() == '/' ? base.substr(0, base.size() - 1) : base;
    return Directory(root.get(), {trimmed, trimmed, ""}, 0);
  }

 private:
  Status Directory(int fd, const WalkDir& dir, uint32_t depth) {
    std::vector<std::string> names;
    if (int error = common::ListDirectory(fd, &names)) {
      return Status::FromErrno(dir.path + ": list directory", error);
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      STAGING_RETURN_IF_ERROR(CheckInterrupt(options_.interrupt));
      if (++entries_ > options_.max_entries) {
        return Status::Error(root_real_ + ": more than " + std::to_string(options_.max_entries) +
                             " entries under --from (--max-entries)");
      }
      if (IsOwnFile(name)) continue;
      const std::string rel = common::JoinPath(dir.rel, name);
      struct stat st;
      if (fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT) continue;  // gone since listed
        return Status::FromErrno(dir.path + "/" + name + ": stat", errno);
      }
      if (S_ISREG(st.st_mode)) {
        if (IsChecksumOfSibling(fd, name)) continue;
        AddFile(dir, name, st);
      } else if (S_ISDIR(st.st_mode)) {
        common::UniqueFd sub(
            openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) return Status::FromErrno(dir.path + "/" + name + ": open", errno);
        STAGING_RETURN_IF_ERROR(
            Enter(sub.get(), {dir.path + "/" + name, dir.real + "/" + name, rel}, depth + 1));
      } else if (S_ISLNK(st.st_mode)) {
        if (!options_.follow_symlinks) {
          Skip(rel,
               "a symbolic link, not followed (--follow-symlinks follows links that stay "
               "inside --from)");
          continue;
        }
        STAGING_RETURN_IF_ERROR(FollowLink(dir, name, depth));
      } else {
        Skip(rel, std::string(SpecialKind(st.st_mode)) + ", skipped");
      }
    }
    return Status::Ok();
  }

  // A directory reached by the walk, unless it is one of its own ancestors (a link back up is a
  // loop), and no deeper than the cap. The same directory reached twice by different links is
  // staged at both places, as cp -rL does; max_entries bounds how often.
  Status Enter(int fd, const WalkDir& dir, uint32_t depth) {
    struct stat st;
    if (fstat(fd, &st) < 0) return Status::FromErrno(dir.path + ": stat", errno);
    if (st.st_ino == options_.skip_inode && st.st_dev == options_.skip_device) {
      return Status::Ok();  // the destination itself
    }
    const std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
    if (!ancestors_.insert(id).second) {
      Skip(dir.rel, "a symbolic link to a directory above it (a loop), skipped");
      return Status::Ok();
    }
    if (depth > options_.max_depth) {
      return Status::Error(dir.path + ": more than " + std::to_string(options_.max_depth) +
                           " directories deep");
    }
    Status status = Directory(fd, dir, depth);
    ancestors_.erase(id);
    return status;
  }

  Status FollowLink(const WalkDir& dir, const std::string& name, uint32_t depth) {
    const std::string rel = common::JoinPath(dir.rel, name);
    char* resolved = realpath((dir.real + "/" + name).c_str(), nullptr);
    if (!resolved) {
      Skip(rel, std::string("a symbolic link that does not resolve (") + std::strerror(errno) +
                    "), skipped");
      return Status::Ok();
    }
    const std::string real = resolved;
    free(resolved);
    if (real != root_real_ && real.compare(0, root_real_.size() + 1, root_real_ + "/") != 0) {
      Skip(rel, "a symbolic link to a place outside --from, skipped");
      return Status::Ok();
    }
    // The resolved path has no links left; O_NOFOLLOW and the checks on what was opened keep a
    // link swapped in meanwhile from being followed.
    common::UniqueFd target(open(real.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    struct stat st;
    if (!target.valid() || fstat(target.get(), &st) < 0) {
      Skip(rel, std::string("a symbolic link whose target cannot be opened (") +
                    std::strerror(errno) + "), skipped");
      return Status::Ok();
    }
    if (S_ISREG(st.st_mode)) {
      AddFile(dir, name, st, real);
      return Status::Ok();
    }
    if (!S_ISDIR(st.st_mode)) {
      Skip(rel, std::string("a symbolic link to ") + SpecialKind(st.st_mode) + ", skipped");
      return Status::Ok();
    }
    return Enter(target.get(), {dir.path + "/" + name, real, rel}, depth + 1);
  }

  void AddFile(const WalkDir& dir, const std::string& name, const struct stat& st,
               const std::string& open_path = "") {
    std::string real = open_path;
    if (real.empty() && dir.real != dir.path) real = dir.real + "/" + name;
    jobs_->push_back({dir.path + "/" + name, std::move(real), dir.rel,
                      common::JoinPath(dir.rel, name), static_cast<uint64_t>(st.st_size), st.st_dev,
                      st.st_ino});
  }

  void Skip(const std::string& rel, const std::string& why) {
    warnings_->push_back(rel + ": " + why);
  }

  const SourceWalkOptions& options_;
  std::vector<SourceJob>* jobs_;
  std::vector<std::string>* warnings_;
  std::string root_real_;
  std::set<std::pair<dev_t, ino_t>> ancestors_;  // the directories being walked, root first
  uint64_t entries_ = 0;
};

}  // namespace

Status WalkSources(const std::string& from, const SourceWalkOptions& options,
                   std::vector<SourceJob>* jobs, std::vector<std::string>* warnings) {
  STAGING_RETURN_IF_ERROR(Walker(options, jobs, warnings).Run(from));
  std::sort(jobs->begin(), jobs->end(), [](const SourceJob& a, const SourceJob& b) {
    return a.size != b.size ? a.size > b.size : a.path < b.path;
  });
  return Status::Ok();
}

Status OpenSource(const SourceJob& job, common::UniqueFd* fd) {
  const std::string& path = job.open_path.empty() ? job.path : job.open_path;
  fd->reset(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd->valid()) {
    return errno == ELOOP ? Status::Error("open: now a symbolic link; not followed")
                          : Status::FromErrno("open", errno);
  }
  struct stat st;
  if (fstat(fd->get(), &st) < 0) return Status::FromErrno("stat", errno);
  if (!S_ISREG(st.st_mode) || st.st_dev != job.device || st.st_ino != job.inode) {
    fd->reset();
    return Status::Error("replaced by another file since the source folder was listed");
  }
  if (int error = common::ClearNonBlocking(fd->get())) return Status::FromErrno("fcntl", error);
  return Status::Ok();
}

}  // namespace staging
