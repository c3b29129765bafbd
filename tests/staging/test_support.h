// Helpers for staging tests: temporary directories, running programs, and snapshots of a tree
// (paths, types, bytes, link targets, modes, times, hardlink groups) to compare two extractions.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace staging_test {

namespace fs = std::filesystem;

// A fresh directory under TMPDIR, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "stage-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    // Archives may leave read-only directories behind: make them removable first.
    for (auto it = fs::recursive_directory_iterator(path_, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec))
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// Runs `command` with /bin/sh, capturing stdout and stderr.
inline RunResult RunCommand(const std::string& command) {
  TempDir capture;
  std::string full =
      "(" + command + ") >" + (capture / "out").string() + " 2>" + (capture / "err").string();
  RunResult result;
  int status = std::system(full.c_str());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFile(capture / "out");
  result.err = ReadFile(capture / "err");
  return result;
}

inline std::string BinDir() {
  const char* dir = std::getenv("STAGE_BIN_DIR");
  return dir ? dir : "build/bin";
}
inline std::string StageBinary() { return BinDir() + "/stage"; }

inline std::string Quote(const fs::path& path) {
  std::string q = "'";
  for (char c : path.string()) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// One entry of a tree as a comparable line. Hardlinked files are grouped by their first path.
// `with_dir_mtime` false leaves directory times out (see the callers for why).
inline std::map<std::string, std::string> Snapshot(const fs::path& root, bool with_mtime = true,
                                                   bool with_dir_mtime = true) {
  std::map<std::string, std::string> entries;
  std::map<std::pair<dev_t, ino_t>, std::string> first_path;
  std::error_code ec;
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename() == ".stage") {
      it.disable_recursion_pending();
      continue;
    }
    paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  for (const fs::path& path : paths) {
    struct stat st;
    lstat(path.c_str(), &st);
    std::string rel = path.lexically_relative(root).string();
    std::ostringstream line;
    line << std::oct << (st.st_mode & 07777) << std::dec << ' ';
    if (S_ISDIR(st.st_mode)) {
      line << "dir";
    } else if (S_ISLNK(st.st_mode)) {
      line << "symlink -> " << fs::read_symlink(path).string();
    } else if (S_ISREG(st.st_mode)) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto [it, inserted] = first_path.emplace(key, rel);
      std::string content = ReadFile(path);
      line << "file " << st.st_size << " bytes hash " << std::hash<std::string>{}(content);
      if (!inserted) line << " hardlink-of " << it->second;
    } else {
      line << "special";
    }
    bool dir_time_wanted = with_dir_mtime || !S_ISDIR(st.st_mode);
    if (with_mtime && dir_time_wanted && !S_ISLNK(st.st_mode))
      line << " mtime " << st.st_mtim.tv_sec;
    entries[rel] = line.str();
  }
  return entries;
}

}  // namespace staging_test
