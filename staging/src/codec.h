// Recognising a source file by its first bytes, never by its name.
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

// True when `head` (the start of the file, as much as is at hand) decodes to a tar stream whose
// first member header libarchive accepts. Everything else is staged as a plain file.
bool LooksLikeTarArchive(const std::byte* head, size_t size);

// A lower bound on the decoded size of the `size`-byte source `fd` compressed with `codec`, from
// what the stream declares: gzip's trailer (the last member's size mod 2^32) or the first zstd
// frame's content size. 0 when nothing is declared. Never trusted as more than a floor.
uint64_t DeclaredDecodedSize(int fd, uint64_t size, Codec codec);

}  // namespace staging
