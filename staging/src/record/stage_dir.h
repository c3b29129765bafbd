// DEST/.stage, staging's private directory in the destination, opened once and then used only
// through its descriptor: a .stage planted as a symlink (to empty a directory elsewhere or make
// staging write there) is never followed.
#pragma once

#include "common/unique_fd.h"
#include "staging/status.h"

namespace staging {

// Opens DEST/.stage (`dest_fd`), creating it first when `create`. Refused with one line: a
// .stage that is a symbolic link, not a directory, or owned by another user. Without `create`,
// a missing .stage leaves `*out` invalid and is not an error.
Status OpenStageDir(int dest_fd, bool create, common::UniqueFd* out);

}  // namespace staging
