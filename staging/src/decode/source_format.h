// Recognising a source file by its first bytes, never by its name; the name only makes a source
// that claims to be a tar archive and is not one an error (NamedLikeTar).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace staging {

enum class Codec { kNone, kGzip, kZstd, kXz, kBzip2 };

// The compression of a stream from its magic number; kNone when none matches.
Codec DetectCodec(const std::byte* head, size_t size);

// "tar", "tar.gz", "tar.zst", "tar.xz" or "tar.bz2".
std::string ArchiveKindName(Codec codec);

// True when `head` (the first `size` bytes of the file, all of it when the file is that short)
// is to be staged as an archive. The line between archive and file:
//  - it decodes to a tar stream whose first header libarchive accepts, or to nothing but a pax
//    global header or a GNU volume label (an empty archive);
//  - or its first 512 decoded bytes are a checksum-valid tar header that libarchive refuses: a
//    damaged archive, whose staging then fails naming the entry and the cause (a copy would
//    hide the damage);
//  - or it is compressed (by its magic number) and the stream fails before 512 bytes are
//    decoded: nothing tells a tar from another file, so it is not copied as one; staging it
//    fails with the decoder's reason.
// Everything else is a plain file, copied unchanged.
bool LooksLikeTarArchive(const std::byte* head, size_t size);

// True when the file name says it is a tar archive: it ends in ".tar", holds ".tar." (".tar.gz",
// ".tar.zst", ...), or ends in ".tgz", ".tbz", ".tbz2", ".txz" or ".tzst". Such a source whose
// content is not a tar is an error, not a file copied as it is ("data.csv.gz" is a file).
bool NamedLikeTar(const std::string& file_name);

// What a source that is not a tar holds, in a few words, for that error.
std::string NotTarDescription(Codec codec, uint64_t size);

// A lower bound on the decoded size of the `size`-byte source `fd` compressed with `codec`, from
// what the stream declares: gzip's trailer (the last member's size mod 2^32) or the first zstd
// frame's content size. 0 when nothing is declared. Never trusted as more than a floor.
uint64_t DeclaredDecodedSize(int fd, uint64_t size, Codec codec);

}  // namespace staging
