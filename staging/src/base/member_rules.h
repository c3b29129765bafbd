// The rules a member's name and link target obey wherever an archive is used, extracted by
// `stage` or read in place for training: one place, so the two never disagree on what is refused.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>

#include "base/member_path.h"
#include "staging/status.h"

namespace staging {

// A name that is the destination itself ("./") is only allowed for a directory; a name under
// ".stage" (staging's own bookkeeping, which `stage clean` trusts) never.
Status CheckMemberName(const MemberPath& path, bool is_directory);

// A symlink whose target could resolve outside the destination is refused.
Status CheckSymlinkTarget(const MemberPath& link, std::string_view target);

// The rules above, member by member, for an archive read in place: there no file system refuses a
// member below an earlier symlink member (staging cannot create it through the link), so the
// symlinks seen so far are kept here and such a member is refused as staging refuses it.
class MemberRuleChecker {
 public:
  enum class Kind { kDirectory, kSymlink, kOther };
  // Parses `raw_name` into `path` and applies every rule; `target` is a symlink's.
  Status Check(std::string_view raw_name, Kind kind, std::string_view target, MemberPath* path);

 private:
  std::unordered_set<std::string> symlinks_;
};

}  // namespace staging
