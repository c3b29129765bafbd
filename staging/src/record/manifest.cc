#include "record/manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "base/digest.h"
#include "base/stage_layout.h"
#include "common/file_io.h"
#include "common/unique_fd.h"
#include "staging/names.h"

namespace staging {
namespace {

// Records carrying this mark hold their names in EncodeName's form; older records (which could
// only hold UTF-8 names) hold them as they are.
constexpr char kNamesKey[] = "names";
constexpr char kNamesEncoded[] = "percent-encoded bytes";

std::string FileNameFor(const std::string& source_path) {
  Sha256 hash;
  hash.Update(source_path.data(), source_path.size());
  return hash.HexDigest().substr(0, 24) + ".json";
}

// Appends `text` as a JSON string. The names here are EncodeName's output, valid UTF-8, so only
// quotes, backslashes and control characters need escaping.
void AppendJsonString(std::string* out, std::string_view text) {
  constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t plain_from = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.substr(plain_from, i - plain_from));
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else {
      out->append("\\u00");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
    plain_from = i + 1;
  }
  out->append(text.substr(plain_from));
  out->push_back('"');
}

// The record's text: its fields, then the text of its paths (PathsText). The few fields go
// through nlohmann::json; the paths (the Linux tree has 84,000) are appended directly, since a
// JSON value per path and its escaping made writing the record, twice per staging, a quarter of a
// second of one core after every file was written.
std::string FieldsText(const ManifestEntry& e) {
  const nlohmann::json fields = {{kNamesKey, kNamesEncoded},
                                 {"source",
                                  {{"path", EncodeName(e.source.path)},
                                   {"size", e.source.size},
                                   {"mtime_ns", e.source.mtime_ns},
                                   {"inode", e.source.inode},
                                   {"ctime_ns", e.source.ctime_ns},
                                   {"head_sha256", e.source.head_sha256}}},
                                 {"kind", e.kind},
                                 {"dest", EncodeName(e.dest)},
                                 {"files", e.files},
                                 {"bytes", e.bytes},
                                 {"complete", e.complete}};
  std::string text = fields.dump(1);
  text.resize(text.size() - 2);  // "\n}": the paths go last
  return text;
}

std::string PathsText(const ManifestEntry& e) {
  size_t path_bytes = 0;
  for (const std::string& path : e.paths) path_bytes += path.size() + 6;
  std::string text;
  text.reserve(path_bytes + 32);
  text += ",\n \"paths\": [";
  for (size_t i = 0; i < e.paths.size(); ++i) {
    text += i == 0 ? "\n  " : ",\n  ";
    const std::string& path = e.paths[i];
    if (EncodesAsItself(path)) {
      AppendJsonString(&text, path);  // no copy of the name
    } else {
      AppendJsonString(&text, EncodeName(path));
    }
  }
  text += e.paths.empty() ? "]\n}" : "\n ]\n}";
  return text;
}

std::optional<ManifestEntry> FromJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  ManifestEntry e;
  try {
    e.source.path = j.at("source").at("path").get<std::string>();
    e.source.size = j.at("source").at("size").get<uint64_t>();
    e.source.mtime_ns = j.at("source").at("mtime_ns").get<int64_t>();
    // Records made before these two were kept match no file: their sources are staged again.
    e.source.inode = j.at("source").value("inode", uint64_t{0});
    e.source.ctime_ns = j.at("source").value("ctime_ns", int64_t{0});
    e.source.head_sha256 = j.at("source").at("head_sha256").get<std::string>();
    e.kind = j.at("kind").get<std::string>();
    e.dest = j.at("dest").get<std::string>();
    e.files = j.at("files").get<uint64_t>();
    e.bytes = j.at("bytes").get<uint64_t>();
    e.paths = j.at("paths").get<std::vector<std::string>>();
    e.complete = j.value("complete", true);
    if (j.value(kNamesKey, "") == kNamesEncoded) {
      for (std::string* name : {&e.source.path, &e.dest}) *name = DecodeName(*name).value();
      for (std::string& path : e.paths) path = DecodeName(path).value();
    }
  } catch (const std::exception&) {  // JSON's own errors, and a malformed escape
    return std::nullopt;  // a damaged record counts as absent: the source is staged again
  }
  return e;
}

// A record lists every path one source made: the Linux tree's 84,000 take 4 MB.
constexpr uint64_t kMaxRecordBytes = 1ull << 30;

bool ReadWhole(int dirfd, const std::string& name, std::string* out) {
  bool exists = false;
  return common::ReadUntrustedFile(dirfd, name, kMaxRecordBytes, out, &exists).empty() && exists;
}

const std::string kManifestPath = std::string(kStageDir) + "/" + kManifestDir;

}  // namespace

Status Manifest::Open(int stage_fd, Manifest* out) {
  if (mkdirat(stage_fd, kManifestDir, 0755) < 0 && errno != EEXIST) {
    return Status::FromErrno("create " + kManifestPath, errno);
  }
  int fd = openat(stage_fd, kManifestDir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + kManifestPath, errno);
  out->dir_fd_ = std::make_shared<common::UniqueFd>(fd);
  return Status::Ok();
}

std::optional<ManifestEntry> Manifest::Find(const std::string& source_path, bool* damaged) const {
  if (damaged) *damaged = false;
  const std::string name = FileNameFor(source_path);
  std::string text;
  if (!ReadWhole(dir_fd_->get(), name, &text)) {
    // A record that is there but unreadable is damage; a missing one is a source never staged.
    if (damaged && faccessat(dir_fd_->get(), name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
      *damaged = true;
    }
    return std::nullopt;
  }
  std::optional<ManifestEntry> entry = FromJson(text);
  if (entry && entry->source.path == source_path) return entry;
  if (damaged) *damaged = true;
  return std::nullopt;
}

Status Manifest::Record(const ManifestEntry& entry, std::string* paths_text) const {
  std::string fields, made_paths;
  try {
    fields = FieldsText(entry);
    if (!paths_text) paths_text = &made_paths;
    if (paths_text->empty()) *paths_text = PathsText(entry);
  } catch (const std::exception& e) {  // only memory could fail: every name is encoded
    return Status::Error(std::string("cannot record the manifest: ") + e.what());
  }
  common::AtomicFile file(dir_fd_->get(), FileNameFor(entry.source.path));
  std::string error = file.Write(fields);
  if (error.empty()) error = file.Write(*paths_text);
  if (error.empty()) error = file.Commit();
  return error.empty() ? Status::Ok() : Status::Error(error);
}

Status Manifest::Forget(const std::string& source_path) const {
  if (unlinkat(dir_fd_->get(), FileNameFor(source_path).c_str(), 0) < 0 && errno != ENOENT) {
    return Status::FromErrno("remove manifest record", errno);
  }
  fsync(dir_fd_->get());
  return Status::Ok();
}

Status Manifest::All(std::vector<ManifestEntry>* entries,
                     std::vector<std::string>* unreadable) const {
  entries->clear();
  std::vector<std::string> names;
  if (int error = common::ListDirectory(dir_fd_->get(), &names)) {
    return Status::FromErrno("list " + kManifestPath, error);
  }
  for (const std::string& name : names) {
    if (name.size() < 5 || name[0] == '.' || name.substr(name.size() - 5) != ".json") continue;
    std::string text;
    std::optional<ManifestEntry> entry;
    if (ReadWhole(dir_fd_->get(), name, &text)) entry = FromJson(text);
    if (entry) {
      entries->push_back(std::move(*entry));
    } else if (unreadable) {
      unreadable->push_back(name);
    }
  }
  return Status::Ok();
}

}  // namespace staging
