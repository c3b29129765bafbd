// What `stage fetch` needs to know of a URL: where it points (HTTP(S), or a local file named by
// a file:// URL or a plain path), the name to store it under, and how to show it without its
// secrets. A URL's user info and query string (signed URLs carry tokens there) never appear in a
// message, a log, --json or a file: only the redacted form does.
#pragma once

#include <string>
#include <vector>

#include "staging/fetch.h"  // RedactUrl
#include "staging/status.h"

namespace staging {

struct FetchUrl {
  std::string url;         // as given; holds secrets, only ever handed to libcurl
  std::string redacted;    // user info and query replaced by "***", fragment dropped
  bool local = false;      // a file:// URL or a plain path
  std::string local_path;  // the file, when local
  std::string name;        // the last path component, percent-decoded: the stored file's name
  std::vector<std::string> secrets;  // the raw user info and query, scrubbed from any text
};

// Parses `text` (http://, https://, file:// or a path). Fails, naming the redacted URL, on other
// schemes and on URLs whose last path component cannot be a file name ("", ".", "..", a '/').
Status ParseFetchUrl(const std::string& text, FetchUrl* out);

// `text` with every secret of `url` replaced by "***": for messages from libraries that may
// quote what they were given.
std::string ScrubSecrets(std::string text, const FetchUrl& url);

}  // namespace staging
