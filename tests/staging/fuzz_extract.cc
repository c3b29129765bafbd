// Fuzz target: arbitrary bytes staged as a source file (an archive when they parse as one) into
// a temporary directory. Whatever the bytes, nothing may appear beside --to, a failure may leave
// nothing visible in it, and the process may not crash. Built as a libFuzzer target with clang, and
// as a replay driver (STAGE_FUZZ_REPLAY) that feeds every file of the given corpus directories, for
// compilers without libFuzzer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "fuzz_replay.h"
#include "staging/stage.h"

namespace {

namespace fs = std::filesystem;

// root/src/input is the source; root/box/to the destination. Only those may ever exist.
class Sandbox {
 public:
  Sandbox() {
    std::string pattern = (fs::temp_directory_path() / "stage-fuzz-XXXXXX").string();
    root_ = mkdtemp(pattern.data());
    fs::create_directories(root_ / "src");
    fs::create_directories(root_ / "box");
  }
  ~Sandbox() { Remove(root_); }

  void StageBytes(const uint8_t* data, size_t size) {
    std::ofstream(root_ / "src" / "input", std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    staging::StageOptions options;
    options.from = (root_ / "src" / "input").string();
    options.to = (root_ / "box" / "to").string();
    options.jobs = 1;
    options.force = true;
    options.max_bytes = 64 << 20;
    options.max_entries = 4096;
    const staging::StageReport report = staging::Stage(options);
    ExpectOnly(root_, {"box", "src"});
    // A failed source leaves nothing visible: only the bookkeeping, with no staging area left.
    if (!report.ok() && fs::exists(root_ / "box" / "to")) {
      ExpectOnly(root_ / "box" / "to", {".stage"});
      ExpectOnly(root_ / "box" / "to" / ".stage", {"lock", "manifest"});
      ExpectOnly(root_ / "box" / "to" / ".stage" / "manifest", {});
    }
    ExpectOnly(root_ / "box", {"to"});
    ExpectOnly(root_ / "src", {"input"});
    Remove(root_ / "box" / "to");
  }

 private:
  static void ExpectOnly(const fs::path& dir, const std::set<std::string>& names) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!names.count(entry.path().filename().string())) {
        std::fprintf(stderr, "written outside --to: %s\n", entry.path().c_str());
        std::abort();
      }
    }
  }
  // Archives may leave directories without write permission.
  static void Remove(const fs::path& path) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory(ec) && !it->is_symlink(ec)) {
        fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
      }
    }
    fs::remove_all(path, ec);
  }

  fs::path root_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Sandbox sandbox;
  sandbox.StageBytes(data, size);
  return 0;
}

#ifdef STAGE_FUZZ_REPLAY
int main(int argc, char** argv) {
  return staging_test::ReplayInputs(argc, argv, "fuzz_extract", "nothing written outside --to");
}
#endif
