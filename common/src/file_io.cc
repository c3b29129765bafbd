#include "common/file_io.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace common {
namespace {

std::string Failure(const std::string& what, const std::string& path, int error) {
  return what + " " + path + ": " + std::strerror(error);
}

// The directory part of `path` ("." when it has none).
std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

int WriteAll(int fd, const void* data, size_t len) {
  const char* bytes = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t n = ::write(fd, bytes, len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;  // no progress: never spin
    bytes += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

int ListDirectory(int dirfd, std::vector<std::string>* names) {
  names->clear();
  const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* dir = fd >= 0 ? ::fdopendir(fd) : nullptr;
  if (!dir) {
    const int error = errno;
    if (fd >= 0) ::close(fd);
    return error;
  }
  while (true) {
    errno = 0;
    const dirent* d = ::readdir(dir);
    if (!d) break;
    std::string name = d->d_name;
    if (name != "." && name != "..") names->push_back(std::move(name));
  }
  const int error = errno;
  ::closedir(dir);
  return error;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  std::string joined(a);
  joined += '/';
  joined += b;
  return joined;
}

AtomicFile::AtomicFile(int dirfd, std::string path, mode_t mode)
    : dirfd_(dirfd), path_(std::move(path)) {
  // The pid and a counter keep writers apart; a crash leaves only this stray temporary file.
  static std::atomic<unsigned> counter{0};
  const size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : path_.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  temp_ = dir + "." + name + ".tmp." + std::to_string(::getpid()) + "." +
          std::to_string(counter.fetch_add(1));
  fd_.reset(
      ::openat(dirfd_, temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd_.valid()) error_ = Failure("cannot create", temp_, errno);
}

AtomicFile::AtomicFile(std::string path, mode_t mode)
    : AtomicFile(AT_FDCWD, std::move(path), mode) {}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  fd_.reset();
  ::unlinkat(dirfd_, temp_.c_str(), 0);
}

std::string AtomicFile::Write(std::string_view bytes) {
  if (!fd_.valid()) return error_;
  if (int error = WriteAll(fd_.get(), bytes.data(), bytes.size())) {
    return Failure("cannot write", temp_, error);
  }
  return {};
}

std::string AtomicFile::Commit() {
  if (!fd_.valid()) return error_.empty() ? "cannot commit " + path_ + " twice" : error_;
  // A failed fsync is final: the kernel may have dropped the pages, a retry could lie.
  if (::fsync(fd_.get()) != 0) return Failure("cannot fsync", temp_, errno);
  if (int error = fd_.close()) return Failure("cannot close", temp_, error);
  if (::renameat(dirfd_, temp_.c_str(), dirfd_, path_.c_str()) != 0) {
    return Failure("cannot rename " + temp_ + " to", path_, errno);
  }
  committed_ = true;
  UniqueFd dir(::openat(dirfd_, Parent(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid() || ::fsync(dir.get()) != 0) {
    return Failure("cannot fsync the directory of", path_, errno);
  }
  return {};
}

std::string WriteFileAtomically(const std::string& path, std::string_view bytes) {
  AtomicFile file(path);
  if (std::string error = file.Write(bytes); !error.empty()) return error;
  return file.Commit();
}

int ClearNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) return errno;
  return 0;
}

UniqueFd OpenUntrustedFile(int dirfd, const std::string& path, uint64_t max_bytes, std::string* why,
                           uint64_t* size) {
  why->clear();
  UniqueFd fd(::openat(dirfd, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ELOOP) {
      *why = "a symbolic link, not a file";
    } else if (errno != ENOENT) {
      *why = std::strerror(errno);
    }
    return UniqueFd();
  }
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) {
    *why = std::strerror(errno);
    return UniqueFd();
  }
  if (!S_ISREG(st.st_mode)) {
    *why = S_ISDIR(st.st_mode) ? "a directory, not a file" : "not a regular file";
    return UniqueFd();
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    *why = std::to_string(st.st_size) + " bytes, more than the " + std::to_string(max_bytes) +
           " such a file may have";
    return UniqueFd();
  }
  if (int error = ClearNonBlocking(fd.get())) {
    *why = std::strerror(error);
    return UniqueFd();
  }
  if (size) *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

std::string ReadUntrustedFile(int dirfd, const std::string& path, uint64_t max_bytes,
                              std::string* out, bool* exists) {
  std::string why;
  uint64_t size = 0;
  UniqueFd fd = OpenUntrustedFile(dirfd, path, max_bytes, &why, &size);
  if (exists) *exists = fd.valid() || !why.empty();
  if (!fd.valid()) return why.empty() ? "" : path + ": " + why;
  out->assign(size, '\0');
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd.get(), out->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Failure("read", path, errno);
    if (n == 0) return path + ": shrank while it was read";
    done += static_cast<size_t>(n);
  }
  return "";
}

}  // namespace common
