#include "io/tree_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/member_path.h"
#include "common/file_io.h"
#include "common/unique_fd.h"
#include "io/dir_tree.h"

namespace staging {
namespace {

// The names in `dirfd`, or why they cannot be listed.
Status ListNames(int dirfd, std::vector<std::string>* names) {
  const int error = common::ListDirectory(dirfd, names);
  return error ? Status::FromErrno("list directory", error) : Status::Ok();
}

}  // namespace

Status RemoveTree(int dirfd, const std::string& name) {
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    return errno == ENOENT ? Status::Ok() : Status::FromErrno("stat " + name, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    common::UniqueFd sub(
        openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub.valid()) return Status::FromErrno("open " + name, errno);
    // A read-only directory from an archive must become writable to be emptied.
    if ((st.st_mode & 0700) != 0700) fchmod(sub.get(), 0700);
    std::vector<std::string> children;
    STAGING_RETURN_IF_ERROR(ListNames(sub.get(), &children).WithContext(name));
    for (const std::string& child : children) {
      STAGING_RETURN_IF_ERROR(RemoveTree(sub.get(), child).WithContext(name));
    }
    if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT) {
      return Status::FromErrno("remove " + name, errno);
    }
    return Status::Ok();
  }
  if (unlinkat(dirfd, name.c_str(), 0) < 0 && errno != ENOENT) {
    return Status::FromErrno("remove " + name, errno);
  }
  return Status::Ok();
}

bool RemoveBeneath(int dirfd, const std::string& rel, bool directory_only) {
  MemberPath path;
  if (!ParseMemberPath(rel, PathLimits{}, &path).ok() || path.stripped_leading_slash ||
      path.is_root()) {
    return false;
  }
  common::UniqueFd parent(OpenBeneath(dirfd, path.parent(), O_PATH | O_DIRECTORY));
  struct stat st;
  if (!parent.valid() || fstatat(parent.get(), path.name().c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 ||
      (directory_only && !S_ISDIR(st.st_mode))) {
    return false;
  }
  return unlinkat(parent.get(), path.name().c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == 0;
}

Status CheckMerge(int from_fd, int to_fd, const std::string& prefix,
                  const std::function<bool(const std::string&)>& may_replace,
                  std::unordered_set<std::string>* merged_dirs) {
  std::vector<std::string> names;
  Status listed = ListNames(from_fd, &names);
  if (!listed.ok()) return prefix.empty() ? listed : listed.WithContext(prefix);
  for (const std::string& name : names) {
    const std::string path = common::JoinPath(prefix, name);
    struct stat src, dst;
    if (fstatat(to_fd, name.c_str(), &dst, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue;  // new: moved in whole
      return Status::FromErrno("stat " + path, errno);
    }
    if (fstatat(from_fd, name.c_str(), &src, AT_SYMLINK_NOFOLLOW) < 0) {
      return Status::FromErrno("stat staged " + path, errno);
    }
    const bool src_dir = S_ISDIR(src.st_mode), dst_dir = S_ISDIR(dst.st_mode);
    if (src_dir != dst_dir) {
      return Status::Error("'" + path + "' already exists in the destination as " +
                           (dst_dir ? "a directory" : "a non-directory (file or symlink)") +
                           "; refusing to replace it");
    }
    if (!src_dir) {
      if (!may_replace(path)) {
        return Status::Error("'" + path +
                             "' already exists in the destination and no staging made it; "
                             "refusing to replace it (--overwrite replaces it)");
      }
      continue;
    }
    merged_dirs->insert(path);
    common::UniqueFd sub_from(
        openat(from_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    common::UniqueFd sub_to(
        openat(to_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub_from.valid() || !sub_to.valid()) return Status::FromErrno("open " + path, errno);
    STAGING_RETURN_IF_ERROR(
        CheckMerge(sub_from.get(), sub_to.get(), path, may_replace, merged_dirs));
  }
  return Status::Ok();
}

Status MergeTree(int from_fd, int to_fd, const std::string& prefix) {
  std::vector<std::string> names;
  Status listed = ListNames(from_fd, &names);
  if (!listed.ok()) return prefix.empty() ? listed : listed.WithContext(prefix);
  for (const std::string& name : names) {
    std::string path = common::JoinPath(prefix, name);
    struct stat src, dst;
    if (fstatat(from_fd, name.c_str(), &src, AT_SYMLINK_NOFOLLOW) < 0) {
      return Status::FromErrno("stat staged " + path, errno);
    }
    if (fstatat(to_fd, name.c_str(), &dst, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno != ENOENT) return Status::FromErrno("stat " + path, errno);
      if (renameat(from_fd, name.c_str(), to_fd, name.c_str()) < 0) {
        return Status::FromErrno("move " + path + " into place", errno);
      }
      continue;
    }
    bool src_dir = S_ISDIR(src.st_mode), dst_dir = S_ISDIR(dst.st_mode);
    if (src_dir && dst_dir) {
      common::UniqueFd sub_from(
          openat(from_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      common::UniqueFd sub_to(
          openat(to_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub_from.valid() || !sub_to.valid()) return Status::FromErrno("open " + path, errno);
      STAGING_RETURN_IF_ERROR(MergeTree(sub_from.get(), sub_to.get(), path));
      // The staged directory's mode and time are the archive's: carry them over.
      fchmod(sub_to.get(), src.st_mode & 07777);
      const timespec times[2] = {{0, UTIME_OMIT}, src.st_mtim};
      futimens(sub_to.get(), times);
      continue;
    }
    if (src_dir != dst_dir) {
      return Status::Error("'" + path + "' already exists in the destination as " +
                           (dst_dir ? "a directory" : "a non-directory (file or symlink)") +
                           "; refusing to replace it");
    }
    if (renameat(from_fd, name.c_str(), to_fd, name.c_str()) < 0) {
      return Status::FromErrno("replace " + path, errno);
    }
  }
  return Status::Ok();
}

}  // namespace staging
