// Fuzz target: arbitrary bytes as the member index beside an archive (NAME.stagemembers, which
// anyone who can write the persistent disk can plant). The reader may refuse anything, but may not
// crash or allocate beyond what the bytes could describe, and an index it accepts must keep every
// record inside the archive with headers of a possible length, and encode back to the same bytes.
// Built as a libFuzzer target with clang, and as a replay driver (STAGE_FUZZ_REPLAY), which also
// writes the seeds (--write-seed DIR).
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_replay.h"
#include "inplace/member_index.h"

namespace {

// The archive every input is an index of: its identity and its layout.
const staging::SourceIdentity& Identity() {
  static const staging::SourceIdentity identity{"/data/pets.tar",          1 << 20,
                                                1'700'000'000'000'000'000, 4242,
                                                1'700'000'001'000'000'000, std::string(64, 'a')};
  return identity;
}

staging::MemberIndex Expected(staging::MemberLayout layout) {
  staging::MemberIndex expected;
  expected.layout = layout;
  expected.stream_size = Identity().size;
  expected.frames = layout == staging::MemberLayout::kPacked ? 8 : 0;
  return expected;
}

void Check(const std::string& bytes, staging::MemberLayout layout) {
  const staging::MemberIndex expected = Expected(layout);
  staging::MemberIndex index;
  if (!staging::DecodeMemberIndex(bytes, Identity(), expected, &index).ok()) return;
  for (const staging::MemberRecord& r : index.records) {
    const bool inside = r.offset <= expected.stream_size &&
                        r.size <= expected.stream_size - r.offset &&
                        r.headers_offset + 512 <= r.offset &&
                        r.offset - r.headers_offset <= staging::kMaxHeaderSpan && !r.name.empty() &&
                        r.headers_digest.size() == 32;
    if (!inside) {
      std::fprintf(stderr, "an accepted record lies outside the archive or has no name\n");
      std::abort();
    }
  }
  if (staging::EncodeMemberIndex(index, Identity()) != bytes) {
    std::fprintf(stderr, "an accepted index does not encode back to its bytes\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes, staging::MemberLayout::kPlainTar);
  Check(bytes, staging::MemberLayout::kPacked);
  // The same bytes with their CRC made to agree, as a forger would: so that mutations reach the
  // records instead of stopping at the checksum.
  if (size >= 4) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(size - 4)));
    std::memcpy(bytes.data() + size - 4, &crc, 4);
    Check(bytes, staging::MemberLayout::kPlainTar);
    Check(bytes, staging::MemberLayout::kPacked);
  }
  return 0;
}

#ifdef STAGE_FUZZ_REPLAY
int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-seed") {
    namespace fs = std::filesystem;
    fs::create_directories(argv[2]);
    for (staging::MemberLayout layout :
         {staging::MemberLayout::kPlainTar, staging::MemberLayout::kPacked}) {
      staging::MemberIndex index = Expected(layout);
      for (uint64_t i = 0; i < 12; ++i) {
        staging::MemberRecord r;
        r.name = "images/cat_" + std::to_string(i) + ".jpg";
        r.headers_offset = i * 4096;
        r.offset = r.headers_offset + (i % 3 == 0 ? 1536 : 512);
        r.size = 1000 + i;
        r.frame = layout == staging::MemberLayout::kPacked ? static_cast<uint32_t>(i % 8) : 0;
        r.headers_digest = std::string(32, static_cast<char>('0' + i % 10));
        index.records.push_back(r);
      }
      index.refused.push_back({"images/link.jpg", "a symbolic link"});
      std::string bytes = staging::EncodeMemberIndex(index, Identity());
      const std::string name =
          (fs::path(argv[2]) / (layout == staging::MemberLayout::kPacked ? "packed" : "plain"))
              .string();
      std::ofstream(name, std::ios::binary) << bytes;
      std::ofstream(name + ".cut", std::ios::binary) << bytes.substr(0, bytes.size() * 6 / 10);
      bytes[bytes.size() / 2] = static_cast<char>(~bytes[bytes.size() / 2]);
      std::ofstream(name + ".flip", std::ios::binary) << bytes;
    }
    std::printf("fuzz_member_index: seeds written to %s\n", argv[2]);
    return 0;
  }
  return staging_test::ReplayInputs(argc, argv, "fuzz_member_index",
                                    "every accepted index lies inside its archive");
}
#endif
