// open_archive_source in a build without the staging library.
#include "archive_source.h"

namespace loader {

std::string open_archive_source(const std::string& archive, const std::string&,
                                const std::function<std::string(std::string_view)>&,
                                const DataSourceOptions&, DataSource*) {
  return archive +
         ": not a directory, and this build reads no archives "
         "(built with -DSTAGE_WITH_STAGING=OFF); extract it first";
}

}  // namespace loader
