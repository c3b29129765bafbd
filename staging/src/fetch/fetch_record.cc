#include "fetch/fetch_record.h"

#include <fcntl.h>

#include <nlohmann/json.hpp>

#include "common/file_io.h"

namespace staging {
namespace {

Status Save(const std::string& path, const nlohmann::json& json) {
  std::string error = common::WriteFileAtomically(path, json.dump() + "\n");
  return error.empty() ? Status::Ok() : Status::Error(error);
}

// Both records are a few hundred bytes; anything longer was not written by us.
constexpr uint64_t kMaxRecordBytes = 64 << 10;

bool Load(const std::string& path, nlohmann::json* json, std::string* note = nullptr) {
  std::string text;
  bool exists = false;
  const std::string error =
      common::ReadUntrustedFile(AT_FDCWD, path, kMaxRecordBytes, &text, &exists);
  if (note) *note = error;
  if (!error.empty() || !exists) return false;
  *json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json->is_object()) return true;
  if (note) *note = path + ": not a record";
  return false;
}

}  // namespace

Status SaveResumeRecord(const std::string& path, const ResumeRecord& record) {
  return Save(path, {{"url", record.url},
                     {"etag", record.validators.etag},
                     {"last_modified", record.validators.last_modified},
                     {"total", record.validators.total}});
}

bool LoadResumeRecord(const std::string& path, ResumeRecord* record) try {
  nlohmann::json j;
  if (!Load(path, &j)) return false;
  record->url = j.value("url", "");
  record->validators.etag = j.value("etag", "");
  record->validators.last_modified = j.value("last_modified", "");
  record->validators.total = j.value("total", uint64_t{0});
  return !record->url.empty();
} catch (const nlohmann::json::exception&) {  // a field of the wrong type: not our record
  return false;
}

Status SaveDoneRecord(const std::string& path, const DoneRecord& record) {
  return Save(path, {{"url", record.url},
                     {"size", record.size},
                     {"mtime_ns", record.mtime_ns},
                     {"inode", record.inode},
                     {"ctime_ns", record.ctime_ns},
                     {"sha256", record.sha256},
                     {"md5", record.md5},
                     {"packed", record.packed},
                     {"random_access", record.random_access}});
}

bool LoadDoneRecord(const std::string& path, DoneRecord* record, std::string* note) try {
  nlohmann::json j;
  if (!Load(path, &j, note)) return false;
  record->url = j.value("url", "");
  record->size = j.value("size", uint64_t{0});
  record->mtime_ns = j.value("mtime_ns", int64_t{0});
  record->inode = j.value("inode", uint64_t{0});
  record->ctime_ns = j.value("ctime_ns", int64_t{0});
  record->sha256 = j.value("sha256", "");
  record->md5 = j.value("md5", "");
  record->packed = j.value("packed", "");
  record->random_access = j.value("random_access", false);
  return !record->url.empty() && !record->sha256.empty();
} catch (const nlohmann::json::exception&) {
  return false;
}

}  // namespace staging
