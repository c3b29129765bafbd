// The archive half of open_data_source, built with the staging library (or without it, where it
// says that archives need it).
#ifndef LOADER_SRC_ARCHIVE_SOURCE_H_
#define LOADER_SRC_ARCHIVE_SOURCE_H_

#include <string>

#include "loader/data_source.h"

namespace loader {

// The ".jpg" members directly in `folder` of `archive` ("" picks the folder as
// open_data_source describes).
std::string open_archive_source(const std::string& archive, const std::string& folder,
                                const std::function<std::string(std::string_view)>& rule,
                                const DataSourceOptions& options, DataSource* out);

}  // namespace loader

#endif  // LOADER_SRC_ARCHIVE_SOURCE_H_
