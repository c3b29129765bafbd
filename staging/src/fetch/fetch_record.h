// The two small records `stage fetch` keeps beside a download (JSON, replaced atomically): what
// a partial download was fetched from, so the next run resumes it only from the same unchanged
// file, and what a complete one was verified to be, so a re-run is a no-op. URLs are stored
// redacted: no record holds a secret.
#pragma once

#include <cstdint>
#include <string>

#include "staging/status.h"

namespace staging {

// What a response said about the file, to resume against with If-Range.
struct Validators {
  std::string etag;           // strong ETag, or "" (a weak one cannot validate a range)
  std::string last_modified;  // the header's text, or ""
  uint64_t total = 0;         // the whole file's size, 0 when not announced
  bool usable() const { return !etag.empty() || !last_modified.empty(); }
};

struct ResumeRecord {
  std::string url;  // redacted
  Validators validators;
};

struct DoneRecord {
  std::string url;  // redacted
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;  // with ctime, what no writer sets back (source_identity.h)
  int64_t ctime_ns = 0;
  std::string sha256, md5;
  std::string packed;          // the packed archive's name that replaced the download, or ""
  bool random_access = false;  // packed with a frame per member
};

Status SaveResumeRecord(const std::string& path, const ResumeRecord& record);
// False when missing or unreadable (the partial download then starts over).
bool LoadResumeRecord(const std::string& path, ResumeRecord* record);

Status SaveDoneRecord(const std::string& path, const DoneRecord& record);
// False when missing or not one of ours; `*note` (optional) then says why a file that is there
// was not used (a link, a FIFO, too long, not a record), "" when there is none. Records are
// untrusted: opened O_NOFOLLOW | O_NONBLOCK, regular files of at most 64 KiB.
bool LoadDoneRecord(const std::string& path, DoneRecord* record, std::string* note = nullptr);

}  // namespace staging
