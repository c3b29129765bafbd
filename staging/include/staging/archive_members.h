// Reading members of an archive in place, without extracting it: a plain tar or a `stage pack`
// archive is read at random through a member index kept beside it; an archive that cannot be
// read at random (.tar.gz, a single-frame .tar.zst, .tar.xz, .tar.bz2) is read once,
// sequentially, into memory when what is kept fits under a memory cap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "staging/status.h"

namespace staging {

// How an archive is read.
enum class MemberLayout {
  kPlainTar,  // members read with pread at their data offsets
  kPacked,    // `stage pack` frames: the frames holding a member are decoded
  kInMemory,  // read once sequentially; the kept members' bytes held in memory
};

const char* MemberLayoutName(MemberLayout layout);

// Whether the whole archive file is first read sequentially into memory (network disks stream
// fast and read at random slowly); members not yet there are read at random meanwhile.
// kAuto: on when the file fits under max_memory and is not (90%) in the page cache already.
enum class Preload { kAuto, kOn, kOff };

struct MemberOpenOptions {
  uint64_t max_memory = 0;  // cap on bytes held in memory; 0: a quarter of physical memory
  // Processes on this machine that each open the archive with copies of their own (the ranks of
  // a data-parallel job): each gets this share of max_memory, so that together they keep to it.
  unsigned sharers = 1;
  Preload preload = Preload::kAuto;
  // Where the member index goes when the archive's directory is not writable (empty:
  // $XDG_CACHE_HOME/stage or ~/.cache/stage); an index beside the archive is read first.
  std::string index_cache;
  // Which regular members are kept, by normalised name ("a/b.jpg": no "./", no leading "/").
  // Only these are listed; an in-memory archive holds only their bytes. Null keeps all.
  std::function<bool(std::string_view)> keep;
  // Refuse, rather than read into memory, an archive that cannot be read at random.
  bool in_place_only = false;
  // The largest member read: a larger one (a sparse or forged header can declare terabytes) is
  // an error before anything is allocated for it.
  uint64_t max_member_bytes = uint64_t{256} << 20;
};

struct MemberInfo {
  std::string name;  // normalised; a duplicate name keeps the last member, as extraction does
  uint64_t size = 0;
};

// What Open did, for the caller to report.
struct MemberOpenReport {
  MemberLayout layout = MemberLayout::kPlainTar;
  // The index read or written: the member index in place; in memory, a .tar.gz's gzip index
  // (inflated in parallel through it, or written as it was read), "" when none.
  std::string index_path;
  bool index_built = false;  // no valid index was found: the header pass ran, or one was written
  std::string index_note;    // why an existing index was not used ("" if none or used)
  // Members kept by name that cannot be read in place (sparse files, symbolic links), as
  // "name: reason".
  std::vector<std::string> refused;
  // A packed archive whose frames hold many members each: every read decodes up to a whole
  // frame; the line says how to pack it for reading in place. "" otherwise.
  std::string advice;
  uint64_t memory_cap = 0;    // this process's cap: max_memory (or its default) / sharers
  bool preloading = false;    // the whole file is being read into memory
  uint64_t memory_bytes = 0;  // held in memory (in-memory members, or the preload buffer)
};

// An open archive. Read() and WillRead() are thread-safe; the object must outlive them.
class ArchiveMembers {
 public:
  // Opens the archive at `path` (recognised by content, not name). Fails with one line naming
  // the archive and the cause: not a tar, damaged or truncated headers, an archive that cannot
  // be read at random and does not fit under max_memory (the line says to `stage` or `stage
  // pack` it).
  static Status Open(const std::string& path, const MemberOpenOptions& options,
                     std::unique_ptr<ArchiveMembers>* out, MemberOpenReport* report = nullptr);
  virtual ~ArchiveMembers() = default;

  // The kept regular members, in archive order.
  virtual const std::vector<MemberInfo>& members() const = 0;
  // The bytes of members()[member]. Checks that the archive still holds that member where the
  // index says (its tar header's checksum and size); errors name the archive and the member.
  virtual Status Read(size_t member, std::vector<uint8_t>* bytes) const = 0;
  // These members are about to be read: start their reads, in file order. A hint only.
  virtual void WillRead(std::span<const size_t> members) const = 0;
  virtual const std::string& path() const = 0;
};

// Makes sure the member index of the plain tar or `stage pack` archive at `path` is there (beside
// it, else in `index_cache`), building it as Open would: for the set-up job that writes the
// archive (`stage pack --random-access`, `stage fetch --pack --random-access`), so that the first
// training job finds it. `*written`: a new index was saved. An archive that cannot be read at
// random is an error (nothing is read into memory).
Status IndexArchiveMembers(const std::string& path, const std::string& index_cache, bool* written);

}  // namespace staging
