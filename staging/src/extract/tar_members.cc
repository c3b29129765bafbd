#include "extract/tar_members.h"

#include "extract/fast_tar_reader.h"
#include "extract/libarchive_members.h"

namespace staging {
namespace {

// Stage's reader while it can, libarchive from the first member it cannot read exactly as
// libarchive would.
class TarMembers : public TarMemberReader {
 public:
  TarMembers(DecodedStream& stream, Codec libarchive_filter)
      : stream_(stream), filter_(libarchive_filter), fast_(stream) {
    fast_active_ = filter_ == Codec::kNone;
  }

  Status Next(TarMember* member, bool* end, std::string* warning) override {
    *end = false;
    if (fast_active_) {
      FastTarReader::Outcome outcome;
      STAGING_RETURN_IF_ERROR(fast_.Next(member, &outcome));
      if (outcome == FastTarReader::Outcome::kMember) {
        ++counts_.by_stage;
        return Status::Ok();
      }
      if (outcome == FastTarReader::Outcome::kEnd) {
        *end = true;
        return Status::Ok();
      }
      fast_active_ = false;
      counts_.handed_over = true;
      counts_.handed_over_at = fast_.handed_over_at();
    }
    if (!libarchive_open_) {
      libarchive_open_ = true;
      STAGING_RETURN_IF_ERROR(libarchive_.Open(stream_, filter_, counts_.handed_over_at));
    }
    STAGING_RETURN_IF_ERROR(libarchive_.Next(member, end, warning));
    if (!*end) ++counts_.by_libarchive;
    return Status::Ok();
  }

  Status Data(const std::byte** data, size_t* len, uint64_t* offset) override {
    return fast_active_ ? fast_.Data(data, len, offset) : libarchive_.Data(data, len, offset);
  }

  uint64_t position() override {
    return fast_active_ || !libarchive_open_ ? fast_.position() : libarchive_.position();
  }

  TarReaderCounts counts() const override { return counts_; }

 private:
  DecodedStream& stream_;
  const Codec filter_;
  FastTarReader fast_;
  LibarchiveMembers libarchive_;
  bool fast_active_;
  bool libarchive_open_ = false;
  TarReaderCounts counts_;
};

}  // namespace

std::unique_ptr<TarMemberReader> OpenTarMembers(DecodedStream& stream, Codec libarchive_filter) {
  return std::make_unique<TarMembers>(stream, libarchive_filter);
}

}  // namespace staging
