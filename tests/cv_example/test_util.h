// Helpers shared by the cv_example tests: temporary directories, files, and running the
// project's programs (found through STAGE_BIN_DIR) as child processes.
#ifndef TESTS_CV_EXAMPLE_TEST_UTIL_H_
#define TESTS_CV_EXAMPLE_TEST_UTIL_H_

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern char** environ;

namespace cv_example_test {

// A fresh directory, removed with everything in it at destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "cv_example_test_XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// The path of program `name` in the build's bin directory.
inline std::string program(const std::string& name) {
  const char* dir = std::getenv("STAGE_BIN_DIR");
  return std::string(dir ? dir : ".") + "/" + name;
}

// Starts `args` (args[0] a path) with stdout and stderr sent to the given files; returns its pid.
inline pid_t start(const std::vector<std::string>& args, const std::string& out,
                   const std::string& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// The exit status of `pid`, or 128 + the signal that ended it.
inline int wait_for(pid_t pid) {
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// What a finished run printed, and how it ended.
struct Outcome {
  int status;
  std::string out, err;
};

// Runs `args` to completion, with its output captured in files of `scratch`.
inline Outcome run(const std::vector<std::string>& args, const TempDir& scratch) {
  static int runs = 0;
  const std::string out = scratch.file("run" + std::to_string(runs) + ".out");
  const std::string err = scratch.file("run" + std::to_string(runs++) + ".err");
  const int status = wait_for(start(args, out, err));
  return {status, read_text(out), read_text(err)};
}

}  // namespace cv_example_test

#endif  // TESTS_CV_EXAMPLE_TEST_UTIL_H_
