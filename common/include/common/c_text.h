// Text handed back by C libraries (libarchive, giflib, libpng, the C library), which may be
// absent: a NULL error string, path name or link target. Every such pointer goes through these
// before it meets a std::string, which must never be built from NULL.
#ifndef COMMON_C_TEXT_H_
#define COMMON_C_TEXT_H_

#include <cstring>
#include <string>
#include <string_view>

namespace common {

// `text` (NUL-terminated) as a string, or `absent` when the library handed back NULL.
inline std::string TextOr(const char* text, std::string_view absent) {
  return text != nullptr ? std::string(text) : std::string(absent);
}

// An error message that is never empty: the library's own text, or, when it gave none, the
// errno it recorded (`err` > 0), or else `unexplained`.
inline std::string ErrorText(const char* text, int err,
                             std::string_view unexplained = "unspecified error") {
  if (text != nullptr && *text != '\0') return text;
  if (err > 0) return std::strerror(err);
  return std::string(unexplained) + " (the library gave no message)";
}

}  // namespace common

#endif  // COMMON_C_TEXT_H_
