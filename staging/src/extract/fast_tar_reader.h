// Stage's own reader of tar members: the common headers (ustar, GNU long names, pax records
// with the usual keys) read without libarchive, and file data handed out in place in the
// decoded blocks. At the first member it does not read exactly as libarchive would, it stops
// and sets the stream to resume at that member's first header, for libarchive to go on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "extract/decoded_stream.h"
#include "base/tar_header.h"
#include "extract/tar_members.h"

namespace staging {

class FastTarReader {
 public:
  explicit FastTarReader(DecodedStream& stream) : stream_(stream) {}

  enum class Outcome { kMember, kEnd, kHandOver };
  // The next member, the end of the archive, or kHandOver: the stream is set for libarchive to
  // read from this member's first header, at decoded byte handed_over_at(). A failure's message
  // is the bare cause, as libarchive's would be.
  Status Next(TarMember* member, Outcome* outcome);
  // As TarMemberReader::Data: the member's data in pieces that lie in the current block.
  Status Data(const std::byte** data, size_t* len, uint64_t* offset);
  uint64_t position() const { return offset_; }
  uint64_t handed_over_at() const { return chain_start_; }

 private:
  // libarchive's notion of the archive's format so far, which decides what a hardlink's size
  // means.
  enum class Format { kUnknown, kPax, kGnu, kUstar };

  // The member of header_, named `path` with `link` after its extension headers.
  Status Member(const std::string& path, const std::string& link, const PaxAttributes& pax,
                bool long_link, TarMember* member, Outcome* outcome);
  Outcome HandOver();
  // The member's next header: the first in place when it lies whole in the current block (most
  // do), any other copied into chain_. *got is short at the end of the stream.
  const std::byte* NextHeader(bool first, size_t* got);
  void KeepChain();  // copies a first header read in place into chain_, before reading on
  bool ReadBody(uint64_t size, std::string_view* body);
  size_t Take(size_t n, std::string* into);  // appends up to n bytes; returns how many
  uint64_t Skip(uint64_t n);                 // returns how many were skipped
  bool NextBlock();

  DecodedStream& stream_;
  const std::byte* block_ = nullptr;  // the current block's bytes
  size_t block_size_ = 0, in_block_ = 0;
  uint64_t offset_ = 0;  // decoded bytes consumed
  uint64_t data_left_ = 0, padding_left_ = 0, data_offset_ = 0;
  // The current member's headers and extension bodies, as read: what libarchive is given back
  // (with the first header still in place in the current block while first_in_place_).
  std::string chain_;
  bool first_in_place_ = false;
  uint64_t chain_start_ = 0;
  std::string long_name_, long_link_;
  TarHeader header_;
  Format format_ = Format::kUnknown;
};

}  // namespace staging
