// Fetch: puts files (datasets, usually archives) into a directory on persistent disk, verified,
// resumable and indexed in one pass. `stage fetch` is a thin layer over this.
//
// Each URL (http://, https://, file:// or a plain path) is stored as DIR/NAME, NAME being the
// last component of its path. The download goes to NAME.stagefetch.part; once complete it is
// fsynced, checked against the expected digests, dated (Last-Modified, or the local file's
// mtime), renamed to NAME and the directory fsynced: NAME is never there half-written or
// unverified. NAME.sha256 (sha256sum's format, what `stage --verify` reads) goes beside it, and
// for a .tar.gz its gzip index, built while the bytes arrived, so even the first staging
// inflates in parallel; for a plain tar its member index (NAME.stagemembers), so even the first
// job trains straight from the archive without a pass over it. Nothing reads the finished file
// again. An interrupted or failed
// download keeps its partial file, which the next run resumes (checked against the ETag or
// Last-Modified the server gave, started afresh when the file changed or the server ignores
// ranges). A re-run whose file is there and verified does nothing and says so. URLs appear in
// reports and records only with their user info and query redacted.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "staging/progress.h"
#include "staging/status.h"

namespace staging {

struct FetchOptions {
  std::vector<std::string> urls;  // fetched one after another
  std::string to;                 // destination directory; created if missing
  // Expected digests (lower- or upper-case hex), none or one per URL, in the same order.
  std::vector<std::string> sha256, md5;
  bool pack = false;  // store archives as `stage pack` writes them (NAME's stem + .tar.zst)
  bool random_access = false;  // with pack: a frame per member, for reading in place
  // Retries follow curl's conventions (--retry, --retry-delay, --retry-max-time,
  // --retry-connrefused), with more retries by default: a training job would rather wait.
  int retries = 5;            // retries of transient failures in a row (progress resets the count)
  double retry_delay = 1.0;   // seconds before the first retry; doubled each time, at most 60
  double retry_max_time = 0;  // no retry starts this many seconds after the first try (0: no cap)
  bool retry_connrefused = false;  // a refused connection is transient too (else it fails at once)
  int stall_seconds = 60;          // a connection that moves no byte this long is retried
  std::string ca_file;  // extra CA certificates for a private server; TLS is always verified
  // Raised (e.g. by a signal handler), stops the download within a moment, keeping the partial
  // file for the next run. Must outlive the call.
  const std::atomic<bool>* interrupt = nullptr;
  // Receives one line per retry ("URL: HTTP 503 Service Unavailable; retrying in 2 s ..."), on
  // the calling thread. Optional.
  std::function<void(const std::string&)> on_notice;
};

struct FetchedFile {
  std::string url;              // redacted
  std::string path;             // the file stored (the packed archive with --pack)
  std::string kind;             // "tar", "tar.gz", "tar.zst", "tar.xz", "tar.bz2" or "file"
  uint64_t bytes = 0;           // size of the file fetched
  uint64_t resumed_from = 0;    // bytes kept from an earlier run at the start
  uint64_t reread_bytes = 0;    // bytes read back from disk (a resumed prefix, once)
  int attempts = 0;             // transfers started
  bool already = false;         // already there and verified: nothing was done
  bool indexed = false;         // a gzip index was written beside it
  bool member_indexed = false;  // a plain tar's member index was written beside it
  bool packed = false;          // stored as a `stage pack` archive
  std::string sha256, md5;      // of the bytes fetched (md5 only when asked)
  double seconds = 0;
  std::vector<std::string> warnings;
  Status status;
};

struct FetchReport {
  std::vector<FetchedFile> files;
  double seconds = 0;
  bool interrupted = false;
  bool ok() const;
};

// The options' own mistakes (no URL, a digest that is not hex, one --sha256 too few), before
// anything is fetched.
Status CheckFetchOptions(const FetchOptions& options);

// Fetches every URL of `options`, stopping at the first failure. Never throws.
// `on_progress`, when set, is called every `progress_interval_ms` from another thread.
FetchReport Fetch(const FetchOptions& options, const ProgressCallback& on_progress = nullptr,
                  int progress_interval_ms = 200);

// `url` with its user info and query string replaced by "***" (paths are returned as they are).
std::string RedactUrl(const std::string& url);

}  // namespace staging
