// The member index: where each regular member's data lies in an archive's tar stream, made once
// by a pass over the headers and kept beside the archive (NAME.stagemembers), or in the cache
// directory when that is not writable. It is a cache, never trusted: it carries the archive's
// identity (size, mtime, checksum of its head and tail) and a CRC of its own bytes, every record
// is bounds-checked on load, and one that does not match is rebuilt.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/source_identity.h"
#include "base/stage_layout.h"
#include "staging/archive_members.h"
#include "staging/status.h"

namespace staging {

struct MemberRecord {
  std::string name;     // normalised member name
  uint64_t offset = 0;  // of the data, in the tar stream (the file for a plain tar; the decoded
                        // stream for a packed archive)
  uint64_t size = 0;
  uint32_t frame = 0;  // packed: the frame holding the member's header; 0 for a plain tar
  // Where the member's headers start (pax or GNU long-name headers included; they end at
  // `offset`), and MemberHeadersDigest of them: a read checks the archive still holds them.
  uint64_t headers_offset = 0;
  std::string headers_digest;
};

// The longest run of headers one member may have (a pax header with a long name and many
// records, then the ustar header); longer ones are not read in place.
inline constexpr uint64_t kMaxHeaderSpan = 64 << 10;

// A digest (hex, 128 bits of SHA-256) of a member's size and data offset and of the bytes of its
// headers, `headers`, which hold its name: names exchanged, sizes changed or data moved all change
// it. A hard link's record is its target's, digest included.
std::string MemberHeadersDigest(const MemberRecord& record, std::string_view headers);

// A member kept out of the index because it cannot be read in place.
struct RefusedMember {
  std::string name;
  std::string reason;
};

struct MemberIndex {
  MemberLayout layout = MemberLayout::kPlainTar;
  uint64_t stream_size = 0;  // bytes of tar stream the records must lie in
  uint32_t frames = 0;       // packed: frames in the seek table
  std::vector<MemberRecord> records;
  std::vector<RefusedMember> refused;
};

// The index's bytes for `source`.
std::string EncodeMemberIndex(const MemberIndex& index, const SourceIdentity& source);

// Parses `bytes` into `index`; fails saying why (another archive, another layout, damaged, a
// record outside the stream) without trusting anything in them. `expected` carries the layout,
// stream size and frame count the archive has now.
Status DecodeMemberIndex(const std::string& bytes, const SourceIdentity& source,
                         const MemberIndex& expected, MemberIndex* index);

// Reads the index for `source` beside it, else in `cache_dir`. Returns true with `index` filled
// when a valid one is found; otherwise `*note` says why a file found was not used ("" when none
// existed) and `*write_path` is where a new index should go.
bool LoadMemberIndex(const SourceIdentity& source, const std::string& cache_dir,
                     const MemberIndex& expected, MemberIndex* index, std::string* found_path,
                     std::string* note, std::string* write_path);

// Writes the index atomically to `path`; "" or the reason.
std::string SaveMemberIndex(const std::string& path, const MemberIndex& index,
                            const SourceIdentity& source);

}  // namespace staging
