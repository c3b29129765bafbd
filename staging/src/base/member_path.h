// Member names from an untrusted archive, checked and split into components before anything
// touches the disk.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "staging/status.h"

namespace staging {

struct PathLimits {
  size_t max_length = 4096;
  size_t max_depth = 256;
};

struct MemberPath {
  std::vector<std::string> components;                 // never empty components, ".", or ".."
  bool stripped_leading_slash = false;                 // "/etc/x" became "etc/x", as GNU tar does
  bool is_root() const { return components.empty(); }  // "." or "./"
  std::string parent() const;                          // components but the last, joined by '/'
  const std::string& name() const { return components.back(); }
  std::string joined() const;
};

// Splits `name`, drops "." components and repeated slashes, strips leading slashes. Refuses ".."
// anywhere, names longer or deeper than `limits`, and names holding a NUL byte.
Status ParseMemberPath(std::string_view name, const PathLimits& limits, MemberPath* out);

// True when a symlink at `link` pointing to `target` can only resolve beneath the root: relative,
// with '..' components only at its start and no more of them than the link is deep.
bool SymlinkTargetStaysBeneath(const MemberPath& link, std::string_view target);

}  // namespace staging
