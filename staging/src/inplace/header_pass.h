// The member index made in one pass over an archive's headers, with libarchive's tar reader: a
// member's data is skipped, not read (in a plain tar a skip is a seek; in a packed archive with a
// frame per member it lands on the next frame's start), so the pass costs a few KiB per member.
#pragma once

#include <string>

#include "inplace/member_index.h"
#include "inplace/tar_stream.h"
#include "staging/status.h"

namespace staging {

// Lists the regular members of the tar stream `stream` into `index->records` (offset, size and,
// for a packed archive, the frame: `frames` non-null), with names normalised and duplicates
// resolved (the last wins, at the first one's place); hardlinks to an earlier member take its
// data. Members that cannot be read in place (GNU sparse files, symlinks) are listed in
// `index->refused`. Fails with one line naming `label`, the member and the cause on a damaged or
// truncated archive.
Status BuildMemberIndex(TarStream& stream, const std::string& label,
                        const std::vector<ZstdFrameInfo>* frames, MemberIndex* index);

}  // namespace staging
