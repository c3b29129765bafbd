// One attempt at moving a file's bytes into a receiver: over HTTP(S) with libcurl, or from a
// local file (a file:// URL or a path, e.g. a mounted bucket). The caller retries; an attempt
// says whether retrying can help.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "fetch/fetch_record.h"
#include "fetch/url.h"
#include "staging/status.h"

namespace staging {

// Where the bytes of a response go. The attempt calls Begin once a body starts, then Write.
class BodyReceiver {
 public:
  virtual ~BodyReceiver() = default;
  // The body starts at byte `offset` of the file: the length asked to resume from, or 0 when
  // the file is sent whole (what was kept must be dropped). `validators` describe the file.
  virtual Status Begin(uint64_t offset, const Validators& validators) = 0;
  virtual Status Write(const void* data, size_t len) = 0;
};

enum class AttemptResult {
  kDone,         // the whole file arrived
  kTransient,    // a failure that retrying may cure (5xx, 408, 429, a dropped connection)
  kFailed,       // one it will not (404, TLS, a full disk, a local read error)
  kInterrupted,  // the interrupt flag was raised
};

struct Attempt {
  AttemptResult result = AttemptResult::kFailed;
  Status status;             // why, for every result but kDone; names the redacted URL
  std::string cause;         // the same without the URL ("HTTP 503 Service Unavailable")
  bool refused = false;      // the server refused the connection (nothing listens on the port)
  double retry_after = 0;    // seconds the server asked to wait (Retry-After), 0 if none
  bool drop_range = false;   // the server's range answer did not fit: ask for the whole file
  std::string mtime_header;  // Last-Modified of the response, to date the stored file
};

struct TransferSettings {
  std::string ca_file;  // extra CA bundle for private servers ("" = the system's); never off
  bool refused_is_transient = false;  // retry a refused connection (curl's --retry-connrefused)
  int stall_seconds = 60;             // a connection moving no byte for this long counts as dropped
  const std::atomic<bool>* interrupt = nullptr;
};

// Asks for the file from byte `offset` (0: all of it), checked with If-Range against `known`.
Attempt HttpAttempt(const FetchUrl& url, const TransferSettings& settings, uint64_t offset,
                    const Validators& known, BodyReceiver& receiver);

// Copies a local file from byte `offset` when `known` matches it (its size and mtime), else
// from 0. `mtime_ns` receives the source's modification time.
Attempt LocalAttempt(const FetchUrl& url, const TransferSettings& settings, uint64_t offset,
                     const Validators& known, BodyReceiver& receiver, int64_t* mtime_ns);

}  // namespace staging
