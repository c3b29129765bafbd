// The replay driver shared by the fuzz targets, for compilers without libFuzzer: feeds every file
// of the given files and directories to LLVMFuzzerTestOneInput once.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace staging_test {

// Returns the exit status: 0 when at least one input was replayed (a crash never returns).
inline int ReplayInputs(int argc, char** argv, const char* name, const char* verdict) {
  int inputs = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(argv[i])) {
      for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
        files.push_back(entry.path());
      }
    } else {
      files.push_back(argv[i]);
    }
    for (const std::filesystem::path& file : files) {
      std::ifstream in(file, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
      ++inputs;
    }
  }
  std::printf("%s: %d inputs replayed, %s\n", name, inputs, verdict);
  return inputs > 0 ? 0 : 1;
}

}  // namespace staging_test
