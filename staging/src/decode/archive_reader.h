// libarchive set up the one way staging reads archives: only the tar format (or raw bytes, for
// format detection) and only the filters asked for, since the exotic readers are where
// libarchive's vulnerabilities have been; and names read as UTF-8 whatever the process locale.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <memory>
#include <vector>

#include "base/member_rules.h"
#include "decode/source_format.h"

namespace staging {

using ArchiveReader = std::unique_ptr<archive, decltype(&archive_read_free)>;

enum class ReadFormat { kTar, kRaw };

// A reader of `format` through the filters for `codecs` (kNone adds none).
inline ArchiveReader NewArchiveReader(ReadFormat format, const std::vector<Codec>& codecs) {
  ArchiveReader a(archive_read_new(), archive_read_free);
  if (format == ReadFormat::kTar) {
    archive_read_support_format_tar(a.get());
  } else {
    archive_read_support_format_raw(a.get());
  }
  for (Codec codec : codecs) {
    if (codec == Codec::kGzip) archive_read_support_filter_gzip(a.get());
    if (codec == Codec::kZstd) archive_read_support_filter_zstd(a.get());
    if (codec == Codec::kXz) archive_read_support_filter_xz(a.get());
    if (codec == Codec::kBzip2) archive_read_support_filter_bzip2(a.get());
  }
  return a;
}

// Every compression a source may carry.
inline std::vector<Codec> AllCodecs() {
  return {Codec::kGzip, Codec::kZstd, Codec::kXz, Codec::kBzip2};
}

// While alive, this thread converts names as UTF-8 (pax headers hold UTF-8; other names are
// bytes, kept as they are), whatever the process locale; the previous locale comes back after.
class Utf8Locale {
 public:
  Utf8Locale() : locale_(newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0))) {
    if (locale_) previous_ = uselocale(locale_);
  }
  ~Utf8Locale() {
    if (!locale_) return;
    uselocale(previous_);
    freelocale(locale_);
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t locale_;
  locale_t previous_ = static_cast<locale_t>(0);
};

// What kind of member `entry` is, for MemberRuleChecker.
inline MemberRuleChecker::Kind RuleKindOf(archive_entry* entry) {
  if (archive_entry_hardlink(entry)) return MemberRuleChecker::Kind::kOther;
  switch (archive_entry_filetype(entry)) {
    case AE_IFDIR:
      return MemberRuleChecker::Kind::kDirectory;
    case AE_IFLNK:
      return MemberRuleChecker::Kind::kSymlink;
    default:
      return MemberRuleChecker::Kind::kOther;
  }
}

}  // namespace staging
