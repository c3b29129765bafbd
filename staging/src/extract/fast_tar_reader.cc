#include "extract/fast_tar_reader.h"

#include <algorithm>

namespace staging {
namespace {

// libarchive allows 32 nested extension headers; real archives use one or two.
constexpr int kMaxExtensionHeaders = 8;
// libarchive's words for the same failures.
constexpr std::string_view kTruncated = "Truncated tar archive";
constexpr std::string_view kDamaged = "Damaged tar archive";

uint64_t Padding(uint64_t size) { return (kTarBlockSize - size % kTarBlockSize) % kTarBlockSize; }

}  // namespace

// shape: long function: one switch over the kinds of header in a member's chain; the chain's
// state (long name, long link, pax records, whether each was seen) lives in this frame.
Status FastTarReader::Next(TarMember* member, Outcome* outcome) {
  // What the extractor did not read of the last member (it stops at a refused one).
  const uint64_t rest = data_left_ + padding_left_;
  data_left_ = padding_left_ = 0;
  if (Skip(rest) < rest) return Status::Error(std::string(kTruncated));
  chain_.clear();
  first_in_place_ = false;
  chain_start_ = offset_;
  bool long_name = false, long_link = false, pax = false;
  PaxAttributes attributes;
  for (int headers = 0; headers <= kMaxExtensionHeaders; ++headers) {
    const bool first = headers == 0;
    size_t got;
    const std::byte* block = NextHeader(first, &got);
    // At the member's first header, libarchive's answers are given here: a libarchive started
    // there would not recognise the bytes as tar at all. Elsewhere, and at the archive's start,
    // handing over gives libarchive's own.
    const bool answer_here = first && chain_start_ > 0;
    if (got < kTarBlockSize) {
      if (!answer_here) break;
      if (got > 0) return Status::Error(std::string(kTruncated));
      *outcome = Outcome::kEnd;  // the end mark left out, as some writers do
      return Status::Ok();
    }
    std::string_view body;
    switch (ReadTarHeader(block, &header_)) {
      case TarHeaderKind::kEnd:
        if (!first) break;
        *outcome = Outcome::kEnd;
        return Status::Ok();
      case TarHeaderKind::kBadChecksum:
        if (!answer_here) break;
        return Status::Error(std::string(kDamaged));
      case TarHeaderKind::kNotUnderstood:
        break;
      case TarHeaderKind::kLongName:
      case TarHeaderKind::kLongLink: {
        const bool is_name = header_.kind == TarHeaderKind::kLongName;
        bool& seen = is_name ? long_name : long_link;
        if (seen || !ReadBody(header_.size, &body)) break;
        std::string_view text = body.substr(0, body.find('\0'));  // libarchive's C string
        if (!IsAsciiName(text)) break;
        (is_name ? long_name_ : long_link_).assign(text);
        seen = true;
        continue;
      }
      case TarHeaderKind::kPaxAttributes:
        format_ = Format::kPax;
        if (pax || !ReadBody(header_.size, &body) || !ReadPaxAttributes(body, false, &attributes)) {
          break;
        }
        pax = true;
        continue;
      case TarHeaderKind::kPaxGlobal: {
        format_ = Format::kPax;
        PaxAttributes global;
        if (!ReadBody(header_.size, &body) || !ReadPaxAttributes(body, true, &global)) break;
        continue;
      }
      case TarHeaderKind::kMember: {
        // A pax record and a GNU long name for the same field: libarchive's result depends on
        // their order.
        if ((attributes.path && long_name) || (attributes.linkpath && long_link)) break;
        const std::string& path = attributes.path ? *attributes.path
                                  : long_name     ? long_name_
                                                  : header_.path;
        const std::string& link = attributes.linkpath ? *attributes.linkpath
                                  : long_link         ? long_link_
                                                      : header_.link;
        if (path.empty()) break;
        return Member(path, link, attributes, long_link, member, outcome);
      }
    }
    break;
  }
  *outcome = HandOver();
  return Status::Ok();
}

Status FastTarReader::Member(const std::string& path, const std::string& link,
                             const PaxAttributes& pax, bool long_link, TarMember* member,
                             Outcome* outcome) {
  if (header_.gnu) {
    format_ = Format::kGnu;
  } else if (format_ != Format::kPax) {
    format_ = Format::kUstar;
  }
  const bool extra_link = pax.linkpath || long_link;
  uint64_t size = 0;
  switch (header_.type) {
    case TarHeaderType::kFile:
      // A link name would make it a hardlink; a trailing '/' a directory (old writers).
      if (extra_link || path.back() == '/') return *outcome = HandOver(), Status::Ok();
      member->type = TarMember::Type::kFile;
      size = pax.size ? *pax.size : header_.size;
      break;
    case TarHeaderType::kDirectory:
      // libarchive ignores a directory's size field, but not a pax size.
      if (extra_link || pax.size) return *outcome = HandOver(), Status::Ok();
      member->type = TarMember::Type::kDirectory;
      break;
    case TarHeaderType::kSymlink:
      if (pax.size || link.empty()) return *outcome = HandOver(), Status::Ok();
      member->type = TarMember::Type::kSymlink;
      break;
    case TarHeaderType::kHardlink:
      if (pax.size || link.empty()) return *outcome = HandOver(), Status::Ok();
      member->type = TarMember::Type::kHardlink;
      // A hardlink's size: ignored in GNU archives; data in pax ones (which the extractor
      // refuses); in plain ustar libarchive guesses from the next header.
      if (header_.size > 0 && !header_.gnu) {
        if (format_ != Format::kPax) return *outcome = HandOver(), Status::Ok();
        size = header_.size;
      }
      break;
  }
  member->path = path;
  member->link =
      member->type == TarMember::Type::kSymlink || member->type == TarMember::Type::kHardlink
          ? link
          : std::string();
  member->perm = header_.perm;
  member->size = size;
  member->mtime = pax.mtime ? *pax.mtime : timespec{static_cast<time_t>(header_.mtime), 0};
  member->sparse = false;
  data_left_ = size;
  padding_left_ = Padding(size);
  data_offset_ = 0;
  *outcome = Outcome::kMember;
  return Status::Ok();
}

Status FastTarReader::Data(const std::byte** data, size_t* len, uint64_t* offset) {
  *len = 0;
  if (data_left_ == 0) {
    const uint64_t padding = padding_left_;
    padding_left_ = 0;
    if (Skip(padding) < padding) return Status::Error(std::string(kTruncated));
    return Status::Ok();
  }
  if (in_block_ == block_size_ && !NextBlock()) return Status::Error(std::string(kTruncated));
  const size_t n = static_cast<size_t>(std::min<uint64_t>(data_left_, block_size_ - in_block_));
  *data = block_ + in_block_;
  *len = n;
  *offset = data_offset_;
  in_block_ += n;
  offset_ += n;
  data_left_ -= n;
  data_offset_ += n;
  return Status::Ok();
}

FastTarReader::Outcome FastTarReader::HandOver() {
  if (first_in_place_) {
    stream_.ResumeAt(std::string(), in_block_ - kTarBlockSize);
  } else {
    stream_.ResumeAt(std::move(chain_), in_block_);
  }
  chain_.clear();
  return Outcome::kHandOver;
}

const std::byte* FastTarReader::NextHeader(bool first, size_t* got) {
  if (first && (in_block_ < block_size_ || NextBlock()) &&
      block_size_ - in_block_ >= kTarBlockSize) {
    const std::byte* header = block_ + in_block_;
    in_block_ += kTarBlockSize;
    offset_ += kTarBlockSize;
    first_in_place_ = true;
    *got = kTarBlockSize;
    return header;
  }
  KeepChain();
  const size_t at = chain_.size();
  *got = Take(kTarBlockSize, &chain_);
  return reinterpret_cast<const std::byte*>(chain_.data() + at);
}

void FastTarReader::KeepChain() {
  if (!first_in_place_) return;
  chain_.assign(reinterpret_cast<const char*>(block_ + in_block_ - kTarBlockSize), kTarBlockSize);
  first_in_place_ = false;
}

bool FastTarReader::ReadBody(uint64_t size, std::string_view* body) {
  KeepChain();
  const size_t padded = static_cast<size_t>(size + Padding(size));
  const size_t at = chain_.size();
  if (Take(padded, &chain_) < padded) return false;
  *body = std::string_view(chain_).substr(at, static_cast<size_t>(size));
  return true;
}

size_t FastTarReader::Take(size_t n, std::string* into) {
  size_t got = 0;
  while (got < n && (in_block_ < block_size_ || NextBlock())) {
    const size_t k = std::min(n - got, block_size_ - in_block_);
    into->append(reinterpret_cast<const char*>(block_ + in_block_), k);
    in_block_ += k;
    offset_ += k;
    got += k;
  }
  return got;
}

uint64_t FastTarReader::Skip(uint64_t n) {
  uint64_t skipped = 0;
  while (skipped < n && (in_block_ < block_size_ || NextBlock())) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n - skipped, block_size_ - in_block_));
    in_block_ += k;
    offset_ += k;
    skipped += k;
  }
  return skipped;
}

bool FastTarReader::NextBlock() {
  while (const BlockRef& block = stream_.Advance()) {
    block_ = block->bytes();
    block_size_ = block->size;
    in_block_ = 0;
    if (block_size_ > 0) return true;
  }
  block_ = nullptr;
  block_size_ = in_block_ = 0;
  return false;
}

}  // namespace staging
