// Small file operations with their failure modes handled once: whole writes, directory listings
// that fail loudly, path joining, and files replaced atomically and durably. Messages name the
// file; an empty string means success.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.h"

namespace common {

// Writes all `len` bytes of `data` to `fd`, carrying on after short writes, EINTR and EAGAIN.
// Returns 0 or the errno of the failure.
int WriteAll(int fd, const void* data, size_t len);

// The names in the directory `dirfd` ("." and ".." left out). A listing that fails part-way
// is an error, never a shorter list. Returns 0 or the errno of the failure.
int ListDirectory(int dirfd, std::vector<std::string>* names);

// "a/b"; either side may be empty.
std::string JoinPath(std::string_view a, std::string_view b);

// A file that appears under its name complete or not at all: written under a temporary name in
// the same directory, then Commit() fsyncs it, renames it over the name and fsyncs the
// directory, so a crash at any moment leaves the old content or the new, and the rename itself
// is durable. Dropped without a commit, the temporary file is removed.
class AtomicFile {
 public:
  // `path` is relative to the directory `dirfd` (AT_FDCWD: the current one) or absolute.
  AtomicFile(int dirfd, std::string path, mode_t mode = 0644);
  explicit AtomicFile(std::string path, mode_t mode = 0644);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // The temporary file to write, or -1 when it could not be created (error() says why).
  int fd() const { return fd_.get(); }
  const std::string& error() const { return error_; }
  const std::string& temp_path() const { return temp_; }

  // Writes `bytes` at the current position; "" or the reason.
  std::string Write(std::string_view bytes);
  // Makes the file visible under its name, durably; "" or the reason. Once only.
  std::string Commit();

 private:
  int dirfd_;
  std::string path_, temp_, error_;
  UniqueFd fd_;
  bool committed_ = false;
};

// Replaces the file at `path` with `bytes` through an AtomicFile; "" or the reason.
std::string WriteFileAtomically(const std::string& path, std::string_view bytes);

// Clears O_NONBLOCK, which an open used only so as not to wait on a FIFO: left on a regular file,
// io_uring would fail reads that miss the page cache (EAGAIN) instead of waiting for the disk.
// Returns 0 or the errno of the failure.
int ClearNonBlocking(int fd);

// Opens a file that anyone who can write its directory may have planted (an index or record
// beside an archive, a checksum file): O_NOFOLLOW | O_NONBLOCK, so a symlink is refused and a
// FIFO or device never blocks the open, then fstat: only a regular file of at most `max_bytes`
// is accepted, and returned blocking (ClearNonBlocking). `dirfd` as for openat. On failure the
// result is invalid and `*why` says why in a few words ("" when the file does not exist); `*size`
// (optional) receives the file's length.
UniqueFd OpenUntrustedFile(int dirfd, const std::string& path, uint64_t max_bytes, std::string* why,
                           uint64_t* size = nullptr);

// The whole of such a file (see OpenUntrustedFile), read only after its length passed the cap.
// "" or the reason ("" with `*exists` false when there is no such file).
std::string ReadUntrustedFile(int dirfd, const std::string& path, uint64_t max_bytes,
                              std::string* out, bool* exists = nullptr);

}  // namespace common
