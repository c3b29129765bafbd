#include "loader/data_source.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "archive_source.h"

namespace loader {
namespace {

// Splits "ARCHIVE/FOLDER" at the longest prefix that is a file; false when none is.
bool split_archive_path(const std::string& data, std::string* archive, std::string* folder) {
  for (size_t slash = data.rfind('/'); slash != std::string::npos && slash > 0;
       slash = data.rfind('/', slash - 1)) {
    struct stat st;
    std::string prefix = data.substr(0, slash);
    if (stat(prefix.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      *archive = prefix;
      *folder = data.substr(slash + 1);
      while (!folder->empty() && folder->back() == '/') folder->pop_back();
      return true;
    }
  }
  return false;
}

}  // namespace

std::string open_data_source(const std::string& data,
                             const std::function<std::string(std::string_view)>& rule,
                             const DataSourceOptions& options, DataSource* out) {
  *out = DataSource();
  struct stat st;
  if (stat(data.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      out->set = label_images(data, rule);
      return out->set.samples.empty() ? data + ": no .jpg files" : "";
    }
    return open_archive_source(data, "", rule, options, out);
  }
  const int stat_error = errno;
  std::string archive, folder;
  if (split_archive_path(data, &archive, &folder)) {
    return open_archive_source(archive, folder, rule, options, out);
  }
  return data + ": " + std::strerror(stat_error);
}

}  // namespace loader
