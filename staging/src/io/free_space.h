// Free space and inodes in the destination against what staging is about to write.
#pragma once

#include <cstdint>
#include <string>

#include "staging/status.h"

namespace staging {

// An ENOSPC error with the numbers when the file system holding `fd` has fewer than `bytes` free
// bytes or `inodes` free inodes; `what` follows the byte count in the message (e.g. " for this
// entry"). A file system that cannot say is given the benefit of the doubt.
Status CheckRoom(int fd, uint64_t bytes, uint64_t inodes, const std::string& what = "");

}  // namespace staging
