// libarchive's account of its last error, which may be NULL (damaged GNU sparse headers, for
// one, fail without a message).
#ifndef STAGING_SRC_ARCHIVE_ERROR_H_
#define STAGING_SRC_ARCHIVE_ERROR_H_

#include <archive.h>

#include <string>

#include "common/c_text.h"

namespace staging {

// The message of the last error or warning on `a`; never empty. `unexplained` says what failed
// when libarchive gave neither a message nor an errno.
inline std::string ArchiveError(archive* a, std::string_view unexplained = "unspecified error") {
  return common::ErrorText(archive_error_string(a), archive_errno(a), unexplained);
}

}  // namespace staging

#endif  // STAGING_SRC_ARCHIVE_ERROR_H_
