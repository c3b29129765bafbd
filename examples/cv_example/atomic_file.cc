#include "atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cv_example {
namespace {

std::string failure(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// Closes the descriptor it holds when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting the error that a deferred close would lose.
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

std::string write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failure("cannot write", path);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

std::string write_and_sync(const std::string& temp, std::string_view bytes) {
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (fd.get() < 0) return failure("cannot create", temp);
  if (std::string error = write_all(fd.get(), bytes, temp); !error.empty()) return error;
  if (::fsync(fd.get()) != 0) return failure("cannot fsync", temp);
  if (!fd.close()) return failure("cannot close", temp);
  return {};
}

}  // namespace

std::string write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  // The pid keeps two writers of the same file apart; a crash leaves only this stray temp file.
  std::string temp_name = ".";  // appended piecewise: GCC 12 misreports "." + string (-Wrestrict)
  temp_name += target.filename().string();
  temp_name += ".tmp.";
  temp_name += std::to_string(::getpid());
  const std::string temp = (dir / temp_name).string();
  if (std::string error = write_and_sync(temp, bytes); !error.empty()) {
    ::unlink(temp.c_str());
    return error;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    std::string error = failure("cannot rename " + temp + " to", path);
    ::unlink(temp.c_str());
    return error;
  }
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) return failure("cannot fsync", dir.string());
  return {};
}

}  // namespace cv_example
