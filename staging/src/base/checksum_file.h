// The checksum file --verify reads beside each source: NAME.sha256, in sha256sum's format (the
// first field of the first line). Untrusted: read with a size cap, never through a link.
#pragma once

#include <string>
#include <vector>

#include "staging/status.h"

namespace staging {

// SOURCE.sha256: where --verify looks for the checksum of `source`.
std::string ChecksumFilePath(const std::string& source);

// Every source's checksum file is there, a regular file, before any source is read: a missing
// one is a set-up mistake better told at once than after an hour of staging the others. One
// "--verify: ..." line naming the first missing and how many more, or Ok.
Status CheckChecksumFilesPresent(const std::vector<std::string>& sources);

// The lower-case hex SHA-256 that SOURCE.sha256 gives for `source`, into `*digest`. Errors start
// with "--verify: " and name the checksum file: missing, unreadable, or not sha256sum's format.
Status ReadExpectedDigest(const std::string& source, std::string* digest);

}  // namespace staging
