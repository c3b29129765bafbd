// The two ways ArchiveMembers reads: in place through a member index (plain tar, packed), or
// from memory after one sequential read (everything else).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/source_identity.h"
#include "common/unique_fd.h"
#include "decode/source_format.h"
#include "decode/zstd_seek_table.h"
#include "staging/archive_members.h"

namespace staging {

// The error for a member of `size` bytes over the cap on one member (MemberOpenOptions).
Status MemberOverCap(const std::string& archive, const std::string& member, uint64_t size,
                     uint64_t cap);

// A plain tar (`frames` empty) or a packed archive, through its member index (loaded, or built
// and saved). Preloads the file when options say so.
Status OpenInPlace(const SourceIdentity& identity, common::UniqueFd fd,
                   std::vector<ZstdFrameInfo> frames, const MemberOpenOptions& options,
                   uint64_t max_memory, std::unique_ptr<ArchiveMembers>* out,
                   MemberOpenReport* report);

// Reads the whole archive (compressed with `codec`) once, keeping the bytes of the members
// options.keep selects, up to `max_memory`.
Status OpenInMemory(const SourceIdentity& identity, common::UniqueFd fd, Codec codec,
                    const MemberOpenOptions& options, uint64_t max_memory,
                    std::unique_ptr<ArchiveMembers>* out, MemberOpenReport* report);

}  // namespace staging
