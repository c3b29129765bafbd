#include "base/source_identity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "base/digest.h"
#include "base/pread_full.h"

namespace staging {
namespace {

constexpr size_t kIdentitySpan = 64 * 1024;  // hashed at each end

}  // namespace

void SetStatFacts(const struct stat& st, SourceIdentity* out) {
  out->size = static_cast<uint64_t>(st.st_size);
  out->mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  out->inode = static_cast<uint64_t>(st.st_ino);
  out->ctime_ns = int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
}

Status IdentifySource(int fd, const std::string& path, SourceIdentity* out) {
  struct stat st;
  if (fstat(fd, &st) < 0) return Status::FromErrno("stat", errno);
  out->path = path;
  SetStatFacts(st, out);
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

std::string CachedSidecarPath(const std::string& source, std::string_view suffix,
                              const std::string& cache_dir) {
  namespace fs = std::filesystem;
  fs::path cache = cache_dir;
  if (cache.empty()) {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    cache = xdg && *xdg ? fs::path(xdg) / "stage" : fs::path(home ? home : "/tmp") / ".cache/stage";
  }
  std::error_code ec;
  fs::create_directories(cache, ec);
  std::string flat = source;
  std::replace(flat.begin(), flat.end(), '/', '%');
  return (cache / (flat + std::string(suffix))).string();
}

std::string SidecarPath(const std::string& source, std::string_view suffix,
                        const std::string& cache_dir) {
  std::filesystem::path beside = std::filesystem::path(source).parent_path();
  if (beside.empty()) beside = ".";
  if (access(beside.c_str(), W_OK | X_OK) == 0) return source + std::string(suffix);
  return CachedSidecarPath(source, suffix, cache_dir);
}

}  // namespace staging
