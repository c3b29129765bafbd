// The checksum file --verify reads beside each source: NAME.sha256, in sha256sum's format (the
// first field of the first line). Untrusted: read with a size cap, never through a link.
#pragma once

#include <string>

#include "staging/status.h"

namespace staging {

// The lower-case hex SHA-256 that SOURCE.sha256 gives for `source`, into `*digest`. Errors start
// with "--verify: " and name the checksum file: missing, unreadable, or not sha256sum's format.
Status ReadExpectedDigest(const std::string& source, std::string* digest);

}  // namespace staging
