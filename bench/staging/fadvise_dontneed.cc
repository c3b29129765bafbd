// fadvise_dontneed FILE...: drops each file's pages from the page cache (after flushing them), so
// the next read comes from the disk. bench/compare uses it for its cold runs; no root needed.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  int failed = 0;
  for (int i = 1; i < argc; ++i) {
    int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::fprintf(stderr, "fadvise_dontneed: %s: %s\n", argv[i], std::strerror(errno));
      failed = 1;
      continue;
    }
    // Dirty pages are not dropped: write them out first.
    fdatasync(fd);
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (rc != 0) {
      std::fprintf(stderr, "fadvise_dontneed: %s: %s\n", argv[i], std::strerror(rc));
      failed = 1;
    }
    close(fd);
  }
  return failed;
}
