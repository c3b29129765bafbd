#include "fetch/fetch_record.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file_io.h"

namespace staging {
namespace {

Status Save(const std::string& path, const nlohmann::json& json) {
  std::string error = common::WriteFileAtomically(path, json.dump() + "\n");
  return error.empty() ? Status::Ok() : Status::Error(error);
}

bool Load(const std::string& path, nlohmann::json* json) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream text;
  text << in.rdbuf();
  *json = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  return json->is_object();
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
                     {"sha256", record.sha256},
                     {"md5", record.md5},
                     {"packed", record.packed},
                     {"random_access", record.random_access}});
}

bool LoadDoneRecord(const std::string& path, DoneRecord* record) try {
  nlohmann::json j;
  if (!Load(path, &j)) return false;
  record->url = j.value("url", "");
  record->size = j.value("size", uint64_t{0});
  record->mtime_ns = j.value("mtime_ns", int64_t{0});
  record->sha256 = j.value("sha256", "");
  record->md5 = j.value("md5", "");
  record->packed = j.value("packed", "");
  record->random_access = j.value("random_access", false);
  return !record->url.empty() && !record->sha256.empty();
} catch (const nlohmann::json::exception&) {
  return false;
}

}  // namespace staging
