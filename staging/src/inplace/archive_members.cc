// ArchiveMembers::Open: recognises the archive by content and picks the way to read it.
#include "staging/archive_members.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "base/pread_full.h"
#include "decode/source_format.h"
#include "decode/zstd_seek_table.h"
#include "inplace/inplace_members.h"

namespace staging {
namespace {

constexpr size_t kHeadBytes = 4096;

uint64_t DefaultMaxMemory() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 1ull << 30;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 4;
}

}  // namespace

const char* MemberLayoutName(MemberLayout layout) {
  switch (layout) {
    case MemberLayout::kPlainTar:
      return "plain tar";
    case MemberLayout::kPacked:
      return "packed";
    case MemberLayout::kInMemory:
      return "in memory";
  }
  return "?";
}

Status ArchiveMembers::Open(const std::string& path, const MemberOpenOptions& options,
                            std::unique_ptr<ArchiveMembers>* out, MemberOpenReport* report) {
  MemberOpenReport ignored;
  if (report == nullptr) report = &ignored;
  *report = MemberOpenReport();
  common::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(path + ": open", errno);
  struct stat st;
  if (fstat(fd.get(), &st) < 0) return Status::FromErrno(path + ": stat", errno);
  if (!S_ISREG(st.st_mode)) return Status::Error(path + ": not a regular file");
  SourceIdentity identity;
  STAGING_RETURN_IF_ERROR(IdentifySource(fd.get(), path, &identity).WithContext(path));
  std::vector<std::byte> head(kHeadBytes);
  ssize_t n = PreadFull(fd.get(), head.data(), head.size(), 0);
  if (n < 0) return Status::FromErrno(path + ": read", errno);
  const Codec codec = DetectCodec(head.data(), static_cast<size_t>(n));
  const uint64_t max_memory =
      std::max<uint64_t>(1, (options.max_memory ? options.max_memory : DefaultMaxMemory()) /
                                std::max(1u, options.sharers));
  report->memory_cap = max_memory;
  std::vector<ZstdFrameInfo> frames;
  if (codec == Codec::kNone ||
      (codec == Codec::kZstd && ReadSeekTable(fd.get(), identity.size, &frames).ok() &&
       frames.size() > 1)) {
    return OpenInPlace(identity, std::move(fd), std::move(frames), options, max_memory, out,
                       report);
  }
  if (options.in_place_only) {
    return Status::Error(path +
                         ": cannot be read in place (not a plain tar or a stage pack "
                         "archive)");
  }
  return OpenInMemory(identity, std::move(fd), codec, options, max_memory, out, report);
}

Status IndexArchiveMembers(const std::string& path, const std::string& index_cache, bool* written) {
  *written = false;
  MemberOpenOptions options;
  options.preload = Preload::kOff;
  options.index_cache = index_cache;
  options.in_place_only = true;
  std::unique_ptr<ArchiveMembers> members;
  MemberOpenReport report;
  STAGING_RETURN_IF_ERROR(ArchiveMembers::Open(path, options, &members, &report));
  if (report.index_built && report.index_path.empty()) {
    return Status::Error(path + ": " + report.index_note);  // built but not saved: says why
  }
  *written = report.index_built;
  return Status::Ok();
}

}  // namespace staging
