#include "base/source_identity.h"

#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "base/pread_full.h"
#include "base/sha256.h"

namespace staging {
namespace {

constexpr size_t kIdentitySpan = 64 * 1024;  // hashed at each end

}  // namespace

Status IdentifySource(int fd, const std::string& path, SourceIdentity* out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return Status::FromErrno("stat", errno);
  out->path = path;
  out->size = st.st_size;
  out->mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  Sha256 hash;
  std::vector<char> buf(kIdentitySpan);
  for (uint64_t start : {uint64_t{0}, out->size > kIdentitySpan ? out->size - kIdentitySpan : 0}) {
    ssize_t n = PreadFull(fd, buf.data(), buf.size(), start);
    if (n < 0) return Status::FromErrno("read", errno);
    hash.Update(buf.data(), n);
  }
  out->head_sha256 = hash.HexDigest();
  return Status::Ok();
}

}  // namespace staging
