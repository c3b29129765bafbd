// faulty_fs: a read-only FUSE filesystem showing a backing directory, with the faults a network
// persistent disk has. Tests and benchmarks mount it in front of a source directory.
//
//   faulty_fs BACKING MOUNTPOINT [--delay-ms MS] [--eio-at BYTE] [--short-reads]
//             [--replace-at BYTE --replacement FILE]
//
//   --delay-ms MS    every read request waits MS milliseconds (fractions allowed) before it is
//                    answered; requests are served by several threads, so reads in flight overlap
//                    as they do on a network disk.
//   --eio-at BYTE    a read request reaching byte BYTE of any file fails with EIO.
//   --short-reads    files are opened for direct I/O and every read returns at most half of what
//                    was asked (at least one byte): legal, and a reader must carry on.
//   --replace-at BYTE  the first read request reaching byte BYTE of a file first overwrites that
//                    file in place with FILE's bytes (as `cp FILE over-it` does), so the rest is
//                    read from the new content and its size and time change.
//
// Attributes are never cached (attr_timeout=0), so a change shows at once, and each open drops
// the page cache, so every run reads through the filesystem. Runs in the foreground until
// unmounted (fusermount3 -u MOUNTPOINT).
#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <fcntl.h>
#include <fuse.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Faults {
  std::string backing;
  std::chrono::microseconds delay{0};
  uint64_t eio_at = std::numeric_limits<uint64_t>::max();
  bool short_reads = false;
  uint64_t replace_at = std::numeric_limits<uint64_t>::max();
  std::string replacement;
  std::atomic<bool> replaced{false};
};

Faults faults;

std::string Backing(const char* path) { return faults.backing + path; }

int GetAttr(const char* path, struct stat* st, fuse_file_info*) {
  return lstat(Backing(path).c_str(), st) < 0 ? -errno : 0;
}

int ReadLink(const char* path, char* buf, size_t size) {
  ssize_t n = readlink(Backing(path).c_str(), buf, size - 1);
  if (n < 0) return -errno;
  buf[n] = '\0';
  return 0;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
            fuse_readdir_flags) {
  DIR* dir = opendir(Backing(path).c_str());
  if (!dir) return -errno;
  while (dirent* d = readdir(dir)) fill(buf, d->d_name, nullptr, 0, FUSE_FILL_DIR_PLUS);
  closedir(dir);
  return 0;
}

int Open(const char* path, fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  if (access(Backing(path).c_str(), R_OK) < 0) return -errno;
  fi->direct_io = faults.short_reads;
  fi->keep_cache = 0;
  return 0;
}

// Overwrites `target` in place with the replacement's bytes.
int Replace(const std::string& target) {
  int in = open(faults.replacement.c_str(), O_RDONLY | O_CLOEXEC);
  int out = open(target.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  int rc = in >= 0 && out >= 0 ? 0 : -EIO;
  std::vector<char> buf(1 << 20);
  ssize_t n;
  while (rc == 0 && (n = read(in, buf.data(), buf.size())) > 0) {
    if (write(out, buf.data(), n) != n) rc = -EIO;
  }
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  return rc;
}

// Each read opens the backing file afresh: a replacement shows from the next read on, as on a
// network filesystem that has no open-file state.
int Read(const char* path, char* buf, size_t size, off_t offset, fuse_file_info*) {
  if (faults.delay.count() > 0) std::this_thread::sleep_for(faults.delay);
  const uint64_t end = static_cast<uint64_t>(offset) + size;
  if (end > faults.eio_at) return -EIO;
  if (end > faults.replace_at && !faults.replaced.exchange(true)) {
    if (int rc = Replace(Backing(path)); rc < 0) return rc;
  }
  if (faults.short_reads && size > 1) size /= 2;
  int fd = open(Backing(path).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = pread(fd, buf, size, offset);
  int error = errno;
  close(fd);
  return n < 0 ? -error : static_cast<int>(n);
}

void* Init(fuse_conn_info*, fuse_config* config) {
  config->attr_timeout = 0;
  config->entry_timeout = 0;
  config->negative_timeout = 0;
  config->kernel_cache = 0;
  config->use_ino = 1;
  return nullptr;
}

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: faulty_fs BACKING MOUNTPOINT [--delay-ms MS] [--eio-at BYTE] "
               "[--short-reads] [--replace-at BYTE --replacement FILE]\n");
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) Usage();
  char resolved[PATH_MAX];
  if (!realpath(argv[1], resolved)) {
    std::perror(argv[1]);
    return 1;
  }
  faults.backing = resolved;
  for (int i = 3; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--short-reads") {
      faults.short_reads = true;
      continue;
    }
    if (i + 1 >= argc) Usage();
    const char* value = argv[++i];
    if (flag == "--delay-ms") {
      faults.delay = std::chrono::microseconds(static_cast<int64_t>(std::atof(value) * 1000));
    } else if (flag == "--eio-at") {
      faults.eio_at = std::strtoull(value, nullptr, 10);
    } else if (flag == "--replace-at") {
      faults.replace_at = std::strtoull(value, nullptr, 10);
    } else if (flag == "--replacement") {
      faults.replacement = value;
    } else {
      Usage();
    }
  }
  if (faults.replace_at != std::numeric_limits<uint64_t>::max() && faults.replacement.empty()) {
    Usage();
  }

  fuse_operations ops{};
  ops.getattr = GetAttr;
  ops.readlink = ReadLink;
  ops.readdir = ReadDir;
  ops.open = Open;
  ops.read = Read;
  ops.init = Init;
  std::vector<char*> args = {argv[0], argv[2], const_cast<char*>("-f"), const_cast<char*>("-o"),
                             const_cast<char*>("ro,default_permissions,fsname=faulty_fs")};
  return fuse_main(static_cast<int>(args.size()), args.data(), &ops, nullptr);
}
