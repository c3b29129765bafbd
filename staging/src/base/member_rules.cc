#include "base/member_rules.h"

#include <string>

#include "base/stage_layout.h"

namespace staging {

Status CheckMemberName(const MemberPath& path, bool is_directory) {
  if (!path.is_root() && path.components.front() == kStageDir) {
    // Merged into --to, a forged manifest record would tell `stage clean` what to remove.
    return Status::Error("refused: '.stage' is staging's own bookkeeping");
  }
  if (path.is_root() && !is_directory) {
    // "./" heads many archives: the destination itself, which an archive may not change.
    return Status::Error("refused: names the destination itself");
  }
  return Status::Ok();
}

Status CheckSymlinkTarget(const MemberPath& link, std::string_view target) {
  if (!SymlinkTargetStaysBeneath(link, target)) {
    return Status::Error("refused: symlink target '" + std::string(target) +
                         "' leaves the destination");
  }
  return Status::Ok();
}

Status MemberRuleChecker::Check(std::string_view raw_name, Kind kind, std::string_view target,
                                MemberPath* path) {
  STAGING_RETURN_IF_ERROR(ParseMemberPath(raw_name, PathLimits{}, path));
  STAGING_RETURN_IF_ERROR(CheckMemberName(*path, kind == Kind::kDirectory));
  std::string prefix;
  for (size_t i = 0; i + 1 < path->components.size(); ++i) {
    prefix = i == 0 ? path->components[0] : prefix + "/" + path->components[i];
    if (symlinks_.count(prefix)) {
      return Status::Error("'" + prefix +
                           "' is not a directory (a symlink or a file; refused to go through it)");
    }
  }
  if (kind == Kind::kSymlink) {
    STAGING_RETURN_IF_ERROR(CheckSymlinkTarget(*path, target));
    symlinks_.insert(path->joined());
  } else if (!path->is_root()) {
    symlinks_.erase(path->joined());  // a later member of that name replaces the link
  }
  return Status::Ok();
}

}  // namespace staging
