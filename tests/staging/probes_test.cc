// The project's own feature detection, checked against the system calls themselves, so that a
// broken probe fails here instead of quietly skipping tests or sending every run down a fallback:
// openat2 (Linux 5.6), io_uring, cachestat (Linux 6.5).
#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "io/dir_tree.h"
#include "io/source_reader.h"
#include "staging/io_backend.h"
#include "test_support.h"

namespace staging_test {
namespace {

bool EnvironmentTurnsOff(const char* name) {
  const char* value = std::getenv(name);
  return value && *value && std::strcmp(value, "0") != 0;
}

TEST(ProbesTest, Openat2AvailableIsWhatTheKernelSays) {
  struct open_how how {};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  const long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
  const bool kernel_has_it = fd >= 0;
  if (fd >= 0) close(static_cast<int>(fd));
  if (EnvironmentTurnsOff("STAGE_NO_OPENAT2")) {
    EXPECT_FALSE(staging::Openat2Available()) << "STAGE_NO_OPENAT2 must turn it off";
  } else {
    EXPECT_EQ(staging::Openat2Available(), kernel_has_it)
        << "the kernel says " << (kernel_has_it ? "yes" : std::strerror(errno));
  }
}

TEST(ProbesTest, UringAvailableOnlyWhereARingCanBeMade) {
  io_uring ring;
  const int made = io_uring_queue_init(8, &ring, 0);
  if (made == 0) io_uring_queue_exit(&ring);
  if (EnvironmentTurnsOff("STAGE_NO_IO_URING")) {
    EXPECT_FALSE(staging::UringAvailable()) << "STAGE_NO_IO_URING must turn it off";
    return;
  }
  if (made != 0) {
    EXPECT_FALSE(staging::UringAvailable()) << "no ring can be made: " << std::strerror(-made);
    EXPECT_FALSE(staging::UringUnavailableReason().empty());
  }
  // A ring the kernel makes may still lack an operation staging needs: then the probe must say
  // which; when it says yes, it must have no reason to give.
  EXPECT_EQ(staging::UringAvailable(), staging::UringUnavailableReason().empty())
      << staging::UringUnavailableReason();
}

TEST(ProbesTest, SourceInPageCacheAgreesWithCachestat) {
  TempDir dir;
  const std::string path = (dir / "cached").string();
  WriteFile(path, std::string(8 << 20, 'c'));
  common::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  const uint64_t size = 8 << 20;
  struct {
    uint64_t off, len;
  } range{0, size};
  struct {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
  } stat{};
  constexpr long kCachestat = 451;
  if (syscall(kCachestat, fd.get(), &range, &stat, 0) != 0) {
    // No cachestat (before Linux 6.5): the probe cannot know, and must say "not cached".
    EXPECT_EQ(errno, ENOSYS) << std::strerror(errno);
    EXPECT_FALSE(staging::SourceInPageCache(fd.get(), size));
    return;
  }
  const uint64_t pages = size / static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  EXPECT_EQ(staging::SourceInPageCache(fd.get(), size), stat.nr_cache >= pages - pages / 64)
      << stat.nr_cache << " of " << pages << " pages cached";
  ASSERT_EQ(fsync(fd.get()), 0);
  ASSERT_EQ(posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
  stat = {};
  ASSERT_EQ(syscall(kCachestat, fd.get(), &range, &stat, 0), 0);
  EXPECT_EQ(staging::SourceInPageCache(fd.get(), size), stat.nr_cache >= pages - pages / 64)
      << "after eviction: " << stat.nr_cache << " of " << pages << " pages cached";
}

}  // namespace
}  // namespace staging_test
