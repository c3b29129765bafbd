// Fuzz target: arbitrary bytes as `stage fetch`'s records beside a download (the resume record and
// the record of a verified download; plain JSON anyone with write access may edit). Loading may
// refuse anything but may not crash or throw, and a record it accepts must save and load back to
// the same record. Built as a libFuzzer target with clang, and as a replay driver
// (STAGE_FUZZ_REPLAY), which also writes the seeds (--write-seed DIR).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fetch/fetch_record.h"
#include "fuzz_replay.h"

namespace {

namespace fs = std::filesystem;

// A private directory for the record files, made once.
const fs::path& Scratch() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("fuzz_fetch_record." + std::to_string(getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

bool SameDone(const staging::DoneRecord& a, const staging::DoneRecord& b) {
  return a.url == b.url && a.size == b.size && a.mtime_ns == b.mtime_ns && a.inode == b.inode &&
         a.ctime_ns == b.ctime_ns && a.sha256 == b.sha256 && a.md5 == b.md5 &&
         a.packed == b.packed && a.random_access == b.random_access;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input = (Scratch() / "input.json").string();
  std::ofstream(input, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  const std::string again = (Scratch() / "again.json").string();
  staging::DoneRecord done;
  if (staging::LoadDoneRecord(input, &done)) {
    staging::DoneRecord reloaded;
    if (!staging::SaveDoneRecord(again, done).ok() || !staging::LoadDoneRecord(again, &reloaded) ||
        !SameDone(done, reloaded)) {
      std::fprintf(stderr, "an accepted record does not save and load back the same\n");
      std::abort();
    }
  }
  staging::ResumeRecord resume;
  if (staging::LoadResumeRecord(input, &resume)) {
    staging::ResumeRecord reloaded;
    if (!staging::SaveResumeRecord(again, resume).ok() ||
        !staging::LoadResumeRecord(again, &reloaded) || reloaded.url != resume.url ||
        reloaded.validators.etag != resume.validators.etag ||
        reloaded.validators.last_modified != resume.validators.last_modified ||
        reloaded.validators.total != resume.validators.total) {
      std::fprintf(stderr, "an accepted resume record does not save and load back the same\n");
      std::abort();
    }
  }
  return 0;
}

#ifdef STAGE_FUZZ_REPLAY
int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--write-seed") {
    fs::create_directories(argv[2]);
    staging::DoneRecord done{"https://host/pets.tar.gz",
                             791918971,
                             1'700'000'000'000'000'000,
                             4242,
                             1'700'000'001'000'000'000,
                             std::string(64, 'b'),
                             std::string(32, 'c'),
                             "",
                             false};
    staging::SaveDoneRecord((fs::path(argv[2]) / "done.json").string(), done);
    done.packed = "pets.tar.zst";
    done.random_access = true;
    staging::SaveDoneRecord((fs::path(argv[2]) / "packed.json").string(), done);
    staging::SaveResumeRecord((fs::path(argv[2]) / "resume.json").string(),
                              {"https://host/pets.tar.gz", {"\"etag-1\"", "Mon, 07 Dec", 123}});
    std::ofstream(fs::path(argv[2]) / "types.json") << R"({"url": 5, "size": "x", "sha256": []})";
    std::ofstream(fs::path(argv[2]) / "deep.json") << std::string(4000, '[');
    std::printf("fuzz_fetch_record: seeds written to %s\n", argv[2]);
    return 0;
  }
  const int status = staging_test::ReplayInputs(argc, argv, "fuzz_fetch_record",
                                                "every accepted record loads back the same");
  fs::remove_all(Scratch());
  return status;
}
#endif
