// LocalAttempt: a file:// URL or a path, read in large chunks. A mounted bucket is a slow,
// short-reading network disk; its errors are reported, not retried (the next run resumes).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/unique_fd.h"
#include "fetch/transfer.h"

namespace staging {
namespace {

constexpr size_t kChunk = 4 << 20;

Attempt Failed(const FetchUrl& url, Status status, AttemptResult result = AttemptResult::kFailed) {
  Attempt a;
  a.result = result;
  a.status = status.WithContext(url.redacted);
  return a;
}

// A local file's validator: its size and modification time.
std::string LocalTag(const struct stat& st) {
  return std::to_string(st.st_size) + "-" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

Attempt LocalAttempt(const FetchUrl& url, const TransferSettings& settings, uint64_t offset,
                     const Validators& known, BodyReceiver& receiver, int64_t* mtime_ns) {
  common::UniqueFd fd(open(url.local_path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!fd.valid()) return Failed(url, Status::FromErrno("open", errno));
  if (fstat(fd.get(), &st) < 0) return Failed(url, Status::FromErrno("stat", errno));
  if (!S_ISREG(st.st_mode)) return Failed(url, Status::Error("not a regular file"));
  *mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  Validators v{LocalTag(st), "", static_cast<uint64_t>(st.st_size)};
  const uint64_t start = offset > 0 && known.etag == v.etag && offset <= v.total ? offset : 0;
  if (Status s = receiver.Begin(start, v); !s.ok()) {
    Attempt a;
    a.status = s;
    return a;
  }
  posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  std::vector<char> buffer(kChunk);
  for (uint64_t done = start; done < v.total;) {
    if (settings.interrupt && settings.interrupt->load()) {
      return Failed(url, Status::Error("interrupted"), AttemptResult::kInterrupted);
    }
    ssize_t n = pread(fd.get(), buffer.data(), buffer.size(), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Failed(url, Status::FromErrno("read at byte " + std::to_string(done), errno));
    if (n == 0) return Failed(url, Status::Error("the file shrank while it was copied"));
    if (Status s = receiver.Write(buffer.data(), static_cast<size_t>(n)); !s.ok()) {
      Attempt a;
      a.status = s;
      return a;
    }
    done += static_cast<uint64_t>(n);
  }
  struct stat after;
  if (fstat(fd.get(), &after) < 0 || LocalTag(after) != v.etag) {
    return Failed(url, Status::Error("the file changed while it was copied"));
  }
  Attempt a;
  a.result = AttemptResult::kDone;
  return a;
}

}  // namespace staging
