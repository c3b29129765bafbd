#include "record/recorded_paths.h"

#include "common/file_io.h"

namespace staging {

void RecordedPaths::LoadLocked() {
  if (loaded_) return;
  loaded_ = true;
  std::vector<ManifestEntry> entries;
  // An unreadable manifest directory records nothing: every existing file then counts as the
  // user's, which only ever refuses more.
  if (manifest_ && manifest_->All(&entries).ok()) {
    for (const ManifestEntry& entry : entries)
      paths_.insert(entry.paths.begin(), entry.paths.end());
  }
}

void RecordedPaths::Add(const std::vector<std::string>& paths) {
  std::lock_guard lock(mu_);
  // Not read yet: the manifest, which holds these paths' record by now, is read when first asked.
  if (loaded_) paths_.insert(paths.begin(), paths.end());
}

bool RecordedPaths::Contains(const std::string& path) {
  std::lock_guard lock(mu_);
  LoadLocked();
  return paths_.count(path) > 0;
}

std::vector<std::string> PathsToRecord(const std::string& rel_dir, std::vector<std::string> created,
                                       const std::unordered_set<std::string>& existing_dirs) {
  std::vector<std::string> paths;
  paths.reserve(created.size() + 8);
  std::unordered_set<std::string> listed;
  auto add_parents = [&](const std::string& path) {
    // Parents first, each once: a/, a/b/ before a/b/c.
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string parent = path.substr(0, slash);
      if (existing_dirs.count(parent) == 0 && listed.insert(parent).second) {
        paths.push_back(std::move(parent));
      }
    }
  };
  if (!rel_dir.empty()) {
    add_parents(rel_dir + "/");
  }
  std::string last_parent;  // members come in archive order: most share the previous one's parent
  for (std::string& member : created) {
    std::string path = rel_dir.empty() ? std::move(member) : common::JoinPath(rel_dir, member);
    const size_t slash = path.rfind('/');
    if (slash != std::string::npos && path.compare(0, slash, last_parent) != 0) {
      add_parents(path);
      last_parent = path.substr(0, slash);
    }
    if (existing_dirs.count(path) == 0 && listed.insert(path).second) {
      paths.push_back(std::move(path));
    }
  }
  return paths;
}

}  // namespace staging
