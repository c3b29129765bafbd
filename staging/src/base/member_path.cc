#include "base/member_path.h"

namespace staging {

namespace {
std::string Join(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}
}  // namespace

std::string MemberPath::parent() const { return Join(components, components.size() - 1); }
std::string MemberPath::joined() const { return Join(components, components.size()); }

Status ParseMemberPath(std::string_view name, const PathLimits& limits, MemberPath* out) {
  *out = MemberPath();
  if (name.size() > limits.max_length) {
    return Status::Error("name longer than " + std::to_string(limits.max_length) +
                         " bytes (path length limit)");
  }
  if (name.find('\0') != std::string_view::npos) return Status::Error("name holds a NUL byte");
  if (name.empty()) return Status::Error("empty name");
  while (!name.empty() && name.front() == '/') {
    name.remove_prefix(1);
    out->stripped_leading_slash = true;
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view part = name.substr(start, end - start);
    if (part == "..")
      return Status::Error("name has a '..' component (refused: leaves the destination)");
    if (!part.empty() && part != ".") out->components.emplace_back(part);
    start = end + 1;
  }
  if (out->components.size() > limits.max_depth) {
    return Status::Error("name deeper than " + std::to_string(limits.max_depth) +
                         " components (path depth limit)");
  }
  return Status::Ok();
}

bool SymlinkTargetStaysBeneath(const MemberPath& link, std::string_view target) {
  if (target.empty() || target.front() == '/') return false;
  // '..' only as a leading run, no longer than the link's own depth. A lexical walk alone is not
  // enough: with "l -> ." planted first, "l/l/../.." looks harmless on paper and escapes on disk.
  // With this rule every link resolves beneath the root, whatever the other links are.
  long depth = static_cast<long>(link.components.size()) - 1;
  bool descended = false;
  size_t start = 0;
  while (start <= target.size()) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    std::string_view part = target.substr(start, end - start);
    if (part == "..") {
      if (descended || --depth < 0) return false;
    } else if (!part.empty() && part != ".") {
      descended = true;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace staging
