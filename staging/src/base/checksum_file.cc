#include "base/checksum_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cctype>
#include <sstream>

#include "common/file_io.h"

namespace staging {
namespace {

// A sha256sum line for one file is under a hundred bytes plus its name.
constexpr uint64_t kMaxChecksumFileBytes = 64 << 10;

}  // namespace

Status ReadExpectedDigest(const std::string& source, std::string* digest) {
  const std::string path = ChecksumFilePath(source);
  std::string text;
  bool exists = false;
  const std::string error =
      common::ReadUntrustedFile(AT_FDCWD, path, kMaxChecksumFileBytes, &text, &exists);
  if (!exists) return Status::Error("--verify: no checksum file " + path);
  if (!error.empty()) return Status::Error("--verify: " + error);
  std::istringstream fields(text.substr(0, text.find('\n')));
  fields >> *digest;
  const bool hex = digest->size() == 64 &&
                   digest->find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
  if (!hex) return Status::Error("--verify: " + path + " is not in sha256sum format");
  for (char& c : *digest) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return Status::Ok();
}

std::string ChecksumFilePath(const std::string& source) { return source + ".sha256"; }

Status CheckChecksumFilesPresent(const std::vector<std::string>& sources) {
  std::vector<std::string> missing;
  for (const std::string& source : sources) {
    struct stat st;
    const std::string sum = ChecksumFilePath(source);
    if (lstat(sum.c_str(), &st) < 0) {
      missing.push_back("no checksum file " + sum);
    } else if (!S_ISREG(st.st_mode)) {
      missing.push_back(
          sum + (S_ISLNK(st.st_mode) ? ": a symbolic link, not a file" : ": not a regular file"));
    }
  }
  if (missing.empty()) return Status::Ok();
  return Status::Error(
      "--verify: " + missing.front() +
      (missing.size() > 1 ? " (and " + std::to_string(missing.size() - 1) + " more)" : "") +
      "; nothing staged");
}

}  // namespace staging
