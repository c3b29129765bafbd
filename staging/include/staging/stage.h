// Staging: extract every archive under a source directory into a destination, copy every other
// file, recursively, safely and in parallel. The `stage` program is a thin layer over this.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "staging/io_backend.h"
#include "staging/progress.h"
#include "staging/status.h"

namespace staging {

struct StageOptions {
  std::string from;           // source directory (or a single archive/file)
  std::string to = ".";       // destination; created if missing
  int jobs = 0;               // archives staged at once; 0 = number of cores
  IoKind io = IoKind::kAuto;  // kAuto: io_uring reads, plain-call writes (see io_backend.h)
  SourceReads reads = SourceReads::kAuto;  // forces how sources are read (io_backend.h)
  int writers = 0;          // threads creating each archive's files; 0 = automatic (cores)
  bool keep_going = false;  // on a failed archive, stage the others and report at the end
  bool force = false;       // re-stage even when the manifest says it is already staged
  // Replace files in the destination that no staging made (the user's own). Without it, a member
  // or file that would replace one is an error and nothing of its source is moved into place.
  bool overwrite = false;
  // Follow symlinks under `from`, only to places inside it, each directory once. Without it they
  // are skipped with a warning, as FIFOs, devices and sockets always are.
  bool follow_symlinks = false;
  bool verify = false;          // check NAME.sha256 beside each archive before declaring it staged
  bool sync = false;            // one syncfs of the destination at the end
  bool wait_for_lock = true;    // false: fail at once when another stage run holds --to
  bool parallel_decode = true;  // decode packed zstd / indexed gzip on several threads
  std::string index_cache;      // where gzip indexes go when the source is read-only ("" = default)
  uint64_t max_bytes = 1ull << 40;    // cap on bytes one archive may write (bomb guard)
  uint64_t max_entries = 10'000'000;  // cap on entries in one archive, and on entries under `from`
  uint32_t max_path_length = 4096;    // longest member name accepted
  uint32_t max_path_depth = 256;      // deepest member name accepted (components)
  // When set and it becomes true (a signal handler may set it), staging stops within an entry or
  // a block: sources not yet moved into place are abandoned, leaving nothing visible; sources
  // already staged stay staged and recorded. Read, never written; must outlive the call.
  const std::atomic<bool>* interrupt = nullptr;
};

// What staging one source file produced.
struct ArchiveReport {
  std::string path;           // source file
  std::string kind;           // "tar", "tar.gz", "tar.zst", "tar.xz", "tar.bz2", "file"
  uint64_t files = 0;         // regular files written (a copied file counts one)
  uint64_t bytes = 0;         // bytes of file data written
  uint64_t source_bytes = 0;  // bytes read from the source
  double seconds = 0;
  bool already_staged = false;  // manifest matched: nothing was done
  // How the files were written (sparse files, written apart, are in neither): through io_uring,
  // redone with plain system calls after a ring chain failed, or plain from the start.
  uint64_t ring_files = 0;
  uint64_t redone_files = 0;
  uint64_t plain_files = 0;
  int writer_threads = 0;  // threads that created the files
  // How the source was read: "io_uring" (reads in flight), "mapped" (a source already whole in
  // the page cache, mapped instead of copied) or "plain" (pread: --plain-io, or io_uring refused).
  std::string source_reads;
  // Whose reading of the tar headers it was: stage's own reader takes the common ones (ustar,
  // GNU, pax) and libarchive the rest of the archive from the first member it does not (a
  // sparse file, a non-ASCII name, a device), or all of it for xz and bzip2.
  // A .tar.gz's gzip index: "used" (inflated in parallel from it), "written" (made while
  // inflating sequentially; also after an index that did not hold), "" (none).
  std::string gzip_index;
  uint64_t members_by_stage = 0;
  uint64_t members_by_libarchive = 0;
  std::vector<std::string> warnings;  // skipped special files, cleared mode bits, ...
  Status status;
};

struct StageReport {
  std::vector<ArchiveReport> archives;  // files and bytes: of the sources staged (ok) only
  std::vector<std::string>
      warnings;        // entries of `from` skipped (symlinks, FIFOs, ...), one line each
  uint64_t files = 0;  // in the destination now, from the sources staged or already staged
  uint64_t bytes = 0;
  double seconds = 0;
  std::string io_backend;    // "io_uring" or "plain"
  bool interrupted = false;  // options.interrupt stopped the run (ok() is then false)
  // A failure before any source was read (no --from, the destination, the walk, --verify's
  // checksum files): nothing was staged, and `archives` is empty.
  Status error;
  bool ok() const;
  // Failures, one line each: "<archive>: <entry>: <cause>".
  std::vector<std::string> failures() const;
};

// Stages `options.from` into `options.to`. Holds a lock on `to` for the duration. Never
// throws; every failure is in the report (and the returned report's ok() is false).
// `on_progress`, when set, is called about every `progress_interval_ms` from another thread.
StageReport Stage(const StageOptions& options, const ProgressCallback& on_progress = nullptr,
                  int progress_interval_ms = 200);

// Removes what stagings made under `to`, as the manifest lists it, then the manifest itself:
// files and links it lists, and directories it lists once they are empty. Never a path it does not
// list (a directory that was there before staging, a file the user put there since), and never
// through a symlink. `removed` (optional) receives the number of paths removed.
Status Clean(const std::string& to, uint64_t* removed = nullptr);

}  // namespace staging
