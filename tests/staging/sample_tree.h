// A tree holding what tar formats find hard (long names, links of every kind, modes, a sparse
// file, non-ASCII names), with fixed times, for tests that compare extractions of it.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "test_support.h"

namespace staging_test {

inline std::string Pattern(size_t size, unsigned seed) {
  std::string s(size, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

// A tree holding what tar formats find hard. `portable` leaves out what ustar cannot hold.
inline void MakeTree(const fs::path& root, bool portable) {
  WriteFile(root / "data/a.txt", "hello\n");
  WriteFile(root / "data/empty", "");
  WriteFile(root / "data/bytes.bin", Pattern(300'000, 1));
  WriteFile(root / "data/large.bin", Pattern(1'500'000, 2));  // above the small-file chain size
  WriteFile(root / "data/nested/deeper/still/leaf.txt", "leaf\n");
  WriteFile(root / "data/ünïcødé/日本語.txt", "utf-8\n");
  fs::create_directories(root / "data/empty_dir");
  fs::create_symlink("a.txt", root / "data/link_to_a");
  fs::create_symlink("nested/deeper", root / "data/dir_link");
  fs::create_hard_link(root / "data/bytes.bin", root / "data/hard_to_bytes");
  chmod((root / "data/a.txt").c_str(), 0600);
  chmod((root / "data/bytes.bin").c_str(), 0751);
  WriteFile(root / "data/readonly.txt", "ro\n");
  chmod((root / "data/readonly.txt").c_str(), 0444);
  fs::create_directories(root / "data/locked_dir");
  WriteFile(root / "data/locked_dir/inside.txt", "inside\n");
  chmod((root / "data/locked_dir").c_str(), 0555);
  if (!portable) {
    // Sparse: 8 MiB with two islands of data.
    int fd = open((root / "data/sparse.img").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::string island = Pattern(10'000, 3);
    pwrite(fd, island.data(), island.size(), 1 << 20);
    pwrite(fd, island.data(), island.size(), 6 << 20);
    ftruncate(fd, 8 << 20);
    close(fd);
  }
  if (!portable) {  // ustar holds neither names this long nor link targets over 100 bytes
    std::string long_dir(120, 'd'), long_name(200, 'n');
    WriteFile(root / "data" / long_dir / long_name, "long\n");
    fs::create_symlink(std::string(150, 'x'), root / "data/long_link_target");
  }
  // Fixed times, so that a mismatch is the extractor's, not the clock's.
  RunCommand("find " + Quote(root) + " -exec touch -h -d '2024-03-01 12:00:00' {} +");
}

}  // namespace staging_test
